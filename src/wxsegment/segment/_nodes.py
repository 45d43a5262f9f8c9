"""Segment expression nodes: immutable, hashable, canonical trees.

Every node is a frozen, slotted attrs class. Trees are kept canonical by construction:
`And`/`Or` hold a frozenset of at least two children, none of them a constant or a node of
the same combinator, and `Not` never wraps a constant or another `Not`. The smart
constructors (`and_`, `or_`, `not_` and the operators ``&``, ``|``, ``~``) flatten,
deduplicate and fold constants so that users never build a non-canonical tree; building one
directly raises ``ValueError``. Canonical trees are what make ``parse(render(e)) == e`` exact.

Values carry a *kind* (``bool``, ``number``, ``str``, ``datetime``) and node equality
respects it, so ``attr("x") == 1`` and ``attr("x") == True`` are different segments.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final, TypeAlias

import attrs

from wxsegment._model import AttributeValue, check_value, value_kind

__all__ = [
    "EVERYONE",
    "NOBODY",
    "RESERVED_WORDS",
    "And",
    "Between",
    "Compare",
    "Constant",
    "Exists",
    "In",
    "Node",
    "Not",
    "Op",
    "Or",
    "Predicate",
    "Segment",
    "Tag",
    "Within",
    "and_",
    "as_node",
    "not_",
    "or_",
    "value_key",
]

#: Words with a meaning in the segment DSL; they cannot name attributes.
RESERVED_WORDS: Final = frozenset(
    {
        "and", "or", "not", "in", "between", "exists", "within", "before", "after",
        "tag", "true", "false", "everyone", "nobody",
    }
)  # fmt: skip

_KIND_RANK: Final = {"bool": 0, "number": 1, "str": 2, "datetime": 3}


def value_key(value: AttributeValue) -> tuple[int, AttributeValue]:
    """A sortable, hashable key that keeps kinds apart (``True`` and ``1`` differ)."""
    return (_KIND_RANK[value_kind(value)], value)


class Op(str, enum.Enum):
    """A comparison operator."""

    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class Segment:
    """Base of every segment node. Combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def __and__(self, other: Segment) -> Segment:
        return and_(self, _check_segment(other))

    def __rand__(self, other: Segment) -> Segment:
        return and_(_check_segment(other), self)

    def __or__(self, other: Segment) -> Segment:
        return or_(self, _check_segment(other))

    def __ror__(self, other: Segment) -> Segment:
        return or_(_check_segment(other), self)

    def __invert__(self) -> Segment:
        return not_(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a segment has no truth value; combine segments with &, | and ~ "
            "(not 'and', 'or', 'not'), and evaluate them with matches()"
        )

    def __str__(self) -> str:
        from wxsegment.segment._render import render

        return render(self)


def _check_segment(value: object) -> Segment:
    if not isinstance(value, Segment):
        raise TypeError(f"expected a Segment, got {type(value).__name__}")
    return value


def _check_attr_name(_instance: Any, _attribute: Any, name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"attribute names must be identifiers, got {name!r}")
    if name in RESERVED_WORDS:
        raise ValueError(f"{name!r} is a reserved word and cannot name an attribute")


def _check_tag_name(_instance: Any, _attribute: Any, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"tag names must be non-empty strings, got {name!r}")


def _check_one_value(_instance: Any, _attribute: Any, value: Any) -> None:
    check_value(value, "segment value")


@attrs.frozen(slots=True, repr=False)
class Constant(Segment):
    """``EVERYONE`` (true for every follower) or ``NOBODY`` (false for every follower)."""

    value: bool

    def __repr__(self) -> str:
        return "EVERYONE" if self.value else "NOBODY"


EVERYONE: Final = Constant(True)
NOBODY: Final = Constant(False)


@attrs.frozen(slots=True)
class Tag(Segment):
    """True when the follower carries the tag ``name``."""

    name: str = attrs.field(validator=_check_tag_name)


@attrs.frozen(slots=True, eq=False)
class Compare(Segment):
    """``attr op value``; false when the attribute is missing or of another kind."""

    attr: str = attrs.field(validator=_check_attr_name)
    op: Op = attrs.field(converter=Op)
    value: AttributeValue = attrs.field(validator=_check_one_value)

    def _key(self) -> tuple[object, ...]:
        return (self.attr, self.op, value_key(self.value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Compare) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(("Compare", *self._key()))


def _sorted_values(values: Iterable[AttributeValue]) -> tuple[AttributeValue, ...]:
    if isinstance(values, (str, bytes)):
        raise TypeError("values must be an iterable of values, not a single string")
    unique: dict[tuple[int, AttributeValue], AttributeValue] = {}
    for value in values:
        check_value(value, "segment value")
        unique.setdefault(value_key(value), value)
    return tuple(unique[key] for key in sorted(unique))


def _check_values(_instance: Any, _attribute: Any, values: Any) -> None:
    if not values:
        raise ValueError("isin() needs at least one value")


@attrs.frozen(slots=True, eq=False)
class In(Segment):
    """True when the attribute equals one of ``values`` (same kind)."""

    attr: str = attrs.field(validator=_check_attr_name)
    values: tuple[AttributeValue, ...] = attrs.field(
        converter=_sorted_values, validator=_check_values
    )

    def _key(self) -> tuple[object, ...]:
        return (self.attr, tuple(value_key(v) for v in self.values))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, In) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(("In", *self._key()))


