"""The delivery journal: each batch's fixed layout and attempt state, and a lease per campaign.

The ledger counts pushes; the journal remembers which followers went into which batch under
which ``clientmsgid``, in which month, and how far each batch got. `execute` writes a batch's
layout before its first send, so a resume sends exactly the stored members under the stored id
(D2), and it never releases a batch that once had an attempt with an unknown outcome (D3).

A lease (an owner token and an expiry) lets one run at a time settle a campaign (D4): every
journal write names the lease and fails with `LeaseLostError` once another run has taken it.
Backends: `MemoryJournal` here; SQLite, PostgreSQL and Redis in their own modules.
"""

from __future__ import annotations

import enum
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from wxsegment._clock import ensure_aware

__all__ = [
    "BatchRecord",
    "BatchState",
    "CampaignBusyError",
    "DeliveryJournal",
    "JournalConflictError",
    "Lease",
    "LeaseLostError",
    "MemoryJournal",
]


class BatchState(enum.Enum):
    """How far one stored batch got; the journal only ever moves it along the arrows below.

    ``FORMED -> ATTEMPTING -> ACCEPTED -> COMMITTED``, ``ATTEMPTING -> REFUSED`` (only on the
    batch's first attempt), ``FORMED -> VOID`` (never sent; its members may join new batches).
    """

    #: Layout stored, reservations held, never sent.
    FORMED = "formed"
    #: At least one send was started; until an answer proves otherwise, WeChat may have it.
    ATTEMPTING = "attempting"
    #: WeChat accepted the job (or answered 45065 for it); the ledger commit may still be due.
    ACCEPTED = "accepted"
    #: Accepted and committed in the ledger: finished.
    COMMITTED = "committed"
    #: WeChat definitely refused the only attempt: no job exists; the members were released.
    REFUSED = "refused"
    #: Retired before any send (its month ended); its id is never used.
    VOID = "void"


#: States whose members are (or may have been) pushed under the batch's id.
LIVE_STATES = frozenset({BatchState.FORMED, BatchState.ATTEMPTING, BatchState.ACCEPTED})

_ALLOWED = {
    (BatchState.FORMED, BatchState.ATTEMPTING),
    (BatchState.FORMED, BatchState.VOID),
    (BatchState.ATTEMPTING, BatchState.ATTEMPTING),
    (BatchState.ATTEMPTING, BatchState.ACCEPTED),
    (BatchState.ATTEMPTING, BatchState.REFUSED),
    (BatchState.ACCEPTED, BatchState.COMMITTED),
}


class CampaignBusyError(RuntimeError):
    """Another run holds the campaign's lease and it has not expired; nothing was written."""


class LeaseLostError(RuntimeError):
    """This run's lease was taken by another run; the run must stop before writing more."""


class JournalConflictError(RuntimeError):
    """A batch was not in the state the writer expected (or its index is already used)."""


@attrs.frozen
class Lease:
    """The right to settle one campaign: ``token`` fences every write, ``expires_at`` frees it."""

    campaign: str
    token: str = attrs.field(repr=False)
    expires_at: datetime


@attrs.frozen
class BatchRecord:
    """One batch as stored: fixed layout (index, id, members, month) and its attempt state.

    ``attempted_at`` is the first send's start; ``msg_id`` WeChat's job id once accepted.
    The repr counts members instead of listing them.
    """

    campaign: str
    index: int
    clientmsgid: str
    members: tuple[str, ...] = attrs.field(repr=lambda m: f"<{len(m)} openids>")
    month: str
    state: BatchState
    formed_at: datetime
    attempted_at: datetime | None = None
    msg_id: int | None = None


def check_transition(before: BatchState, after: BatchState) -> None:
    """Raise `JournalConflictError` unless ``before -> after`` is one of the allowed arrows."""
    if (before, after) not in _ALLOWED:
        raise JournalConflictError(f"a batch cannot move from {before.value} to {after.value}")


def new_token() -> str:
    """A fresh, unguessable lease token."""
    return secrets.token_hex(16)


def check_ttl(ttl: timedelta) -> timedelta:
    """A positive lease duration."""
    if not isinstance(ttl, timedelta):
        raise TypeError(f"ttl must be a timedelta, not {type(ttl).__name__}")
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl}")
    return ttl


