"""Value types shared by every part of wxsegment: the follower and its attribute values.

This module imports nothing from `api`, `segment` or `quota`, so each of them may use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs

from wxsegment._clock import ensure_aware

__all__ = [
    "BUILTIN_FIELDS",
    "AttributeValue",
    "Follower",
    "check_value",
    "value_kind",
]

#: A value an attribute (or a segment constant) may take.
AttributeValue: TypeAlias = str | int | float | bool | datetime

#: Follower fields that segment expressions can name like attributes.
BUILTIN_FIELDS: Final = frozenset({"openid", "unionid", "subscribe_time", "last_interaction_at"})
_RESERVED_ATTRIBUTE_NAMES: Final = BUILTIN_FIELDS | {"tags"}


def value_kind(value: object) -> str:
    """Name the comparison kind of a value: ``bool``, ``number``, ``str`` or ``datetime``.

    Values compare only with values of the same kind; ``bool`` is its own kind even though
    Python treats it as an ``int``.
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime):
        return "datetime"
    raise TypeError(
        f"unsupported value type {type(value).__name__}: "
        "expected str, int, float, bool or an aware datetime"
    )


def check_value(value: object, what: str = "value") -> AttributeValue:
    """Validate an attribute or constant value and return it.

    Raises ``TypeError`` for an unsupported type and ``ValueError`` for a naive datetime or a
    non-finite float (NaN would break equality and every algebraic law).
    """
    kind = value_kind(value)
    if kind == "datetime":
        assert isinstance(value, datetime)
        ensure_aware(value, what)
    elif kind == "number" and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value  # type: ignore[return-value]


def _freeze_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not a single string")
    frozen = frozenset(tags)
    for name in frozen:
        if not isinstance(name, str) or not name:
            raise ValueError(f"tag names must be non-empty strings, got {name!r}")
    return frozen


def _freeze_attributes(
    attributes: Mapping[str, AttributeValue],
) -> Mapping[str, AttributeValue]:
    copy: dict[str, AttributeValue] = {}
    for name, value in dict(attributes).items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"attribute names must be non-empty strings, got {name!r}")
        if name in _RESERVED_ATTRIBUTE_NAMES:
            raise ValueError(f"attribute name {name!r} is reserved for a built-in follower field")
        copy[name] = check_value(value, f"attribute {name!r}")
    return MappingProxyType(copy)


def _check_openid(_instance: Any, _attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"openid must be a non-empty string, got {value!r}")


def _check_optional_aware(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        ensure_aware(value, attribute.name)


def _check_aware(_instance: Any, attribute: Any, value: Any) -> None:
    ensure_aware(value, attribute.name)


@attrs.frozen(slots=True)
class Follower:
    """One follower of a service account: identity, tags and attributes.

    Datetimes must be timezone-aware (a naive one raises ``ValueError``). Attributes come from
    WeChat (language, subscribe_scene, ...) and from the application's CRM (city, spend, ...);
    the library never assumes which exist.
    """

    openid: str = attrs.field(validator=_check_openid)
    subscribe_time: datetime = attrs.field(validator=_check_aware)
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_freeze_tags)
    attributes: Mapping[str, AttributeValue] = attrs.field(
        factory=dict, converter=_freeze_attributes, hash=False
    )
    unionid: str | None = None
    last_interaction_at: datetime | None = attrs.field(
        default=None, validator=_check_optional_aware
    )

    def value(self, name: str) -> AttributeValue | None:
        """The value of a built-in field or attribute by name, or ``None`` when missing."""
        if name == "subscribe_time":
            return self.subscribe_time
        if name == "last_interaction_at":
            return self.last_interaction_at
        if name == "openid":
            return self.openid
        if name == "unionid":
            return self.unionid
        return self.attributes.get(name)
