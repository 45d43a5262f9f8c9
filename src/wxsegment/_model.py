"""Value types shared by every part of wxsegment: the follower and its attribute values.

This module imports nothing from `api`, `segment` or `quota`, so each of them may use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Final, TypeAlias

import attrs

from wxsegment._clock import ensure_aware

__all__ = [
    "BUILTIN_FIELDS",
    "MAX_INT_BITS",
    "AttributeValue",
    "Follower",
    "check_value",
    "value_kind",
]

#: A value an attribute (or a segment constant) may take.
AttributeValue: TypeAlias = str | int | float | bool | datetime

#: Largest integer attribute or constant, in bits (about 1,200 decimal digits). Python refuses to
#: turn integers beyond about 4,300 digits into text, which rendering and JSON need; a bound well
#: inside that keeps every value printable and every segment round-trippable.
MAX_INT_BITS: Final = 4096

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
    if type(value) is not bool and isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError(
            f"{what} must be an integer of at most {MAX_INT_BITS} bits "
            f"(got one of {value.bit_length()} bits)"
        )
    if kind == "datetime":
        assert isinstance(value, datetime)
        ensure_aware(value, what)
    elif kind == "number" and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value  # type: ignore[return-value]


_EMPTY_ATTRIBUTES: Final[Mapping[str, AttributeValue]] = MappingProxyType({})
_INFINITY: Final = math.inf
#: ``str.__len__`` raises ``TypeError`` for anything but a string: ``all(map(_STR_LEN, names))``
#: checks in C that every name is a non-empty string.
_STR_LEN: Final = str.__len__


def _freeze_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not a single string")
    frozen = frozenset(tags)
    for name in frozen:
        if not isinstance(name, str) or not name:
            raise ValueError(f"tag names must be non-empty strings, got {name!r}")
    return frozen


def _freeze_attributes(copy: dict[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    """Check a private copy of the attributes item by item, so the first bad item is reported."""
    for name, value in copy.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"attribute names must be non-empty strings, got {name!r}")
        if name in _RESERVED_ATTRIBUTE_NAMES:
            raise ValueError(f"attribute name {name!r} is reserved for a built-in follower field")
        check_value(value, f"attribute {name!r}")
    return MappingProxyType(copy)


@attrs.frozen(slots=True, init=False)
class Follower:
    """One follower of a service account: identity, tags and attributes.

    Datetimes must be timezone-aware (a naive one raises ``ValueError``). Attributes come from
    WeChat (language, subscribe_scene, ...) and from the application's CRM (city, spend, ...);
    the library never assumes which exist.
    """

    openid: str
    subscribe_time: datetime
    tags: frozenset[str] = frozenset()
    attributes: Mapping[str, AttributeValue] = attrs.field(default=_EMPTY_ATTRIBUTES, hash=False)
    unionid: str | None = None
    last_interaction_at: datetime | None = None

    # Hand-written rather than generated: followers are built by the million, and the fast
    # paths below cut about a third of the cost while every check still runs on every call.
    def __init__(
        self,
        openid: str,
        subscribe_time: datetime,
        tags: Iterable[str] = frozenset(),
        attributes: Mapping[str, AttributeValue] = _EMPTY_ATTRIBUTES,
        unionid: str | None = None,
        last_interaction_at: datetime | None = None,
    ) -> None:
        # Fast paths accept only exact built-in types that are certainly valid, checking in C
        # where possible; anything else (subclasses, other tzinfo classes, bad input) goes
        # through the general checks, which raise the errors item-by-item validation raises.
        tags_type = type(tags)
        if tags_type is frozenset or tags_type is list or tags_type is set or tags_type is tuple:
            # A frozenset is immutable already: keep it instead of copying it.
            frozen_tags = tags if tags_type is frozenset else frozenset(tags)
            try:
                valid = all(map(_STR_LEN, frozen_tags))
            except TypeError:
                valid = False
            if not valid:
                frozen_tags = _freeze_tags(frozen_tags)
        else:
            frozen_tags = _freeze_tags(tags)
        # One private copy, checked in place: the caller's mapping may change later.
        copy: dict[str, AttributeValue] = dict(attributes)
        frozen_attributes = _EMPTY_ATTRIBUTES
        if copy:
            try:
                valid = all(map(_STR_LEN, copy)) and _RESERVED_ATTRIBUTE_NAMES.isdisjoint(copy)
            except TypeError:
                valid = False
            if valid:
                for value in copy.values():
                    kind = type(value)
                    if not (
                        kind is str
                        or (kind is float and -_INFINITY < value < _INFINITY)  # type: ignore[operator]
                        or (kind is int and value.bit_length() <= MAX_INT_BITS)  # type: ignore[union-attr]
                        or kind is bool
                        # A `timezone` (UTC, SHANGHAI, any fixed offset) always has an offset.
                        or (kind is datetime and type(value.tzinfo) is timezone)  # type: ignore[union-attr]
                    ):
                        valid = False
                        break
            frozen_attributes = MappingProxyType(copy) if valid else _freeze_attributes(copy)
        if not isinstance(openid, str) or not openid:
            raise ValueError(f"openid must be a non-empty string, got {openid!r}")
        if type(subscribe_time) is not datetime or type(subscribe_time.tzinfo) is not timezone:
            ensure_aware(subscribe_time, "subscribe_time")
        if last_interaction_at is not None and (
            type(last_interaction_at) is not datetime
            or type(last_interaction_at.tzinfo) is not timezone
        ):
            ensure_aware(last_interaction_at, "last_interaction_at")
        _set_openid(self, openid)
        _set_subscribe_time(self, subscribe_time)
        _set_tags(self, frozen_tags)
        _set_attributes(self, frozen_attributes)
        _set_unionid(self, unionid)
        _set_last_interaction_at(self, last_interaction_at)

    def __reduce__(self) -> tuple[type[Follower], tuple[object, ...]]:
        # The read-only attribute view cannot be pickled itself; rebuild through __init__ so a
        # follower sent to another process (multiprocessing, a job queue) is validated again.
        return (
            Follower,
            (
                self.openid,
                self.subscribe_time,
                self.tags,
                dict(self.attributes),
                self.unionid,
                self.last_interaction_at,
            ),
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


# The slot descriptors set a field directly, bypassing the frozen class's ``__setattr__``.
_set_openid = Follower.__dict__["openid"].__set__
_set_subscribe_time = Follower.__dict__["subscribe_time"].__set__
_set_tags = Follower.__dict__["tags"].__set__
_set_attributes = Follower.__dict__["attributes"].__set__
_set_unionid = Follower.__dict__["unionid"].__set__
_set_last_interaction_at = Follower.__dict__["last_interaction_at"].__set__
