"""`MemoryLedger`: the ledger in process memory, for tests, simulations and single processes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

import attrs

from wxsegment.quota._types import (
    DEFAULT_ACCOUNT,
    MAX_PUSHES_PER_MONTH,
    PendingEntry,
    RefusalReason,
    Reservation,
    Transition,
    Usage,
)
from wxsegment.quota._validate import (
    check_account,
    check_at,
    check_id,
    check_limit,
    check_openids,
    check_optional_key,
)

__all__ = ["MemoryLedger", "MemoryStore"]


@attrs.define
class _Entry:
    month: str
    content_key: str | None
    reserved_at: datetime
    committed: bool


@attrs.define
class _AccountState:
    # campaign -> openid -> reservation
    campaigns: dict[str, dict[str, _Entry]] = attrs.Factory(dict)
    # (openid, month) -> [committed, pending]
    months: dict[tuple[str, str], list[int]] = attrs.Factory(dict)
    # (openid, content_key) -> live reservations carrying the key
    contents: dict[tuple[str, str], int] = attrs.Factory(dict)


class MemoryStore:
    """Shared state for `MemoryLedger` instances (one per account), guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._accounts: dict[str, _AccountState] = {}

    def account(self, name: str) -> _AccountState:
        """The state of one account, created on first use."""
        state = self._accounts.get(name)
        if state is None:
            state = self._accounts[name] = _AccountState()
        return state


class MemoryLedger:
    """A `QuotaLedger` held in memory; thread-safe; shares a `MemoryStore` when given one."""

    def __init__(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        limit: int = MAX_PUSHES_PER_MONTH,
        store: MemoryStore | None = None,
    ) -> None:
        self._account = check_account(account)
        self._limit = check_limit(limit)
        self._store = store or MemoryStore()
        self._state = self._store.account(self._account)

    def __repr__(self) -> str:
        return f"MemoryLedger(account={self._account!r}, limit={self._limit})"

    @property
    def account(self) -> str:
        """The service account this ledger counts for."""
        return self._account

    @property
    def limit(self) -> int:
        """Maximum committed + pending pushes per follower per month."""
        return self._limit

    def reserve(
        self,
        campaign: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Reservation:
        """Reserve one push of ``campaign`` for each follower (see `QuotaLedger.reserve`)."""
        check_id(campaign, "campaign")
        key = check_optional_key(content_key)
        at, month = check_at(at)
        targets = check_openids(openids) or []
        granted: list[str] = []
        already: list[str] = []
        refused: dict[str, RefusalReason] = {}
        limit = self._limit
        with self._store.lock:
            state = self._state
            booked = state.campaigns.setdefault(campaign, {})
            months = state.months
            contents = state.contents
            for openid in targets:
                if openid in booked:
                    already.append(openid)
                    continue
                if key is not None and contents.get((openid, key), 0) > 0:
                    refused[openid] = RefusalReason.DUPLICATE_CONTENT
                    continue
                counts = months.get((openid, month))
                if counts is None:
                    counts = months[(openid, month)] = [0, 0]
                elif counts[0] + counts[1] >= limit:
                    refused[openid] = RefusalReason.QUOTA_EXHAUSTED
                    continue
                counts[1] += 1
                if key is not None:
                    contents[(openid, key)] = contents.get((openid, key), 0) + 1
                booked[openid] = _Entry(month, key, at, False)
                granted.append(openid)
            if not booked:
                del state.campaigns[campaign]
        return Reservation(campaign, month, tuple(granted), tuple(already), refused)

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Mark pending reservations as sent (see `QuotaLedger.commit`)."""
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        done: list[str] = []
        already: list[str] = []
        missing: list[str] = []
        with self._store.lock:
            booked = self._state.campaigns.get(campaign, {})
            if targets is None:
                targets = sorted(o for o, e in booked.items() if not e.committed)
            for openid in targets:
                entry = booked.get(openid)
                if entry is None:
                    missing.append(openid)
                elif entry.committed:
                    already.append(openid)
                else:
                    entry.committed = True
                    counts = self._state.months[(openid, entry.month)]
                    counts[0] += 1
                    counts[1] -= 1
                    done.append(openid)
        return Transition(done=tuple(done), already=tuple(already), missing=tuple(missing))

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Drop pending reservations; committed ones are refused (see `QuotaLedger.release`)."""
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        done: list[str] = []
        missing: list[str] = []
        refused: list[str] = []
        with self._store.lock:
            state = self._state
            booked = state.campaigns.get(campaign, {})
            if targets is None:
                targets = sorted(o for o, e in booked.items() if not e.committed)
            for openid in targets:
                entry = booked.get(openid)
                if entry is None:
                    missing.append(openid)
                elif entry.committed:
                    refused.append(openid)
                else:
                    del booked[openid]
                    state.months[(openid, entry.month)][1] -= 1
                    if entry.content_key is not None:
                        self._forget_content(openid, entry.content_key)
                    done.append(openid)
            if campaign in state.campaigns and not booked:
                del state.campaigns[campaign]
        return Transition(done=tuple(done), missing=tuple(missing), refused=tuple(refused))

    def _forget_content(self, openid: str, key: str) -> None:
        contents = self._state.contents
        left = contents[(openid, key)] - 1
        if left:
            contents[(openid, key)] = left
        else:
            del contents[(openid, key)]

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        check_openids([openid])
        _, month = check_at(at)
        with self._store.lock:
            committed, pending = self._state.months.get((openid, month), (0, 0))
        return Usage(month, committed, pending, self._limit)

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Free slots of ``openid`` in the month of ``at``."""
        return self.usage(openid, at=at).remaining

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations ordered by campaign then openid."""
        if campaign is not None:
            check_id(campaign, "campaign")
        with self._store.lock:
            names = [campaign] if campaign is not None else sorted(self._state.campaigns)
            entries = [
                PendingEntry(name, openid, e.month, e.content_key, e.reserved_at)
                for name in names
                for openid, e in sorted(self._state.campaigns.get(name, {}).items())
                if not e.committed
            ]
        return iter(entries)

    def record_external(
        self,
        external_id: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Transition:
        """Count pushes made outside the library as committed (idempotent per external id)."""
        check_id(external_id, "external_id")
        key = check_optional_key(content_key)
        at, month = check_at(at)
        targets = check_openids(openids) or []
        done: list[str] = []
        already: list[str] = []
        with self._store.lock:
            state = self._state
            booked = state.campaigns.setdefault(external_id, {})
            for openid in targets:
                if openid in booked:
                    already.append(openid)
                    continue
                booked[openid] = _Entry(month, key, at, True)
                state.months.setdefault((openid, month), [0, 0])[0] += 1
                if key is not None:
                    state.contents[(openid, key)] = state.contents.get((openid, key), 0) + 1
                done.append(openid)
            if not booked:
                del state.campaigns[external_id]
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
