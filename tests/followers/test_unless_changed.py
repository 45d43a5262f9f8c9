"""`upsert` and `mark_unsubscribed` with ``unless_changed_since``: newer writes are kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.followers.conftest import StoreFactory
from wxsegment import Follower

AT = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


def _follower(openid: str, *tags: str, remark: str = "old") -> Follower:
    return Follower(openid, AT, tags=frozenset(tags), attributes={"remark": remark})


def test_a_follower_written_after_the_position_is_skipped(make_store: StoreFactory) -> None:
    store = make_store()
    store.declare({"remark": "str"})
    store.upsert([_follower("o1"), _follower("o2")])
    seen = store.version()
    store.add_tags(["o1"], ["scanned"])  # an event handler, while the caller was away
    report = store.upsert(
        [_follower("o1", remark="new"), _follower("o2", remark="new"), _follower("o3")],
        unless_changed_since=seen,
    )
    assert report.skipped == ("o1",)
    assert (report.inserted, report.updated) == (1, 1)
    one, two = store.get("o1"), store.get("o2")
    assert one is not None
    assert two is not None
    assert one.tags == {"scanned"}
    assert one.attributes["remark"] == "old"
    assert two.attributes["remark"] == "new"
    assert store.get("o3") is not None


def test_without_the_position_the_write_wins(make_store: StoreFactory) -> None:
    store = make_store()
    store.upsert([_follower("o1")])
    store.add_tags(["o1"], ["scanned"])
    report = store.upsert([_follower("o1")])
    assert report.skipped == ()
    kept = store.get("o1")
    assert kept is not None
    assert kept.tags == frozenset()


def test_a_trimmed_feed_counts_every_stored_follower_as_changed(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    store.upsert([_follower("o1"), _follower("o2")])
    seen = store.version()
    store.add_tags(["o2"], ["x"])
    store.trim_changes(store.version())
    report = store.upsert([_follower("o1"), _follower("o9")], unless_changed_since=seen)
    assert report.skipped == ("o1",)
    assert report.inserted == 1


def test_mark_unsubscribed_keeps_a_newer_subscribe(make_store: StoreFactory) -> None:
    store = make_store()
    store.upsert([_follower("o1"), _follower("o2")])
    seen = store.version()
    store.mark_subscribed(["o1"], at=AT + timedelta(hours=1))
    assert store.mark_unsubscribed(["o1", "o2"], at=AT, unless_changed_since=seen) == 1
    one, two = store.get("o1"), store.get("o2")
    assert one is not None
    assert two is not None
    assert one.attributes["subscribed"] is True
    assert two.attributes["subscribed"] is False


@pytest.mark.parametrize(
    ("value", "error"), [(True, TypeError), ("3", TypeError), (-1, ValueError)]
)
def test_a_bad_position_is_refused_before_any_write(
    make_store: StoreFactory, value: object, error: type[Exception]
) -> None:
    store = make_store()
    before = store.version()
    with pytest.raises(error, match="unless_changed_since"):
        store.upsert([_follower("o1")], unless_changed_since=value)  # type: ignore[arg-type]
    with pytest.raises(error, match="unless_changed_since"):
        store.mark_unsubscribed(["o1"], at=AT, unless_changed_since=value)  # type: ignore[arg-type]
    assert store.version() == before
    assert store.get("o1") is None


def test_a_bad_row_still_rejects_the_call(make_store: StoreFactory) -> None:
    from wxsegment.followers import ImportRejectedError

    store = make_store()
    store.upsert([_follower("o1")])
    seen = store.version()
    store.add_tags(["o1"], ["x"])
    with pytest.raises(ImportRejectedError):
        store.upsert([_follower("o2"), _follower("o2")], unless_changed_since=seen)
    assert store.get("o2") is None
