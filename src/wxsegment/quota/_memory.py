"""`MemoryLedger`: the ledger in process memory, for tests, simulations and single processes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import compress, repeat
from operator import not_

import attrs

from wxsegment.quota._base import LedgerBase
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
    check_at,
    check_batch,
    check_id,
    check_keys,
    check_many,
    check_openids,
)

__all__ = ["MemoryLedger", "MemoryStore"]


@attrs.frozen
class _Grant:
    """What one reserve or record_external call gave all its followers (shared, immutable)."""

    month: str
    content_key: str | None
    reserved_at: datetime


@attrs.define
class _Campaign:
    pending: dict[str, _Grant] = attrs.Factory(dict)
    committed: dict[str, _Grant] = attrs.Factory(dict)


@attrs.define
class _AccountState:
    campaigns: dict[str, _Campaign] = attrs.Factory(dict)
    # month -> openid -> (committed + pending) + pending * _PENDING (no zeros kept): one
    # packed int, so a grant is one lookup and one store per follower.
    counts: dict[str, dict[str, int]] = attrs.Factory(dict)
    # content key -> openid -> live reservations carrying the key (no zeros kept)
    contents: dict[str, dict[str, int]] = attrs.Factory(dict)


#: The packed-count unit of one pending push; the low bits count committed + pending.
_PENDING = 1 << 24
_TOTAL_MASK = _PENDING - 1
_total_of = _TOTAL_MASK.__and__
_plus_one = (1).__add__
_plus_grant = (1 + _PENDING).__add__


def _drop(counts: dict[str, int], openid: str, step: int = 1) -> None:
    left = counts[openid] - step
    if left:
        counts[openid] = left
    else:
        del counts[openid]


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


class MemoryLedger(LedgerBase):
    """A `QuotaLedger` held in memory; thread-safe; shares a `MemoryStore` when given one."""

    def __init__(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        limit: int = MAX_PUSHES_PER_MONTH,
        store: MemoryStore | None = None,
    ) -> None:
        super().__init__(account, limit)
        self._store = store or MemoryStore()
        self._state = self._store.account(self._account)

    def __repr__(self) -> str:
        return f"MemoryLedger(account={self._account!r}, limit={self._limit})"

    def reserve(
        self,
        campaign: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Reservation:
        """Reserve one push of ``campaign`` for each follower (see `QuotaLedger.reserve`)."""
        key, at, month, targets = check_batch(campaign, "campaign", openids, at, content_key)
        already: list[str] = []
        limit = self._limit
        grant = _Grant(month, key, at)
        duplicate = RefusalReason.DUPLICATE_CONTENT
        over = RefusalReason.QUOTA_EXHAUSTED
        with self._store.lock:
            state = self._state
            booked = state.campaigns.get(campaign) or _Campaign()
            pending, committed = booked.pending, booked.committed
            counts = state.counts.setdefault(month, {})
            held = state.contents.setdefault(key, {}) if key is not None else {}
            # Each step below is one pass at C speed (map, compress, dict.update): a batch
            # costs a few hash lookups per follower and no Python-level loop in the common case.
            rest = targets
            if pending or committed:
                already = [o for o in rest if o in pending or o in committed]
                if already:
                    rest = [o for o in rest if not (o in pending or o in committed)]
            duplicates: list[str] = []
            if held:
                duplicates = [o for o in rest if o in held]
                if duplicates:
                    rest = [o for o in rest if o not in held]
            packed = list(map(counts.get, rest, repeat(0)))
            free = list(map(limit.__gt__, map(_total_of, packed)))
            granted = list(compress(rest, free))
            exhausted = list(compress(rest, map(not_, free)))
            counts.update(zip(granted, map(_plus_grant, compress(packed, free)), strict=True))
            if pending:
                pending.update(dict.fromkeys(granted, grant))
            else:
                booked.pending = pending = dict.fromkeys(granted, grant)
            if key is not None:
                more = map(_plus_one, map(held.get, granted, repeat(0)))
                held.update(zip(granted, more, strict=True))
            if granted:
                state.campaigns[campaign] = booked
        if duplicates and exhausted:
            reasons = {**dict.fromkeys(duplicates, duplicate), **dict.fromkeys(exhausted, over)}
            refused = {o: reasons[o] for o in targets if o in reasons}
        else:
            refused = {**dict.fromkeys(duplicates, duplicate), **dict.fromkeys(exhausted, over)}
        return Reservation(campaign, month, tuple(granted), tuple(already), refused)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[list[str], list[str], list[str]]:
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        moved: list[str] = []
        settled: list[str] = []
        missing: list[str] = []
        with self._store.lock:
            state = self._state
            booked = state.campaigns.get(campaign) or _Campaign()
            pending, committed = booked.pending, booked.committed
            if targets is None:
                targets = sorted(pending)
            for openid in targets:
                grant = pending.pop(openid, None)
                if grant is None:
                    (settled if openid in committed else missing).append(openid)
                    continue
                if commit:
                    committed[openid] = grant
                    state.counts[grant.month][openid] -= _PENDING
                else:
                    _drop(state.counts[grant.month], openid, 1 + _PENDING)
                    if grant.content_key is not None:
                        _drop(state.contents[grant.content_key], openid)
                moved.append(openid)
            if campaign in state.campaigns and not pending and not committed:
                del state.campaigns[campaign]
        return moved, settled, missing

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        check_openids([openid])
        _, month = check_at(at)
        with self._store.lock:
            packed = self._state.counts.get(month, {}).get(openid, 0)
        total, pending = packed & _TOTAL_MASK, packed // _PENDING
        return Usage(month, total - pending, pending, self._limit)

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """`usage` of many followers at once."""
        listed = check_many(openids)
        _, month = check_at(at)
        limit = self._limit
        with self._store.lock:
            counts = self._state.counts.get(month, {})
            packed = [counts.get(openid, 0) for openid in listed]
        # Usage is frozen: followers with the same counts share one (few distinct values).
        distinct = {
            p: Usage(month, (p & _TOTAL_MASK) - p // _PENDING, p // _PENDING, limit)
            for p in set(packed)
        }
        return dict(zip(listed, map(distinct.__getitem__, packed), strict=True))

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Which of ``content_keys`` each follower holds; followers holding none left out."""
        listed = check_many(openids)
        keys = check_keys(content_keys)
        held: dict[str, set[str]] = {}
        wanted = set(listed) if keys else set()
        with self._store.lock:
            for key in keys:
                holders = self._state.contents.get(key, {})
                # Walk the smaller side: a key's holders are often far fewer than the crowd.
                if len(holders) < len(wanted):
                    found = [o for o, live in holders.items() if live and o in wanted]
                else:
                    found = [o for o in listed if holders.get(o)]
                for openid in found:
                    held.setdefault(openid, set()).add(key)
        return {openid: frozenset(keys) for openid, keys in held.items()}

    def month_usage(self, *, at: datetime) -> Mapping[str, Usage]:
        """Every follower with pushes in the month of ``at`` (see `ScanningLedger`)."""
        _, month = check_at(at)
        with self._store.lock:
            packed = dict(self._state.counts.get(month, {}))
        limit = self._limit
        distinct = {
            p: Usage(month, (p & _TOTAL_MASK) - p // _PENDING, p // _PENDING, limit)
            for p in set(packed.values())
        }
        return dict(zip(packed, map(distinct.__getitem__, packed.values()), strict=True))

    def content_holders(self, content_keys: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """The followers holding each content key (see `ScanningLedger`)."""
        keys = check_keys(content_keys)
        with self._store.lock:
            contents = self._state.contents
            # `_drop` deletes a count at zero, so every follower listed holds the key.
            return {key: frozenset(contents.get(key, ())) for key in keys}

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations ordered by campaign then openid."""
        if campaign is not None:
            check_id(campaign, "campaign")
        with self._store.lock:
            campaigns = self._state.campaigns
            names = [campaign] if campaign is not None else sorted(campaigns)
            entries = [
                PendingEntry(name, openid, g.month, g.content_key, g.reserved_at)
                for name in names
                for openid, g in sorted(campaigns.get(name, _Campaign()).pending.items())
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
        key, at, month, targets = check_batch(external_id, "external_id", openids, at, content_key)
        done: list[str] = []
        already: list[str] = []
        grant = _Grant(month, key, at)
        with self._store.lock:
            state = self._state
            booked = state.campaigns.get(external_id) or _Campaign()
            counts = state.counts.setdefault(month, {})
            held = state.contents.setdefault(key, {}) if key is not None else {}
            for openid in targets:
                if openid in booked.pending or openid in booked.committed:
                    already.append(openid)
                    continue
                booked.committed[openid] = grant
                counts[openid] = counts.get(openid, 0) + 1
                if key is not None:
                    held[openid] = held.get(openid, 0) + 1
                done.append(openid)
            if done:
                state.campaigns[external_id] = booked
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
