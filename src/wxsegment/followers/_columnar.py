"""Building a `SegmentIndex` straight from the store's tables, in chunks of numpy columns.

No `Follower` and no per-follower dict is made: the followers table is read once, on SQLite a
column at a time by rowid slices (``_sqlite_columns``), elsewhere in openid order and only for
the columns some row fills, ``fetchmany`` at a time into numpy arrays; the openids stay UTF-8
bytes in one fixed-width array, which the index keeps as its openid table.
Each tag's members come from the tags table's ``(tag, openid)`` index and find their rows by
binary search in that array. Automatic garbage collection is paused meanwhile: the build
makes no cycles, and the collector would otherwise rescan the chunks again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from wxsegment.followers._codec import from_micros, number_of
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import Dialect

if TYPE_CHECKING:
    from wxsegment.followers._base import SqlFollowerStore

__all__ = ["build_index"]

_NAT: Final = -(2**63)
#: Rows fetched per round trip: large enough that the per-chunk numpy calls cost nothing per
#: follower, small enough that a chunk's Python tuples stay a few megabytes.
_CHUNK: Final = 1 << 16
#: Sorted openids looked up per stretch of the table (see ``rows_of``).
_STRETCH: Final = 1 << 14
#: Ints up to this magnitude are exact as float64, so an int column with gaps can be a float one.
_EXACT: Final = 1 << 53

#: Reader kinds of ``_sqlite_columns`` by attribute kind (other kinds are categories).
_SQLITE_KINDS: Final = {"float": "float", "datetime": "datetime", "int": "int", "bool": "bool"}
#: One typed column being read: ``add`` takes a chunk's values, ``finish`` the whole column.
_Reader = tuple[Callable[[Any], None], Callable[[], Any]]


def build_index(store: SqlFollowerStore, cursor: Any, schema: AttributeSchema) -> Any:
    """Read openids, fields, typed columns, tags and attributes in bulk for ``from_columns``."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(store, cursor, schema)
    finally:
        if collecting:
            gc.enable()


def _build(store: SqlFollowerStore, cursor: Any, schema: AttributeSchema) -> Any:
    import numpy as np

    from wxsegment.segment import SegmentIndex
    from wxsegment.segment._openids import byte_order

    typed = store._layout(schema).columns
    optional = {
        "unionid": "unionid",
        "last_interaction_at": "last_interaction_at",
        **{name: f'"{column.column}"' for name, column in typed.items()},
    }
    if store._dialect is Dialect.SQLITE:
        openids, stamps, columns_by_name = _sqlite_columns(store, cursor, schema, optional)
    else:
        openids, stamps, columns_by_name = _row_columns(store, cursor, schema, optional)
    count = int(openids.shape[0])
    # SQLite's BINARY collation is byte order, numpy's too: reading in table order and sorting
    # here (nothing to do when rows went in in openid order) spares a row lookup per follower
    # through the openid index.
    in_table_order = store._dialect is Dialect.SQLITE
    shuffled = None
    if in_table_order and count > 1 and not bool(np.all(openids[1:] > openids[:-1])):
        shuffled = byte_order(openids)
        openids = openids[shuffled]
        stamps = stamps[shuffled]
    # The database's collation may not be byte order (PostgreSQL's often is not): rows keep
    # the database's order, lookups then go through a sorting permutation.
    sorter = None
    if count > 1 and not bool(np.all(openids[1:] > openids[:-1])):
        sorter = byte_order(openids)

    def rows_of(chunk: Sequence[str] | Any) -> Any:
        """The row of each openid (strings, or their UTF-8 as an ``S`` array), -1 if not stored."""
        found = np.full(len(chunk), -1, dtype=np.int64)
        if not count or not len(chunk):
            return found
        wanted = chunk if isinstance(chunk, np.ndarray) else _encoded(chunk, np)
        short = None
        if wanted.dtype.itemsize > openids.dtype.itemsize:
            # Longer than every stored openid: those match nothing, the rest compare as usual.
            short = np.char.str_len(wanted) <= openids.dtype.itemsize
            wanted = wanted[short].astype(openids.dtype)
            if not wanted.shape[0]:
                return found
        if sorter is None and bool(np.all(wanted[1:] >= wanted[:-1])):
            # Sorted openids (a tag's members come in openid order): each slice of them falls
            # in one stretch of the table, and searching only that stretch stays in the CPU
            # cache, three times faster at ten million rows than a search of the whole table.
            parts = []
            for start in range(0, wanted.shape[0], _STRETCH):
                part = wanted[start : start + _STRETCH]
                low = int(np.searchsorted(openids, part[0]))
                high = int(np.searchsorted(openids, part[-1], side="right"))
                parts.append(np.searchsorted(openids[low:high], part) + low)
            at = np.concatenate(parts)
        else:
            at = np.searchsorted(openids, wanted, sorter=sorter)
        at = np.minimum(at, count - 1)
        rows = at if sorter is None else sorter[at]
        matched = np.where(openids[rows] == wanted, rows, -1)
        if short is None:
            return matched
        found[short] = matched
        return found

    columns_by_name = {
        name: _permuted(column, shuffled) for name, column in columns_by_name.items()
    }
    unionid = columns_by_name.pop("unionid", None)
    seen = columns_by_name.pop("last_interaction_at", None)
    attributes: dict[str, Any] = columns_by_name
    attributes.update(_loose(store, cursor, schema, rows_of, count, np))
    # The tags are read on this transaction's cursor in a thread while the index sorts its
    # columns: the database builds its strings and numpy sorts without holding the GIL, so on
    # two cores the two overlap (``from_columns`` takes the tags after sealing).
    with ThreadPoolExecutor(max_workers=1) as pool:
        tags = pool.submit(_tag_rows, store, cursor, rows_of, np)
        return SegmentIndex.from_columns(
            openids=openids,
            subscribe_time=stamps.view("datetime64[us]"),
            tags=_Awaited(tags),
            attributes=attributes,
            unionid=unionid,
            last_interaction_at=seen,
        )


