"""What the built-in handlers tell a follower store: `FollowerUpdates` and a dict version.

Every method is idempotent and order-tolerant, so a push that WeChat delivers again (or that
is re-run after a failure) converges to the same state instead of applying twice.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs

from wxsegment._clock import ensure_aware

__all__ = ["Attribution", "FollowerRecord", "FollowerUpdates", "MemoryFollowerUpdates"]


@attrs.frozen(kw_only=True)
class Attribution:
    """Where a follower came from: the QR scene they followed through, decoded when possible.

    ``scene`` is the raw scene value and ``ticket`` the code's ticket; ``channel``, ``store``,
    ``activity`` and ``referrer`` come from a `wxsegment.tagging.Scene` (None for a foreign
    scene). ``at`` is when WeChat reported the follow or scan.
    """

    scene: str
    at: datetime = attrs.field(validator=lambda _s, _a, v: ensure_aware(v, "at"))
    ticket: str | None = None
    channel: str | None = None
    store: str | None = None
    activity: str | None = None
    referrer: str | None = None
    via: str = "subscribe"


@runtime_checkable
class FollowerUpdates(Protocol):
    """The writes events make to a follower store; each must be idempotent."""

    def mark_subscribed(self, openid: str, *, at: datetime) -> None:
        """The follower followed at ``at``."""
        ...

    def mark_unsubscribed(self, openid: str, *, at: datetime) -> None:
        """The follower unfollowed at ``at`` (WeChat drops their tags)."""
        ...

    def touch(self, openid: str, *, at: datetime) -> None:
        """The follower interacted at ``at``: ``last_interaction_at`` becomes at least ``at``."""
        ...

    def apply_tags(self, openid: str, *, add: frozenset[str], remove: frozenset[str]) -> None:
        """Add and remove tag names (disjoint sets)."""
        ...

    def set_attribution(self, openid: str, attribution: Attribution) -> None:
        """Record where the follower came from; the earliest attribution is kept."""
        ...


@attrs.frozen(kw_only=True)
class FollowerRecord:
    """What `MemoryFollowerUpdates` knows about one follower."""

    openid: str
    subscribed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    last_interaction_at: datetime | None = None
    tags: frozenset[str] = frozenset()
    attribution: Attribution | None = None

    @property
    def subscribed(self) -> bool:
        """True when the latest follow is later than the latest unfollow."""
        if self.subscribed_at is None:
            return False
        return self.unsubscribed_at is None or self.subscribed_at > self.unsubscribed_at


def _later(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at > current else current


class MemoryFollowerUpdates:
    """`FollowerUpdates` in a dict, for tests and small deployments; thread-safe."""

    def __init__(self) -> None:
        self._records: dict[str, FollowerRecord] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryFollowerUpdates(followers={len(self._records)})"

    def _update(self, openid: str, **changes: object) -> None:
        if not isinstance(openid, str) or not openid:
            raise ValueError("openid must be a non-empty str")
        record = self._records.get(openid) or FollowerRecord(openid=openid)
        self._records[openid] = attrs.evolve(record, **changes)  # type: ignore[arg-type]

    def mark_subscribed(self, openid: str, *, at: datetime) -> None:
        """The follower followed at ``at``."""
        ensure_aware(at, "at")
        with self._lock:
            record = self._records.get(openid)
            self._update(openid, subscribed_at=_later(record.subscribed_at if record else None, at))

    def mark_unsubscribed(self, openid: str, *, at: datetime) -> None:
        """The follower unfollowed at ``at``; their tags are dropped, as WeChat drops them."""
        ensure_aware(at, "at")
        with self._lock:
            record = self._records.get(openid)
            self._update(
                openid,
                unsubscribed_at=_later(record.unsubscribed_at if record else None, at),
                tags=frozenset(),
            )

    def touch(self, openid: str, *, at: datetime) -> None:
        """``last_interaction_at`` becomes at least ``at``."""
        ensure_aware(at, "at")
        with self._lock:
            record = self._records.get(openid)
            self._update(
                openid,
                last_interaction_at=_later(record.last_interaction_at if record else None, at),
            )

    def apply_tags(self, openid: str, *, add: frozenset[str], remove: frozenset[str]) -> None:
        """Add and remove tag names."""
        if add & remove:
            raise ValueError(f"tags both added and removed: {sorted(add & remove)!r}")
        with self._lock:
            record = self._records.get(openid)
            current = record.tags if record is not None else frozenset()
            self._update(openid, tags=(current - remove) | add)

    def set_attribution(self, openid: str, attribution: Attribution) -> None:
        """Record where the follower came from; an earlier attribution is kept."""
        if not isinstance(attribution, Attribution):
            raise TypeError(f"expected an Attribution, not {type(attribution).__name__}")
        with self._lock:
            record = self._records.get(openid)
            kept = record.attribution if record is not None else None
            if kept is not None and kept.at <= attribution.at:
                return
            self._update(openid, attribution=attribution)

    def get(self, openid: str) -> FollowerRecord | None:
        """The record of one follower, or None."""
        with self._lock:
            return self._records.get(openid)

    @property
    def records(self) -> Mapping[str, FollowerRecord]:
        """Every follower seen, by openid (a snapshot)."""
        with self._lock:
            return MappingProxyType(dict(self._records))
