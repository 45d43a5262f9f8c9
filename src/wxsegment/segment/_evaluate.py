"""The reference semantics: `matches` decides one follower against one segment.

Every other evaluator (bitmap index, SQL) must agree with this function on every input.
"""

from __future__ import annotations

from datetime import datetime

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue, Follower, value_kind
from wxsegment._typing import assert_never
from wxsegment.segment._nodes import (
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Op,
    Or,
    Segment,
    Tag,
    Within,
    as_node,
)

__all__ = ["compare_values", "matches"]


def compare_values(left: AttributeValue | None, op: Op, right: AttributeValue) -> bool:
    """``left op right`` under segment rules: false if ``left`` is missing or of another kind."""
    if left is None or value_kind(left) != value_kind(right):
        return False
    match op:
        case Op.EQ:
            return left == right
        case Op.NE:
            return left != right
        case Op.LT:
            return left < right  # type: ignore[operator]
        case Op.LE:
            return left <= right  # type: ignore[operator]
        case Op.GT:
            return left > right  # type: ignore[operator]
        case Op.GE:
            return left >= right  # type: ignore[operator]
        case _:
            assert_never(op)


def matches(segment: Segment, follower: Follower, *, now: datetime) -> bool:
    """Whether ``follower`` belongs to ``segment`` at instant ``now`` (timezone-aware)."""
    ensure_aware(now, "now")
    return _matches(segment, follower, now)


def _matches(segment: Segment, follower: Follower, now: datetime) -> bool:
    node = as_node(segment)
    match node:
        case Constant(value=truth):
            return truth
        case Tag(name=name):
            return name in follower.tags
        case Compare(attr=name, op=op, value=constant):
            return compare_values(follower.value(name), op, constant)
        case In(attr=name, values=values):
            value = follower.value(name)
            if value is None:
                return False
            kind = value_kind(value)
            return any(value_kind(v) == kind and v == value for v in values)
        case Between(attr=name, lo=lo, hi=hi):
            value = follower.value(name)
            return compare_values(value, Op.GE, lo) and compare_values(value, Op.LE, hi)
        case Exists(attr=name):
            return follower.value(name) is not None
        case Within(attr=name, duration=duration):
            value = follower.value(name)
            # Subtracting the two instants cannot overflow, unlike ``now - duration``.
            return isinstance(value, datetime) and value <= now and now - value <= duration
        case And(children=children):
            return all(_matches(child, follower, now) for child in children)
        case Or(children=children):
            return any(_matches(child, follower, now) for child in children)
        case Not(child=child):
            return not _matches(child, follower, now)
        case _:
            assert_never(node)