class _Awaited(Mapping[str, Any]):
    """The tag rows a thread is still reading, waited for on first use."""

    def __init__(self, future: Future[dict[str, Any]]) -> None:
        self._future = future

    def _rows(self) -> dict[str, Any]:
        return self._future.result()

    def __getitem__(self, name: str) -> Any:
        return self._rows()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())


def _sqlite_columns(
    store: SqlFollowerStore, cursor: Any, schema: AttributeSchema, optional: dict[str, str]
) -> tuple[Any, Any, dict[str, Any]]:
    """On SQLite: the followers table read a column at a time (see ``_sqlite_columns``)."""
    from wxsegment.followers._sqlite_columns import read_followers

    kinds = {name: _SQLITE_KINDS.get(schema.kinds.get(name, ""), "str") for name in optional}
    kinds.update({"unionid": "strings", "last_interaction_at": "datetime"})
    return read_followers(cursor, store._followers, optional, kinds, _text_keys)


def _text_keys(openids: Sequence[str]) -> Any:
    import numpy as np

    return _encoded(openids, np)


def _row_columns(
    store: SqlFollowerStore, cursor: Any, schema: AttributeSchema, optional: dict[str, str]
) -> tuple[Any, Any, dict[str, Any]]:
    """Other databases: the filled columns of the followers table, ``fetchmany`` at a time."""
    import numpy as np

    f = store._followers
    # One pass counting in the database is cheaper than carrying never-set columns (most of
    # the WeChat profile ones in a CRM-fed store) through every fetched row.
    cursor.execute(f"SELECT {', '.join(f'COUNT({c})' for c in optional.values())} FROM {f}")
    filled = [name for name, n in zip(optional, cursor.fetchone(), strict=True) if n]
    readers: dict[str, _Reader] = {}
    for name in filled:
        if name == "unionid":
            readers[name] = _strings()
        elif name == "last_interaction_at":
            readers[name] = _moments(np)
        else:
            readers[name] = _reader(schema.kinds[name], np)
    selected = "".join(f", {optional[name]}" for name in filled)
    # The database sorts in its own collation; rows keep that order (see ``rows_of``).
    cursor.execute(f"SELECT openid, subscribe_time{selected} FROM {f} ORDER BY openid")
    keys: list[Any] = []
    subscribed: list[Any] = []
    adders = [readers[name][0] for name in filled]
    while True:
        rows = cursor.fetchmany(_CHUNK)
        if not rows:
            break
        # One 2-d object array costs a third less than zip(*rows); its columns are views.
        table = np.array(rows, dtype=object)
        del rows
        keys.append(_encoded(table[:, 0].tolist(), np))
        subscribed.append(table[:, 1].astype(np.int64))
        for at, add in enumerate(adders, 2):
            add(table[:, at])
        del table
    openids: Any = np.concatenate(keys) if keys else np.empty(0, dtype="S1")
    del keys
    stamps = np.concatenate(subscribed) if subscribed else np.empty(0, dtype=np.int64)
    del subscribed
    columns = {name: readers[name][1]() for name in filled}
    return openids, stamps, columns


