"""`SegmentIndex`: evaluate segments over millions of followers with roaring bitmaps.

Each follower gets a dense row id in insertion order. Tags and categorical values (strings,
bools) map to bitmaps of rows; numbers and datetimes live in exact range columns (see
`wxsegment.segment._columns`). A segment evaluates to a bitmap of rows, bottom up, and agrees
with `matches` on every follower:

- a predicate on a missing attribute, or on a value of another kind, is false;
- ``Not`` is the live followers minus its child;
- rows are never reused: `remove` only clears the row from the live set, and `update` removes
  the follower and adds it again under a new row (it moves to the end of the iteration order).
"""

from __future__ import annotations

import array
import gc
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain, islice, repeat
from operator import attrgetter, floordiv, is_not, methodcaller, sub
from pathlib import Path
from typing import Any, BinaryIO, Final

try:
    import numpy as np
    from pyroaring import BitMap
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "SegmentIndex needs the optional 'bitmap' extra (pyroaring and numpy): "
        "pip install 'wxsegment[bitmap]'"
    ) from error

from wxsegment._clock import ensure_aware
from wxsegment._model import BUILTIN_FIELDS, AttributeValue, Follower, check_value, value_kind
from wxsegment._typing import assert_never
from wxsegment.segment._columns import (
    EPOCH,
    CategoricalColumn,
    Interval,
    RangeColumn,
    bitmap_of,
    micros,
    number_bounds,
    rows_of,
    union,
)
from wxsegment.segment._evaluate import compare_values
from wxsegment.segment._levels import LevelColumn, Ranged
from wxsegment.segment._nodes import (
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Op,
    Or,
    Segment,
    Tag,
    Within,
    as_node,
)
from wxsegment.segment._openids import ENCODING, ERRORS, OpenidTable

__all__ = [
    "DuplicateFollowerError",
    "IndexFormatError",
    "SegmentIndex",
    "SegmentResult",
    "UnknownFollowerError",
]

_MAGIC: Final = b"WXSEGIDX"
_VERSION: Final = 1
_RANGE_KINDS: Final = frozenset({"number", "datetime"})
#: Followers taken from a stream at a time by `build`: big enough that the per-chunk numpy
#: work is cheap per follower, small enough that a chunk of `Follower` objects stays small.
_CHUNK: Final = 1 << 16
#: The kind of a value by its exact type; subclasses go through `value_kind` one by one.
_KIND_OF_TYPE: Final[dict[type, str]] = {
    str: "str",
    bool: "bool",
    int: "number",
    float: "number",
    datetime: "datetime",
}
#: Filter candidates through the value column instead of building the range bitmap when the
#: candidates are this many times fewer than the rows building the range touches (the bins
#: between its boundaries and their nearest prefixes, see `RangeColumn.select_cost`).
#: Filtering costs about 15-20 ns per candidate (a gather, a compare, a compaction and a bulk
#: load), while unioning bins costs about 1 ns per row: at 1M followers a 64,000-row filter
#: took 1.3 ms against 0.4 ms for a half-column range built from 120 bins and its AND.
_FILTER_RATIO: Final = 16
#: Past this many rows the value column no longer fits in the CPU's caches, so each candidate's
#: read is a miss (about 30 ns), while the prefix bitmaps make a range cheaper per row: at 10M
#: followers, filtering 95,000 candidates took 2.7 ms against under 0.5 ms for a 1.6M-row
#: range and its AND.
_LARGE_COLUMN_ROWS: Final = 1 << 21
_LARGE_FILTER_RATIO: Final = 64
#: A bitmap holds its rows as dense blocks (bit sets) where more than one row in this many is
#: present, and as sorted lists elsewhere.
_DENSE_SHARE: Final = 16
#: How many times denser than that a predicted intersection must be to be treated as dense.
_DENSE_MARGIN: Final = 1.5
_MAX_ROWS: Final = (1 << 32) - 1
#: Ints in this range are exact as float64 (wider ones may be too; `RangeColumn` decides).
_SAFE_INT_MIN: Final = -(1 << 53)
_SAFE_INT_MAX: Final = 1 << 53


class IndexFormatError(ValueError):
    """A saved index file is not one this version can read (magic, version, truncation, CRC)."""


class DuplicateFollowerError(ValueError):
    """A follower with this openid is already in the index."""


class UnknownFollowerError(LookupError):
    """No follower with this openid is in the index."""


_Plan = tuple["Ranged | None", list[Interval], Callable[[Any], bool]]

_MICRO: Final = timedelta(microseconds=1)
_OPENID: Final = attrgetter("openid")
_TAGS: Final = attrgetter("tags")
_SUBSCRIBE_TIME: Final = attrgetter("subscribe_time")
_LAST_INTERACTION: Final = attrgetter("last_interaction_at")
_UNIONID: Final = attrgetter("unionid")
_ATTRIBUTES: Final = attrgetter("attributes")
_VALUES: Final = methodcaller("values")


def _partition(keys: list[Any], codes: dict[Any, int] | None = None) -> tuple[list[Any], Any, Any]:
    """Group equal keys: every key of ``codes`` (which learns the new ones; first-seen order),
    a stable permutation of the positions that puts each key's positions together, and where
    each key's group ends in it (a key absent from ``keys`` has an empty group)."""
    if codes is None:
        codes = {}
    try:
        numbered = np.fromiter(map(codes.__getitem__, keys), np.int32, len(keys))
    except KeyError:
        for key in dict.fromkeys(keys):
            codes.setdefault(key, len(codes))
        numbered = np.fromiter(map(codes.__getitem__, keys), np.int32, len(keys))
    if len(codes) <= 1 << 15:
        numbered = numbered.astype(np.int16)  # sorted by radix, in linear time
    order = np.argsort(numbered, kind="stable")
    return list(codes), order, np.cumsum(np.bincount(numbered, minlength=len(codes)))


