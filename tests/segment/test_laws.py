"""Property tests: Boolean-algebra laws hold under `matches` for random segments and followers."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import EVERYONE, NOBODY, Segment, and_, matches, not_, or_
from wxsegment.testing.strategies import DEFAULT_NOW, aware_datetimes, followers, segments

small = segments(max_leaves=5)
nows = st.one_of(st.just(DEFAULT_NOW), aware_datetimes())


def same(left: Segment, right: Segment, follower: Follower, now: datetime) -> bool:
    return matches(left, follower, now=now) == matches(right, follower, now=now)


@given(small, small, followers(), nows)
def test_de_morgan(a: Segment, b: Segment, f: Follower, now: datetime) -> None:
    """~(a & b) == ~a | ~b and ~(a | b) == ~a & ~b."""
    assert same(~(a & b), ~a | ~b, f, now)
    assert same(~(a | b), ~a & ~b, f, now)


@given(small, small, small, followers(), nows)
def test_distributivity(a: Segment, b: Segment, c: Segment, f: Follower, now: datetime) -> None:
    """& distributes over | and | over &."""
    assert same(a & (b | c), (a & b) | (a & c), f, now)
    assert same(a | (b & c), (a | b) & (a | c), f, now)


@given(small, small, followers(), nows)
def test_absorption(a: Segment, b: Segment, f: Follower, now: datetime) -> None:
    """a & (a | b) == a and a | (a & b) == a."""
    assert same(a & (a | b), a, f, now)
    assert same(a | (a & b), a, f, now)


@given(small, followers(), nows)
def test_double_negation_complement_identity_annihilator(
    a: Segment, f: Follower, now: datetime
) -> None:
    """~~a == a; a & ~a is nobody; a | ~a is everyone; identities and annihilators."""
    assert same(~~a, a, f, now)
    assert not matches(a & ~a, f, now=now)
    assert matches(a | ~a, f, now=now)
    assert same(a & EVERYONE, a, f, now)
    assert same(a | NOBODY, a, f, now)
    assert not matches(a & NOBODY, f, now=now)
    assert matches(a | EVERYONE, f, now=now)


@given(small, small, small, followers(), nows)
def test_commutativity_associativity_idempotence(
    a: Segment, b: Segment, c: Segment, f: Follower, now: datetime
) -> None:
    """Order and grouping of & and | do not matter, and x & x == x | x == x."""
    assert a & b == b & a
    assert a | b == b | a
    assert (a & b) & c == a & (b & c)
    assert (a | b) | c == a | (b | c)
    assert a & a == a
    assert a | a == a
    assert same(a & b, b & a, f, now)


@given(st.lists(small, max_size=4), followers(), nows)
def test_smart_constructors_keep_meaning(parts: list[Segment], f: Follower, now: datetime) -> None:
    """and_/or_/not_ fold without changing what a follower matches."""
    assert matches(and_(*parts), f, now=now) == all(matches(p, f, now=now) for p in parts)
    assert matches(or_(*parts), f, now=now) == any(matches(p, f, now=now) for p in parts)
    for part in parts:
        assert matches(not_(part), f, now=now) != matches(part, f, now=now)


@given(segments(), segments())
def test_nodes_hash_consistently_with_equality(a: Segment, b: Segment) -> None:
    """Equal segments hash equally; a segment equals a copy of itself."""
    if a == b:
        assert hash(a) == hash(b)
    assert a == and_(a)
