"""How follower values are held in SQL: microseconds for datetimes, one value column per kind."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from wxsegment._model import AttributeValue, value_kind
from wxsegment.segment import SqlColumn

if TYPE_CHECKING:
    from wxsegment.followers._schema import AttributeSchema

__all__ = [
    "column_value",
    "decode_column",
    "from_micros",
    "micros",
    "number_of",
    "set_columns",
    "tag_lists",
    "typed_columns",
    "value_columns",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
_COLUMN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,60}")
_SQL_KIND: Final = {
    "str": "str",
    "int": "number",
    "float": "number",
    "bool": "bool",
    "datetime": "datetime",
}

#: A SQL parameter or result value.
Param = str | int | float | bool | Decimal | None


def micros(value: datetime) -> int:
    """UTC microseconds since the Unix epoch: how every datetime is stored."""
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC datetime of stored microseconds."""
    return _EPOCH + timedelta(microseconds=int(value))


def value_columns(value: AttributeValue, *, exact: bool) -> tuple[Param, Param, Param, Param]:
    """``(str_value, num_value, bool_value, time_value)`` of an attribute; one is not ``None``.

    ``exact`` sends numbers as ``Decimal``: PostgreSQL keeps only 15 digits of a float cast to
    numeric, while a Decimal carries the double's exact binary value.
    """
    kind = value_kind(value)
    if kind == "str":
        return value, None, None, None  # type: ignore[return-value]
    if kind == "number":
        assert isinstance(value, (int, float))
        number: Param = Decimal(value) if exact else value
        return None, number, None, None
    if kind == "bool":
        return None, None, value, None  # type: ignore[return-value]
    return None, None, None, micros(value)  # type: ignore[arg-type]


def number_of(value: object, kind: str | None) -> int | float:
    """A stored number as its declared kind; undeclared integral values read back as ``int``."""
    if kind == "int":
        return int(value)  # type: ignore[call-overload, no-any-return]
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    assert isinstance(value, (int, float))
    return value


def typed_columns(schema: AttributeSchema) -> dict[str, SqlColumn]:
    """Declared attributes kept in typed columns ``a_<name>`` of the followers row.

    Names that are not plain ASCII identifiers cannot be SQL column names: those attributes
    stay in the attributes table, like undeclared ones.
    """
    return {
        name: SqlColumn(f"a_{name}", _SQL_KIND[kind])  # type: ignore[arg-type]
        for name, kind in schema.kinds.items()
        if _COLUMN_NAME.fullmatch(name)
    }


def column_value(value: AttributeValue | None, exact: bool) -> Param:
    """An attribute as its typed column holds it (``None``: missing; booleans as 0 or 1)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        # An int binds directly; the sqlite3 module adapts a bool through a protocol lookup.
        return int(value)
    if isinstance(value, datetime):
        return micros(value)
    return Decimal(value) if exact else value


def decode_column(value: object, kind: str) -> AttributeValue:
    """A typed column's value back as the attribute's declared kind."""
    if kind == "str":
        return str(value)
    if kind == "bool":
        return bool(value)
    if kind == "datetime":
        return from_micros(value)  # type: ignore[arg-type]
    return number_of(value, kind)


def tag_lists(tag_sets: Iterable[frozenset[str] | None]) -> list[str | None]:
    """Each tag set as the JSON array of its names that a load row carries (``None`` kept).

    The database expands the arrays into tag rows itself (``json_each``,
    ``json_array_elements_text``): one bound text per follower instead of one bound row per
    tag. Followers of one CRM share few distinct tag sets, so each is encoded once.
    """
    memo: dict[frozenset[str], str] = {}
    encoded: list[str | None] = []
    for tags in tag_sets:
        if tags is None:
            encoded.append(None)
            continue
        text = memo.get(tags)
        if text is None:
            # Literal UTF-8 rather than \u escapes: SQLite 3.40 mishandles escaped surrogate
            # pairs, and names were checked to hold no NUL or lone surrogate.
            text = memo[tags] = json.dumps(sorted(tags), ensure_ascii=False)
        encoded.append(text)
    return encoded


def set_columns(
    named: Iterable[tuple[str, Sequence[Any]]],
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The load columns some row sets (``row_no`` and ``openid`` always), and their rows.

    An unbound load column reads as NULL, exactly what binding ``None`` in every row gives,
    and the ``sqlite3`` module binds each ``None`` (and each ``bool``: flags come as 1 or
    ``None``) only after a protocol lookup that costs as much as binding a string. The rows
    are streamed: a tuple the driver has bound is freed at once.
    """
    kept = [
        (name, values)
        for name, values in named
        if name in ("row_no", "openid") or any(v is not None for v in values)
    ]
    return [name for name, _ in kept], zip(*(values for _, values in kept), strict=True)
