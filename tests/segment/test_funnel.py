"""Tests of `funnel`: each step's count against `matches` on the conjunction so far."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import And, Segment, and_, attr, funnel, matches, tag
from wxsegment.testing.strategies import DEFAULT_NOW, followers, segments

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


@given(
    segment=segments(),
    crowd=st.lists(followers(), max_size=12),
    order=st.sampled_from(["narrowest", "canonical"]),
)
def test_each_step_counts_the_conjunction_so_far(
    segment: Segment, crowd: Sequence[Follower], order: str
) -> None:
    """Step k's remaining equals the followers matching steps 1..k; the last is the segment."""
    result = funnel(segment, crowd, now=DEFAULT_NOW, order=order)  # type: ignore[arg-type]
    assert result.total == len(crowd)
    chosen: list[Segment] = []
    before = len(crowd)
    for step in result.steps:
        chosen.append(step.segment)
        so_far = and_(*chosen)
        expected = sum(matches(so_far, f, now=DEFAULT_NOW) for f in crowd)
        assert step.remaining == expected
        assert step.dropped == before - expected
        assert step.alone == sum(matches(step.segment, f, now=DEFAULT_NOW) for f in crowd)
        before = expected
    assert result.matched == sum(matches(segment, f, now=DEFAULT_NOW) for f in crowd)
    parts = segment.children if isinstance(segment, And) else (segment,)
    assert sorted(map(repr, (s.segment for s in result.steps))) == sorted(map(repr, parts))


def test_narrowest_order_puts_the_biggest_cut_first() -> None:
    """With order='narrowest', the rarest condition comes first and each step is printed."""
    crowd = [
        Follower(
            f"o{i}",
            NOW - timedelta(days=i),
            tags={"会员"} if i % 2 else set(),
            attributes={"spend": i},
        )
        for i in range(10)
    ]
    segment = tag("会员") & (attr("spend") >= 8)
    result = funnel(segment, crowd, now=NOW)
    assert [step.remaining for step in result.steps] == [2, 1]
    assert result.steps[0].segment == (attr("spend") >= 8)
    text = str(result)
    assert text.splitlines()[0].strip() == "10  everyone"
    assert "and tag:会员" in text
    assert "(-1; 5 alone)" in text


def test_bad_order_and_naive_now_are_refused() -> None:
    """An unknown order is a ValueError; so is a naive now."""
    with pytest.raises(ValueError, match="order"):
        funnel(tag("a"), [], now=NOW, order="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        funnel(tag("a"), [], now=datetime(2026, 3, 1))
