"""How follower values are held in SQL: microseconds for datetimes, one value column per kind."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

from wxsegment._model import AttributeValue, value_kind

__all__ = ["from_micros", "micros", "number_of", "value_columns"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)

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