@runtime_checkable
class DeliveryJournal(Protocol):
    """Durable batch layouts and per-campaign leases, shared by every run of a campaign.

    Writes (`add_batches`, `update`) are fenced: they fail with `LeaseLostError` unless the
    given lease is still the campaign's current one, checked atomically with the write.
    """

    @property
    def account(self) -> str:
        """The service account this journal belongs to (the ledger's ``account``)."""
        ...

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the campaign's lease until ``now + ttl``, or raise `CampaignBusyError`."""
        ...

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend a still-held lease to ``now + ttl``, or raise `LeaseLostError`."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still held (no error if it was lost)."""
        ...

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Every stored batch of the campaign, by index."""
        ...

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """Store new batches (state `BatchState.FORMED`); indexes must be unused."""
        ...

    def update(
        self,
        lease: Lease,
        campaign: str,
        index: int,
        *,
        expect: BatchState,
        state: BatchState,
        attempted_at: datetime | None = None,
        msg_id: int | None = None,
    ) -> None:
        """Move batch ``index`` from ``expect`` to ``state``; the first ``attempted_at`` sticks."""
        ...

    def forget(self, lease: Lease) -> int:
        """Drop the campaign's batches and its lease, if the lease is still held.

        Returns how many batches were dropped; raises `LeaseLostError` (dropping nothing) when
        the lease was lost. Use `forget_campaign`, which checks that nothing could need them.
        """
        ...

    def close(self) -> None:
        """Release connections held by the journal."""
        ...


def check_records(records: Sequence[BatchRecord], lease: Lease) -> list[BatchRecord]:
    """New batches of the lease's campaign, in state FORMED, with distinct indexes."""
    checked = list(records)
    for record in checked:
        if not isinstance(record, BatchRecord):
            raise TypeError(f"records must be BatchRecord, not {type(record).__name__}")
        if record.campaign != lease.campaign:
            raise ValueError("every record must belong to the lease's campaign")
        if record.state is not BatchState.FORMED:
            raise ValueError("new batches must be FORMED")
        ensure_aware(record.formed_at, "formed_at")
    if len({r.index for r in checked}) != len(checked):
        raise ValueError("batch indexes must be distinct")
    return checked


class MemoryJournal:
    """A `DeliveryJournal` in process memory (for tests, simulations and single processes)."""

    def __init__(self, *, account: str = "default") -> None:
        self._account = account
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, datetime]] = {}
        self._batches: dict[str, dict[int, BatchRecord]] = {}

    def __repr__(self) -> str:
        return f"MemoryJournal(account={self._account!r})"

    @property
    def account(self) -> str:
        """The service account this journal belongs to."""
        return self._account

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the campaign's lease until ``now + ttl``, or raise `CampaignBusyError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        with self._lock:
            held = self._leases.get(campaign)
            if held is not None and held[1] > now:
                raise CampaignBusyError(
                    f"campaign {campaign!r} is being delivered by another run until "
                    f"{held[1].isoformat()}"
                )
            token = new_token()
            self._leases[campaign] = (token, now + ttl)
        return Lease(campaign, token, now + ttl)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend a still-held lease to ``now + ttl``, or raise `LeaseLostError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        with self._lock:
            self._check(lease)
            self._leases[lease.campaign] = (lease.token, now + ttl)
        return Lease(lease.campaign, lease.token, now + ttl)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still held."""
        with self._lock:
            held = self._leases.get(lease.campaign)
            if held is not None and held[0] == lease.token:
                del self._leases[lease.campaign]

    def _check(self, lease: Lease) -> None:
        held = self._leases.get(lease.campaign)
        if held is None or held[0] != lease.token:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Every stored batch of the campaign, by index."""
        with self._lock:
            stored = self._batches.get(campaign, {})
            return [stored[i] for i in sorted(stored)]

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """Store new batches; indexes must be unused."""
        checked = check_records(records, lease)
        with self._lock:
            self._check(lease)
            stored = self._batches.setdefault(lease.campaign, {})
            taken = [r.index for r in checked if r.index in stored]
            if taken:
                raise JournalConflictError(f"batch indexes already used: {taken[:5]}")
            for record in checked:
                stored[record.index] = record

    def update(
        self,
        lease: Lease,
        campaign: str,
        index: int,
        *,
        expect: BatchState,
        state: BatchState,
        attempted_at: datetime | None = None,
        msg_id: int | None = None,
    ) -> None:
        """Move batch ``index`` from ``expect`` to ``state``; the first ``attempted_at`` sticks."""
        check_transition(expect, state)
        if attempted_at is not None:
            ensure_aware(attempted_at, "attempted_at")
        with self._lock:
            self._check(lease)
            if campaign != lease.campaign:
                raise ValueError("the lease belongs to another campaign")
            record = self._batches.get(campaign, {}).get(index)
            if record is None or record.state is not expect:
                found = "missing" if record is None else record.state.value
                raise JournalConflictError(
                    f"batch {index} of {campaign!r} is {found}, not {expect.value}"
                )
            self._batches[campaign][index] = attrs.evolve(
                record,
                state=state,
                attempted_at=record.attempted_at or attempted_at,
                msg_id=record.msg_id if msg_id is None else msg_id,
            )

    def forget(self, lease: Lease) -> int:
        """Drop the campaign's batches and its lease, if the lease is still held."""
        with self._lock:
            self._check(lease)
            dropped = self._batches.pop(lease.campaign, {})
            del self._leases[lease.campaign]
        return len(dropped)

    def close(self) -> None:
        """Nothing to release."""
