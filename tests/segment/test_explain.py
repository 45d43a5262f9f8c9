"""Tests of `explain`: every node's count against `matches`, on random, wide and deep trees."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import (
    And,
    Explanation,
    Not,
    Or,
    Segment,
    and_,
    explain,
    matches,
    or_,
    render,
    tag,
)
from wxsegment.segment._render import render_shared
from wxsegment.testing.strategies import DEFAULT_NOW, followers, segments

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _expected_children(segment: Segment) -> list[Segment]:
    if isinstance(segment, (And, Or)):
        return sorted(segment.children, key=render)
    if isinstance(segment, Not):
        return [segment.child]
    return []


def _check(node: Explanation, people: Sequence[Follower], now: datetime) -> int:
    """Assert one node and its sub-tree against `matches`; return how many nodes were seen."""
    assert node.total == len(people)
    assert node.matched == sum(matches(node.segment, f, now=now) for f in people)
    assert [child.segment for child in node.children] == _expected_children(node.segment)
    return 1 + sum(_check(child, people, now) for child in node.children)


def _preorder(node: Explanation, depth: int) -> list[tuple[Explanation, int]]:
    return [(node, depth), *(p for child in node.children for p in _preorder(child, depth + 1))]


@given(segments(max_leaves=8), st.lists(followers(), max_size=6))
def test_explain_agrees_with_matches_on_every_node(
    segment: Segment, people: list[Follower]
) -> None:
    """Each node's count is its `matches` count; children in rendered order; one line per node."""
    report = explain(segment, people, now=DEFAULT_NOW)
    assert report.segment == segment
    nodes = _check(report, people, DEFAULT_NOW)
    lines = report.lines()
    assert len(lines) == nodes
    width = len(f"{len(people):,}")
    expected = [
        f"{node.matched:>{width},} / {len(people):,}  {'  ' * depth}{render(node.segment)}"
        for node, depth in _preorder(report, 0)
    ]
    assert lines == expected
    assert str(report) == "\n".join(expected)


def _subtrees_top_down(segment: Segment) -> list[Segment]:
    return [
        segment,
        *(s for child in _expected_children(segment) for s in _subtrees_top_down(child)),
    ]


@given(segments(max_leaves=8))
def test_shared_rendering_agrees_with_render(segment: Segment) -> None:
    """Rendering every sub-tree through one shared table gives `render`'s text for each."""
    texts: dict[int, str] = {}
    for part in _subtrees_top_down(segment):
        assert render_shared(part, texts) == render(part)
    assert all(render_shared(part, texts) == render(part) for part in _subtrees_top_down(segment))


def test_explain_of_a_wide_or() -> None:
    """A 2,000-child `or` explains to 2,000 children, each counted as `matches` counts it."""
    width = 2000
    segment = or_(*(tag(f"t{i}") for i in range(width)))
    people = [
        Follower(f"o{j}", NOW, tags=[f"t{(j * 97) % (2 * width)}", f"t{j}"]) for j in range(40)
    ]
    report = explain(segment, people, now=NOW)
    assert len(report.children) == width
    assert [c.segment for c in report.children] == sorted(
        (tag(f"t{i}") for i in range(width)), key=render
    )
    for child in report.children:
        assert child.children == ()
        assert child.matched == sum(matches(child.segment, f, now=NOW) for f in people)
    assert report.matched == sum(matches(segment, f, now=NOW) for f in people)
    assert sum(c.matched for c in report.children) == sum(
        len({t for t in f.tags if int(t[1:]) < width}) for f in people
    )
    assert len(report.lines()) == width + 1


def test_explain_of_a_deep_alternating_tree() -> None:
    """Nested `and`/`or`/`not` two hundred levels deep: every level counted as `matches` does."""
    segment: Segment = tag("t0")
    for level in range(1, 200):
        part = tag(f"t{level}")
        segment = and_(~segment, part) if level % 2 else or_(segment, part)
    people = [
        Follower(f"o{j}", NOW, tags=[f"t{k}" for k in range(j % 7, 200, 3)]) for j in range(9)
    ]
    report = explain(segment, people, now=NOW)
    assert _check(report, people, NOW) == len(report.lines())
