"""A two-column text table of counts, shared by the reports people read in a terminal."""

from __future__ import annotations

from collections.abc import Iterable


def count_table(title: str, rows: Iterable[tuple[str, int]], notes: Iterable[str] = ()) -> str:
    """``title``, then one ``label  count`` line per row (counts right-aligned), then notes."""
    listed = [(label, f"{count:,}") for label, count in rows]
    width = max([len(label) for label, _ in listed] + [len(title)])
    digits = max([len(count) for _, count in listed] + [1])
    lines = [title, "-" * (width + 2 + digits)]
    lines += [f"{label:<{width}}  {count:>{digits}}" for label, count in listed]
    lines += [f"! {note}" for note in notes]
    return "\n".join(lines)
