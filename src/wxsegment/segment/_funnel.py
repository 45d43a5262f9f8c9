"""The funnel of a conjunction: how the audience narrows as each condition is added."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import attrs

from wxsegment._clock import ensure_aware
from wxsegment._model import Follower
from wxsegment.segment._evaluate import matches
from wxsegment.segment._nodes import And, Segment
from wxsegment.segment._render import render

__all__ = ["Funnel", "FunnelStep", "funnel"]


@attrs.frozen
class FunnelStep:
    """One condition of the funnel and the followers left once it is added to those before."""

    segment: Segment
    remaining: int
    #: Followers this condition removed from those the earlier steps left.
    dropped: int
    #: Followers matching this condition on its own, over everyone.
    alone: int


@attrs.frozen
class Funnel:
    """Steps from everyone down to the whole segment; the last ``remaining`` is its count."""

    total: int
    steps: tuple[FunnelStep, ...]

    @property
    def matched(self) -> int:
        """Followers matching every condition (``total`` for a funnel of no steps)."""
        return self.steps[-1].remaining if self.steps else self.total

    def lines(self) -> list[str]:
        """The funnel as text lines: followers left, dropped by the step, and the condition."""
        width = len(f"{self.total:,}")
        out = [f"{self.total:>{width},}  everyone"]
        for step in self.steps:
            out.append(
                f"{step.remaining:>{width},}  and {render(step.segment)}"
                f"  (-{step.dropped:,}; {step.alone:,} alone)"
            )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def funnel(
    segment: Segment,
    followers: Iterable[Follower],
    *,
    now: datetime,
    order: Literal["narrowest", "canonical"] = "narrowest",
) -> Funnel:
    """Add ``segment``'s top-level conditions one at a time and count who is left after each.

    A segment that is not an ``and`` is a funnel of one step. ``order="narrowest"`` picks, at
    each step, the condition that leaves the fewest followers, so the biggest cuts come first;
    ``"canonical"`` keeps the rendered order. Explanations with `explain` count each
    sub-expression over everyone instead.
    """
    ensure_aware(now, "now")
    if order not in ("narrowest", "canonical"):
        raise ValueError(f"order must be 'narrowest' or 'canonical', got {order!r}")
    parts = sorted(segment.children, key=render) if isinstance(segment, And) else [segment]
    # One byte (0 or 1) per follower and condition, read as one big integer per condition: each
    # step is then an AND of two integers instead of re-matching everyone against every
    # condition chosen so far. (Setting bits in a growing int would be quadratic.)
    flags = [bytearray() for _ in parts]
    total = 0
    for follower in followers:
        total += 1
        for index, part in enumerate(parts):
            flags[index].append(1 if matches(part, follower, now=now) else 0)
    masks = [int.from_bytes(flag, "big") for flag in flags]
    left = int.from_bytes(b"\x01" * total, "big")
    todo = list(range(len(parts)))
    steps: list[FunnelStep] = []
    while todo:
        pick = (
            min(todo, key=lambda i: (left & masks[i]).bit_count())
            if order == "narrowest"
            else todo[0]
        )
        todo.remove(pick)
        narrowed = left & masks[pick]
        remaining = narrowed.bit_count()
        steps.append(
            FunnelStep(
                parts[pick], remaining, left.bit_count() - remaining, masks[pick].bit_count()
            )
        )
        left = narrowed
    return Funnel(total, tuple(steps))
