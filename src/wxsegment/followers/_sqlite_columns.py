"""Reading SQLite's followers table for `store.index()` a column at a time, by rowid slices.

One aggregate statement per slice of rowids returns each column as one string
(``group_concat``) that numpy parses in C, so most values never become Python objects and
no pass over the table is spent finding which columns hold anything (each slice counts its
own). What text cannot carry exactly is read as rows, as the generic reader does: float
columns (SQLite's text of a double is not guaranteed to read back as the same double), and,
in a slice where a check fails, the column concerned (openids of several widths or not ASCII,
a non-integer in an integer column, a boolean other than 0 or 1). Both ways give the same
typed parts, so the index is the same whichever way a slice was read.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np

__all__ = ["fixed_width", "read_followers"]

_NAT: Final = -(2**63)
#: Rowids per slice: big enough that a statement per slice costs nothing per follower, small
#: enough that a slice's strings stay in the CPU cache while numpy parses them.
_SLICE: Final = 1 << 15
#: Ints up to this magnitude are exact as float64, so an int column with gaps can be a float one.
_EXACT: Final = 1 << 53
#: The array type of each kind's parts (categories as int32 codes, -1 for missing).
_DTYPES: Final = {
    "float": np.float64,
    "datetime": np.int64,
    "bool": np.int8,
    "str": np.int32,
    "int": np.int64,
}
#: Between the text values of a slice: no stored text holds a NUL, so splitting is exact.
_SEP: Final = "\x00"


class _Column:
    """One optional column: typed parts per slice, then what ``from_columns`` takes."""

    def __init__(self, sql: str, kind: str) -> None:
        self.sql = sql
        self.kind = kind
        #: Per slice: values (numpy, missing rows holding the kind's filler), missing mask.
        self.values: list[Any] = []
        self.missing: list[Any] = []
        self.lookup: dict[Any, int] = {None: -1}
        self.strings: list[str | None] = []
        self.filled = False
        #: Whether slices concatenate this column's values (once some slice held one).
        self.active = False
        #: Whether slices count this column's values on their own (float columns always).
        self.counted = kind == "float"

    # -- a slice read as text ----------------------------------------------------------------

    def parse(self, joined: str, filled: int) -> Any:
        """A slice's ``group_concat`` of its ``filled`` values, parsed; None if text cannot be.

        Integers parse exactly; anything else in an integer column (a REAL, a TEXT) stops
        numpy's parser: such a slice of the column is then read as rows.
        """
        if self.kind in ("str", "strings"):
            texts = joined.split(_SEP)
            return texts if len(texts) == filled else None
        parsed = _integers(joined, filled)
        if parsed is None:
            return None
        if self.kind == "bool":
            if bool(((parsed != 0) & (parsed != 1)).any()):
                return None  # the generic reader reads any other integer as True
            return parsed.astype(np.int8)
        return parsed

    def add_parsed(self, parsed: Any, present: Any, count: int) -> None:
        """What `parse` returned for a slice; ``present`` marks its rows, None if all are."""
        self.filled = True
        if self.kind in ("str", "strings"):
            self._add_strings(parsed, present, count)
        else:
            self._add_numbers(parsed, present, count)

    def add_empty(self, count: int) -> None:
        """A slice of ``count`` rows without a value."""
        if self.kind == "strings":
            self.strings.extend([None] * count)
            return
        filler = {"float": np.nan, "datetime": _NAT, "bool": -1, "str": -1, "int": 0}
        dtype = _DTYPES[self.kind]
        self.values.append(np.full(count, filler[self.kind], dtype=dtype))
        self.missing.append(np.ones(count, dtype=bool))

    def _add_numbers(self, parsed: Any, present: Any, count: int) -> None:
        if present is None:
            self.values.append(parsed)
            self.missing.append(np.zeros(count, dtype=bool))
            return
        filler = {"datetime": _NAT, "bool": -1, "int": 0}[self.kind]
        full = np.full(count, filler, dtype=parsed.dtype)
        full[present] = parsed
        self.values.append(full)
        self.missing.append(~present)

    def _add_strings(self, texts: list[str], present: Any, count: int) -> None:
        if self.kind == "strings":
            if present is None:
                self.strings.extend(texts)
            else:
                column: list[str | None] = [None] * count
                for at, value in zip(np.flatnonzero(present).tolist(), texts, strict=True):
                    column[at] = value
                self.strings.extend(column)
            return
        codes = self._codes(texts)
        if present is not None:
            full = np.full(count, -1, dtype=np.int32)
            full[present] = codes
            codes = full
        self.values.append(codes)

    def _codes(self, values: Sequence[Any]) -> Any:
        lookup = self.lookup
        try:
            return np.fromiter(map(lookup.__getitem__, values), np.int32, len(values))
        except KeyError:
            for value in values:
                lookup.setdefault(value, len(lookup) - 1)
            return np.fromiter(map(lookup.__getitem__, values), np.int32, len(values))

    # -- a slice read as rows (Python values, None for missing) -------------------------------

    def add_values(self, values: Any) -> None:
        """A slice's values as the driver returned them, ``None`` where missing."""
        count = len(values)
        if all(value is None for value in values):
            self.add_empty(count)
            return
        self.filled = True
        kind = self.kind
        if kind == "strings":
            self.strings.extend(values)
        elif kind == "str":
            self.values.append(self._codes(values))
        elif kind == "float":
            # numpy turns None into NaN, the missing value of a float column.
            self.values.append(np.array(values, dtype=np.float64))
        else:
            missing = np.fromiter((v is None for v in values), bool, count)
            if kind == "bool":
                numbers = [-1 if v is None else int(bool(v)) for v in values]
            else:
                numbers = [0 if v is None else v for v in values]
            parsed = np.array(numbers, dtype=np.int8 if kind == "bool" else np.int64)
            if kind == "datetime":
                parsed[missing] = _NAT
            self.values.append(parsed)
            self.missing.append(missing)

    # -- the whole column ----------------------------------------------------------------------

    def finish(self) -> Any:
        """The column as the generic reader finishes it (see ``_columnar``)."""
        kind = self.kind
        if kind == "strings":
            return self.strings
        if kind == "float":
            return np.concatenate(self.values)
        if kind == "datetime":
            return np.concatenate(self.values).view("datetime64[us]")
        if kind == "bool":
            codes = np.concatenate(self.values)
            if bool((codes >= 0).all()):
                return codes.astype(np.bool_)
            return codes.astype(np.int64), [False, True]
        if kind == "int":
            return self._finish_ints()
        return self._finish_categories()

    def _finish_ints(self) -> Any:
        numbers = np.concatenate(self.values)
        missing = np.concatenate(self.missing)
        if not missing.any():
            return numbers
        present = numbers[~missing]
        if not present.size or max(-int(present.min()), int(present.max())) <= _EXACT:
            # Every value converts exactly, so NaN can mark the gaps of an int column.
            floats = numbers.astype(np.float64)
            floats[missing] = np.nan
            return floats
        return [None if gap else int(v) for v, gap in zip(numbers.tolist(), missing, strict=True)]

    def _finish_categories(self) -> Any:
        # Categories in sorted order, as a build from followers would number them.
        seen = [str(value) for value in self.lookup if value is not None]
        order = sorted(range(len(seen)), key=seen.__getitem__)
        renumber = np.empty(len(seen) + 1, dtype=np.int64)
        renumber[np.array(order, dtype=np.int64)] = np.arange(len(seen), dtype=np.int64)
        renumber[-1] = -1
        codes = renumber[np.concatenate(self.values)]
        return codes, [seen[i] for i in order]