def _permuted(column: Any, order: Any) -> Any:
    """A finished column (array, ``(codes, categories)`` or list) in the rows' sorted order."""
    if order is None:
        return column
    if isinstance(column, tuple):
        return column[0][order], column[1]
    if isinstance(column, list):
        return [column[i] for i in order.tolist()]
    return column[order]


def _encoded(openids: Sequence[str], np: Any) -> Any:
    """Openids as a fixed-width numpy bytes array of their UTF-8."""
    from wxsegment.segment._openids import encode_openids

    keys = encode_openids(openids)
    if keys is None:  # pragma: no cover - stored openids are short and hold no NUL
        raise ValueError("stored openids do not fit a fixed-width table")
    return keys


def _tag_rows(
    store: SqlFollowerStore, cursor: Any, rows_of: Callable[[Sequence[str]], Any], np: Any
) -> dict[str, Any]:
    """Tag name -> rows of its stored members, one tag at a time from the tag index."""
    t = store._tags
    # Distinct tags by hopping along the (tag, openid) index: one probe per tag, not a scan.
    cursor.execute(
        f"WITH RECURSIVE names(tag) AS (SELECT MIN(tag) FROM {t} UNION ALL "
        f"SELECT (SELECT MIN(tag) FROM {t} WHERE tag > names.tag) FROM names "
        "WHERE names.tag IS NOT NULL) SELECT tag FROM names WHERE tag IS NOT NULL"
    )
    names = [str(row[0]) for row in cursor.fetchall()]
    found: dict[str, Any] = {}
    for name in names:
        rows = _concatenated_members(store, cursor, name, np)
        if rows is not None:
            at = rows_of(rows)
            rows = at[at >= 0]
        else:
            cursor.execute(store._sql(f"SELECT openid FROM {t} WHERE tag = ?"), (name,))
            parts = []
            while True:
                fetched = cursor.fetchmany(_CHUNK)
                if not fetched:
                    break
                at = rows_of([row[0] for row in fetched])
                parts.append(at[at >= 0])
            rows = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        if rows.size:
            found[name] = rows
    return found


def _concatenated_members(store: SqlFollowerStore, cursor: Any, name: str, np: Any) -> Any:
    """On SQLite, a tag's member openids as an ``S`` array if they all have one ASCII width.

    One string from ``group_concat`` costs SQLite and Python half as much as a row per
    member; None when the widths differ (the members are then read row by row).
    """
    if store._dialect is not Dialect.SQLITE:
        return None
    from wxsegment.followers._sqlite_columns import fixed_width

    cursor.execute(
        f"SELECT COUNT(*), group_concat(openid, char(0)) FROM {store._tags} WHERE tag = ?",
        (name,),
    )
    members, text = cursor.fetchone()
    return fixed_width(text, members) if members else None


