"""Range columns: prefix differences, complements and cutting candidates down, held exact.

A range is answered from the prefix bitmaps nearest its boundaries (bins added or taken away),
from its bins alone, or, inside a conjunction, widened to whole bins, intersected with the
candidates and cut back in the widened bins by reading values. Bins are shrunk here so that a
few dozen rows reach every one of those paths; each result is checked against a plain
comparison of the stored values, and whole segments against `matches`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from wxsegment import Follower
from wxsegment.segment import Segment, SegmentIndex, _columns, attr, matches, tag
from wxsegment.segment._columns import Interval, RangeColumn

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
#: Few distinct values, so that ties straddle bin edges and prefix boundaries.
VALUES = st.one_of(st.integers(-3, 12), st.sampled_from([0.5, 2.5, -0.0, 1e-300, 7.25]))


@pytest.fixture(autouse=True, params=[(2, 1, 4), (2, 2, 2), (3, 4, 3), (4, 128, 16)])
def _small_bins(request: pytest.FixtureRequest) -> Iterator[None]:
    """(rows per bin, widest prefix spacing, prefixes aimed at)."""
    fine, coarse, count = request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_columns, "FINE_BIN", fine)
        patch.setattr(_columns, "FINE_PER_COARSE", coarse)
        patch.setattr(_columns, "PREFIX_COUNT", count)
        yield


def _expected(values: list[float | None], interval: Interval) -> BitMap:
    lo, lo_incl, hi, hi_incl = interval
    return BitMap(
        row
        for row, value in enumerate(values)
        if value is not None
        and (value >= lo if lo_incl else value > lo)
        and (value <= hi if hi_incl else value < hi)
    )


def _column(values: list[float | None], sealed: int) -> RangeColumn:
    """A column holding ``values`` (None: no value), the first ``sealed`` of them sorted."""
    column = RangeColumn("number")
    for row, value in enumerate(values[:sealed]):
        if value is not None:
            column.append(row, value)
    column.seal()
    for row, value in enumerate(values[sealed:], start=sealed):
        if value is not None:
            column.add(row, value)
    return column


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    low = draw(st.one_of(VALUES, st.just(-np.inf)))
    high = draw(st.one_of(VALUES, st.just(np.inf)))
    return (float(low), draw(st.booleans()), float(high), draw(st.booleans()))


def never(_value: object) -> bool:
    """The test for huge ints: this column holds none."""
    return False


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), VALUES), max_size=90),
    st.data(),
    st.lists(intervals(), min_size=1, max_size=3),
)
def test_select_intersect_and_filter_agree_with_comparisons(
    raw: list[float | int | None], data: st.DataObject, wanted: list[Interval]
) -> None:
    """Every path returns exactly the rows whose stored value lies in one of the intervals,
    with rows that hold no value, rows past the column and rows added after the seal."""
    values = [None if value is None else float(value) for value in raw]
    sealed = data.draw(st.integers(0, len(values)))
    column = _column(values, sealed)
    candidates = BitMap(data.draw(st.lists(st.integers(0, len(values) + 5))))
    want = BitMap()
    for interval in wanted:
        want |= _expected(values, interval)
    assert column.select(wanted, never) == want
    assert column.intersect(candidates, wanted, never) == candidates & want
    assert column.filter(candidates, wanted, never) == candidates & want
    assert column.count_within(candidates, wanted, never) == len(candidates & want)
    assert column.estimate(wanted) >= len(want)
    assert column.select_cost(wanted) >= 0


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=120), st.integers(0, 121), st.integers(0, 121))
def test_every_rank_range_is_exact(raw: list[float | int], i: int, j: int) -> None:
    """Any rank range of the sealed rows, whichever prefixes the plan picks."""
    column = _column([float(value) for value in raw], len(raw))
    i, j = min(i, len(raw)), min(j, len(raw))
    want = BitMap(column.base_rows[i:j].tolist())
    assert column._ranks(i, j) == want
    high, low, added, taken = column._rank_pieces(i, j)
    if high is not None:
        rebuilt = column.prefix[high] - column.prefix[low]
        rebuilt |= added if added is not None else BitMap()
        rebuilt -= taken if taken is not None else BitMap()
        assert rebuilt == want


def test_a_range_to_the_top_is_a_complement() -> None:
    """``>=`` half the column takes the rows below away from the last (whole) prefix."""
    column = _column([float(v % 50) for v in range(200)], 200)
    i, j = column._rank_range((25.0, True, np.inf, True))
    low, high = column._prefix_plan(i, j) or (None, None)
    assert high == len(column.prefix) - 1
    assert column.prefix_ranks[-1] == 200
    spacing = _columns.prefix_spacing(len(column.fine)) * _columns.FINE_BIN
    assert low is not None
    assert abs(column.prefix_ranks[low] - i) <= spacing
    assert column.select([(25.0, True, np.inf, True)], never) == BitMap(
        row for row in range(200) if row % 50 >= 25
    )


def test_prefix_spacing_keeps_few_prefixes() -> None:
    """At most about `PREFIX_COUNT` of them, never closer than one bin nor wider than the cap."""
    assert _columns.prefix_spacing(0) == 1
    for bins in (1, 5, 16, 17, 244, 2441, 100_000):
        spacing = _columns.prefix_spacing(bins)
        assert 1 <= spacing <= _columns.FINE_PER_COARSE
        assert spacing == _columns.FINE_PER_COARSE or bins // spacing <= _columns.PREFIX_COUNT


@st.composite
def populations(draw: st.DrawFn) -> list[Follower]:
    """Dense tags and a few values, so conjunctions keep many candidates and ties abound."""
    size = draw(st.integers(20, 120))
    people = []
    for i in range(size):
        attributes: dict[str, int | float | str] = {}
        if draw(st.integers(0, 9)):
            attributes["spend"] = draw(VALUES)
        elif draw(st.booleans()):
            attributes["spend"] = "n/a"  # another kind: never in a number range
        people.append(
            Follower(
                f"o{i:04d}",
                # Whole hours and days, so that `within` boundaries fall on stored values.
                NOW - timedelta(hours=draw(st.sampled_from([0, 1, 24, 48, 72, 240]))),
                tags={name for name in ("a", "b") if draw(st.integers(0, 3))},
                attributes=attributes,
            )
        )
    return people


def _segments(cut: float, hours: int) -> list[Segment]:
    spend, since = attr("spend"), attr("subscribe_time")
    return [
        tag("a") & (spend >= cut) & since.within(timedelta(hours=hours)),
        tag("a") & ~tag("b") & (spend < cut) & (spend > -1),
        (spend >= cut) & since.within(timedelta(hours=hours)),
        tag("b") & spend.between(cut, cut + 3) & ~since.within(timedelta(hours=hours)),
        tag("a") & spend.isin([cut, 2.5, 11]) & (since < NOW - timedelta(hours=hours)),
        tag("a") & (since >= NOW - timedelta(hours=hours)) & (since <= NOW),
    ]


@settings(max_examples=40, deadline=None)
@given(
    populations(),
    st.one_of(VALUES, st.just(-100)),
    st.sampled_from([1, 24, 47, 48, 49, 240]),
    st.integers(0, 15),
    st.lists(st.integers(0, 119), max_size=10),
)
def test_conjunctions_agree_with_matches_after_changes(
    population: list[Follower], cut: float, hours: int, late: int, removed: list[int]
) -> None:
    """Built from the first followers, the last ``late`` added one by one, some removed and
    some updated (moved to new rows): every conjunction still selects what `matches` does."""
    split = max(0, len(population) - late)
    index = SegmentIndex.build(population[:split])
    for follower in population[split:]:
        index.add(follower)
    for segment in _segments(cut, hours):  # every row live: `count` may skip building rows
        assert index.count(segment, now=NOW) == sum(
            matches(segment, f, now=NOW) for f in population
        )
    live = {f.openid: f for f in population}
    for position in removed:
        if position < len(population) and population[position].openid in live:
            follower = live.pop(population[position].openid)
            index.remove(follower.openid)
            if position % 2:
                moved = Follower(follower.openid, NOW, tags={"a"}, attributes={"spend": 2.5})
                index.add(moved)
                live[moved.openid] = moved
    for segment in _segments(cut, hours):
        want = {openid for openid, f in live.items() if matches(segment, f, now=NOW)}
        assert set(index.evaluate(segment, now=NOW).openids()) == want, segment
        assert index.count(segment, now=NOW) == len(want)


def test_the_intersect_path_cuts_a_widened_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A conjunction reads the values of the candidates in a widened bin, and only those."""
    calls: list[int] = []
    original = RangeColumn._mask

    def counting(self: RangeColumn, values: object, interval: Interval) -> object:
        calls.append(len(values))  # type: ignore[arg-type]
        return original(self, values, interval)

    population = [
        Follower(f"o{i:05d}", NOW, tags={"a"}, attributes={"spend": float(i % 97)})
        for i in range(3000)
    ]
    index = SegmentIndex.build(population)
    monkeypatch.setattr(RangeColumn, "_mask", counting)
    segment = tag("a") & (attr("spend") >= 40.5)
    assert index.count(segment, now=NOW) == sum(1 for i in range(3000) if i % 97 >= 40.5)
    assert calls
    assert max(calls) <= _columns.FINE_BIN


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 300_000), max_size=30), max_size=30))
def test_union_of_any_number_of_bitmaps(parts: list[list[int]]) -> None:
    """Pairwise for a few bitmaps, all at once for many: the same set, and never an input."""
    bitmaps = [BitMap(part) for part in parts]
    merged = _columns.union(bitmaps)
    assert merged == BitMap(row for part in parts for row in part)
    assert all(merged is not bitmap for bitmap in bitmaps)