def _split(array: Any, ends: Any) -> list[Any]:
    """``array`` cut into the groups `_partition` found (none for no keys)."""
    return np.split(array, ends[:-1]) if len(ends) else []


def _check_encoded(openids: Any) -> None:
    """Refuse a numpy openid array that is not non-empty UTF-8 (``S`` dtype) per entry."""
    if openids.dtype.kind != "S" or openids.ndim != 1:
        raise TypeError(f"openids must be a 1-d numpy bytes array (dtype S), got {openids.dtype}")
    if not openids.size:
        return
    if bool(np.any(openids == b"")):
        raise ValueError("openid must be a non-empty string, got ''")
    if int(openids.view(np.uint8).max()) >= 0x80:
        for key in openids.tolist():
            try:
                key.decode(ENCODING, ERRORS)
            except UnicodeDecodeError as error:
                raise ValueError(f"openid {key!r} is not UTF-8") from error


def _float_safe(values: list[AttributeValue]) -> bool:
    """Whether every int among ``values`` (ints and floats) converts to float64 exactly."""
    if int not in set(map(type, values)):
        return True
    ints: list[int] = [value for value in values if type(value) is int]
    return not ints or (min(ints) >= _SAFE_INT_MIN and max(ints) <= _SAFE_INT_MAX)


class SegmentResult:
    """The followers of an index that a segment selects, as a roaring bitmap of rows.

    Iterates over openids in row order (insertion order). Results of the same index combine
    with ``&``, ``|``, ``-`` and ``^``. A result is a snapshot: later changes to the index do
    not alter it.
    """

    __slots__ = ("_bitmap", "_index")

    def __init__(self, index: SegmentIndex, bitmap: Any) -> None:
        self._index = index
        self._bitmap = bitmap

    def __len__(self) -> int:
        return len(self._bitmap)

    def __iter__(self) -> Iterator[str]:
        table = self._index._openids
        rows = rows_of(self._bitmap)
        for start in range(0, rows.shape[0], _CHUNK):
            yield from table.openids(rows[start : start + _CHUNK])

    def __contains__(self, openid: object) -> bool:
        if not isinstance(openid, str):
            return False
        return any(row in self._bitmap for row in self._index._openids.rows_named(openid))

    def __repr__(self) -> str:
        return f"<SegmentResult of {len(self)} followers>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SegmentResult):
            return NotImplemented
        return self._index is other._index and bool(self._bitmap == other._bitmap)

    __hash__ = None  # type: ignore[assignment]

    def _other(self, other: object) -> Any:
        if not isinstance(other, SegmentResult):
            return None
        if other._index is not self._index:
            raise ValueError("cannot combine results of two different indexes")
        return other._bitmap

    def __and__(self, other: object) -> SegmentResult:
        bitmap = self._other(other)
        if bitmap is None:
            return NotImplemented
        return SegmentResult(self._index, self._bitmap & bitmap)

    def __or__(self, other: object) -> SegmentResult:
        bitmap = self._other(other)
        if bitmap is None:
            return NotImplemented
        return SegmentResult(self._index, self._bitmap | bitmap)

    def __sub__(self, other: object) -> SegmentResult:
        bitmap = self._other(other)
        if bitmap is None:
            return NotImplemented
        return SegmentResult(self._index, self._bitmap - bitmap)

    def __xor__(self, other: object) -> SegmentResult:
        bitmap = self._other(other)
        if bitmap is None:
            return NotImplemented
        return SegmentResult(self._index, self._bitmap ^ bitmap)

    @property
    def bitmap(self) -> Any:
        """The selected row ids as an immutable ``pyroaring.FrozenBitMap``."""
        from pyroaring import FrozenBitMap

        return FrozenBitMap(self._bitmap)

    def openids(self) -> list[str]:
        """The selected openids, in row order."""
        return list(self)


