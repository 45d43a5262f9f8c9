"""Tests of the reference semantics `matches`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from wxsegment import Follower
from wxsegment.segment import EVERYONE, NOBODY, attr, explain, matches, parse, tag

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
F = Follower(
    "o1",
    NOW - timedelta(days=10),
    tags=["90后"],
    attributes={
        "city": "杭州",
        "spend": 120,
        "vip": True,
        "last_order_at": NOW - timedelta(days=40),
    },
)


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (EVERYONE, True),
        (NOBODY, False),
        (tag("90后"), True),
        (tag("已购"), False),
        (attr("city") == "杭州", True),
        (attr("city") != "杭州", False),
        (attr("spend") >= 100, True),
        (attr("spend") >= 100.5, True),
        (attr("spend") > 120.0, False),
        (attr("spend") == "120", False),
        (attr("vip") == 1, False),
        (attr("vip") == True, True),  # noqa: E712
        (attr("city").isin(["上海", "杭州"]), True),
        (attr("spend").between(120, 130), True),
        (attr("spend").between(121, 130), False),
        (attr("city").exists(), True),
        (attr("level").exists(), False),
        (attr("subscribe_time").within(timedelta(days=10)), True),
        (attr("subscribe_time").within(timedelta(days=9)), False),
        (attr("last_order_at").within(timedelta(days=30)), False),
        (attr("last_interaction_at").within(timedelta(days=30)), False),
        (attr("last_order_at").before(NOW), True),
        (attr("last_order_at").after(NOW), False),
    ],
)
def test_predicates(segment: object, expected: bool) -> None:
    """Each predicate decides the sample follower as documented."""
    assert matches(segment, F, now=NOW) is expected  # type: ignore[arg-type]


def test_missing_attribute_comparisons_are_false_but_negation_is_plain() -> None:
    """city != x is false without a city, while ~(city == x) is true."""
    bare = Follower("o2", NOW)
    assert not matches(attr("city") != "杭州", bare, now=NOW)
    assert matches(~(attr("city") == "杭州"), bare, now=NOW)


def test_within_excludes_future_values() -> None:
    """A datetime after now is not 'within' any duration before now."""
    future = Follower("o3", NOW + timedelta(seconds=1))
    assert not matches(attr("subscribe_time").within(timedelta(days=1)), future, now=NOW)


def test_matches_rejects_naive_now() -> None:
    """A naive now is a ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        matches(EVERYONE, F, now=datetime(2026, 1, 1))


@pytest.mark.parametrize("text", ["t within 99999999w", "t within 999999999d"])
def test_within_longer_than_the_calendar_is_bounded_only_by_now(text: str) -> None:
    """A `within` reaching before year 1 still decides (past: true, future: false), no error."""
    segment = parse(text)
    past = Follower("o4", NOW, attributes={"t": datetime(1, 1, 2, tzinfo=timezone.utc)})
    future = Follower("o5", NOW, attributes={"t": NOW + timedelta(seconds=1)})
    assert matches(segment, past, now=NOW)
    assert not matches(segment, future, now=NOW)
    assert explain(segment, [past, future], now=NOW).matched == 1
