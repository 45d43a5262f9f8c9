"""Deciding semantic equality of two segments, with a witness when they differ.

Every predicate reads one dimension (a tag, or one attribute) and compares it with constants.
So a finite set of representative values per dimension covers every case: for each kind, the
constants themselves, one value strictly between each pair of neighbours, one below and one
above, plus "missing" and "another kind". Relative predicates (``within``) move with ``now``;
they only change their answer where ``now`` crosses a constant plus a duration, so a finite
set of candidate instants covers every ``now`` as well.

The search splits on one dimension at a time, substitutes the chosen value into both
segments (the smart constructors fold what becomes constant) and stops a branch as soon as
both sides are structurally equal. It is exact; its cost grows with the number of
dimensions and constants, so it suits segments of moderate size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final

import attrs

from wxsegment._model import AttributeValue, Follower, value_kind
from wxsegment._typing import assert_never
from wxsegment.segment._evaluate import matches
from wxsegment.segment._nodes import (
    EVERYONE,
    NOBODY,
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Or,
    Segment,
    Tag,
    Within,
    and_,
    as_node,
    not_,
    or_,
)
from wxsegment.segment._normalize import normalize

__all__ = ["Counterexample", "counterexample", "equivalent"]

_EPOCH: Final = datetime(2000, 1, 1, tzinfo=timezone.utc)
_STEP: Final = timedelta(days=1)
# The offsets furthest west and east: in them the latest and the earliest instants that any
# aware datetime can hold are still representable.
_WEST: Final = timezone(timedelta.resolution - timedelta(hours=24))
_EAST: Final = timezone(timedelta(hours=24) - timedelta.resolution)
_OTHER_KIND_SAMPLE: Final[dict[str, AttributeValue]] = {
    "bool": True,
    "number": 0,
    "str": "x",
    "datetime": _EPOCH,
}
_MISSING: Final = object()
#: Names a segment may use but a `Follower` never holds: its ``tags`` field is not an attribute,
#: and no attribute may be called that, so a predicate on it always sees "missing".
_ALWAYS_MISSING: Final = frozenset({"tags"})


@attrs.frozen
class Counterexample:
    """A follower and an instant on which two segments disagree."""

    follower: Follower
    now: datetime


def equivalent(a: Segment, b: Segment) -> bool:
    """Whether ``a`` and ``b`` match exactly the same followers at every instant."""
    return counterexample(a, b) is None


def counterexample(a: Segment, b: Segment) -> Counterexample | None:
    """A follower and instant where ``a`` and ``b`` disagree, or ``None`` if they never do."""
    for now in _candidate_nows(a, b):
        found = _search(normalize(a), normalize(b), now, {})
        if found is not None:
            return Counterexample(_build_follower(found, now), now)
    return None


# -- dimensions ---------------------------------------------------------------------------

_Assignment = dict[tuple[str, str], object]


def _leaves(segment: Segment) -> Iterator[Segment]:
    node = as_node(segment)
    match node:
        case And(children=children) | Or(children=children):
            for child in children:
                yield from _leaves(child)
        case Not(child=child):
            yield from _leaves(child)
        case Constant():
            return
        case Tag() | Compare() | In() | Between() | Exists() | Within():
            yield node
        case _:
            assert_never(node)


def _dimension(leaf: Segment) -> tuple[str, str]:
    if isinstance(leaf, Tag):
        return ("tag", leaf.name)
    assert isinstance(leaf, (Compare, In, Between, Exists, Within))
    return ("attr", leaf.attr)


def _constants(leaf: Segment) -> Iterable[AttributeValue]:
    match leaf:
        case Compare(value=value):
            return (value,)
        case In(values=values):
            return values
        case Between(lo=lo, hi=hi):
            return (lo, hi)
        case _:
            return ()


def _candidate_nows(a: Segment, b: Segment) -> list[datetime]:
    leaves = [*_leaves(a), *_leaves(b)]
    durations = {timedelta(0)} | {leaf.duration for leaf in leaves if isinstance(leaf, Within)}
    if len(durations) == 1:
        return [_EPOCH]
    anchors = {
        value
        for leaf in leaves
        if isinstance(leaf, (Compare, In, Between)) and not isinstance(leaf, Tag)
        for value in _constants(leaf)
        if isinstance(value, datetime)
    }
    if not anchors:
        return [_EPOCH]
    # A crossing beyond the calendar's end is never reached by any ``now``.
    shifted = (_shift(anchor, d) for anchor in anchors for d in durations)
    critical = sorted({instant for instant in shifted if instant is not None})
    return [v for v in _spread("datetime", critical) if isinstance(v, datetime)]


def _shift(instant: datetime, delta: timedelta) -> datetime | None:
    """``instant + delta``, or ``None`` when no aware datetime holds that instant."""
    try:
        return instant + delta
    except OverflowError:
        pass
    # The local date overflowed; the same instant may still exist in an extreme offset.
    try:
        return instant.astimezone(_WEST if delta > timedelta(0) else _EAST) + delta
    except OverflowError:
        return None


def _datetime_between(lo: datetime, hi: datetime) -> datetime | None:
    middle = _shift(lo, (hi - lo) / 2)
    return middle if middle is not None and lo < middle < hi else None


def _representatives(name: str, leaves: list[Segment], now: datetime) -> list[object]:
    """Values of attribute ``name`` that together exercise every predicate outcome."""
    by_kind: dict[str, set[AttributeValue]] = {k: set() for k in _OTHER_KIND_SAMPLE}
    for leaf in leaves:
        for value in _constants(leaf):
            by_kind[value_kind(value)].add(value)
        if isinstance(leaf, Within):
            # Reaching before year 1, the window is bounded by ``now`` alone.
            edge = _shift(now, -leaf.duration)
            by_kind["datetime"].update({now} if edge is None else {now, edge})
    allowed = _allowed_kinds(name)
    values: list[object] = [] if name in ("subscribe_time", "openid") else [_MISSING]
    for kind in allowed:
        points = by_kind[kind]
        if kind == "bool":
            values.extend([False, True])
        elif not points:
            values.append(now if kind == "datetime" else _OTHER_KIND_SAMPLE[kind])
        else:
            values.extend(_spread(kind, sorted(points)))
    if name == "openid":
        # An openid is never empty. "\0", the least non-empty string, stands in for "": it
        # lies below every other non-empty string, so the interval below the constants keeps
        # a representative.
        values = ["\0" if v == "" else v for v in values]
    return values


def _allowed_kinds(name: str) -> tuple[str, ...]:
    if name in _ALWAYS_MISSING:
        return ()
    if name in ("subscribe_time", "last_interaction_at"):
        return ("datetime",)
    if name in ("openid", "unionid"):
        return ("str",)
    return tuple(_OTHER_KIND_SAMPLE)


def _spread(kind: str, points: Sequence[AttributeValue]) -> list[AttributeValue]:
    out: list[AttributeValue] = []
    below = _below(kind, points[0])
    if below is not None:
        out.append(below)
    for index, point in enumerate(points):
        out.append(point)
        if index + 1 < len(points):
            middle = _between(kind, point, points[index + 1])
            if middle is not None:
                out.append(middle)
    above = _above(kind, points[-1])
    if above is not None:
        out.append(above)
    return out


def _below(kind: str, value: AttributeValue) -> AttributeValue | None:
    if kind == "number":
        assert isinstance(value, (int, float))
        # The int candidate reaches below the float range, where ints still exist.
        return _first_strictly_between(
            [
                lambda: value - 1,
                lambda: math.nextafter(value, -math.inf),
                lambda: math.floor(value) - 1,
            ],
            -math.inf,
            value,
        )
    if kind == "datetime":
        assert isinstance(value, datetime)
        return _shift(value, -_STEP) or _shift(value, -timedelta.resolution)
    if kind == "str":
        return None if value == "" else ""
    return None


def _above(kind: str, value: AttributeValue) -> AttributeValue | None:
    if kind == "number":
        assert isinstance(value, (int, float))
        return _first_strictly_between(
            [
                lambda: value + 1,
                lambda: math.nextafter(value, math.inf),
                lambda: math.ceil(value) + 1,
            ],
            value,
            math.inf,
        )
    if kind == "datetime":
        assert isinstance(value, datetime)
        return _shift(value, _STEP) or _shift(value, timedelta.resolution)
    assert isinstance(value, str)
    return value + "\uffff"


def _between(kind: str, lo: AttributeValue, hi: AttributeValue) -> AttributeValue | None:
    if kind == "number":
        assert isinstance(lo, (int, float))
        assert isinstance(hi, (int, float))
        candidates: list[Callable[[], int | float]] = [
            lambda: (lo + hi) / 2,
            lambda: math.nextafter(lo, math.inf),
            lambda: math.floor(lo) + 1,
        ]
        if isinstance(lo, int) and isinstance(hi, int):
            candidates.insert(0, lambda: lo + (hi - lo) // 2)
        # Values are ints or floats, so an interval with neither strictly inside is empty.
        return _first_strictly_between(candidates, lo, hi)
    if kind == "datetime":
        assert isinstance(lo, datetime)
        assert isinstance(hi, datetime)
        return _datetime_between(lo, hi)
    assert isinstance(lo, str)
    assert isinstance(hi, str)
    # lo + "\0" is the least string above lo, so the open interval is empty iff it is hi.
    middle = lo + "\0"
    return middle if middle < hi else None


def _first_strictly_between(
    candidates: list[Callable[[], int | float]], lo: float, hi: float
) -> int | float | None:
    for make in candidates:
        try:
            candidate = make()
        except OverflowError:
            # An int beyond the float range; a later, integer candidate covers it.
            continue
        finite = isinstance(candidate, int) or math.isfinite(candidate)
        if finite and lo < candidate < hi:
            return candidate
    return None


# -- search -------------------------------------------------------------------------------


def _search(a: Segment, b: Segment, now: datetime, chosen: _Assignment) -> _Assignment | None:
    if a == b:
        return None
    if isinstance(a, Constant) and isinstance(b, Constant):
        return dict(chosen)
    leaves = [*_leaves(a), *_leaves(b)]
    dimension = min(_dimension(leaf) for leaf in leaves)
    kind, name = dimension
    related = [leaf for leaf in leaves if _dimension(leaf) == dimension]
    options: list[object] = [False, True] if kind == "tag" else _representatives(name, related, now)
    for option in options:
        chosen[dimension] = option
        found = _search(
            _substitute(a, dimension, option, now),
            _substitute(b, dimension, option, now),
            now,
            chosen,
        )
        if found is not None:
            return found
    del chosen[dimension]
    return None


def _substitute(
    segment: Segment, dimension: tuple[str, str], option: object, now: datetime
) -> Segment:
    node = as_node(segment)
    match node:
        case And(children=children):
            return and_(*(_substitute(c, dimension, option, now) for c in children))
        case Or(children=children):
            return or_(*(_substitute(c, dimension, option, now) for c in children))
        case Not(child=child):
            return not_(_substitute(child, dimension, option, now))
        case Constant():
            return node
        case Tag() | Compare() | In() | Between() | Exists() | Within():
            if _dimension(node) != dimension:
                return node
            probe = _probe_follower(dimension, option)
            return EVERYONE if matches(node, probe, now=now) else NOBODY
        case _:
            assert_never(node)


def _probe_follower(dimension: tuple[str, str], option: object) -> Follower:
    return _build_follower({dimension: option}, _EPOCH)


def _build_follower(assignment: _Assignment, now: datetime) -> Follower:
    tags = {name for (kind, name), value in assignment.items() if kind == "tag" and value}
    fields: dict[str, object] = {}
    attributes: dict[str, AttributeValue] = {}
    for (kind, name), value in assignment.items():
        if kind != "attr" or value is _MISSING:
            continue
        if name in ("subscribe_time", "last_interaction_at", "openid", "unionid"):
            fields[name] = value
        else:
            attributes[name] = value  # type: ignore[assignment]
    return Follower(
        openid=fields.get("openid", "o-counterexample"),  # type: ignore[arg-type]
        subscribe_time=fields.get("subscribe_time", now),  # type: ignore[arg-type]
        tags=frozenset(tags),
        attributes=attributes,
        unionid=fields.get("unionid"),  # type: ignore[arg-type]
        last_interaction_at=fields.get("last_interaction_at"),  # type: ignore[arg-type]
    )
