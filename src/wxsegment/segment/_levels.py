"""`LevelColumn`: a number or datetime column of few distinct values, as one bitmap per value.

A `RangeColumn` holds eight bytes of value and four of sorted row per row, plus its bins and
prefix bitmaps: about 150 MiB at 10M rows whatever the column holds. A member level with
five values needs none of that: a value range is then a run of levels, and its rows the
union of their bitmaps, which together hold each row once (at most two bytes a row, and an
eighth of a byte where a level is dense). `SegmentIndex` turns a sealed column into levels
when it has at least `LEVEL_MIN_ROWS` rows and at most `LEVELS_MAX` distinct values, and back
into a `RangeColumn` if later additions give it more than `LEVELS_GROWN` values.

Exactness is the `RangeColumn`'s: values are stored the same way (float64 numbers, int64
microseconds), ints that float64 cannot hold sit in the same side table, and an interval
takes a level exactly when the stored value lies in it.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Callable
from typing import Any, Final

import numpy as np
from pyroaring import BitMap

from wxsegment._model import AttributeValue
from wxsegment.segment._columns import (
    DT_MISSING,
    Interval,
    RangeColumn,
    missing_value,
    rows_of,
    store_value,
    unbounded_bounds,
    union,
)

__all__ = ["LEVELS_GROWN", "LEVELS_MAX", "LEVEL_MIN_ROWS", "LevelColumn", "Ranged"]

#: Columns with fewer stored rows stay range columns: their bins cost little, and small
#: indexes (tests, previews) keep one code path.
LEVEL_MIN_ROWS: Final = 1 << 16
#: The most distinct values a column may hold to be turned into levels when it is sealed.
LEVELS_MAX: Final = 64
#: A level column that grows past this many values goes back to being a range column.
LEVELS_GROWN: Final = 256
#: Values sampled to reject a column with many distinct values before reading all of them.
_SAMPLE: Final = 4096
#: Up to this many levels an intersection goes level by level; past it, through their union.
_PER_LEVEL_MAX: Final = 8


class LevelColumn:
    """Exact range queries over a `RangeColumn`'s kind of values, one bitmap per value."""

    __slots__ = ("has", "huge", "kind", "levels", "members")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        #: The distinct stored values, ascending; ``members[k]`` holds the rows of ``levels[k]``.
        self.levels: list[float | int] = []
        self.members: list[Any] = []
        #: Every row holding a value of this kind, huge ints included.
        self.has: Any = BitMap()
        #: Rows holding an int that float64 cannot represent exactly (as in `RangeColumn`).
        self.huge: dict[int, int] = {}

    # -- conversion ---------------------------------------------------------------------------

    @classmethod
    def from_values(
        cls, kind: str, rows: Any, values: Any, has: Any, huge: dict[int, int]
    ) -> LevelColumn | None:
        """Levels for stored ``values`` of ``rows`` (numpy), or None when they do not pay:
        fewer than `LEVEL_MIN_ROWS` rows, or more than `LEVELS_MAX` distinct values."""
        count = int(rows.shape[0])
        if count < LEVEL_MIN_ROWS:
            return None
        distinct = np.unique(values[:: max(1, count // _SAMPLE)])
        if distinct.shape[0] > LEVELS_MAX:
            return None
        codes = _codes(distinct, values)
        unmatched = distinct[codes] != values
        if bool(unmatched.any()):
            distinct = np.union1d(distinct, values[unmatched])
            if distinct.shape[0] > LEVELS_MAX:
                return None
            codes = _codes(distinct, values)
        if count > 1 and not bool(np.all(rows[1:] > rows[:-1])):
            ascending = np.argsort(rows)
            rows, codes = rows[ascending], codes[ascending]
        # A stable sort by level keeps each level's rows ascending, ready for a bulk load.
        order = np.argsort(codes.astype(np.uint8), kind="stable")
        ends = np.searchsorted(codes[order], np.arange(distinct.shape[0]), side="right")
        column = cls(kind)
        start = 0
        for value, end in zip(distinct.tolist(), ends.tolist(), strict=True):
            part = rows[order[start:end]].astype(np.uint32, copy=False)
            column.levels.append(value)
            column.members.append(BitMap(array.array("I", part.tobytes())))
            start = end
        column.has = has
        column.huge = huge
        return column

    @classmethod
    def from_range(cls, column: RangeColumn) -> LevelColumn | None:
        """Levels for a range column about to be sealed (its base and tail), or None."""
        if len(column.has) - len(column.huge) < LEVEL_MIN_ROWS:
            return None
        # A column of many values is turned down on a sample, before its rows are gathered.
        values = column.by_row
        sample = values[:: max(1, values.shape[0] // _SAMPLE)]
        if column.kind == "number":
            sample = sample[~np.isnan(sample)]
        else:
            sample = sample[sample != DT_MISSING]
        if np.unique(sample).shape[0] > LEVELS_MAX:
            return None
        tail = [np.asarray(column.tail_rows, dtype=np.uint32), *column.tail_blocks]
        rows = np.concatenate([column.base_rows, *tail])
        return cls.from_values(column.kind, rows, column.by_row[rows], column.has, column.huge)

    def arrays(self, rows: int) -> tuple[Any, Any]:
        """``(by_row, base_rows)`` of the equivalent `RangeColumn` over ``rows`` rows."""
        dtype: Any = np.float64 if self.kind == "number" else np.int64
        by_row = np.full(rows, missing_value(self.kind), dtype=dtype)
        parts = [rows_of(members) for members in self.members]
        for value, part in zip(self.levels, parts, strict=True):
            by_row[part] = value
        base = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
        return by_row, base.astype(np.uint32, copy=False)

    def to_range(self) -> RangeColumn:
        """The same column as a sealed `RangeColumn`."""
        column = RangeColumn(self.kind)
        by_row, base = self.arrays(int(self.has.max()) + 1 if self.has else 0)
        column.by_row = by_row
        column.has = BitMap(self.has)
        column.huge = dict(self.huge)
        column.restore(base)
        return column

    def overgrown(self) -> bool:
        """Whether additions have given it too many values to stay a level column."""
        return len(self.levels) > LEVELS_GROWN

    # -- additions ----------------------------------------------------------------------------

    def add(self, row: int, value: AttributeValue) -> None:
        """Record ``value`` for a new row."""
        self.has.add(row)
        stored = store_value(self.kind, value)
        if stored is None:
            assert isinstance(value, int)
            self.huge[row] = value
            return
        k = bisect.bisect_left(self.levels, stored)
        if k < len(self.levels) and self.levels[k] == stored:
            self.members[k].add(row)
            return
        self.levels.insert(k, stored)
        self.members.insert(k, BitMap([row]))

    def append(self, row: int, value: AttributeValue) -> None:
        """As `add` (levels need no re-sealing)."""
        self.add(row, value)

    # -- queries ------------------------------------------------------------------------------

    def _selected(self, intervals: list[Interval]) -> list[int]:
        """The levels inside any of ``intervals``, ascending."""
        chosen: set[int] = set()
        for lo, lo_incl, hi, hi_incl in intervals:
            i = (bisect.bisect_left if lo_incl else bisect.bisect_right)(self.levels, lo)
            j = (bisect.bisect_right if hi_incl else bisect.bisect_left)(self.levels, hi)
            chosen.update(range(i, j))
        return sorted(chosen)

    def _huge(self, huge_test: Callable[[int], bool]) -> Any:
        return BitMap(row for row, value in self.huge.items() if huge_test(value))

    def estimate(self, intervals: list[Interval]) -> int:
        """The rows matching any of ``intervals``, counting every huge int (cheap)."""
        return sum(len(self.members[k]) for k in self._selected(intervals)) + len(self.huge)

    def select_cost(self, intervals: list[Interval]) -> int:
        """Zero: reading values (`filter`) never beats the levels' bitmaps here."""
        return 0

    def select(self, intervals: list[Interval], huge_test: Callable[[int], bool]) -> Any:
        """The rows whose value lies in any of ``intervals`` (a new bitmap)."""
        pieces = [self.members[k] for k in self._selected(intervals)]
        if self.huge:
            pieces.append(self._huge(huge_test))
        return union(pieces)

    def intersect(
        self, candidates: Any, intervals: list[Interval], huge_test: Callable[[int], bool]
    ) -> Any:
        """The subset of ``candidates`` whose value lies in any of ``intervals``."""
        chosen = self._selected(intervals)
        if len(chosen) > _PER_LEVEL_MAX:
            result = candidates & union(self.members[k] for k in chosen)
        else:
            result = union(candidates & self.members[k] for k in chosen)
        if self.huge:
            result |= candidates & self._huge(huge_test)
        return result

    filter = intersect

    def count_within(
        self, candidates: Any, intervals: list[Interval], huge_test: Callable[[int], bool]
    ) -> int:
        """How many of ``candidates`` `intersect` would keep, without building the result."""
        total = sum(
            int(candidates.intersection_cardinality(self.members[k]))
            for k in self._selected(intervals)
        )
        huge = self.huge.items()
        return total + sum(1 for row, value in huge if row in candidates and huge_test(value))

    def unbounded(self) -> tuple[float | int, float | int]:
        """The widest interval bounds of this column (as a `RangeColumn`'s)."""
        return unbounded_bounds(self.kind)

    def bitmaps(self) -> list[Any]:
        """Every bitmap the column holds (for memory accounting)."""
        return [self.has, *self.members]


#: A column answering range predicates: values, sorted rows and bins, or levels.
Ranged = RangeColumn | LevelColumn


def _codes(distinct: Any, values: Any) -> Any:
    """Each value's position among ``distinct`` (clipped, so a missing value maps somewhere)."""
    codes = np.searchsorted(distinct, values)
    np.minimum(codes, distinct.shape[0] - 1, out=codes)
    return codes
