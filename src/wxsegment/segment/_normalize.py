"""Normalization: negation normal form, complements and absorption, to a fixpoint.

`normalize` rewrites a segment into an equivalent one in which ``not`` applies only to
predicates, ``x & ~x`` and ``x | ~x`` are folded, and absorbed children are dropped
(``a & (a | b)`` is ``a``). Flattening, deduplication and constant folding come from the smart
constructors. The rewrite repeats until nothing changes, so ``normalize`` is idempotent.
"""

from __future__ import annotations

from wxsegment._typing import assert_never
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

__all__ = ["normalize", "to_nnf"]


def to_nnf(segment: Segment) -> Segment:
    """Push every negation down to the predicates (De Morgan), keeping meaning."""
    return _nnf(segment, negate=False)


def _nnf(segment: Segment, *, negate: bool) -> Segment:
    node = as_node(segment)
    match node:
        case Constant() | Tag() | Compare() | In() | Between() | Exists() | Within():
            return not_(node) if negate else node
        case Not(child=child):
            return _nnf(child, negate=not negate)
        case And(children=children):
            parts = [_nnf(c, negate=negate) for c in children]
            return or_(*parts) if negate else and_(*parts)
        case Or(children=children):
            parts = [_nnf(c, negate=negate) for c in children]
            return and_(*parts) if negate else or_(*parts)
        case _:
            assert_never(node)


def _simplify(segment: Segment) -> Segment:
    node = as_node(segment)
    if isinstance(node, (And, Or)):
        children = [_simplify(c) for c in node.children]
        combine = and_ if isinstance(node, And) else or_
        rebuilt = combine(*children)
        if isinstance(rebuilt, (And, Or)):
            return _fold_group(rebuilt)
        return rebuilt
    return node


def _fold_group(node: And | Or) -> Segment:
    """Fold complements, resolve and absorb the children of one flattened ``and``/``or``."""
    is_and = isinstance(node, And)
    annihilator = NOBODY if is_and else EVERYONE
    children = node.children
    for child in children:
        if not_(child) in children:
            return annihilator
    dual = Or if is_and else And
    combine_dual = or_ if is_and else and_
    # A dual child loses members whose negation is a sibling: a & (~a | b) is a & b, and
    # a | (~a & b) is a | b.
    children = frozenset(
        combine_dual(*(g for g in child.children if not_(g) not in children))
        if isinstance(child, dual)
        else child
        for child in children
    )
    # A child absorbs a dual child whose own children include it (or all of its children):
    # a & (a | b) is a, and (a | b) & (a | b | c) is a | b.
    kept = []
    combine = and_ if is_and else or_
    if any(isinstance(child, (Constant, type(node))) for child in children):
        return combine(*children)
    for child in children:
        if isinstance(child, dual) and any(
            other is not child and _implies_member(other, child, dual) for other in children
        ):
            continue
        kept.append(child)
    return combine(*kept)


def _implies_member(other: Segment, group: And | Or, dual: type[And] | type[Or]) -> bool:
    if isinstance(other, dual):
        return other.children < group.children
    return other in group.children


def normalize(segment: Segment) -> Segment:
    """An equivalent segment in negation normal form with complements and absorption folded.

    Idempotent: ``normalize(normalize(s)) == normalize(s)``.
    """
    current = to_nnf(segment)
    while True:
        simpler = _simplify(current)
        if simpler == current:
            return current
        current = simpler
