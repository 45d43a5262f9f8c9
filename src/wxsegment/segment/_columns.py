"""Column structures behind `SegmentIndex`: categorical bitmaps and exact range columns.

Rows are dense ``uint32`` ids. A `CategoricalColumn` keeps one roaring bitmap per distinct
value (strings, bools). A `RangeColumn` (numbers, datetimes) keeps the value of every row in a
numpy array plus the rows sorted by value, cut into fixed-size bins: each bin is a bitmap, and
at a few evenly spaced ranks (and at the end) a *prefix* bitmap holds all rows ranked before
it. A value range is a rank range ``[i, j)``: the difference of the prefixes nearest to ``i``
and ``j``, corrected by the bins between each boundary and its prefix (added or taken away)
and two boundary slices of fewer than `FINE_BIN` rows, or the bins between ``i`` and ``j``
when that is fewer. A range reaching the top of the column is thus the complement of the rows
below it, and no range costs more than about one prefix spacing of bin unions. Inside a
conjunction a range is instead widened to whole bins, intersected with the candidates and cut
back by reading the values of the candidates in the widened bins (`RangeColumn.intersect`).

Exactness: datetimes are stored as int64 microseconds since the epoch (the resolution of
`datetime`, so exact). Numbers are stored as float64 when that is exact (every float, every int
with ``float(v) == v``); other ints go to a side table compared in Python, and int constants
that float64 cannot represent are turned into the adjacent float bounds.
"""

from __future__ import annotations

import array
import bisect
import math
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, Final

try:
    import numpy as np
    from pyroaring import BitMap
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "SegmentIndex needs the optional 'bitmap' extra (pyroaring and numpy): "
        "pip install 'wxsegment[bitmap]'"
    ) from error

from wxsegment._model import AttributeValue

__all__ = [
    "DT_MISSING",
    "EPOCH",
    "FINE_BIN",
    "FINE_PER_COARSE",
    "PREFIX_COUNT",
    "CategoricalColumn",
    "Interval",
    "RangeColumn",
    "bitmap_of",
    "micros",
    "missing_value",
    "number_bounds",
    "prefix_spacing",
    "rows_of",
    "store_value",
    "unbounded_bounds",
    "union",
]

if array.array("I").itemsize != 4:  # pragma: no cover - no mainstream platform
    raise ImportError("SegmentIndex needs a platform where C unsigned int is 32 bits")

#: Rows per fine bin; a range query decodes at most two partial bins of this size.
FINE_BIN: Final = 4096
#: The widest spacing of prefix bitmaps, in fine bins. Prefix bitmaps are mostly dense (8 KiB
#: per 65,536 rows whatever they hold): at 10M rows, 64 made them 45 MiB a column, 128 makes
#: them 23 MiB for about the same range query time (both under 2.5 ms for any range of 10M
#: random values).
FINE_PER_COARSE: Final = 128
#: Prefix bitmaps a column aims at: a smaller column spaces them closer (down to one bin), so
#: that its ranges too cost at most about half a spacing of bin unions per boundary, while the
#: prefixes keep about the same share of the column's memory as at 10M rows (a quarter of its
#: values' bytes). At 1M rows, spacing 128 (one prefix) gave 0.56 ms for a half-column range
#: and 16 gave 0.14 ms, for 2.0 MiB of prefixes.
PREFIX_COUNT: Final = 16

EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO: Final = timedelta(microseconds=1)
_INT_MIN: Final = int(np.iinfo(np.int64).min)
_INT_MAX: Final = int(np.iinfo(np.int64).max)
#: Marks "no datetime here" in an int64 value column; no datetime maps to it.
DT_MISSING: Final = _INT_MIN
#: Up to this many bitmaps, `union` ORs them pairwise instead of all at once.
_PAIRWISE_UNION_MAX: Final = 12
#: A difference of two prefix bitmaps costs about as much as a bin union of this fraction of
#: the column's rows (their containers are mostly dense, so it walks the whole column).
_PREFIX_DIFFERENCE_ROWS: Final = 64
#: Boundary ranks a range column remembers before it starts over.
_RANK_CACHE_SIZE: Final = 256

