"""What a write to the follower store did: an `ImportReport`."""

from __future__ import annotations

import attrs

__all__ = ["ImportReport", "RejectedRow"]


@attrs.frozen(slots=True)
class RejectedRow:
    """One refused input row: its number (1-based; CSV rows count the header) and why."""

    row: int
    reason: str


@attrs.frozen(slots=True)
class ImportReport:
    """Followers inserted and updated by one call, and the rows refused (then nothing changed).

    ``skipped``: openids an ``upsert(..., unless_changed_since=...)`` left alone because they
    were written after that position.
    """

    inserted: int = 0
    updated: int = 0
    rejected: tuple[RejectedRow, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the call was applied: no row was rejected."""
        return not self.rejected
