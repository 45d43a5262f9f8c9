"""Tests of segment nodes: construction, canonical form, equality and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    And,
    Compare,
    In,
    Not,
    Op,
    Or,
    Tag,
    and_,
    attr,
    not_,
    or_,
    tag,
)

A, B, C = tag("a"), tag("b"), tag("c")


def test_bool_of_segment_raises() -> None:
    """Using a segment in a boolean context is a TypeError with a hint."""
    with pytest.raises(TypeError, match="no truth value"):
        bool(A)
    both = A & B
    with pytest.raises(TypeError):
        assert not both


def test_operators_flatten_and_ignore_order() -> None:
    """& and | flatten nested trees and equality ignores child order."""
    assert (A & B) & C == A & (B & C) == C & B & A
    assert isinstance(A & B & C, And)
    assert len((A & B & C).children) == 3  # type: ignore[attr-defined]
    assert (A | B) == (B | A)
    assert hash(A | B) == hash(B | A)


def test_constants_fold() -> None:
    """Identity and annihilator constants fold away in the smart constructors."""
    assert A & EVERYONE == A
    assert A & NOBODY == NOBODY
    assert A | NOBODY == A
    assert A | EVERYONE == EVERYONE
    assert and_() == EVERYONE
    assert or_() == NOBODY
    assert ~EVERYONE == NOBODY
    assert not_(NOBODY) == EVERYONE


def test_duplicates_and_double_negation_fold() -> None:
    """Duplicate children collapse and ~~x is x."""
    assert A & A == A
    assert (A | B) | A == A | B
    assert ~~A == A
    assert isinstance(~A, Not)


def test_value_kinds_are_part_of_equality() -> None:
    """attr == 1 and attr == True are different segments; 1 and 1.0 are the same number."""
    assert (attr("x") == 1) != (attr("x") == True)  # noqa: E712
    assert (attr("x") == 1) == (attr("x") == 1.0)
    assert attr("x").isin([1, True]) == In("x", (True, 1))
    assert len(attr("x").isin([1, True, 1.0]).values) == 2  # type: ignore[attr-defined]


def test_non_canonical_trees_are_refused() -> None:
    """Direct construction of non-canonical trees is a ValueError pointing at and_/or_."""
    with pytest.raises(ValueError, match="at least two"):
        And(frozenset({A}))
    with pytest.raises(ValueError, match="flattened"):
        Or(frozenset({A, A | B}))
    with pytest.raises(ValueError, match="constant"):
        And(frozenset({A, EVERYONE}))
    with pytest.raises(ValueError, match="Not"):
        Not(Not(A))


def test_bad_predicates_are_refused() -> None:
    """Bad names and values raise clear ValueError/TypeError."""
    with pytest.raises(ValueError, match="identifier"):
        attr("two words")
    with pytest.raises(ValueError, match="reserved"):
        attr("and")
    with pytest.raises(ValueError, match="non-empty"):
        Tag("")
    with pytest.raises(ValueError, match="timezone-aware"):
        _ = attr("t") > datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        attr("t").before(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="finite"):
        _ = attr("spend") >= float("inf")
    with pytest.raises(TypeError, match="unsupported"):
        _ = attr("spend") >= [1]  # type: ignore[operator]
    with pytest.raises(ValueError, match="at least one"):
        attr("city").isin([])
    with pytest.raises(TypeError, match="single string"):
        attr("city").isin("杭州")
    with pytest.raises(ValueError, match="lo <= hi"):
        attr("spend").between(10, 1)
    with pytest.raises(ValueError, match="one kind"):
        attr("spend").between(1, "9")
    with pytest.raises(ValueError, match="positive"):
        attr("t").within(timedelta(0))
    with pytest.raises(ValueError, match="whole seconds"):
        attr("t").within(timedelta(seconds=1.5))
    with pytest.raises(TypeError, match="Segment"):
        A & True  # type: ignore[operator]


def test_before_after_are_strict_comparisons() -> None:
    """before/after build strict < and > comparisons."""
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert attr("t").before(at) == Compare("t", Op.LT, at)
    assert attr("t").after(at) == Compare("t", Op.GT, at)


def test_nodes_are_immutable() -> None:
    """Nodes are frozen."""
    with pytest.raises(AttributeError):
        A.name = "b"  # type: ignore[misc]
