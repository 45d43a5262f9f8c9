"""Tests of `normalize`, `equivalent`/`counterexample` and `explain`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    And,
    Constant,
    Not,
    Or,
    Segment,
    attr,
    counterexample,
    equivalent,
    explain,
    matches,
    normalize,
    tag,
)
from wxsegment.testing.strategies import DEFAULT_NOW, aware_datetimes, followers, segments

A, B, C = tag("a"), tag("b"), tag("c")
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
medium = segments(max_leaves=6)
nows = st.one_of(st.just(DEFAULT_NOW), aware_datetimes())


def _negations_only_on_predicates(segment: Segment) -> bool:
    if isinstance(segment, Not):
        return not isinstance(segment.child, (And, Or, Not, Constant))
    if isinstance(segment, (And, Or)):
        return all(_negations_only_on_predicates(c) for c in segment.children)
    return True


@given(segments())
def test_normalize_is_idempotent(segment: Segment) -> None:
    """normalize(normalize(s)) == normalize(s)."""
    once = normalize(segment)
    assert normalize(once) == once


@given(segments(), followers(), nows)
def test_normalize_keeps_meaning(segment: Segment, f: Follower, now: datetime) -> None:
    """A normalized segment matches exactly the same followers."""
    assert matches(normalize(segment), f, now=now) == matches(segment, f, now=now)


@given(segments())
def test_normalize_reaches_negation_normal_form(segment: Segment) -> None:
    """After normalize, not applies only to predicates."""
    assert _negations_only_on_predicates(normalize(segment))


def test_normalize_examples() -> None:
    """De Morgan, complements and absorption are applied."""
    assert normalize(~(A & B)) == ~A | ~B
    assert normalize(A & ~A) == NOBODY
    assert normalize((A | B) & ~(A | B)) == NOBODY
    assert normalize(A | ~A | B) == EVERYONE
    assert normalize(A & (A | B)) == A
    assert normalize(A | (A & B)) == A
    assert normalize((A | B) & (A | B | C)) == A | B
    assert normalize((A & B) | (A & B & C)) == A & B


@given(medium, medium)
def test_counterexample_really_distinguishes(a: Segment, b: Segment) -> None:
    """A returned counterexample makes the two segments disagree."""
    witness = counterexample(a, b)
    if witness is not None:
        assert matches(a, witness.follower, now=witness.now) != matches(
            b, witness.follower, now=witness.now
        )


@given(medium, medium, st.lists(followers(), max_size=8), nows)
def test_equivalent_agrees_with_evaluation(
    a: Segment, b: Segment, sample: list[Follower], now: datetime
) -> None:
    """When equivalent() says yes, no follower at any instant tells the segments apart."""
    if equivalent(a, b):
        for f in sample:
            assert matches(a, f, now=now) == matches(b, f, now=now)


@given(medium, medium, medium)
def test_equivalent_recognises_laws(a: Segment, b: Segment, c: Segment) -> None:
    """Distributivity, De Morgan and normalization are recognised as equivalences."""
    assert equivalent(a & (b | c), (a & b) | (a & c))
    assert equivalent(~(a | b), ~a & ~b)
    assert equivalent(normalize(a), a)


@given(medium)
def test_a_segment_differs_from_its_negation(a: Segment) -> None:
    """No segment is equivalent to its own negation."""
    assert not equivalent(a, ~a)


def test_equivalent_uses_the_theory_of_values() -> None:
    """Equivalences that need value reasoning, not just Boolean structure, are decided."""
    spend = attr("spend")
    assert equivalent(spend.between(10, 20), (spend >= 10) & (spend <= 20))
    assert equivalent(
        attr("city").isin(["杭州", "上海"]), (attr("city") == "杭州") | (attr("city") == "上海")
    )
    assert equivalent((spend < 10) | (spend >= 10), (spend >= 0) | (spend < 0))
    assert not equivalent((spend < 10) | (spend >= 10), spend.exists())
    assert equivalent(~(spend > 5) & (spend >= 0), spend.between(0, 5))
    assert not equivalent(spend > 5, spend >= 6)
    assert equivalent(attr("subscribe_time").exists(), EVERYONE)
    assert equivalent(attr("flag") == True, ~(attr("flag") == False) & attr("flag").isin([True]))  # noqa: E712


def test_equivalent_handles_relative_time() -> None:
    """within() is compared at every instant, against absolute bounds too."""
    t = attr("last_order_at")
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not equivalent(t.within(timedelta(days=30)), t.within(timedelta(days=31)))
    assert equivalent(
        t.within(timedelta(days=30)) | t.within(timedelta(days=31)), t.within(timedelta(days=31))
    )
    witness = counterexample(t.within(timedelta(days=30)), t.within(timedelta(days=30)) & (t > at))
    assert witness is not None
    assert matches(t.within(timedelta(days=30)), witness.follower, now=witness.now)


def test_explain_counts_every_subexpression() -> None:
    """explain() reports the matching count of the whole segment and of each part."""
    people = [
        Follower("o1", NOW, tags=["a"], attributes={"city": "杭州"}),
        Follower("o2", NOW, tags=["a", "b"], attributes={"city": "上海"}),
        Follower("o3", NOW, tags=["b"]),
    ]
    segment = A & ~(attr("city") == "上海")
    report = explain(segment, people, now=NOW)
    assert (report.matched, report.total) == (1, 3)
    counts = {child.segment: child.matched for child in report.children}
    assert counts == {A: 2, ~(attr("city") == "上海"): 2}
    negation = next(c for c in report.children if isinstance(c.segment, Not))
    assert negation.children[0].matched == 1
    text = str(report)
    assert "tag:a" in text
    assert text.splitlines()[0].startswith("1 / 3")
    assert report.share == 1 / 3


def test_explain_of_nobody_empty() -> None:
    """An empty follower list explains to zero counts without dividing by zero."""
    report = explain(A, [], now=NOW)
    assert (report.matched, report.total, report.share) == (0, 0, 0.0)


def test_equivalent_decides_within_longer_than_the_calendar() -> None:
    """A `within` reaching before year 1, alone or against a datetime constant, is decided."""
    forever = attr("t").within(timedelta(days=999_999_999))
    assert not equivalent(forever, attr("t").within(timedelta(days=1)))
    anchor = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert equivalent(forever & (attr("t") > anchor), forever & ~(attr("t") <= anchor))
    assert not equivalent(forever & (attr("t") > anchor), attr("t") > anchor)
    late = datetime(9999, 12, 31, tzinfo=timezone.utc)
    day = attr("t").within(timedelta(days=1))
    assert not equivalent(day & (attr("t") < late), attr("t") < late)


def test_equivalent_decides_integers_beyond_the_float_range() -> None:
    """Integer constants too large for a float neither raise nor hide a witness."""
    big = 10**400
    assert not equivalent(attr("x") > big, attr("x") > big + 5)
    assert equivalent(attr("x") > big, attr("x") >= big + 1)
    lowest = -1.7976931348623157e308
    everything = (attr("x") < 0) | (attr("x") >= 0)
    witness = counterexample(attr("x") >= lowest, everything)
    assert witness is not None
    assert matches(everything, witness.follower, now=witness.now)
    assert not matches(attr("x") >= lowest, witness.follower, now=witness.now)
    assert counterexample(attr("x") <= -lowest, everything) is not None


def test_equivalent_knows_tags_is_never_an_attribute() -> None:
    """A follower never has an attribute named "tags", so predicates on it match nobody."""
    assert equivalent(attr("tags").exists(), NOBODY)
    assert equivalent(~(attr("tags") == "vip") & A, A)
    assert not equivalent((attr("tags") == 1) | A, B)


def test_equivalent_finds_openids_below_the_smallest_constant() -> None:
    """An openid is never empty, but non-empty openids below a constant still exist."""
    below = attr("openid") < "a"
    assert matches(below, Follower("A", NOW), now=NOW)
    assert not equivalent(below, NOBODY)
    witness = counterexample(below, NOBODY)
    assert witness is not None
    assert matches(below, witness.follower, now=witness.now)
    assert equivalent(attr("openid") <= "", NOBODY)


def test_equivalent_finds_instants_near_the_ends_of_the_calendar() -> None:
    """Instants within a day of datetime.max/min, or past them in another offset, count."""
    utc = timezone.utc
    latest = datetime.max.replace(tzinfo=utc)
    earliest = datetime.min.replace(tzinfo=utc)
    for constant in (datetime(9999, 12, 31, 12, tzinfo=utc), latest):
        witness = counterexample(attr("t") > constant, NOBODY)
        assert witness is not None
        assert matches(attr("t") > constant, witness.follower, now=witness.now)
    for constant in (datetime(1, 1, 1, 12, tzinfo=utc), earliest):
        witness = counterexample(attr("t") < constant, NOBODY)
        assert witness is not None
        assert matches(attr("t") < constant, witness.follower, now=witness.now)
    far_west = timezone(timedelta.resolution - timedelta(hours=24))
    last_instant = datetime.max.replace(tzinfo=far_west)
    assert equivalent(attr("t") > last_instant, NOBODY)
