"""Recognising WeChat's retried deliveries.

WeChat waits five seconds for an answer, then delivers the same push again, three times in all.
A retry carries the same ``MsgId`` (messages) or the same ``FromUserName`` + ``CreateTime`` +
``Event`` (+ ``EventKey``) (events). `Deduplicator.seen` marks a push and reports, atomically,
whether an earlier delivery already marked it within the window.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from wxsegment._clock import ensure_aware
from wxsegment._sqlite_wal import enable_wal
from wxsegment.api.callback._messages import Event, Message

__all__ = [
    "DEFAULT_WINDOW",
    "DedupStore",
    "Deduplicator",
    "MemoryDedupStore",
    "RedisDedupStore",
    "SQLiteDedupStore",
    "dedup_key",
]

#: WeChat retries three times, five seconds apart; a minute leaves room for slow networks.
DEFAULT_WINDOW: Final = timedelta(seconds=60)


def _field(push: Message | Event, name: str) -> str:
    value = push.fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def dedup_key(push: Message | Event) -> str:
    """The identity WeChat's retries of ``push`` share: a short hex digest.

    Messages: account + ``MsgId``. Events: account + ``FromUserName`` + ``CreateTime`` +
    event name (case-insensitive) + ``EventKey`` + the job ``MsgID`` when there is one (two
    template messages to one follower can finish in the same second).
    """
    if not isinstance(push, (Message, Event)):
        raise TypeError(f"expected a parsed Message or Event, not {type(push).__name__}")
    msg_id = _field(push, "MsgId")
    if isinstance(push, Message) and msg_id:
        parts = ["message", push.to_user_name, msg_id]
    else:
        event = push.event.strip().lower() if isinstance(push, Event) else push.msg_type
        parts = [
            "event",
            push.to_user_name,
            push.from_user_name,
            str(push.create_timestamp),
            event,
            _field(push, "EventKey"),
            _field(push, "MsgID") or msg_id,
        ]
    # JSON keeps the parts unambiguous whatever characters they hold.
    encoded = json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest()[:32]


@runtime_checkable
class DedupStore(Protocol):
    """Where seen keys live. ``add`` must be atomic: of concurrent adds of one key, one wins."""

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Mark ``key`` until ``now + ttl``; True if it was not marked (or had expired)."""
        ...

    def discard(self, key: str) -> None:
        """Forget ``key`` (so a later delivery is processed again)."""
        ...


class MemoryDedupStore:
    """A bounded in-process store: oldest keys are evicted beyond ``max_entries``.

    For one process only; several workers need a shared store (SQLite file or Redis).
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("max_entries must be a positive int")
        self._max = max_entries
        self._expiry: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryDedupStore(max_entries={self._max}, size={len(self)})"

    def __len__(self) -> int:
        return len(self._expiry)

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Mark ``key``; True if it was not marked."""
        ensure_aware(now, "now")
        with self._lock:
            # Insertion order is expiry order for a fixed ttl, so expired keys sit at the front.
            while self._expiry:
                oldest, until = next(iter(self._expiry.items()))
                if until > now:
                    break
                del self._expiry[oldest]
            current = self._expiry.get(key)
            if current is not None and current > now:
                return False
            self._expiry.pop(key, None)
            self._expiry[key] = now + ttl
            while len(self._expiry) > self._max:
                self._expiry.popitem(last=False)
            return True

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._expiry.pop(key, None)


class SQLiteDedupStore:
    """A store in an SQLite file, shared by every process on one host.

    Each ``add`` is one ``BEGIN IMMEDIATE`` transaction; expired rows are purged as it goes.
    """

    _PURGE_EVERY: Final = 256

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._adds = 0
        self._db = sqlite3.connect(
            self._path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        enable_wal(self._db, timeout=timeout)
        # A mark lost to a power cut only lets one retry through; not worth an fsync per push.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS wxsegment_callback_seen"
            " (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)"
        )

    def __repr__(self) -> str:
        return f"SQLiteDedupStore({self._path!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Mark ``key``; True if it was not marked or had expired."""
        at = ensure_aware(now, "now").timestamp()
        expires = at + ttl.total_seconds()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._adds += 1
                if self._adds % self._PURGE_EVERY == 0:
                    self._db.execute(
                        "DELETE FROM wxsegment_callback_seen WHERE expires_at <= ?", (at,)
                    )
                cursor = self._db.execute(
                    "INSERT INTO wxsegment_callback_seen (key, expires_at) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
                    " WHERE wxsegment_callback_seen.expires_at <= ?",
                    (key, expires, at),
                )
                added = cursor.rowcount == 1
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return added

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._db.execute("DELETE FROM wxsegment_callback_seen WHERE key = ?", (key,))


class _RedisLike(Protocol):
    def set(self, name: str, value: str, *, nx: bool, px: int) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class RedisDedupStore:
    """A store in Redis, shared by every process and host: ``SET key 1 NX PX ttl``.

    Takes a ``redis.Redis`` client (or anything with ``set`` and ``delete``). Expiry follows
    Redis's clock, not ``now``: only the ttl is sent.
    """

    def __init__(self, client: _RedisLike, *, prefix: str = "wxsegment:callback:seen:") -> None:
        self._client = client
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"RedisDedupStore(prefix={self._prefix!r})"

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Mark ``key``; True if Redis did not hold it."""
        ensure_aware(now, "now")
        milliseconds = max(1, int(ttl.total_seconds() * 1000))
        return bool(self._client.set(self._prefix + key, "1", nx=True, px=milliseconds))

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        self._client.delete(self._prefix + key)


class Deduplicator:
    """Tells a retried delivery from a new push, within ``window`` (default 60 s).

    ``store`` defaults to a `MemoryDedupStore`; use a shared one when several workers answer.
    """

    def __init__(self, store: DedupStore | None = None, *, window: timedelta = DEFAULT_WINDOW):
        if not isinstance(window, timedelta) or window <= timedelta(0):
            raise ValueError("window must be a positive timedelta")
        self._store: DedupStore = MemoryDedupStore() if store is None else store
        self._window = window

    def __repr__(self) -> str:
        return f"Deduplicator({self._store!r}, window={self._window!r})"

    @property
    def window(self) -> timedelta:
        """How long a push is remembered."""
        return self._window

    def seen(self, push: Message | Event, *, now: datetime) -> bool:
        """Mark ``push`` as seen at ``now``; True if it already was (a retry: skip it)."""
        ensure_aware(now, "now")
        return not self._store.add(dedup_key(push), now=now, ttl=self._window)

    def forget(self, push: Message | Event) -> None:
        """Unmark ``push``, e.g. when handling it failed and WeChat's retry should be processed."""
        self._store.discard(dedup_key(push))
