"""What every ledger backend shares: its binding, result assembly and chunking.

Backends differ in how they decide; they agree on what the answers look like. Each backend
reports, per chunk, only the followers that were *not* simply granted (positions from 0 mapped
to `ALREADY` or a `RefusalReason`), and settles with one `_settle` returning the followers
moved, already committed and missing, from which `commit` and `release` build their answers.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Final, Literal, TypeVar

from wxsegment.quota._types import RefusalReason, Reservation, Transition, Usage
from wxsegment.quota._validate import check_account, check_limit

__all__ = [
    "ALREADY",
    "LedgerBase",
    "Outcome",
    "ReserveTally",
    "chunks",
    "scanned_usages",
    "shared_usages",
]

_S = TypeVar("_S")

#: The outcome of a follower this campaign already held a reservation for.
ALREADY: Final = "already"

#: A follower's outcome other than a plain grant.
Outcome = Literal["already"] | RefusalReason


def shared_usages(
    listed: Sequence[str], found: Mapping[str, tuple[int, int]], month: str, limit: int
) -> dict[str, Usage]:
    """`usage_many`'s answer, in ``listed`` order, from the (committed, pending) rows found.

    Usage is frozen, so followers with the same counts share one instance: a month has a
    handful of distinct counts, and a million followers then cost no million objects.
    """
    distinct = {counts: Usage(month, *counts, limit) for counts in set(found.values())}
    out = dict.fromkeys(listed, Usage(month, 0, 0, limit))
    out.update(zip(found.keys(), map(distinct.__getitem__, found.values()), strict=True))
    return out


def scanned_usages(
    openids: Sequence[str], counts: Sequence[tuple[int | str, int | str]], month: str, limit: int
) -> dict[str, Usage]:
    """`ScanningLedger.month_usage`'s answer from parallel openids and (committed, pending).

    Counts may arrive as text (a scan's compact reply); each distinct pair is converted once
    and its `Usage` shared, as in `shared_usages`.
    """
    distinct = {pair: Usage(month, int(pair[0]), int(pair[1]), limit) for pair in set(counts)}
    return dict(zip(openids, map(distinct.__getitem__, counts), strict=True))


def chunks(items: Sequence[_S], size: int) -> Iterator[Sequence[_S]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ReserveTally:
    """The granted, already-held and refused followers of one reserve call, in input order."""

    def __init__(self) -> None:
        self.granted: list[str] = []
        self.already: list[str] = []
        self.refused: dict[str, RefusalReason] = {}

    def add(self, chunk: Sequence[str], exceptions: Mapping[int, Outcome]) -> None:
        """Record a decided chunk: followers absent from ``exceptions`` were granted."""
        if not exceptions:
            self.granted.extend(chunk)
            return
        for position, openid in enumerate(chunk):
            outcome = exceptions.get(position)
            if outcome is None:
                self.granted.append(openid)
            elif outcome == ALREADY:
                self.already.append(openid)
            else:
                self.refused[openid] = outcome

    def result(self, campaign: str, month: str) -> Reservation:
        """The `Reservation` the call returns."""
        return Reservation(campaign, month, tuple(self.granted), tuple(self.already), self.refused)


class LedgerBase(abc.ABC):
    """The account and limit a ledger is bound to, and the methods built on a backend's own."""

    def __init__(self, account: str, limit: int) -> None:
        self._account = check_account(account)
        self._limit = check_limit(limit)

    @property
    def account(self) -> str:
        """The service account this ledger counts for."""
        return self._account

    @property
    def limit(self) -> int:
        """Maximum committed + pending pushes per follower per month."""
        return self._limit

    @abc.abstractmethod
    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""

    @abc.abstractmethod
    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[Sequence[str], Sequence[str], Sequence[str]]:
        """Commit or release; (moved, already committed, missing), each in order."""

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Free slots of ``openid`` in the month of ``at``."""
        return self.usage(openid, at=at).remaining

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Mark pending reservations as sent (see `QuotaLedger.commit`)."""
        done, already, missing = self._settle(campaign, openids, commit=True)
        return Transition(done=tuple(done), already=tuple(already), missing=tuple(missing))

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Drop pending reservations; committed ones are refused (see `QuotaLedger.release`)."""
        done, refused, missing = self._settle(campaign, openids, commit=False)
        return Transition(done=tuple(done), missing=tuple(missing), refused=tuple(refused))
