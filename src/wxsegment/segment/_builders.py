"""Friendly constructors: ``tag("90后")`` and ``attr("spend") >= 100``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue
from wxsegment.segment._nodes import Between, Compare, Exists, In, Op, Segment, Tag, Within

__all__ = ["Attr", "attr", "tag"]


def tag(name: str) -> Segment:
    """Followers carrying the tag ``name``."""
    return Tag(name)


class Attr:
    """A builder for predicates on one attribute; comparison operators return segments."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        Exists(name)  # validates the name once, with the same error as every predicate
        self._name = name

    @property
    def name(self) -> str:
        """The attribute name."""
        return self._name

    def __repr__(self) -> str:
        return f"attr({self._name!r})"

    def __eq__(self, value: object) -> Segment:  # type: ignore[override]
        return Compare(self._name, Op.EQ, value)  # type: ignore[arg-type]

    def __ne__(self, value: object) -> Segment:  # type: ignore[override]
        return Compare(self._name, Op.NE, value)  # type: ignore[arg-type]

    def __lt__(self, value: AttributeValue) -> Segment:
        return Compare(self._name, Op.LT, value)

    def __le__(self, value: AttributeValue) -> Segment:
        return Compare(self._name, Op.LE, value)

    def __gt__(self, value: AttributeValue) -> Segment:
        return Compare(self._name, Op.GT, value)

    def __ge__(self, value: AttributeValue) -> Segment:
        return Compare(self._name, Op.GE, value)

    __hash__ = None  # type: ignore[assignment]

    def isin(self, values: Iterable[AttributeValue]) -> Segment:
        """Followers whose attribute equals one of ``values``."""
        return In(self._name, values)

    def between(self, lo: AttributeValue, hi: AttributeValue) -> Segment:
        """Followers with ``lo <= attribute <= hi`` (inclusive)."""
        return Between(self._name, lo, hi)

    def exists(self) -> Segment:
        """Followers that have this attribute at all."""
        return Exists(self._name)

    def within(self, duration: timedelta) -> Segment:
        """Followers whose datetime attribute lies in ``[now - duration, now]``."""
        return Within(self._name, duration)

    def before(self, at: datetime) -> Segment:
        """Followers whose datetime attribute is strictly earlier than ``at``."""
        return Compare(self._name, Op.LT, ensure_aware(at, "before()"))

    def after(self, at: datetime) -> Segment:
        """Followers whose datetime attribute is strictly later than ``at``."""
        return Compare(self._name, Op.GT, ensure_aware(at, "after()"))


def attr(name: str) -> Attr:
    """Start a predicate on attribute (or built-in field) ``name``."""
    return Attr(name)
