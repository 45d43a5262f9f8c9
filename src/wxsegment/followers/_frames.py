"""Importing a data frame (polars, pandas or pyarrow) without a Python loop over its rows.

The frame becomes an Arrow table; every check runs as an Arrow compute kernel over whole
columns; the checked columns feed the store's load tables through ``executemany``/``COPY``
over ``zip`` iterators. As with `import_rows`, a null cell leaves the stored value alone and
one bad cell rejects the call with its row number (1-based) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from wxsegment.followers._errors import ImportRejectedError
from wxsegment.followers._report import RejectedRow
from wxsegment.followers._rows import MAX_OPENID_LENGTH
from wxsegment.followers._schema import AttributeSchema

__all__ = ["FrameColumns", "frame_columns"]

_FIELDS: Final = ("openid", "subscribe_time", "unionid", "last_interaction_at")
_INT64: Final = 2**63


def _arrow(frame: Any) -> Any:
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        return frame.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(
        f"expected a polars or pandas DataFrame or a pyarrow Table, got {type(frame).__name__}"
    )


def _reject(row: int, reason: str) -> ImportRejectedError:
    return ImportRejectedError((RejectedRow(row, reason),))


def _first(mask: Any) -> int | None:
    """The 1-based row of the first true value of a boolean array, if any."""
    import pyarrow.compute as pc

    filled = pc.fill_null(mask, False)
    if not pc.any(filled).as_py():
        return None
    return int(pc.index(filled, True).as_py()) + 1


class FrameColumns:
    """Checked columns of a frame, as Python lists ready for the load tables."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.fields: dict[str, list[Any]] = {}
        self.typed: dict[str, list[Any]] = {}
        self.tags: tuple[list[Any], list[Any]] | None = None
        self.has_tags: list[bool] = []
        #: Each row's tags as a JSON array (``None``: no tags given), when every name could
        #: be written unescaped and no list repeats a name; else ``None``.
        self.tag_json: list[str | None] | None = None


def _text(table: Any, name: str, *, required: bool) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name).combine_chunks()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise _reject(1, f"column {name!r} must hold strings, got {column.type}")
    if required and (row := _first(pc.is_null(column))) is not None:
        raise _reject(row, f"{name} is missing")
    if (row := _first(pc.match_substring(column, "\x00"))) is not None:
        raise _reject(row, f"{name} contains a NUL character")
    if name == "openid":
        lengths = pc.utf8_length(column)
        bad = pc.or_(pc.less(lengths, 1), pc.greater(lengths, MAX_OPENID_LENGTH))
        if (row := _first(bad)) is not None:
            raise _reject(row, f"openid must have 1 to {MAX_OPENID_LENGTH} characters")
    values: list[Any] = column.to_pylist()
    return values


def _micros(table: Any, name: str) -> list[Any]:
    import pyarrow as pa

    column = table.column(name).combine_chunks()
    if not pa.types.is_timestamp(column.type):
        raise _reject(1, f"column {name!r} must hold timestamps, got {column.type}")
    if column.type.tz is None:
        raise _reject(1, f"column {name!r} holds naive timestamps (naive datetimes are refused)")
    values: list[Any] = column.cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_pylist()
    return values


def _typed(table: Any, name: str, kind: str, exact: bool) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "str":
        return _text(table, name, required=False)
    if kind == "datetime":
        return _micros(table, name)
    column = table.column(name).combine_chunks()
    given = column.type
    if kind == "bool":
        if not pa.types.is_boolean(given):
            raise _reject(1, f"attribute {name!r} is declared bool, got a column of {given}")
        values: list[Any] = column.to_pylist()
        return values
    if kind == "int" and not pa.types.is_integer(given):
        raise _reject(1, f"attribute {name!r} is declared int, got a column of {given}")
    if kind == "float" and not (pa.types.is_floating(given) or pa.types.is_integer(given)):
        raise _reject(1, f"attribute {name!r} is declared float, got a column of {given}")
    if pa.types.is_unsigned_integer(given) and given.bit_width == 64:
        too_big = pc.greater_equal(column, pa.scalar(_INT64 - 1, pa.uint64()))
        if (row := _first(too_big)) is not None:
            raise _reject(row, f"attribute {name!r} lies outside the signed 64-bit range")
    if kind == "float":
        column = column.cast(pa.float64())
        if (row := _first(pc.invert(pc.is_finite(column)))) is not None:
            raise _reject(row, f"attribute {name!r} must be a finite number")
    else:
        column = column.cast(pa.int64())
    numbers: list[Any] = column.to_pylist()
    if exact and kind == "float":
        # PostgreSQL keeps only 15 digits of a float cast to numeric; Decimal is exact.
        return [None if n is None else Decimal(n) for n in numbers]
    return numbers