def _loose(
    store: SqlFollowerStore,
    cursor: Any,
    schema: AttributeSchema,
    rows_of: Callable[[Sequence[str]], Any],
    count: int,
    np: Any,
) -> dict[str, Any]:
    """Attributes kept in the attributes table (undeclared, or names no column can carry)."""
    cursor.execute(
        "SELECT name, openid, str_value, num_value, bool_value, time_value "
        f"FROM {store._attributes}"
    )
    loose: dict[str, list[Any]] = {}
    while True:
        rows = cursor.fetchmany(_CHUNK)
        if not rows:
            break
        positions = rows_of([row[1] for row in rows]).tolist()
        for (name, _, s, n, b, t), at in zip(rows, positions, strict=True):
            if at < 0:
                continue
            column = loose.get(name)
            if column is None:
                column = loose[name] = [None] * count
            if s is not None:
                column[at] = str(s)
            elif n is not None:
                column[at] = number_of(n, schema.kinds.get(name))
            elif b is not None:
                column[at] = bool(b)
            else:
                column[at] = from_micros(t)
    return dict(loose)


# -- typed column readers -------------------------------------------------------------------


def _reader(kind: str, np: Any) -> _Reader:
    if kind == "float":
        return _floats(np)
    if kind == "datetime":
        return _moments(np)
    if kind == "int":
        return _ints(np)
    if kind == "bool":
        return _bools(np)
    return _categories(np)


def _floats(np: Any) -> _Reader:
    parts: list[Any] = []

    def add(values: Any) -> None:
        # numpy turns None into NaN, the missing value of a float column.
        parts.append(np.array(values, dtype=np.float64))

    return add, lambda: np.concatenate(parts)


def _moments(np: Any) -> _Reader:
    parts: list[Any] = []

    def add(values: Any) -> None:
        if None in values:
            values = [_NAT if v is None else v for v in values]
        parts.append(np.array(values, dtype=np.int64))

    return add, lambda: np.concatenate(parts).view("datetime64[us]")


def _ints(np: Any) -> _Reader:
    parts: list[Any] = []
    gaps: list[Any] = []
    exact = [True]

    def add(values: Any) -> None:
        if None in values:
            missing = np.fromiter((v is None for v in values), bool, len(values))
            values = [0 if v is None else v for v in values]
        else:
            missing = np.zeros(len(values), dtype=bool)
        numbers = np.array(values, dtype=np.int64)
        parts.append(numbers)
        gaps.append(missing)
        if exact[0] and numbers.size and max(-int(numbers.min()), int(numbers.max())) > _EXACT:
            exact[0] = False

    def finish() -> Any:
        numbers = np.concatenate(parts)
        missing = np.concatenate(gaps)
        if not missing.any():
            return numbers
        if exact[0]:
            # Every value converts exactly, so NaN can mark the gaps of an int column.
            floats = numbers.astype(np.float64)
            floats[missing] = np.nan
            return floats
        return [None if gap else int(v) for v, gap in zip(numbers.tolist(), missing, strict=True)]

    return add, finish


def _bools(np: Any) -> _Reader:
    parts: list[Any] = []

    def add(values: Any) -> None:
        if None in values:
            values = [-1 if v is None else int(bool(v)) for v in values]
        parts.append(np.array(values, dtype=np.int8))

    def finish() -> Any:
        codes = np.concatenate(parts)
        if bool((codes >= 0).all()):
            return codes.astype(np.bool_)
        return codes.astype(np.int64), [False, True]

    return add, finish


def _categories(np: Any) -> _Reader:
    lookup: dict[Any, int] = {None: -1}
    parts: list[Any] = []

    def add(values: Any) -> None:
        try:
            codes = np.fromiter(map(lookup.__getitem__, values), np.int32, len(values))
        except KeyError:
            for value in values:
                lookup.setdefault(value, len(lookup) - 1)
            codes = np.fromiter(map(lookup.__getitem__, values), np.int32, len(values))
        parts.append(codes)

    def finish() -> Any:
        # Categories in sorted order, as a build from followers would number them.
        seen = [str(value) for value in lookup if value is not None]
        order = sorted(range(len(seen)), key=seen.__getitem__)
        renumber = np.empty(len(seen) + 1, dtype=np.int64)
        renumber[np.array(order, dtype=np.int64)] = np.arange(len(seen), dtype=np.int64)
        renumber[-1] = -1
        codes = renumber[np.concatenate(parts)]
        return codes, [seen[i] for i in order]

    return add, finish


def _strings() -> _Reader:
    parts: list[Any] = []

    def add(values: Any) -> None:
        parts.extend(values)

    return add, lambda: parts