class SegmentIndex:
    """A roaring-bitmap index of followers that evaluates segments exactly like `matches`.

    Build it with `build` (a stream of `Follower`s) or `from_columns` (numpy columns), keep it
    current with `add`, `update` and `remove`, and persist it with `save` / `load`.
    """

    def __init__(self) -> None:
        self._openids = OpenidTable()
        self._live: Any = BitMap()
        self._tags: dict[str, Any] = {}
        self._present: dict[str, Any] = {}
        self._categorical: dict[tuple[str, str], CategoricalColumn] = {}
        self._ranges: dict[tuple[str, str], Ranged] = {}
        self._present_pending: dict[str, array.array[int]] = {}

    # -- size and membership ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, openid: object) -> bool:
        return isinstance(openid, str) and self._find(openid) is not None

    def __repr__(self) -> str:
        return f"<SegmentIndex of {len(self)} followers>"

    def nbytes(self) -> int:
        """Approximate bytes of memory the index holds (bitmaps, value columns, openids)."""
        bitmaps: list[Any] = [self._live, *self._tags.values(), *self._present.values()]
        arrays: list[Any] = []
        for categorical in self._categorical.values():
            bitmaps.append(categorical.has)
            bitmaps.extend(categorical.values.values())
        for column in self._ranges.values():
            if isinstance(column, LevelColumn):
                bitmaps.extend(column.bitmaps())
                continue
            bitmaps.extend([column.has, *column.fine, *column.prefix])
            arrays.extend([column.by_row, column.base_rows, column.marks])
        total = self._openids.nbytes()
        total += int(sum(array.nbytes for array in arrays if array is not None))
        for bitmap in bitmaps:
            stats = bitmap.get_statistics()
            total += int(stats["n_bytes_array_containers"]) + int(stats["n_bytes_run_containers"])
            total += int(stats["n_bytes_bitset_containers"]) + 16 * int(stats["n_containers"])
        return total

    @property
    def tags(self) -> frozenset[str]:
        """Every tag name that some row (live or removed) has carried."""
        return frozenset(self._tags)

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def build(cls, followers: Iterable[Follower]) -> SegmentIndex:
        """Index a stream of followers, holding only a few of them at a time.

        Raises `DuplicateFollowerError` when two followers share an openid. Automatic cyclic
        garbage collection is paused meanwhile, with a young-generation pass after each chunk.
        """
        index = cls()
        source = iter(followers)
        # Chunks keep the per-follower work in C (islice, map, numpy) instead of bytecode.
        # The automatic collector would rescan every live chunk of followers again and again
        # (most of the build's time); collecting the young generation once a chunk is released
        # still frees the cycles made meanwhile (the stream's own included), at little cost.
        tag_codes: dict[str, int] = {}
        name_codes: dict[str, int] = {}
        collecting = gc.isenabled()
        gc.disable()
        try:
            while True:
                chunk = list(islice(source, _CHUNK))
                if not chunk:
                    break
                if set(map(type, chunk)) != {Follower}:
                    for follower in chunk:
                        if not isinstance(follower, Follower):
                            raise TypeError(f"expected a Follower, got {type(follower).__name__}")
                index._absorb(chunk, tag_codes, name_codes)
                del chunk
                if collecting:
                    gc.collect(0)
        finally:
            if collecting:
                gc.enable()
        index._seal()
        return index

    def _absorb(
        self, chunk: list[Follower], tag_codes: dict[str, int], name_codes: dict[str, int]
    ) -> None:
        """Add a chunk of followers as new rows.

        ``tag_codes`` and ``name_codes`` number tag and attribute names across chunks.
        """
        first = len(self._openids)
        self._append_openids(list(map(_OPENID, chunk)))
        rows = np.arange(first, first + len(chunk), dtype=np.uint32)
        tag_sets = list(map(_TAGS, chunk))
        names, order, ends = _partition(list(chain.from_iterable(tag_sets)), tag_codes)
        tag_rows = np.repeat(rows, np.fromiter(map(len, tag_sets), np.int64, len(tag_sets)))
        for name, part in zip(names, _split(tag_rows[order], ends), strict=True):
            block = bitmap_of(part)
            bitmap = self._tags.get(name)
            if bitmap is None:
                self._tags[name] = block
            else:
                bitmap |= block
        self._bulk_values("subscribe_time", rows, list(map(_SUBSCRIBE_TIME, chunk)))
        for name, field in (("last_interaction_at", _LAST_INTERACTION), ("unionid", _UNIONID)):
            values = list(map(field, chunk))
            if values.count(None) < len(values):
                given = np.fromiter(map(is_not, values, repeat(None)), bool, len(values))
                self._bulk_values(name, rows[given], [v for v in values if v is not None])
        maps = list(map(_ATTRIBUTES, chunk))
        names, order, ends = _partition(list(chain.from_iterable(maps)), name_codes)
        if len(order):
            value_rows = np.repeat(rows, np.fromiter(map(len, maps), np.int64, len(maps)))
            flat = list(chain.from_iterable(map(_VALUES, maps)))
            values = list(map(flat.__getitem__, order.tolist()))
            start = 0
            for name, part, end in zip(
                names, _split(value_rows[order], ends), ends.tolist(), strict=True
            ):
                if end > start:
                    self._bulk_values(name, part, values[start:end])
                start = end

    def _bulk_values(self, name: str, rows: Any, values: list[AttributeValue]) -> None:
        block = bitmap_of(rows)
        present = self._present.get(name)
        if present is None:
            self._present[name] = block
        else:
            present |= block
        kinds = list(map(_KIND_OF_TYPE.get, map(type, values)))
        distinct = set(kinds)
        if len(distinct) == 1:
            self._bulk_kind(name, distinct.pop(), rows, values)
            return
        if None in distinct:
            for row, value in zip(rows.tolist(), values, strict=True):
                self._add_value(row, name, value, buffered=True)
            self._flush()
            return
        found, order, ends = _partition(kinds)
        ordered = list(map(values.__getitem__, order.tolist()))
        start = 0
        parts = _split(rows[order], ends)
        for kind, part, end in zip(found, parts, ends.tolist(), strict=True):
            self._bulk_kind(name, kind, part, ordered[start:end])
            start = end

    def _bulk_kind(
        self, name: str, kind: str | None, rows: Any, values: list[AttributeValue]
    ) -> None:
        """Store values of one kind, all of an exact built-in type unless ``kind`` is None."""
        if kind == "number" and _float_safe(values):
            self._range_column(name, "number").extend(rows, np.asarray(values, dtype=np.float64))
        elif kind == "datetime":
            deltas = map(sub, values, repeat(EPOCH))
            stamps = np.fromiter(map(floordiv, deltas, repeat(_MICRO)), np.int64, len(values))
            self._range_column(name, "datetime").extend(rows, stamps)
        elif kind == "str" or kind == "bool":
            distinct, order, ends = _partition(values)
            categorical = self._categorical.get((name, kind))
            if categorical is None:
                categorical = self._categorical[(name, kind)] = CategoricalColumn()
            for value, part in zip(distinct, _split(rows[order], ends), strict=True):
                block = bitmap_of(part)
                bitmap = categorical.values.get(value)
                if bitmap is None:
                    categorical.values[value] = block
                else:
                    bitmap |= block
                categorical.has |= block
        else:
            for row, value in zip(rows.tolist(), values, strict=True):
                self._add_value(row, name, value, buffered=True)
            self._flush()

    def _range_column(self, name: str, kind: str) -> RangeColumn:
        """The range column of an index being built (none has turned into levels yet)."""
        column = self._ranges.get((name, kind))
        if column is None:
            column = self._ranges[(name, kind)] = RangeColumn(kind)
        assert isinstance(column, RangeColumn)
        return column

    @classmethod
    def from_columns(
        cls,
        *,
        openids: Sequence[str],
        subscribe_time: Any,
        tags: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        unionid: Sequence[str | None] | None = None,
        last_interaction_at: Any = None,
    ) -> SegmentIndex:
        """Index followers given as columns, one entry per follower (row ``i`` is follower ``i``).

        ``openids``: strings, or a numpy bytes array (dtype ``S``) of their UTF-8, taken without
        making a Python string per follower (what a bulk reader of a store hands over).

        ``subscribe_time`` and ``last_interaction_at``: numpy ``datetime64`` arrays, read as UTC
        (NaT means missing), or sequences of aware datetimes. ``tags``: tag name -> the
        positions of the followers carrying it. ``attributes``: name -> a numpy array (bool,
        int, float with NaN as missing, datetime64 as UTC with NaT as missing), a sequence of
        values with ``None`` as missing, or a dictionary-encoded pair ``(codes, categories)``:
        an integer array where ``i`` means ``categories[i]`` and ``-1`` means missing.
        """
        count = len(openids)
        index = cls()
        if isinstance(openids, np.ndarray):
            _check_encoded(openids)
        else:
            for openid in openids:
                if not isinstance(openid, str) or not openid:
                    raise ValueError(f"openid must be a non-empty string, got {openid!r}")
        index._append_openids(openids)
        index._column("subscribe_time", subscribe_time, count, required=True)
        if last_interaction_at is not None:
            index._column("last_interaction_at", last_interaction_at, count, required=False)
        if unionid is not None:
            index._column("unionid", unionid, count, required=False)
        for name, column in (attributes or {}).items():
            if not isinstance(name, str) or not name or name in BUILTIN_FIELDS | {"tags"}:
                raise ValueError(f"invalid attribute name {name!r}")
            index._column(name, column, count, required=False)
        index._seal()
        # Tags last: a caller may still be reading them (a store does, while this seals).
        for name, positions in (tags or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"tag names must be non-empty strings, got {name!r}")
            rows = np.asarray(positions, dtype=np.int64)
            if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= count):
                raise ValueError(f"tag {name!r} names positions outside 0..{count - 1}")
            index._tags[name] = bitmap_of(rows.astype(np.uint32))
        return index

    def _column(self, name: str, column: Any, count: int, *, required: bool) -> None:
        if isinstance(column, tuple):
            self._coded_column(name, column, count)
            return
        if len(column) != count:
            raise ValueError(f"column {name!r} has {len(column)} entries, expected {count}")
        moment = name in ("subscribe_time", "last_interaction_at")
        if isinstance(column, np.ndarray) and column.dtype.kind in "biufM":
            if moment and column.dtype.kind != "M":
                raise TypeError(f"{name} must be a datetime64 array, got {column.dtype}")
            self._numpy_column(name, column, required=required)
            return
        for row, value in enumerate(column):
            if value is None:
                if required:
                    raise ValueError(f"{name} is missing for row {row}")
                continue
            if moment:
                ensure_aware(value, name)
            elif name == "unionid" and not isinstance(value, str):
                raise TypeError(f"unionid must be a string, got {type(value).__name__}")
            self._add_value(row, name, check_value(value, f"attribute {name!r}"), buffered=True)
        self._flush()

    def _coded_column(self, name: str, column: tuple[Any, Sequence[Any]], count: int) -> None:
        codes, categories = np.asarray(column[0]), list(column[1])
        if codes.shape != (count,) or codes.dtype.kind not in "iu":
            raise ValueError(f"column {name!r}: codes must be {count} integers")
        if codes.size and (int(codes.min()) < -1 or int(codes.max()) >= len(categories)):
            raise ValueError(f"column {name!r}: codes must lie in -1..{len(categories) - 1}")
        values = [check_value(value, f"attribute {name!r}") for value in categories]
        if len({(value_kind(v), v) for v in values}) != len(values):
            raise ValueError(f"column {name!r}: categories must be distinct")
        order = np.argsort(codes, kind="stable").astype(np.uint32)
        bounds = np.searchsorted(codes[order], np.arange(-1, len(values) + 1))
        present = []
        for code, value in enumerate(values):
            rows = order[bounds[code + 1] : bounds[code + 2]]
            if not rows.size:
                continue
            present.append(rows)
            kind = value_kind(value)
            if kind in _RANGE_KINDS:
                ranged = self._range_column(name, kind)
                for row in rows.tolist():
                    ranged.append(row, value)
            else:
                self._categorical.setdefault((name, kind), CategoricalColumn()).values[value] = (
                    bitmap_of(rows)
                )
        self._present[name] = union(bitmap_of(rows) for rows in present)
        for categorical_key, categorical in self._categorical.items():
            if categorical_key[0] == name:
                categorical.has = union(categorical.values.values())

    def _numpy_column(self, name: str, column: Any, *, required: bool) -> None:
        kind = column.dtype.kind
        if kind == "b":
            rows = np.arange(column.shape[0], dtype=np.uint32)
            flags = self._categorical.setdefault((name, "bool"), CategoricalColumn())
            flags.values[True] = bitmap_of(rows[column])
            flags.values[False] = bitmap_of(rows[~column])
            flags.has = bitmap_of(rows)
            self._present[name] = BitMap(flags.has)
            return
        if kind == "M":
            stamps = column.astype("datetime64[us]").view(np.int64)
            valid = ~np.isnat(column)
            stored, range_kind = stamps, "datetime"
        elif kind == "f":
            if np.isinf(column).any():
                raise ValueError(f"column {name!r} holds an infinite number")
            valid = ~np.isnan(column)
            stored, range_kind = column.astype(np.float64), "number"
        else:
            wide = column.astype(np.int64) if kind != "u" or column.dtype.itemsize < 8 else None
            if wide is None:
                raise TypeError(f"column {name!r}: uint64 columns are not supported")
            stored = wide.astype(np.float64)
            valid = np.ones(column.shape[0], dtype=bool)
            range_kind = "number"
            # 2**63 - 1 rounds up to 2.0**63, which no int64 holds: such values are inexact,
            # whatever the (then undefined) cast back gives.
            with np.errstate(invalid="ignore"):
                back = stored.astype(np.int64)
            inexact = np.flatnonzero((stored >= 2.0**63) | (back != wide))
            valid[inexact] = False
            huge = self._range_column(name, range_kind)
            for row in inexact.tolist():
                huge.append(row, int(wide[row]))
        if required and not valid.all():
            raise ValueError(f"{name} is missing for some rows")
        target = self._range_column(name, range_kind)
        if bool(valid.all()):
            target.extend_all(stored)
        else:
            rows = np.flatnonzero(valid).astype(np.uint32)
            target.extend(rows, stored[rows])
        self._present[name] = BitMap(target.has)

    def _append_openid(self, openid: str) -> int:
        if len(self._openids) >= _MAX_ROWS:
            raise OverflowError("a SegmentIndex holds at most 2**32 - 1 rows over its lifetime")
        return self._openids.append(openid)

    def _append_openids(self, openids: Sequence[str] | Any) -> None:
        """Append many openids (strings, or a numpy ``S`` array of UTF-8) as new rows."""
        if len(self._openids) + len(openids) > _MAX_ROWS:
            raise OverflowError("a SegmentIndex holds at most 2**32 - 1 rows over its lifetime")
        self._openids.extend(openids)

    def _ingest(self, row: int, follower: Follower) -> None:
        for name in follower.tags:
            bitmap = self._tags.get(name)
            if bitmap is None:
                bitmap = self._tags[name] = BitMap()
            bitmap.add(row)
        self._add_value(row, "subscribe_time", follower.subscribe_time, buffered=False)
        if follower.last_interaction_at is not None:
            self._add_value(
                row, "last_interaction_at", follower.last_interaction_at, buffered=False
            )
        if follower.unionid is not None:
            self._add_value(row, "unionid", follower.unionid, buffered=False)
        for name, value in follower.attributes.items():
            self._add_value(row, name, value, buffered=False)

    def _add_value(self, row: int, name: str, value: AttributeValue, *, buffered: bool) -> None:
        kind = value_kind(value)
        if buffered:
            present = self._present_pending.get(name)
            if present is None:
                present = self._present_pending[name] = array.array("I")
            present.append(row)
        else:
            bitmap = self._present.get(name)
            if bitmap is None:
                bitmap = self._present[name] = BitMap()
            bitmap.add(row)
        if kind in _RANGE_KINDS:
            column = self._ranges.get((name, kind))
            if column is None:
                column = self._ranges[(name, kind)] = RangeColumn(kind)
            if buffered:
                column.append(row, value)
                return
            column.add(row, value)
            if isinstance(column, LevelColumn) and column.overgrown():
                self._ranges[(name, kind)] = column.to_range()
            return
        categorical = self._categorical.get((name, kind))
        if categorical is None:
            categorical = self._categorical[(name, kind)] = CategoricalColumn()
        if buffered:
            categorical.append(row, value)
        else:
            categorical.add(row, value)

    def _flush(self) -> None:
        for name, rows in self._present_pending.items():
            block = BitMap(rows)
            bitmap = self._present.get(name)
            if bitmap is None:
                self._present[name] = block
            else:
                bitmap |= block
        self._present_pending.clear()
        for categorical in self._categorical.values():
            categorical.flush()

    def _seal(self) -> None:
        self._flush()
        # One after another: on two cores, sealing columns side by side only slowed the store's
        # tag reading that overlaps this (and peaked 200 MB higher).
        for key, column in list(self._ranges.items()):
            self._ranges[key] = _sealed(column)
        repeated = self._openids.seal()
        if repeated is not None:
            raise DuplicateFollowerError(f"openid {repeated!r} appears more than once")
        self._live = BitMap(range(len(self._openids)))

    # -- openid lookup ------------------------------------------------------------------------

    def _openid(self, row: int) -> str:
        return self._openids.openid(row)

    def _find(self, openid: str) -> int | None:
        """The live row of ``openid``, if any."""
        for row in reversed(self._openids.rows_named(openid)):
            if row in self._live:
                return row
        return None

    # -- incremental updates ------------------------------------------------------------------

    def add(self, follower: Follower) -> None:
        """Add a new follower. Raises `DuplicateFollowerError` if its openid is present."""
        if not isinstance(follower, Follower):
            raise TypeError(f"expected a Follower, got {type(follower).__name__}")
        if self._find(follower.openid) is not None:
            raise DuplicateFollowerError(f"openid {follower.openid!r} is already indexed")
        row = self._append_openid(follower.openid)
        self._ingest(row, follower)
        self._live.add(row)

    def update(self, follower: Follower) -> None:
        """Replace the indexed state of a follower (tags, attributes, times).

        Raises `UnknownFollowerError` if its openid is not present.
        """
        if not isinstance(follower, Follower):
            raise TypeError(f"expected a Follower, got {type(follower).__name__}")
        self.remove(follower.openid)
        self.add(follower)

    def remove(self, openid: str) -> None:
        """Remove a follower. Raises `UnknownFollowerError` if its openid is not present."""
        if not isinstance(openid, str):
            raise TypeError(f"openid must be a string, got {type(openid).__name__}")
        row = self._find(openid)
        if row is None:
            raise UnknownFollowerError(f"openid {openid!r} is not indexed")
        self._live.discard(row)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, segment: Segment, *, now: datetime) -> SegmentResult:
        """The followers that ``segment`` selects at instant ``now`` (timezone-aware)."""
        ensure_aware(now, "now")
        return SegmentResult(self, self._eval(segment, now) & self._live)

    def count(self, segment: Segment, *, now: datetime) -> int:
        """How many followers ``segment`` selects at instant ``now``."""
        ensure_aware(now, "now")
        node = as_node(segment)
        if isinstance(node, And) and len(self._live) == len(self._openids):
            # Every row is live, so the conjunction's last step need only be counted.
            found = self._and(node.children, now, counting=True)
            return found if isinstance(found, int) else len(found)
        return int(self._eval(node, now).intersection_cardinality(self._live))

    def _eval(self, segment: Segment, now: datetime) -> Any:
        """Rows selected by ``segment``; exact on live rows, may hold removed rows.

        The returned bitmap may be shared with the index: callers never mutate it.
        """
        node = as_node(segment)
        match node:
            case Constant(value=truth):
                return self._live if truth else BitMap()
            case Tag(name=name):
                return self._tags.get(name, BitMap())
            case Compare() | In() | Between() | Within():
                return self._leaf(node, now)
            case Exists(attr=name):
                if name == "openid":
                    return self._live
                return self._present.get(name, BitMap())
            case And(children=children):
                return self._and(children, now)
            case Or(children=children):
                return union(self._eval(child, now) for child in children)
            case Not(child=child):
                return self._live - self._eval(child, now)
            case _:
                assert_never(node)

    def _and(self, children: Iterable[Segment], now: datetime, *, counting: bool = False) -> Any:
        """The rows every child selects; with ``counting``, may return their number (an int)
        instead, which is then exact only when every row is live."""
        bitmaps: list[Any] = []
        ranged: list[_Plan] = []
        negated: list[Segment] = []
        for child in children:
            plan = self._plan(child, now)
            if plan is not None:
                if plan[0] is None:
                    return BitMap()
                ranged.append(plan)
            elif isinstance(child, Not):
                negated.append(child.child)
            else:
                bitmaps.append(self._eval(child, now))
        sized = sorted(
            (
                (column.estimate(intervals), (column, intervals, test))
                for column, intervals, test in ranged
                if column is not None
            ),
            key=lambda item: item[0],
        )
        if bitmaps:
            bitmaps.sort(key=len)
            result = bitmaps[0]
            for bitmap in bitmaps[1:]:
                result = result & bitmap
            # Negated tags and the like first, while the result is dense and the difference
            # is cheap: the range predicates then meet fewer candidates.
            later = []
            for child in negated:
                if self._plan(child, now) is None:
                    result = result - self._eval(child, now)
                else:
                    later.append(child)
            negated = later
        elif sized:
            _, (column, intervals, test) = sized.pop(0)
            assert column is not None
            result = column.select(intervals, test)
        else:
            result = self._live
        while sized:
            if not result:
                return result
            _, (ranged_column, intervals, test) = sized.pop(self._next_range(result, sized))
            assert ranged_column is not None
            column = ranged_column
            cost = column.select_cost(intervals)
            if cost and len(result) * _filter_ratio(column) < cost:
                result = column.filter(result, intervals, test)
            elif counting and not sized and not negated:
                return column.count_within(result, intervals, test)
            else:
                result = column.intersect(result, intervals, test)
        for child in negated:
            if not result:
                return result
            plan = self._plan(child, now)
            if plan is not None and plan[0] is not None:
                result = result - plan[0].filter(result, plan[1], plan[2])
            else:
                result = result - self._eval(child, now)
        return result

    def _next_range(self, result: Any, sized: Sequence[tuple[int, Any]]) -> int:
        """Which of the range predicates (by ascending estimate) to intersect ``result`` with.

        The most selective one, unless even the least selective one would leave ``result``
        dense: an intersection that yields a sparse bitmap costs about 3 ns per row it yields
        (each row is written out), one that stays dense costs a fraction of that per row, so
        the sparse result is best made once, last. On the dense benchmark, ``spend >= 100``
        before ``within 180d`` turned two sparse intersections (0.16 ms) into a dense and a
        sparse one (0.06 ms).
        """
        rows = max(1, len(self._openids))
        widest = sized[-1][0]
        # Assumes the predicates independent of ``result``; the margin covers some skew.
        if len(result) * widest > _DENSE_MARGIN * rows * rows // _DENSE_SHARE:
            return len(sized) - 1
        return 0

    def _leaf(self, node: Compare | In | Between | Within, now: datetime) -> Any:
        if node.attr == "openid":
            return self._openid_leaf(node)
        plan = self._plan(node, now)
        if plan is not None:
            column, intervals, test = plan
            return BitMap() if column is None else column.select(intervals, test)
        match node:
            case Compare(attr=name, op=op, value=constant):
                kind = value_kind(constant)
                if kind in _RANGE_KINDS:
                    column = self._ranges.get((name, kind))
                    if column is None:
                        return BitMap()
                    assert op is Op.NE
                    equal = self._plan(Compare(name, Op.EQ, constant), now)
                    assert equal is not None
                    return column.has - column.select(equal[1], equal[2])
                categorical = self._categorical.get((name, kind))
                if categorical is None:
                    return BitMap()
                if op is Op.EQ:
                    return categorical.equal(constant)
                if op is Op.NE:
                    return categorical.has - categorical.equal(constant)
                return categorical.matching(lambda value: compare_values(value, op, constant))
            case In(attr=name, values=values):
                return union(self._leaf(Compare(name, Op.EQ, value), now) for value in values)
            case Between(attr=name, lo=lo, hi=hi):
                categorical = self._categorical.get((name, value_kind(lo)))
                if categorical is None:
                    return BitMap()
                return categorical.matching(
                    lambda value: (
                        compare_values(value, Op.GE, lo) and compare_values(value, Op.LE, hi)
                    )
                )
            case Within():
                return BitMap()
            case _:
                assert_never(node)

    def _plan(self, segment: Segment, now: datetime) -> _Plan | None:
        """How to answer a single-column range predicate, or None if it is not one.

        A plan whose column is None selects nobody (no row holds that attribute and kind).
        """
        match segment:
            case Compare(attr=name, op=op, value=constant) if op is not Op.NE:
                kind = value_kind(constant)
                if kind not in _RANGE_KINDS or name == "openid":
                    return None
                column = self._ranges.get((name, kind))
                found = None if column is None else _interval(column, op, constant)
                return (
                    column,
                    [] if found is None else [found],
                    (lambda value: compare_values(value, op, constant)),
                )
            case Between(attr=name, lo=lo, hi=hi):
                kind = value_kind(lo)
                if kind not in _RANGE_KINDS or name == "openid":
                    return None
                column = self._ranges.get((name, kind))
                if column is None:
                    return None, [], _never
                lower = _interval(column, Op.GE, lo)
                upper = _interval(column, Op.LE, hi)
                intervals = []
                if lower is not None and upper is not None:
                    intervals.append((lower[0], lower[1], upper[2], upper[3]))
                return (
                    column,
                    intervals,
                    (
                        lambda value: (
                            compare_values(value, Op.GE, lo) and compare_values(value, Op.LE, hi)
                        )
                    ),
                )
            case Within(attr=name, duration=duration):
                column = self._ranges.get((name, "datetime"))
                if column is None:
                    return None, [], _never
                return column, [(micros(now - duration), True, micros(now), True)], _never
            case In(attr=name, values=values):
                kinds = {value_kind(value) for value in values}
                if len(kinds) != 1 or name == "openid":
                    return None
                (kind,) = kinds
                if kind not in _RANGE_KINDS:
                    return None
                column = self._ranges.get((name, kind))
                if column is None:
                    return None, [], _never
                equal = [_interval(column, Op.EQ, value) for value in values]
                return (
                    column,
                    [i for i in equal if i is not None],
                    (
                        lambda value: any(
                            value_kind(v) == value_kind(value) and v == value for v in values
                        )
                    ),
                )
            case _:
                return None

    def _openid_leaf(self, node: Compare | In | Between | Within) -> Any:
        match node:
            case Compare(op=Op.EQ, value=str() as openid):
                row = self._find(openid)
                return BitMap() if row is None else BitMap([row])
            case In(values=values):
                rows = (self._find(value) for value in values if isinstance(value, str))
                return BitMap(row for row in rows if row is not None)
            case Compare(op=op, value=str() as constant):
                return self._scan(lambda openid: compare_values(openid, op, constant))
            case Between(lo=str() as lo, hi=str() as hi):
                return self._scan(lambda openid: lo <= openid <= hi)
            case _:
                return BitMap()

    def _scan(self, test: Callable[[str], bool]) -> Any:
        return BitMap(row for row in self._live if test(self._openid(row)))

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` (atomically, via a temporary file and a rename)."""
        target = Path(path)
        temporary = target.with_name(target.name + ".tmp")
        with temporary.open("wb") as stream:
            _Writer(stream).write(self)
        os.replace(temporary, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SegmentIndex:
        """Read an index written by `save`. Raises `IndexFormatError` for any other file."""
        data = Path(path).read_bytes()
        return _read(cls(), data)


def _never(_value: Any) -> bool:
    return False


def _sealed(column: Ranged) -> Ranged:
    """A built column ready for queries: its levels, or the column itself sealed."""
    if isinstance(column, LevelColumn):
        return column
    levels = LevelColumn.from_range(column)
    if levels is not None:
        return levels
    column.seal()
    return column


def _filter_ratio(column: Ranged) -> int:
    """How many times fewer than the rows a range touches the candidates must be to be
    filtered through the column's values instead."""
    if isinstance(column, RangeColumn) and column.by_row.shape[0] > _LARGE_COLUMN_ROWS:
        return _LARGE_FILTER_RATIO
    return _FILTER_RATIO


def _interval(column: Ranged, op: Op, constant: AttributeValue) -> Interval | None:
    """The stored-value interval for ``column op constant``; None when it selects nothing."""
    low, high = column.unbounded()
    exact: float | int
    below: float | int
    above: float | int
    if column.kind == "datetime":
        assert isinstance(constant, datetime)
        stamp = micros(constant)
        exact, below, above, is_exact = stamp, stamp, stamp, True
    else:
        assert isinstance(constant, (int, float))
        below, above = number_bounds(constant)
        exact, is_exact = below, below == above
    match op:
        case Op.EQ:
            return (exact, True, exact, True) if is_exact else None
        case Op.LT:
            return (low, True, exact, False) if is_exact else (low, True, below, True)
        case Op.LE:
            return (low, True, below, True)
        case Op.GT:
            return (exact, False, high, True) if is_exact else (above, True, high, True)
        case Op.GE:
            return (above, True, high, True)
        case Op.NE:
            raise AssertionError("NE has no single interval")
        case _:
            assert_never(op)


# -- file format ------------------------------------------------------------------------------
#
# MAGIC (8 bytes) | version (u32 LE) | blobs ... | header JSON | header length (u64 LE) |
# CRC-32 of everything before it (u32 LE). The header names each blob by position and length;
# bitmaps use roaring's portable serialization, arrays are raw little-endian numpy data.


class _Writer:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._crc = 0
        self._lengths: list[int] = []

    def _put(self, data: bytes | memoryview) -> None:
        self._stream.write(data)
        self._crc = zlib.crc32(data, self._crc)

    def _blob(self, data: bytes | memoryview) -> int:
        self._put(data)
        self._lengths.append(len(data))
        return len(self._lengths) - 1

    def _bitmap(self, bitmap: Any) -> int:
        return self._blob(bitmap.serialize())

    def _array(self, values: Any, dtype: str) -> int:
        return self._blob(np.ascontiguousarray(values, dtype=dtype).tobytes())

    def write(self, index: SegmentIndex) -> None:
        self._put(_MAGIC + struct.pack("<I", _VERSION))
        index._flush()
        rows = len(index._openids)
        blob, offsets = index._openids.to_blob()
        header: dict[str, Any] = {
            "rows": rows,
            "blob": self._blob(blob),
            "offsets": self._array(offsets, "<u8"),
            "live": self._bitmap(index._live),
            "tags": [[name, self._bitmap(bitmap)] for name, bitmap in index._tags.items()],
            "present": [[name, self._bitmap(bitmap)] for name, bitmap in index._present.items()],
            "categorical": [
                [
                    name,
                    kind,
                    self._bitmap(column.has),
                    [[value, self._bitmap(bitmap)] for value, bitmap in column.values.items()],
                ]
                for (name, kind), column in index._categorical.items()
            ],
            "ranges": [],
        }
        for (name, kind), column in index._ranges.items():
            # Level columns are written as the range columns they stand for (values and rows
            # sorted by value), so that files stay one format; reading turns them back.
            if isinstance(column, LevelColumn):
                by_row, base_rows = column.arrays(rows)
            else:
                if column.tail_rows:
                    column.seal()
                by_row, base_rows = _padded(column, rows), column.base_rows
            dtype = "<f8" if kind == "number" else "<i8"
            header["ranges"].append(
                [
                    name,
                    kind,
                    self._bitmap(column.has),
                    self._array(by_row, dtype),
                    self._array(base_rows, "<u4"),
                    [[row, str(value)] for row, value in column.huge.items()],
                ]
            )
        header["lengths"] = self._lengths
        encoded = json.dumps(header, ensure_ascii=True).encode("ascii")
        self._put(encoded)
        self._put(struct.pack("<Q", len(encoded)))
        self._stream.write(struct.pack("<I", self._crc))


def _padded(column: RangeColumn, rows: int) -> Any:
    """The column's values for exactly ``rows`` rows (rows past its end hold no value)."""
    values = column.by_row[:rows]
    if values.shape[0] < rows:
        filler = np.full(rows - values.shape[0], column.missing, dtype=column.dtype)
        values = np.concatenate([values, filler])
    return values


def _read(index: SegmentIndex, data: bytes) -> SegmentIndex:
    prefix = len(_MAGIC) + 4
    if len(data) < prefix or data[: len(_MAGIC)] != _MAGIC:
        raise IndexFormatError("not a wxsegment index file (bad magic)")
    (version,) = struct.unpack_from("<I", data, len(_MAGIC))
    if version != _VERSION:
        raise IndexFormatError(f"unsupported index file version {version} (expected {_VERSION})")
    if len(data) < prefix + 12:
        raise IndexFormatError("index file is truncated")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(memoryview(data)[: len(data) - 4]) != crc:
        raise IndexFormatError("index file is truncated or corrupt (CRC mismatch)")
    try:
        (header_length,) = struct.unpack_from("<Q", data, len(data) - 12)
        header_start = len(data) - 12 - header_length
        header = json.loads(data[header_start : len(data) - 12].decode("ascii"))
        return _restore(index, data, prefix, header_start, header)
    except IndexFormatError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as error:
        raise IndexFormatError(f"index file is malformed: {error}") from error


def _restore(
    index: SegmentIndex, data: bytes, start: int, end: int, header: dict[str, Any]
) -> SegmentIndex:
    spans: list[tuple[int, int]] = []
    position = start
    for length in header["lengths"]:
        spans.append((position, position + int(length)))
        position += int(length)
    if position != end:
        raise IndexFormatError("index file blob lengths do not add up")
    view = memoryview(data)

    def blob(number: int) -> memoryview:
        first, last = spans[number]
        return view[first:last]

    def bitmap(number: int) -> Any:
        return BitMap.deserialize(bytes(blob(number)))

    def numbers(number: int, dtype: str) -> Any:
        return np.frombuffer(blob(number), dtype=dtype).astype(dtype[1:], copy=True)

    rows = int(header["rows"])
    text = bytes(blob(header["blob"]))
    offsets = numbers(header["offsets"], "<u8")
    if (
        offsets.shape[0] != rows + 1
        or int(offsets[0]) != 0
        or int(offsets[-1]) != len(text)
        or bool(np.any(offsets[1:] < offsets[:-1]))
    ):
        raise IndexFormatError("index file openid table is inconsistent")
    index._openids = OpenidTable.from_blob(text, offsets)
    index._live = bitmap(header["live"])
    index._tags = {str(name): bitmap(number) for name, number in header["tags"]}
    index._present = {str(name): bitmap(number) for name, number in header["present"]}
    for name, kind, has, values in header["categorical"]:
        categorical = CategoricalColumn()
        categorical.has = bitmap(has)
        categorical.values = {value: bitmap(number) for value, number in values}
        if any(value_kind(value) != kind for value in categorical.values):
            raise IndexFormatError(f"categorical column {name!r} holds values of another kind")
        index._categorical[(str(name), str(kind))] = categorical
    for name, kind, has, by_row, base_rows, huge in header["ranges"]:
        if kind not in _RANGE_KINDS:
            raise IndexFormatError(f"unknown range column kind {kind!r}")
        column = RangeColumn(kind)
        column.has = bitmap(has)
        column.by_row = numbers(by_row, "<f8" if kind == "number" else "<i8")
        column.huge = {int(row): int(value) for row, value in huge}
        base = numbers(base_rows, "<u4")
        if column.by_row.shape[0] != rows or (base.size and int(base.max()) >= rows):
            raise IndexFormatError(f"range column {name!r} is inconsistent")
        levels = LevelColumn.from_values(kind, base, column.by_row[base], column.has, column.huge)
        if levels is None:
            column.restore(base)
        index._ranges[(str(name), str(kind))] = column if levels is None else levels
    return index
