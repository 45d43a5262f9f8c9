"""The index's filter path: few candidates checked against a range column's values.

`SegmentIndex` answers ``rare tag and range`` by reading the values of the few candidates
rather than building the range's bitmap. These tests hold that path to `matches`, including
followers added after the build (whose rows lie past the sealed value column).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import Segment, SegmentIndex, _columns, attr, matches, tag

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
SPENDS = st.one_of(st.integers(-5, 500), st.floats(-5, 500, allow_nan=False, allow_infinity=False))


@st.composite
def populations(draw: st.DrawFn) -> list[Follower]:
    size = draw(st.integers(40, 240))
    rare = set(draw(st.lists(st.integers(0, size - 1), max_size=4)))
    people = []
    for i in range(size):
        attributes = {} if draw(st.booleans()) and i % 7 == 0 else {"spend": draw(SPENDS)}
        people.append(
            Follower(
                f"o{i:04d}",
                NOW - timedelta(days=draw(st.integers(0, 400))),
                tags={"rare"} if i in rare else set(),
                attributes=attributes,
            )
        )
    return people


def _queries(cut: float, others: list[int], days: int) -> list[Segment]:
    spend = attr("spend")
    return [
        tag("rare") & (spend >= cut),
        tag("rare") & ~(spend >= cut),
        tag("rare") & spend.isin(others),
        tag("rare") & (spend < cut) & attr("subscribe_time").within(timedelta(days=days)),
    ]


@pytest.fixture
def filter_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many candidates each `RangeColumn.filter` call checked."""
    calls: list[int] = []
    original = _columns.RangeColumn.filter

    def counting(self: _columns.RangeColumn, candidates: object, *args: object) -> object:
        calls.append(len(candidates))  # type: ignore[arg-type]
        return original(self, candidates, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_columns.RangeColumn, "filter", counting)
    return calls


@settings(max_examples=60, deadline=None)
@given(
    populations(),
    st.floats(0, 300),
    st.lists(st.integers(-5, 500), min_size=1, max_size=4),
    st.integers(1, 400),
    st.integers(0, 20),
)
def test_rare_tag_and_range_agree_with_matches(
    population: list[Follower], cut: float, others: list[int], days: int, late: int
) -> None:
    """Built from the first followers, then the last ``late`` added one by one."""
    split = max(0, len(population) - late)
    index = SegmentIndex.build(population[:split])
    for follower in population[split:]:
        index.add(follower)
    for segment in _queries(cut, others, days):
        want = [f.openid for f in population if matches(segment, f, now=NOW)]
        assert index.evaluate(segment, now=NOW).openids() == want, segment
        assert index.count(segment, now=NOW) == len(want)


def test_the_filter_path_is_taken(filter_calls: list[int]) -> None:
    """With 2 rare followers among 2,000, the range is checked on the candidates only."""
    population = [
        Follower(
            f"o{i:05d}",
            NOW - timedelta(days=i % 300),
            tags={"rare"} if i in (10, 1500) else set(),
            attributes={"spend": float(i % 400)},
        )
        for i in range(2000)
    ]
    index = SegmentIndex.build(population)
    index.add(Follower("o99999", NOW, tags={"rare"}, attributes={"spend": 390.0}))
    segment = tag("rare") & (attr("spend") >= 100)
    assert index.evaluate(segment, now=NOW).openids() == ["o01500", "o99999"]
    assert filter_calls == [3]


def test_boundary_ranks_are_forgotten_when_the_column_is_resealed() -> None:
    """A rank remembered for ``spend >= 100`` must not outlive the sorted rows it was found in."""
    population = [
        Follower(f"o{i:05d}", NOW, attributes={"spend": float(i % 300)}) for i in range(5000)
    ]
    index = SegmentIndex.build(population)
    segment = attr("spend") >= 100
    assert index.count(segment, now=NOW) == sum(1 for i in range(5000) if i % 300 >= 100)
    late = [Follower(f"p{i:05d}", NOW, attributes={"spend": 50.0 + i}) for i in range(300)]
    for follower in late:
        index.add(follower)
    for column in index._ranges.values():  # what a large enough tail of additions triggers
        column.seal()
    everyone = population + late
    want = [f.openid for f in everyone if matches(segment, f, now=NOW)]
    assert index.evaluate(segment, now=NOW).openids() == want
    assert index.count(segment & (attr("spend") < 120), now=NOW) == sum(
        1
        for f in everyone
        if 100 <= f.attributes["spend"] < 120  # type: ignore[operator]
    )
