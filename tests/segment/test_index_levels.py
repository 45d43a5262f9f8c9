"""Level columns: a range column of few distinct values held as one bitmap per value.

The index's own property tests run again here with levels taken for any column (normally
only from 65,536 rows), once keeping them through every addition and once turning them back
into range columns after a few new values; the column is also checked on its own against
plain comparisons, and at the real thresholds on a member level of five values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

# The index's property tests, collected again under this module's fixture.
from tests.segment.test_index import (  # noqa: F401
    test_build_agrees_with_matches,
    test_incremental_updates_agree,
    test_number_edges_exhaustively,
    test_numbers_compare_exactly,
    test_numpy_columns_match_followers,
    test_save_load_with_sparse_columns,
)
from tests.segment.test_index_ranges import (  # noqa: F401
    _expected,
    test_conjunctions_agree_with_matches_after_changes,
)
from wxsegment import Follower
from wxsegment.segment import SegmentIndex, _levels, attr, matches, tag
from wxsegment.segment._columns import Interval, RangeColumn
from wxsegment.segment._levels import LevelColumn

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
VALUES = st.one_of(
    st.integers(-3, 12), st.sampled_from([0.5, 2.5, -0.0, 1e-300, 7.25, 2**60 + 1, -(2**70)])
)


@pytest.fixture(autouse=True, params=[256, 3], ids=["kept", "grown-back"])
def _levels_everywhere(request: pytest.FixtureRequest) -> Iterator[None]:
    """Levels for every sealed column; back to a range column past ``param`` values."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_levels, "LEVEL_MIN_ROWS", 1)
        patch.setattr(_levels, "LEVELS_GROWN", request.param)
        yield


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    low = draw(st.one_of(st.integers(-3, 12), st.sampled_from([0.5, 2.5, -0.0, -np.inf])))
    high = draw(st.one_of(st.integers(-3, 12), st.sampled_from([0.5, 7.25, 0.0, np.inf])))
    return (float(low), draw(st.booleans()), float(high), draw(st.booleans()))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), VALUES), min_size=1, max_size=90),
    st.data(),
    st.lists(intervals(), min_size=1, max_size=3),
)
def test_level_queries_agree_with_comparisons(
    raw: list[float | int | None], data: st.DataObject, wanted: list[Interval]
) -> None:
    """Levels made from a range column, with rows added after: every query is exact, huge
    ints answered by their own test as in a range column."""
    sealed = data.draw(st.integers(0, len(raw)))
    source = RangeColumn("number")
    for row, value in enumerate(raw[:sealed]):
        if value is not None:
            source.append(row, value)
    column = LevelColumn.from_range(source)
    if column is None:  # no rows, or more values than levels take
        return
    for row, value in enumerate(raw[sealed:], start=sealed):
        if value is not None:
            column.add(row, value)
    comparable = [None if v is None or abs(v) > 2**53 else float(v) for v in raw]
    want = BitMap()
    for interval in wanted:
        want |= _expected(comparable, interval)

    def huge_test(value: int) -> bool:
        return any(bool(_expected([value], interval)) for interval in wanted)

    for row, value in enumerate(raw):
        if value is not None and abs(value) > 2**53 and huge_test(value):
            want.add(row)
    candidates = BitMap(data.draw(st.lists(st.integers(0, len(raw) + 5))))
    assert column.select(wanted, huge_test) == want
    assert column.intersect(candidates, wanted, huge_test) == candidates & want
    assert column.filter(candidates, wanted, huge_test) == candidates & want
    assert column.count_within(candidates, wanted, huge_test) == len(candidates & want)
    assert column.estimate(wanted) >= len(want)
    back = column.to_range()
    assert back.select(wanted, huge_test) == want
    assert back.count_within(candidates, wanted, huge_test) == len(candidates & want)


def test_a_column_of_many_values_stays_a_range_column() -> None:
    values = np.arange(1000, dtype=np.float64)
    rows = np.arange(1000, dtype=np.uint32)
    assert LevelColumn.from_values("number", rows, values, BitMap(range(1000)), {}) is None
    few = np.repeat(np.arange(64, dtype=np.float64), 3)
    # The sample sees a few of them; the full pass finds the rest and still fits.
    made = LevelColumn.from_values(
        "number", np.arange(few.shape[0], dtype=np.uint32), few[::-1].copy(), BitMap(), {}
    )
    assert made is not None
    assert len(made.levels) == 64
    assert all(len(members) == 3 for members in made.members)