@attrs.frozen(slots=True, eq=False)
class Between(Segment):
    """True when ``lo <= attr <= hi`` (inclusive, same kind)."""

    attr: str = attrs.field(validator=_check_attr_name)
    lo: AttributeValue = attrs.field(validator=_check_one_value)
    hi: AttributeValue = attrs.field(validator=_check_one_value)

    def __attrs_post_init__(self) -> None:
        if value_kind(self.lo) != value_kind(self.hi):
            raise ValueError(
                f"between() bounds must be of one kind, got {value_kind(self.lo)} "
                f"and {value_kind(self.hi)}"
            )
        if self.lo > self.hi:  # type: ignore[operator]
            raise ValueError(f"between() needs lo <= hi, got {self.lo!r} > {self.hi!r}")

    def _key(self) -> tuple[object, ...]:
        return (self.attr, value_key(self.lo), value_key(self.hi))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Between) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(("Between", *self._key()))


@attrs.frozen(slots=True)
class Exists(Segment):
    """True when the follower has the attribute (any value)."""

    attr: str = attrs.field(validator=_check_attr_name)


def _check_duration(_instance: Any, _attribute: Any, duration: Any) -> None:
    if not isinstance(duration, timedelta):
        raise TypeError(f"within() needs a timedelta, got {type(duration).__name__}")
    if duration <= timedelta(0):
        raise ValueError(f"within() needs a positive duration, got {duration}")
    if duration.microseconds:
        raise ValueError(f"within() durations are whole seconds, got {duration}")


@attrs.frozen(slots=True)
class Within(Segment):
    """True when the datetime attribute lies in ``[now - duration, now]``."""

    attr: str = attrs.field(validator=_check_attr_name)
    duration: timedelta = attrs.field(validator=_check_duration)


def _freeze_children(children: Iterable[Segment]) -> frozenset[Segment]:
    return frozenset(children)


def _check_children(instance: Any, _attribute: Any, children: Any) -> None:
    name = type(instance).__name__
    if len(children) < 2:
        raise ValueError(f"{name} needs at least two children; use and_()/or_() to build one")
    for child in children:
        if not isinstance(child, Segment):
            raise TypeError(f"{name} children must be segments, got {type(child).__name__}")
        if isinstance(child, (Constant, type(instance))):
            raise ValueError(
                f"{name} children must be flattened and constant-free; use and_()/or_()"
            )


@attrs.frozen(slots=True)
class And(Segment):
    """True when every child is true. Build with ``&`` or `and_`."""

    children: frozenset[Segment] = attrs.field(
        converter=_freeze_children, validator=_check_children
    )


@attrs.frozen(slots=True)
class Or(Segment):
    """True when at least one child is true. Build with ``|`` or `or_`."""

    children: frozenset[Segment] = attrs.field(
        converter=_freeze_children, validator=_check_children
    )


def _check_not_child(_instance: Any, _attribute: Any, child: Any) -> None:
    if not isinstance(child, Segment):
        raise TypeError(f"Not wraps a segment, got {type(child).__name__}")
    if isinstance(child, (Constant, Not)):
        raise ValueError("Not must not wrap a constant or another Not; use not_() or ~")


@attrs.frozen(slots=True)
class Not(Segment):
    """Plain boolean negation. Build with ``~`` or `not_`."""

    child: Segment = attrs.field(validator=_check_not_child)


#: The leaves of a segment tree.
Predicate: TypeAlias = Tag | Compare | In | Between | Exists | Within

#: Every concrete node type; evaluators match on it so mypy proves each one is handled.
Node: TypeAlias = Constant | Tag | Compare | In | Between | Exists | Within | And | Or | Not


def as_node(segment: Segment) -> Node:
    """Narrow a `Segment` to the closed union of node types (for exhaustive ``match``)."""
    if not isinstance(segment, (Constant, Tag, Compare, In, Between, Exists, Within, And, Or, Not)):
        raise TypeError(f"not a segment node: {segment!r}")
    return segment


def _combine(kind: type[And] | type[Or], parts: Iterable[Segment]) -> Segment:
    identity, annihilator = (EVERYONE, NOBODY) if kind is And else (NOBODY, EVERYONE)
    flat: set[Segment] = set()
    for part in parts:
        _check_segment(part)
        if part == annihilator:
            return annihilator
        if part == identity:
            continue
        if isinstance(part, kind):
            flat.update(part.children)
        else:
            flat.add(part)
    if not flat:
        return identity
    if len(flat) == 1:
        return next(iter(flat))
    return kind(flat)


def and_(*parts: Segment) -> Segment:
    """The conjunction of ``parts``: flattened, deduplicated, constants folded.

    ``and_()`` with no parts is ``EVERYONE``.
    """
    return _combine(And, parts)


def or_(*parts: Segment) -> Segment:
    """The disjunction of ``parts``: flattened, deduplicated, constants folded.

    ``or_()`` with no parts is ``NOBODY``.
    """
    return _combine(Or, parts)


def not_(part: Segment) -> Segment:
    """The negation of ``part``, folding constants and double negation."""
    _check_segment(part)
    if isinstance(part, Constant):
        return NOBODY if part.value else EVERYONE
    if isinstance(part, Not):
        return part.child
    return Not(part)
