"""`client.datacube` against `FakeWeChat`: figures computed from the fake's own state."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    ArticleTotal,
    DatacubeRangeError,
    Metric,
    Metrics,
    MpNews,
    UserCumulate,
    UserSummary,
)
from wxsegment.api._datacube import span_calls
from wxsegment.testing import FakeWeChat

SHANGHAI = timezone(timedelta(hours=8))
# The harness clock starts at 2026-03-01 08:00 in Shanghai: yesterday is Feb 28.
YESTERDAY = date(2026, 2, 28)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def _datacube_calls(fake: FakeWeChat) -> list[object]:
    return [c.json for c in fake.calls if c.path.startswith("/datacube/")]


def test_user_summary_counts_follows_and_unfollows_by_source(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """getusersummary gives one row per day and user_source, from follows and unfollows."""
    day1, day2 = YESTERDAY - timedelta(days=1), YESTERDAY
    fake.add_follower("oQR1", subscribe_time=_at(day1), subscribe_scene="ADD_SCENE_QR_CODE")
    fake.add_follower("oQR2", subscribe_time=_at(day1), subscribe_scene="ADD_SCENE_QR_CODE")
    fake.add_follower("oS", subscribe_time=_at(day2), subscribe_scene="ADD_SCENE_SEARCH")
    now = clock.now()
    clock.set(_at(day2, 9))
    fake.unsubscribe("oQR1")
    clock.set(now)
    rows = api.run(lambda c: c.datacube.user_summary(day1, day2))
    assert rows == [
        UserSummary(day1, 30, 2, 0),
        UserSummary(day2, 1, 1, 0),
        UserSummary(day2, 30, 0, 1),
    ]


def test_user_cumulate_follows_the_follower_count(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """getusercumulate is the running number of followers at the end of each day."""
    days = [YESTERDAY - timedelta(days=n) for n in (2, 1, 0)]
    for n, day in enumerate(days):
        fake.add_follower(f"o{n}", subscribe_time=_at(day))
    now = clock.now()
    clock.set(_at(days[2], 15))
    fake.unsubscribe("o0")
    clock.set(now)
    rows = api.run(lambda c: c.datacube.user_cumulate(days[0], days[2]))
    assert rows == [UserCumulate(days[0], 1), UserCumulate(days[1], 2), UserCumulate(days[2], 2)]


@pytest.mark.parametrize(
    ("begin", "end", "reason"),
    [
        (YESTERDAY - timedelta(days=7), YESTERDAY, "at most 7"),
        (YESTERDAY, YESTERDAY + timedelta(days=1), "later than yesterday"),
        (YESTERDAY, YESTERDAY - timedelta(days=1), "after end"),
        (date(2014, 11, 30), date(2014, 12, 1), "before 2014-12-01"),
    ],
)
def test_ranges_refused_locally(
    api: Harness, fake: FakeWeChat, begin: date, end: date, reason: str
) -> None:
    """Too wide, too recent, reversed or too old ranges raise DatacubeRangeError, unsent."""
    with pytest.raises(DatacubeRangeError, match=reason):
        api.run(lambda c: c.datacube.user_summary(begin, end))
    assert _datacube_calls(fake) == []


def test_datetime_is_not_a_date(api: Harness, fake: FakeWeChat) -> None:
    """A datetime passed for a date is a TypeError (its time of day would be ignored)."""
    with pytest.raises(TypeError):
        api.run(lambda c: c.datacube.user_cumulate(_at(YESTERDAY), YESTERDAY))


def test_iter_splits_a_long_range_into_allowed_spans(api: Harness, fake: FakeWeChat) -> None:
    """iter over 20 days makes calls of 7, 7 and 6 days and yields every day once."""
    begin = YESTERDAY - timedelta(days=19)
    rows = api.run(lambda c: c.datacube.iter(Metrics.USER_CUMULATE, begin, YESTERDAY))
    assert [r.ref_date for r in rows] == [begin + timedelta(days=n) for n in range(20)]
    spans = [(c["begin_date"], c["end_date"]) for c in _datacube_calls(fake)]  # type: ignore[index]
    assert spans == [
        ("2026-02-09", "2026-02-15"),
        ("2026-02-16", "2026-02-22"),
        ("2026-02-23", "2026-02-28"),
    ]


def test_sync_iter_is_lazy(fake: FakeWeChat, clock: FixedClock) -> None:
    """The sync iterator sends the next span's call only when its rows are wanted."""
    api = Harness("sync", fake, clock=clock)
    rows = api.client.datacube.iter(
        Metrics.USER_CUMULATE, YESTERDAY - timedelta(days=13), YESTERDAY
    )
    next(rows)
    assert len(_datacube_calls(fake)) == 1