def _member_index(size: int) -> tuple[SegmentIndex, dict[str, np.ndarray]]:
    """``size`` followers with a member level of five values, a cent-valued spend and a
    subscribe time to the second, as a store hands them to the index."""
    rng = np.random.default_rng(11)
    columns = {
        "level": rng.integers(1, 6, size),
        "spend": np.round(rng.gamma(2.0, 150.0, size), 2),
        "joined": np.datetime64(NOW.replace(tzinfo=None), "s")
        - rng.integers(0, 400 * 86400, size).astype("timedelta64[s]"),
        "vip": rng.random(size) < 0.3,
    }
    index = SegmentIndex.from_columns(
        openids=[f"o{i:09d}" for i in range(size)],
        subscribe_time=columns["joined"],
        tags={"vip": np.flatnonzero(columns["vip"])},
        attributes={"level": columns["level"], "spend": columns["spend"]},
    )
    return index, columns


def test_a_member_level_becomes_levels_at_the_real_thresholds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_levels, "LEVEL_MIN_ROWS", 1 << 16)
    size = 70_000
    index, columns = _member_index(size)
    assert isinstance(index._ranges[("level", "number")], LevelColumn)
    assert isinstance(index._ranges[("spend", "number")], RangeColumn)
    level, spend, vip = attr("level"), attr("spend"), tag("vip")
    since = attr("subscribe_time")
    recent = columns["joined"] >= np.datetime64(NOW.replace(tzinfo=None), "s") - np.timedelta64(
        30 * 86400, "s"
    )
    cases = [
        (level >= 3, columns["level"] >= 3),
        (level.isin([1, 5]), np.isin(columns["level"], [1, 5])),
        (
            level.between(2, 4) & vip,
            (columns["level"] >= 2) & (columns["level"] <= 4) & columns["vip"],
        ),
        (
            (level < 3) & (spend >= 200) & since.within(timedelta(days=30)),
            (columns["level"] < 3) & (columns["spend"] >= 200) & recent,
        ),
        (vip & ~(level == 2), columns["vip"] & (columns["level"] != 2)),
        (level != 4, columns["level"] != 4),
    ]
    path = tmp_path / "index.wxs"
    index.save(path)
    loaded = SegmentIndex.load(path)
    assert isinstance(loaded._ranges[("level", "number")], LevelColumn)
    for segment, mask in cases:
        want = int(mask.sum())
        assert index.count(segment, now=NOW) == want, segment
        assert len(index.evaluate(segment, now=NOW)) == want, segment
        assert loaded.count(segment, now=NOW) == want, segment
    with_levels = index.nbytes()
    monkeypatch.setattr(_levels, "LEVELS_MAX", 0)
    assert with_levels < _member_index(size)[0].nbytes()


def test_followers_added_after_a_build_land_in_their_levels() -> None:
    population = [
        Follower(f"o{i:03d}", NOW - timedelta(days=i % 3), attributes={"level": i % 4})
        for i in range(40)
    ]
    index = SegmentIndex.build(population)
    assert isinstance(index._ranges[("level", "number")], LevelColumn)
    later = [Follower(f"n{i:03d}", NOW, attributes={"level": 10 + i}) for i in range(6)]
    for follower in later:
        index.add(follower)
    index.update(Follower("o001", NOW, attributes={"level": 3.5}))
    everyone = {f.openid: f for f in population + later}
    everyone["o001"] = Follower("o001", NOW, attributes={"level": 3.5})
    grown = isinstance(index._ranges[("level", "number")], RangeColumn)
    assert grown == (_levels.LEVELS_GROWN < 11)
    for segment in [attr("level") >= 3, attr("level").between(1, 11), attr("level") == 3.5]:
        want = {o for o, f in everyone.items() if matches(segment, f, now=NOW)}
        assert set(index.evaluate(segment, now=NOW)) == want