def read_followers(
    cursor: Any,
    table: str,
    optional: dict[str, str],
    kinds: dict[str, str],
    encode: Callable[[Sequence[str]], Any],
) -> tuple[Any, Any, dict[str, Any]]:
    """Openids (``S`` array), subscribe times (int64) and the filled optional columns.

    ``optional`` maps each optional column's name to its SQL expression, ``kinds`` to its
    reader kind (``float``, ``int``, ``datetime``, ``bool``, ``str`` for categories or
    ``strings`` for a plain list). Rows come in rowid order, the table's own.
    """
    columns = {name: _Column(sql, kinds[name]) for name, sql in optional.items()}
    keys: list[Any] = []
    stamps: list[Any] = []
    cursor.execute(f"SELECT MIN(rowid) FROM {table}")
    low = cursor.fetchone()[0]
    while low is not None:
        bounds = (low, low + _SLICE)
        cursor.execute(_slice_statement(table, columns), bounds)
        slice_ = _Slice(cursor, table, bounds, cursor.fetchone())
        if slice_.count:
            keys.append(slice_.openids(encode))
            stamps.append(slice_.stamps())
            slice_.columns(columns)
        # The next slice starts at the next rowid held: deleted stretches cost one seek.
        cursor.execute(f"SELECT MIN(rowid) FROM {table} WHERE rowid >= ?", (bounds[1],))
        low = cursor.fetchone()[0]
    openids = np.concatenate(keys) if keys else np.empty(0, dtype="S1")
    subscribed = np.concatenate(stamps) if stamps else np.empty(0, dtype=np.int64)
    filled = {name: column.finish() for name, column in columns.items() if column.filled}
    return openids, subscribed, filled


