"""Explaining an audience: how many followers match each sub-expression."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from wxsegment._clock import ensure_aware
from wxsegment._model import Follower
from wxsegment.segment._evaluate import matches
from wxsegment.segment._nodes import And, Not, Or, Segment
from wxsegment.segment._render import render

__all__ = ["Explanation", "explain"]


@attrs.frozen
class Explanation:
    """The matching count of one sub-expression, with its children's explanations.

    Children of ``and``/``or`` are listed in canonical (rendered) order.
    """

    segment: Segment
    matched: int
    total: int
    children: tuple[Explanation, ...] = ()

    @property
    def share(self) -> float:
        """Matched followers as a fraction of all followers (0.0 when there are none)."""
        return self.matched / self.total if self.total else 0.0

    def lines(self, indent: int = 0) -> list[str]:
        """The explanation as indented text lines, one per sub-expression."""
        width = len(f"{self.total:,}")
        head = f"{self.matched:>{width},} / {self.total:,}  {'  ' * indent}{render(self.segment)}"
        return [head, *(line for child in self.children for line in child.lines(indent + 1))]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _subtrees(segment: Segment) -> tuple[Segment, ...]:
    if isinstance(segment, (And, Or)):
        return tuple(sorted(segment.children, key=render))
    if isinstance(segment, Not):
        return (segment.child,)
    return ()


def explain(segment: Segment, followers: Iterable[Follower], *, now: datetime) -> Explanation:
    """Count, over ``followers``, the matches of ``segment`` and of every sub-expression."""
    ensure_aware(now, "now")
    nodes: list[Segment] = []
    parents: list[int] = []

    def collect(node: Segment, parent: int) -> None:
        index = len(nodes)
        nodes.append(node)
        parents.append(parent)
        for child in _subtrees(node):
            collect(child, index)

    collect(segment, -1)
    counts = [0] * len(nodes)
    total = 0
    for follower in followers:
        total += 1
        for index, node in enumerate(nodes):
            if matches(node, follower, now=now):
                counts[index] += 1

    def build(index: int) -> Explanation:
        children = tuple(build(i) for i, p in enumerate(parents) if p == index)
        return Explanation(nodes[index], counts[index], total, children)

    return build(0)
