"""Explaining an audience: how many followers match each sub-expression."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from wxsegment._clock import ensure_aware
from wxsegment._model import Follower
from wxsegment.segment._evaluate import matches
from wxsegment.segment._nodes import And, Not, Or, Segment
from wxsegment.segment._render import render_shared

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
        out: list[str] = []
        self._write(indent, {}, out)
        return out

    def _write(self, indent: int, texts: dict[int, str], out: list[str]) -> None:
        # One shared table and one output list: rendering each node on its own, or joining the
        # children's lists at every level, costs time quadratic in the depth of the tree.
        width = len(f"{self.total:,}")
        text = render_shared(self.segment, texts)
        out.append(f"{self.matched:>{width},} / {self.total:,}  {'  ' * indent}{text}")
        for child in self.children:
            child._write(indent + 1, texts, out)

    def __str__(self) -> str:
        return "\n".join(self.lines())


_LEAF, _AND, _OR, _NOT = range(4)


def _kind(segment: Segment) -> int:
    if isinstance(segment, And):
        return _AND
    if isinstance(segment, Or):
        return _OR
    return _NOT if isinstance(segment, Not) else _LEAF


def _subtrees(segment: Segment, texts: dict[int, str]) -> tuple[Segment, ...]:
    if isinstance(segment, (And, Or)):
        return tuple(sorted(segment.children, key=lambda child: render_shared(child, texts)))
    if isinstance(segment, Not):
        return (segment.child,)
    return ()


def explain(segment: Segment, followers: Iterable[Follower], *, now: datetime) -> Explanation:
    """Count, over ``followers``, the matches of ``segment`` and of every sub-expression."""
    ensure_aware(now, "now")
    nodes: list[Segment] = []
    kids: list[list[int]] = []
    # Sorting each level by rendered text would otherwise render every sub-tree once per
    # ancestor: quadratic in the depth of the tree.
    texts: dict[int, str] = {}

    def collect(node: Segment) -> int:
        index = len(nodes)
        nodes.append(node)
        own: list[int] = []
        kids.append(own)
        own.extend(collect(child) for child in _subtrees(node, texts))
        return index

    collect(segment)
    # Children always come after their parent, so walking backwards settles every child before
    # its parent: each combinator then reuses its children's results instead of re-evaluating
    # its whole sub-tree, and each leaf is matched once per follower.
    kinds = [_kind(node) for node in nodes]
    bottom_up = range(len(nodes) - 1, -1, -1)
    counts = [0] * len(nodes)
    results = [False] * len(nodes)
    total = 0
    for follower in followers:
        total += 1
        for index in bottom_up:
            kind = kinds[index]
            if kind == _AND:
                hit = all(results[i] for i in kids[index])
            elif kind == _OR:
                hit = any(results[i] for i in kids[index])
            elif kind == _NOT:
                hit = not results[kids[index][0]]
            else:
                hit = matches(nodes[index], follower, now=now)
            results[index] = hit
            if hit:
                counts[index] += 1

    def build(index: int) -> Explanation:
        children = tuple(build(i) for i in kids[index])
        return Explanation(nodes[index], counts[index], total, children)

    return build(0)