#: A closed or half-open interval of stored values: (lo, lo_inclusive, hi, hi_inclusive).
Interval = tuple[Any, bool, Any, bool]


def micros(value: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime."""
    return (value - EPOCH) // _MICRO


def union(bitmaps: Iterable[Any]) -> Any:
    """The union of bitmaps (a new bitmap, even for zero or one input)."""
    parts = list(bitmaps)
    if not parts:
        return BitMap()
    if len(parts) == 1:
        # A plain copy: pyroaring's default run optimisation scans every container again
        # (ten times the copy for a dense one), and a union of several is not optimised either.
        return BitMap(parts[0], optimize=False)
    if len(parts) > _PAIRWISE_UNION_MAX:
        return BitMap.union(*parts)
    # A few sparse bitmaps (a range's boundary bins): pairwise ORs in a balanced tree took
    # up to half the time of pyroaring's many-way union, which was faster from 16 of them.
    while len(parts) > 1:
        paired = [left | right for left, right in zip(parts[::2], parts[1::2], strict=False)]
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def bitmap_of(rows: Any, *, optimize: bool = True) -> Any:
    """A bitmap from a numpy array (or any iterable) of row ids.

    ``optimize`` looks for runs of consecutive rows, which pays for a bitmap that is kept but
    not for one a query uses once.
    """
    if isinstance(rows, np.ndarray):
        # pyroaring loads a sorted array.array of C unsigned ints in bulk, several times faster
        # than it iterates a numpy array or an unsorted one.
        ordered = np.sort(np.asarray(rows, dtype=np.uint32))
        return BitMap(array.array("I", ordered.tobytes()), optimize=optimize)
    return BitMap(rows, optimize=optimize)


def rows_of(bitmap: Any) -> Any:
    """The row ids of a bitmap as a numpy uint32 array, ascending."""
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32)


class CategoricalColumn:
    """Rows per distinct value of one kind (``str`` or ``bool``) of one attribute."""

    __slots__ = ("has", "pending", "values")

    def __init__(self) -> None:
        self.values: dict[AttributeValue, Any] = {}
        self.has: Any = BitMap()
        self.pending: dict[AttributeValue, list[int]] = {}

    def append(self, row: int, value: AttributeValue) -> None:
        """Record ``value`` for a new row (buffered until `flush`)."""
        self.pending.setdefault(value, []).append(row)

    def add(self, row: int, value: AttributeValue) -> None:
        """Record ``value`` for a row right away."""
        bitmap = self.values.get(value)
        if bitmap is None:
            bitmap = self.values[value] = BitMap()
        bitmap.add(row)
        self.has.add(row)

    def flush(self) -> None:
        """Move buffered rows into the bitmaps."""
        for value, rows in self.pending.items():
            block = BitMap(rows)
            bitmap = self.values.get(value)
            if bitmap is None:
                self.values[value] = block
            else:
                bitmap |= block
            self.has |= block
        self.pending.clear()

    def matching(self, test: Callable[[AttributeValue], bool]) -> Any:
        """The rows whose value passes ``test`` (one call per distinct value)."""
        return union(bitmap for value, bitmap in self.values.items() if test(value))

    def equal(self, value: AttributeValue) -> Any:
        """The rows holding exactly ``value`` (shared bitmap: do not mutate)."""
        found = self.values.get(value)
        return BitMap() if found is None else found


class RangeColumn:
    """Exact range queries over one kind (``number`` or ``datetime``) of one attribute.

    ``by_row`` holds each row's stored value (NaN or `DT_MISSING` when the row has none);
    ``base_rows`` are the rows sorted by value when the column was last sealed; rows added
    later sit in a small unsorted tail until the column is re-sealed.
    """

    __slots__ = (
        "_rank_cache",
        "base_rows",
        "by_row",
        "dtype",
        "fine",
        "has",
        "huge",
        "kind",
        "marks",
        "prefix",
        "prefix_ranks",
        "tail_blocks",
        "tail_rows",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dtype: Any = np.float64 if kind == "number" else np.int64
        self.by_row: Any = np.empty(0, dtype=self.dtype)
        self.has: Any = BitMap()
        #: Rows holding an int that float64 cannot represent exactly.
        self.huge: dict[int, int] = {}
        self.base_rows: Any = np.empty(0, dtype=np.uint32)
        self.marks: Any = np.empty(0, dtype=self.dtype)
        self.fine: list[Any] = []
        #: ``prefix[k]`` holds the base rows ranked below ``prefix_ranks[k]``: ranks 0, one
        #: spacing, two spacings ... and, last, every base row.
        self.prefix: list[Any] = [BitMap()]
        self.prefix_ranks: list[int] = [0]
        self.tail_rows: list[int] = []
        #: Rows added in bulk since the last seal (only during a build, which seals them).
        self.tail_blocks: list[Any] = []
        #: Boundary ranks in the sealed base by (value, side): a conjunction asks for each
        #: twice (its estimate, then its rows), and a dashboard asks for the same ones again.
        self._rank_cache: dict[tuple[float | int, bool], int] = {}

    @property
    def missing(self) -> float | int:
        """The filler for rows without a stored value."""
        return missing_value(self.kind)

    def _reserve(self, rows: int) -> None:
        if rows <= self.by_row.shape[0]:
            return
        # Grow by an eighth, as the tail does before a re-seal: doubling ten million values
        # for the first few followers added after a build would cost 80 MB and a full copy.
        size = self.by_row.shape[0]
        grown = np.full(max(rows, size + size // 8, 1024), self.missing, self.dtype)
        grown[: self.by_row.shape[0]] = self.by_row
        self.by_row = grown

    def store(self, value: AttributeValue) -> float | int | None:
        """The stored form of a value of this column's kind, or None for a huge int."""
        return store_value(self.kind, value)

    def add(self, row: int, value: AttributeValue) -> None:
        """Record ``value`` for a new row, in the tail."""
        stored = self.store(value)
        self._reserve(row + 1)
        self.has.add(row)
        if stored is None:
            assert isinstance(value, int)
            self.huge[row] = value
            return
        self.by_row[row] = stored
        self.tail_rows.append(row)
        if len(self.tail_rows) > max(65536, self.base_rows.shape[0] // 8):
            self.seal()

    def append(self, row: int, value: AttributeValue) -> None:
        """Record ``value`` for a new row without re-sealing (bulk build; `seal` follows)."""
        stored = self.store(value)
        if row >= self.by_row.shape[0]:
            self._reserve(row + 1)
        self.has.add(row)
        if stored is None:
            assert isinstance(value, int)
            self.huge[row] = value
            return
        self.by_row[row] = stored
        self.tail_rows.append(row)

    def extend(self, rows: Any, values: Any) -> None:
        """Record stored values (numpy) for many new rows, in the tail (bulk build)."""
        if rows.size == 0:
            return
        self._reserve(int(rows.max()) + 1)
        self.by_row[rows] = values
        self.has |= bitmap_of(rows)
        self.tail_blocks.append(rows)

    def extend_all(self, values: Any) -> None:
        """Record a value for every row from the first unused one on (bulk build)."""
        first = self.by_row.shape[0]
        if first or self.tail_rows or self.tail_blocks:
            rows = np.arange(first, first + values.shape[0], dtype=np.uint32)
            self.extend(rows, values.astype(self.dtype, copy=False))
            return
        # A fresh column given every row: no scatter, and the rows are one run.
        self.by_row = np.array(values, dtype=self.dtype)
        self.has = BitMap(range(values.shape[0]))
        self.tail_blocks.append(np.arange(values.shape[0], dtype=np.uint32))

    def seal(self) -> None:
        """Sort every stored row by value and rebuild the bins."""
        tail = [np.asarray(self.tail_rows, dtype=np.uint32), *self.tail_blocks]
        rows = np.concatenate([self.base_rows, *tail])
        self.tail_rows = []
        self.tail_blocks = []
        size = rows.shape[0]
        # Every row, in order (a column built from one full array): sorted in place of a
        # gathered copy, which at 10M rows would be 80 MB more at the build's peak.
        whole = size == self.by_row.shape[0] and bool(size and np.all(rows[1:] > rows[:-1]))
        # Equal values may come in any order: a value range is a rank range that takes all of
        # them or none, so the unstable sort (two to three times faster at 10M) is exact too.
        if whole:
            del rows
            self.base_rows = np.argsort(self.by_row).astype(np.uint32)
        else:
            self.base_rows = rows[np.argsort(self.by_row[rows])]
            del rows
        self._rebuild_bins()

    def _rebuild_bins(self) -> None:
        self._rank_cache = {}
        rows = self.base_rows
        count = rows.shape[0] // FINE_BIN
        self.marks = self.by_row[rows[: count * FINE_BIN : FINE_BIN]]
        # One sort of every bin at once (rows by id within a bin), then bulk loads.
        bins = np.sort(rows[: count * FINE_BIN].reshape(count, FINE_BIN), axis=1)
        self.fine = [BitMap(array.array("I", part.tobytes())) for part in bins]
        spacing = prefix_spacing(count)
        self.prefix = [BitMap()]
        self.prefix_ranks = [0]
        for start in range(0, count - spacing + 1, spacing):
            block = union(self.fine[start : start + spacing])
            self.prefix.append(self.prefix[-1] | block)
            self.prefix_ranks.append((start + spacing) * FINE_BIN)
        if self.prefix_ranks[-1] < rows.shape[0]:
            # The whole base as the last prefix: a range reaching the top of the column is
            # then its complement, the rows below it taken away.
            rest = self.fine[self.prefix_ranks[-1] // FINE_BIN : count]
            tail = bitmap_of(rows[count * FINE_BIN :])
            self.prefix.append(BitMap.union(self.prefix[-1], tail, *rest))
            self.prefix_ranks.append(rows.shape[0])

    def restore(self, base_rows: Any) -> None:
        """Rebuild the bins from loaded sorted rows (``by_row`` already set)."""
        self.base_rows = base_rows
        self._rebuild_bins()

    # -- queries -----------------------------------------------------------------------------

    def _base_value_rank(self, value: float | int, right: bool) -> int:
        """How many base rows hold a value < ``value`` (<= when ``right``)."""
        key = (value, right)
        known = self._rank_cache.get(key)
        if known is not None:
            return known
        rank = self._find_rank(value, right)
        if len(self._rank_cache) >= _RANK_CACHE_SIZE:
            self._rank_cache.clear()
        self._rank_cache[key] = rank
        return rank

    def _find_rank(self, value: float | int, right: bool) -> int:
        side: Any = "right" if right else "left"
        rows = self.base_rows
        if rows.size == 0:
            return 0
        marks = self.marks
        # Bin k starts at rank k * FINE_BIN; find the bin the boundary falls in, then the
        # exact position inside it from the values of that bin only.
        k = int(np.searchsorted(marks, value, side=side)) - 1
        if k < 0 and marks.size:
            return 0
        k = max(k, 0)
        start = k * FINE_BIN
        stop = min(start + FINE_BIN, rows.shape[0]) if k < marks.shape[0] - 1 else rows.shape[0]
        inside = self.by_row[rows[start:stop]]
        return start + int(np.searchsorted(inside, value, side=side))

    def _rank_range(self, interval: Interval) -> tuple[int, int]:
        lo, lo_incl, hi, hi_incl = interval
        i = self._base_value_rank(lo, right=not lo_incl)
        j = self._base_value_rank(hi, right=hi_incl)
        return i, max(i, j)

    def estimate(self, intervals: list[Interval]) -> int:
        """An upper bound on the rows matching any of ``intervals`` (cheap)."""
        total = len(self.tail_rows) + len(self.huge)
        for interval in intervals:
            i, j = self._rank_range(interval)
            total += j - i
        return total

    def _ranks(self, i: int, j: int) -> Any:
        """The rows ranked in ``[i, j)`` of the sealed base, as a new bitmap."""
        high, low, added, taken = self._rank_pieces(i, j)
        if high is None:
            return BitMap() if added is None else added
        result = self.prefix[high] - self.prefix[low]
        if added is not None:
            result |= added
        if taken is not None:
            result -= taken
        return result

    def _ranks_within(self, candidates: Any, interval: Interval) -> Any:
        """The rows of ``candidates`` whose value lies in ``interval`` among the sealed base.

        The range is widened to whole bins, so that it is built from bin and prefix bitmaps
        only, and cut down afterwards in the one or two bins it was widened into: only the
        candidates there (about a bin's share of them) have their values read. Sorting the
        boundary rows into a bitmap instead cost as much as the rest of the range.
        """
        wide_i, wide_j, widened = self._widened(interval)
        if wide_i >= wide_j:
            return BitMap()
        result = candidates & self._ranks(wide_i, wide_j)
        for number in widened:
            outside = self._outside(result & self.fine[number], interval)
            if outside.size:
                result -= BitMap(array.array("I", outside.tobytes()), optimize=False)
        return result

    def _widened(self, interval: Interval) -> tuple[int, int, set[int]]:
        """The ranks of ``interval`` widened to whole bins, and the bins it was widened into."""
        i, j = self._rank_range(interval)
        if i >= j:
            return i, i, set()
        whole = len(self.fine) * FINE_BIN
        # Rows past the last whole bin belong to no bin: a boundary there stays exact.
        wide_i = i - i % FINE_BIN if i < whole else i
        wide_j = min(j + (-j) % FINE_BIN, whole) if j <= whole else j
        widened = set()
        if wide_i < i:
            widened.add(wide_i // FINE_BIN)
        if j < wide_j:
            widened.add(wide_j // FINE_BIN - 1)
        return wide_i, wide_j, widened

    def _outside(self, rows: Any, interval: Interval) -> Any:
        """The rows of a bitmap of base rows whose value lies outside ``interval`` (numpy)."""
        if not rows:
            return np.empty(0, dtype=np.uint32)
        found = rows_of(rows)
        return found[~self._mask(self.by_row[found], interval)]

    def count_within(
        self, candidates: Any, intervals: list[Interval], huge_test: Callable[[int], bool]
    ) -> int:
        """How many of ``candidates`` `intersect` would keep, without building the result."""
        if len(intervals) != 1:  # intervals of an `In` may overlap: count their union
            return len(self.intersect(candidates, intervals, huge_test))
        (interval,) = intervals
        total = 0
        for part in self._unsorted(intervals, huge_test):
            total += int(candidates.intersection_cardinality(part))
        wide_i, wide_j, widened = self._widened(interval)
        if wide_i >= wide_j:
            return total
        total += int(candidates.intersection_cardinality(self._ranks(wide_i, wide_j)))
        for number in widened:
            total -= self._outside(candidates & self.fine[number], interval).size
        return int(total)

    def _rank_pieces(self, i: int, j: int) -> tuple[int | None, int, Any, Any]:
        """Ranks ``[i, j)`` as ``prefix[high] - prefix[low] | added - taken``.

        ``high`` is None when the bins between ``i`` and ``j`` are cheaper than any prefix:
        then ``added`` alone holds the range. ``added`` and ``taken`` are None when empty.
        """
        if i >= j:
            return None, 0, None, None
        plan = self._prefix_plan(i, j)
        if plan is None:
            return None, 0, self._span_bitmap([(i, j)]), None
        low, high = plan
        lower, upper = self.prefix_ranks[low], self.prefix_ranks[high]
        # [i, j) = [lower, upper) + the rows between a boundary and its prefix when the prefix
        # lies outside the range - those between them when it lies inside; the plan keeps
        # lower <= upper, so this is exact.
        added = [(i, lower)] if i < lower else []
        taken = [(lower, i)] if lower < i else []
        if upper < j:
            added.append((upper, j))
        elif j < upper:
            taken.append((j, upper))
        return high, low, self._span_bitmap(added), self._span_bitmap(taken)

    def _span_bitmap(self, spans: list[tuple[int, int]]) -> Any:
        """The rows ranked in any of ``spans`` (each ``[i, j)``), or None when there are none."""
        if not spans:
            return None
        rows = self.base_rows
        pieces: list[Any] = []
        edges: list[Any] = []
        for i, j in spans:
            first = -(-i // FINE_BIN)
            last = min(j // FINE_BIN, len(self.fine))
            if first >= last:
                edges.append(rows[i:j])
                continue
            edges.append(rows[i : first * FINE_BIN])
            edges.append(rows[last * FINE_BIN : j])
            pieces.extend(self.fine[first:last])
        boundary = np.concatenate(edges)
        if boundary.size:
            pieces.append(bitmap_of(boundary, optimize=False))
        return union(pieces)

    def _prefix_plan(self, i: int, j: int) -> tuple[int, int] | None:
        """The prefixes ``(low, high)`` to answer ``[i, j)`` by, or None to union its bins."""
        best = _span_cost(i, j)
        plan = None
        # Each boundary's nearest prefix is under half a spacing away; the prefixes win when
        # the rows between them and the boundaries, plus one pass over two mostly dense
        # bitmaps, come to fewer than the range's own rows.
        overhead = self.base_rows.shape[0] // _PREFIX_DIFFERENCE_ROWS
        for low in self._nearest_prefixes(i):
            for high in self._nearest_prefixes(j):
                lower, upper = self.prefix_ranks[low], self.prefix_ranks[high]
                if lower > upper:
                    continue
                cost = overhead + _span_cost(min(i, lower), max(i, lower))
                cost += _span_cost(min(j, upper), max(j, upper))
                if cost < best:
                    best, plan = cost, (low, high)
        return plan

    def _nearest_prefixes(self, rank: int) -> tuple[int, ...]:
        """The prefixes next to ``rank`` below and above it (one when it falls on one)."""
        ranks = self.prefix_ranks
        below = bisect.bisect_right(ranks, rank) - 1
        if ranks[below] == rank or below + 1 == len(ranks):
            return (below,)
        return below, below + 1

    def select_cost(self, intervals: list[Interval]) -> int:
        """About how many rows `select` or `intersect` touches for ``intervals``."""
        total = len(self.tail_rows) + len(self.huge)
        for interval in intervals:
            i, j = self._rank_range(interval)
            if i >= j:
                continue
            plan = self._prefix_plan(i, j)
            if plan is None:
                total += _span_cost(i, j)
                continue
            total += self.base_rows.shape[0] // _PREFIX_DIFFERENCE_ROWS
            for rank, prefix in zip((i, j), plan, strict=True):
                other = self.prefix_ranks[prefix]
                total += _span_cost(min(rank, other), max(rank, other))
        return total

    def _mask(self, values: Any, interval: Interval) -> Any:
        lo, lo_incl, hi, hi_incl = interval
        above = values >= lo if lo_incl else values > lo
        below = values <= hi if hi_incl else values < hi
        return above & below

    def select(self, intervals: list[Interval], huge_test: Callable[[int], bool]) -> Any:
        """The rows whose value lies in any of ``intervals`` (a new bitmap)."""
        pieces = [self._ranks(*self._rank_range(interval)) for interval in intervals]
        pieces.extend(self._unsorted(intervals, huge_test))
        return pieces[0] if len(pieces) == 1 else union(pieces)

    def intersect(
        self, candidates: Any, intervals: list[Interval], huge_test: Callable[[int], bool]
    ) -> Any:
        """The subset of ``candidates`` whose value lies in any of ``intervals`` (a new
        bitmap), by bitmap operations on the candidates (see `filter` for reading values)."""
        pieces = [self._ranks_within(candidates, interval) for interval in intervals]
        pieces.extend(candidates & part for part in self._unsorted(intervals, huge_test))
        return pieces[0] if len(pieces) == 1 else union(pieces)

    def _unsorted(self, intervals: list[Interval], huge_test: Callable[[int], bool]) -> list[Any]:
        """The matching rows outside the sealed base: the tail and the huge ints."""
        pieces = []
        if self.tail_rows:
            tail_rows = np.asarray(self.tail_rows, dtype=np.uint32)
            tail_values = self.by_row[tail_rows]
            mask = np.zeros(tail_rows.shape[0], dtype=bool)
            for interval in intervals:
                mask |= self._mask(tail_values, interval)
            pieces.append(bitmap_of(tail_rows[mask], optimize=False))
        if self.huge:
            pieces.append(BitMap(row for row, value in self.huge.items() if huge_test(value)))
        return pieces

    def filter(
        self, candidates: Any, intervals: list[Interval], huge_test: Callable[[int], bool]
    ) -> Any:
        """The subset of ``candidates`` whose value lies in any of ``intervals``."""
        rows = rows_of(candidates)
        if rows.size and rows[-1] >= self.by_row.shape[0]:
            rows = rows[rows < self.by_row.shape[0]]
        values = self.by_row[rows]
        mask = self._mask(values, intervals[0]) if intervals else np.zeros(rows.size, dtype=bool)
        for interval in intervals[1:]:
            mask |= self._mask(values, interval)
        # A subset of ascending rows is ascending: no sort needed before the bulk load.
        result = BitMap(array.array("I", rows[mask].tobytes()), optimize=False)
        for row, value in self.huge.items():
            if row in candidates and huge_test(value):
                result.add(row)
        return result

    def unbounded(self) -> tuple[float | int, float | int]:
        """The widest interval bounds of this column (they exclude missing rows)."""
        return unbounded_bounds(self.kind)


def missing_value(kind: str) -> float | int:
    """The filler a value column of ``kind`` holds for rows without a value."""
    return math.nan if kind == "number" else DT_MISSING


def store_value(kind: str, value: AttributeValue) -> float | int | None:
    """The stored form of a value of ``kind`` (``number`` or ``datetime``), or None for an int
    that float64 cannot represent exactly."""
    if kind == "datetime":
        assert isinstance(value, datetime)
        return micros(value)
    if isinstance(value, int) and not _float_exact(value):
        return None
    return float(value)  # type: ignore[arg-type]


def unbounded_bounds(kind: str) -> tuple[float | int, float | int]:
    """The widest interval bounds of a column of ``kind`` (they exclude missing rows)."""
    if kind == "number":
        return -math.inf, math.inf
    return _INT_MIN + 1, _INT_MAX


def prefix_spacing(bins: int) -> int:
    """Fine bins between prefix bitmaps for a column of ``bins`` fine bins (a power of two)."""
    wanted = max(1, -(-bins // PREFIX_COUNT))
    return min(FINE_PER_COARSE, 1 << (wanted - 1).bit_length())


def _span_cost(i: int, j: int) -> int:
    """The work of materialising ranks ``[i, j)`` from bins, in rows."""
    return j - i


def _float_exact(value: int) -> bool:
    try:
        return int(float(value)) == value
    except OverflowError:
        return False


def number_bounds(value: int | float) -> tuple[float, float]:
    """Floats ``(below, above)`` bracketing ``value``: equal to it when it is exact.

    For an int that float64 cannot represent, ``below`` is the largest float smaller than it
    and ``above`` the smallest float larger, so ``x < value`` is ``x <= below`` for floats.
    """
    if isinstance(value, float) or _float_exact(value):
        exact = float(value)
        return exact, exact
    try:
        nearest = float(value)
    except OverflowError:
        return (sys.float_info.max, math.inf) if value > 0 else (-math.inf, -sys.float_info.max)
    if nearest > value:
        return math.nextafter(nearest, -math.inf), nearest
    return nearest, math.nextafter(nearest, math.inf)