def _slice_statement(table: str, columns: dict[str, _Column]) -> str:
    """One aggregate over a rowid slice: openids, subscribe times, then the optional columns.

    Columns no slice has held a value of yet share one ``COUNT(coalesce(...))``: a never-set
    column (most WeChat profile ones in a CRM-fed store) then costs each row one test.
    """
    parts = ["group_concat(openid, char(0))", "group_concat(subscribe_time)"]
    for column in columns.values():
        if column.counted:
            parts.append(f"COUNT({column.sql})")
        if column.active:
            separator = ", char(0)" if column.kind in ("str", "strings") else ""
            parts.append(f"group_concat({column.sql}{separator})")
    parts.append(_any_of([column.sql for column in columns.values() if not column.counted]))
    return f"SELECT {', '.join(parts)} FROM {table} WHERE rowid >= ? AND rowid < ?"


def _any_of(sql: list[str]) -> str:
    """How many rows hold a value in any of ``sql``."""
    if not sql:
        return "0"
    return f"COUNT({sql[0]})" if len(sql) == 1 else f"COUNT(coalesce({', '.join(sql)}))"


class _Slice:
    """One slice's aggregate, and the rows read for what its text could not carry."""

    def __init__(
        self, cursor: Any, table: str, bounds: tuple[int, int], result: Sequence[Any]
    ) -> None:
        self.cursor, self.table, self.bounds = cursor, table, bounds
        keys, times = result[:2]
        # Openids are never NULL and never hold a NUL: the separators count the rows.
        self.count = 0 if keys is None else keys.count(_SEP) + 1
        self.result = result
        self.keys = fixed_width(keys, self.count) if self.count else None
        self.times = _integers(times, self.count) if self.count else None

    def openids(self, encode: Callable[[Sequence[str]], Any]) -> Any:
        if self.keys is not None:
            return self.keys
        return encode(self._rows(["openid"])[0].tolist())

    def stamps(self) -> Any:
        if self.times is not None:
            return self.times
        return self._rows(["subscribe_time"])[0].astype(np.int64)

    def columns(self, columns: dict[str, _Column]) -> None:
        """Add this slice's part to each optional column."""
        at = 2
        parsed: dict[str, Any] = {}
        by_rows: list[str] = []
        counts: dict[str, int] = {}
        for name, column in columns.items():
            if column.counted:
                counts[name] = int(self.result[at])
                at += 1
            joined = self.result[at] if column.active else None
            at += column.active
            if column.counted and counts[name]:
                values = None if joined is None else column.parse(joined, counts[name])
                if values is None:
                    by_rows.append(name)
                else:
                    parsed[name] = (values, counts[name])
        uncounted = [name for name, column in columns.items() if not column.counted]
        if int(self.result[at]):
            counts.update(self._counts(uncounted, columns))
            by_rows += [name for name in uncounted if counts[name]]
        for name, column in columns.items():
            if not counts.get(name, 0):
                column.add_empty(self.count)
        for name in by_rows:
            # Concatenated from the next slice on (floats are always read as rows).
            columns[name].counted = True
            columns[name].active = columns[name].kind != "float"
        gappy = [columns[name].sql for name, (_, filled) in parsed.items() if filled < self.count]
        masks = self._presence(gappy)
        for name, (values, _) in parsed.items():
            columns[name].add_parsed(values, masks.get(columns[name].sql), self.count)
        for name, values in zip(
            by_rows,
            self._rows(
                [columns[n].sql for n in by_rows],
                floats=all(columns[n].kind == "float" for n in by_rows),
            ),
            strict=True,
        ):
            columns[name].add_values(values)

    def _counts(self, names: list[str], columns: dict[str, _Column]) -> dict[str, int]:
        """Each column's count of values in the slice, for columns not counted one by one."""
        counts = ", ".join(f"COUNT({columns[name].sql})" for name in names)
        self.cursor.execute(
            f"SELECT {counts} FROM {self.table} WHERE rowid >= ? AND rowid < ?", self.bounds
        )
        return dict(zip(names, map(int, self.cursor.fetchone()), strict=True))

    def _rows(self, sql: list[str], *, floats: bool = False) -> list[Any]:
        """The slice's values of each expression in ``sql``, as object arrays.

        ``floats``: all of them are float columns, read straight into float64 (None is NaN)
        without an object array between.
        """
        if not sql:
            return []
        self.cursor.execute(
            f"SELECT {', '.join(sql)} FROM {self.table} WHERE rowid >= ? AND rowid < ?",
            self.bounds,
        )
        dtype = np.float64 if floats else object
        table = np.array(self.cursor.fetchall(), dtype=dtype).reshape(-1, len(sql))
        return [table[:, at] for at in range(len(sql))]

    def _presence(self, sql: list[str]) -> dict[str, Any]:
        """For columns with gaps in the slice: which of its rows hold a value, by expression."""
        if not sql:
            return {}
        flags = ", ".join(f"group_concat({expression} IS NOT NULL, '')" for expression in sql)
        self.cursor.execute(
            f"SELECT {flags} FROM {self.table} WHERE rowid >= ? AND rowid < ?", self.bounds
        )
        found = self.cursor.fetchone()
        return {
            expression: np.frombuffer(text.encode("ascii"), dtype=np.uint8) == ord("1")
            for expression, text in zip(sql, found, strict=True)
        }


def fixed_width(joined: str, count: int) -> Any:
    """NUL-separated ASCII openids of one width as an ``S`` array, or None if they are not.

    No openid holds a NUL, so NULs at every ``width + 1``-th place are exactly the separators.
    """
    if not joined.isascii() or (len(joined) + 1) % count:
        return None
    width = (len(joined) + 1) // count - 1
    if not width:
        return None
    matrix = np.frombuffer((joined + _SEP).encode("ascii"), dtype=np.uint8).reshape(count, -1)
    if bool(matrix[:, width].any()):
        return None
    return np.ascontiguousarray(matrix[:, :width]).view(f"S{width}").ravel()


def _integers(text: str | None, count: int) -> Any:
    """``count`` comma-separated integers parsed exactly, or None if ``text`` is not that."""
    if text is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            parsed = np.fromstring(text, dtype=np.int64, sep=",")
        except (DeprecationWarning, ValueError):
            return None
    return parsed if parsed.shape[0] == count else None