def test_article_statistics_tell_variants_apart(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """Reads and shares simulated on two mass sends come back in getarticletotal."""
    openids = fake.add_followers(6)
    clock.set(_at(YESTERDAY - timedelta(days=1), 10))
    a = api.run(lambda c: c.mass.send_to_openids(openids[:3], MpNews("draft-a"), clientmsgid="a"))
    b = api.run(lambda c: c.mass.send_to_openids(openids[3:], MpNews("draft-b"), clientmsgid="b"))
    for openid in openids[:3]:
        fake.read_article(openid, a[0].msg_id)
    fake.share_article(openids[0], a[0].msg_id, scene=2)
    fake.read_article(openids[3], b[0].msg_id, at=_at(YESTERDAY, 9))
    clock.set(_at(YESTERDAY + timedelta(days=1), 9))
    totals: list[ArticleTotal] = api.run(
        lambda c: c.datacube.article_total(YESTERDAY - timedelta(days=1))
    )
    by_data_id = {t.msg_data_id: t for t in totals}
    first, second = by_data_id[a[0].msg_data_id], by_data_id[b[0].msg_data_id]
    assert [d.stat_date for d in first.details] == [YESTERDAY - timedelta(days=1), YESTERDAY]
    assert first.latest is not None
    assert second.latest is not None
    assert (first.latest.target_user, first.latest.int_page_read_user) == (3, 3)
    assert first.latest.share_count == 1
    assert [d.int_page_read_user for d in second.details] == [0, 1]
    summary = api.run(lambda c: c.datacube.article_summary(YESTERDAY - timedelta(days=1)))
    assert [(r.msgid, r.int_page_read_count) for r in summary] == [(first.msgid, 3)]
    shares = api.run(
        lambda c: c.datacube.fetch(Metrics.USER_SHARE, YESTERDAY - timedelta(days=1), YESTERDAY)
    )
    assert [(s.share_scene, s.share_count) for s in shares] == [(2, 1)]


def test_yesterday_is_empty_before_eight(api: Harness, fake: FakeWeChat, clock: FixedClock) -> None:
    """Before 08:00 in Shanghai yesterday's figures are not published: an empty list."""
    fake.add_follower("oX", subscribe_time=_at(YESTERDAY - timedelta(days=1)))
    clock.set(datetime(2026, 3, 1, 7, 30, tzinfo=SHANGHAI))
    assert api.run(lambda c: c.datacube.user_cumulate(YESTERDAY, YESTERDAY)) == []
    rows = api.run(lambda c: c.datacube.user_cumulate(YESTERDAY - timedelta(days=1), YESTERDAY))
    assert rows == [UserCumulate(YESTERDAY - timedelta(days=1), 1)]


def test_upstream_messages_and_interface_calls(
    api: Harness, fake: FakeWeChat, clock: FixedClock
) -> None:
    """Messages followers send and recorded callbacks show up in their statistics."""
    fake.add_followers(["oM", "oN"])
    fake.open_window("oM", "message", at=_at(YESTERDAY, 10))
    fake.open_window("oM", "message", at=_at(YESTERDAY, 11))
    fake.open_window("oN", "message", at=_at(YESTERDAY, 11))
    fake.record_callback(cost_ms=30, at=_at(YESTERDAY, 10))
    fake.record_callback(ok=False, cost_ms=70, at=_at(YESTERDAY, 10))
    msgs = api.run(lambda c: c.datacube.fetch(Metrics.UPSTREAM_MSG, YESTERDAY, YESTERDAY))
    assert [(m.msg_type, m.msg_user, m.msg_count) for m in msgs] == [(1, 2, 3)]
    hourly = api.run(lambda c: c.datacube.fetch(Metrics.UPSTREAM_MSG_HOUR, YESTERDAY, YESTERDAY))
    assert [(m.ref_hour, m.msg_count) for m in hourly] == [(1000, 1), (1100, 2)]
    dist = api.run(lambda c: c.datacube.fetch(Metrics.UPSTREAM_MSG_DIST, YESTERDAY, YESTERDAY))
    assert [(d.count_interval, d.msg_user) for d in dist] == [(1, 2)]
    calls = api.run(lambda c: c.datacube.fetch(Metrics.INTERFACE_SUMMARY, YESTERDAY, YESTERDAY))
    assert [
        (i.callback_count, i.fail_count, i.total_time_cost, i.max_time_cost) for i in calls
    ] == [(2, 1, 100, 70)]


_METRICS = [v for k, v in vars(Metrics).items() if k.isupper()]


@given(
    st.sampled_from(_METRICS),
    st.dates(date(2015, 1, 1), date(2026, 1, 1)),
    st.integers(0, 120),
)
def test_span_calls_tile_the_range(metric: Metric[object], begin: date, length: int) -> None:
    """Span calls cover begin..end exactly, in order, without overlap, each within max_span."""
    end = begin + timedelta(days=length)
    calls = span_calls(metric, begin, end, date(2026, 12, 31))
    expected = begin
    for call in calls:
        assert call.body is not None
        start = date.fromisoformat(call.body["begin_date"])
        stop = date.fromisoformat(call.body["end_date"])
        assert start == expected
        assert 1 <= (stop - start).days + 1 <= metric.max_span
        expected = stop + timedelta(days=1)
    assert expected == end + timedelta(days=1)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=12),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_iter_agrees_with_day_by_day_fetches(
    follow_days_ago: list[int], start_days_ago: int, length: int
) -> None:
    """Walking a range in spans gives exactly the rows of fetching each day on its own."""
    clock = FixedClock(datetime(2026, 3, 1, 9, tzinfo=SHANGHAI))
    fake = FakeWeChat(clock=clock)
    for n, ago in enumerate(follow_days_ago):
        fake.add_follower(f"o{n}", subscribe_time=_at(YESTERDAY - timedelta(days=ago)))
    api = Harness("sync", fake, clock=clock)
    begin = YESTERDAY - timedelta(days=start_days_ago)
    end = min(YESTERDAY, begin + timedelta(days=length))
    walked = api.run(lambda c: c.datacube.iter(Metrics.USER_SUMMARY, begin, end))
    days = [begin + timedelta(days=n) for n in range((end - begin).days + 1)]
    one_by_one = [
        row for d in days for row in api.run(lambda c, d=d: c.datacube.user_summary(d, d))
    ]
    assert walked == one_by_one
    assert sum(r.new_user for r in walked) == sum(
        1 for ago in follow_days_ago if begin <= YESTERDAY - timedelta(days=ago) <= end
    )