def frame_columns(frame: Any, schema: AttributeSchema, *, exact: bool) -> FrameColumns:
    """Check a frame against the schema column by column and return its columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _arrow(frame)
    names = table.column_names
    if "openid" not in names:
        raise _reject(1, "the frame has no openid column")
    result = FrameColumns(table.num_rows)
    openids = _text(table, "openid", required=True)
    if pc.count_distinct(table.column("openid")).as_py() != len(openids):
        seen: dict[str, int] = {}
        for row, openid in enumerate(openids, 1):
            earlier = seen.setdefault(openid, row)
            if earlier != row:
                raise _reject(row, f"openid {openid!r} repeats row {earlier}")
    result.fields["openid"] = openids
    for name in ("subscribe_time", "last_interaction_at"):
        result.fields[name] = _micros(table, name) if name in names else [None] * len(openids)
    unionids = (
        _text(table, "unionid", required=False) if "unionid" in names else [None] * len(openids)
    )
    result.fields["unionid"] = unionids
    for name in names:
        if name in _FIELDS or name == "tags":
            continue
        kind = schema.kinds.get(name)
        if kind is None:
            raise _reject(
                1, f"column {name!r} is not a declared attribute (frames carry declared ones)"
            )
        result.typed[name] = _typed(table, name, kind, exact)
    if "tags" in names:
        column = table.column("tags").combine_chunks()
        if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
            raise _reject(1, f"column 'tags' must hold lists of names, got {column.type}")
        flat = pc.list_flatten(column)
        empty = pc.or_(pc.is_null(flat), pc.equal(pc.utf8_length(flat), 0))
        if _first(empty) is not None:
            raise _reject(1, "tag names must be non-empty strings")
        if _first(pc.match_substring(flat, "\x00")) is not None:
            raise _reject(1, "a tag name contains a NUL character")
        parents = pc.list_parent_indices(column)
        owners = pc.take(table.column("openid").combine_chunks(), parents)
        pairs = pa.table({"openid": owners, "tag": flat}).group_by(["openid", "tag"]).aggregate([])
        result.tags = (pairs.column("openid").to_pylist(), pairs.column("tag").to_pylist())
        result.has_tags = pc.invert(pc.is_null(column)).to_pylist()
        result.tag_json = _tag_json(column, flat, pairs.num_rows)
    else:
        result.has_tags = [False] * len(openids)
    return result


#: Characters a JSON string must escape: names holding one travel as rows instead.
_JSON_ESCAPED: Final = r'["\\\x00-\x1f]'


def _tag_json(column: Any, flat: Any, distinct: int) -> list[str | None] | None:
    """Each list of ``column`` as a JSON array of its names, built by Arrow kernels.

    Only when no name needs escaping (joining the names between quotes is then exact JSON)
    and no list names a tag twice (the database would see a repeated tag row); else ``None``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if distinct != len(flat) or _first(pc.match_substring_regex(flat, _JSON_ESCAPED)) is not None:
        return None
    text = flat.type  # string or large_string, as the lists hold (polars gives large ones)
    joined = pc.binary_join(column, pa.scalar('","', text))
    wrapped = pc.binary_join_element_wise(
        pa.scalar('["', text), joined, pa.scalar('"]', text), pa.scalar("", text)
    )
    empty = pc.equal(pc.list_value_length(column), 0)
    result: list[str | None] = pc.if_else(empty, pa.scalar("[]", text), wrapped).to_pylist()
    return result


def checked_kinds(schema: AttributeSchema, typed: Mapping[str, Any]) -> None:
    """Every typed attribute of a frame must have a typed column (ASCII identifier name)."""
    from wxsegment.followers._codec import typed_columns

    columns = typed_columns(schema)
    for name in typed:
        if name not in columns:
            raise _reject(1, f"attribute {name!r} has no typed column; import it by rows")
