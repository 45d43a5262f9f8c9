"""`WindowStore` backends: in process memory, and one SQLite file shared by processes."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Final

import attrs

from wxsegment._sqlite_wal import enable_wal
from wxsegment.quota._window import Interaction, WindowHistory

__all__ = ["MemoryWindowStore", "SQLiteWindowStore"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


def _history(
    interactions: set[tuple[datetime, Interaction]], sends: list[datetime]
) -> WindowHistory:
    return WindowHistory(
        tuple(sorted(interactions, key=lambda item: (item[0], item[1].value))),
        tuple(sorted(sends)),
    )


@attrs.define
class _Follower:
    interactions: set[tuple[datetime, Interaction]] = attrs.Factory(set)
    sends: list[datetime] = attrs.Factory(list)

    def prune(self, before: datetime) -> int:
        old = {item for item in self.interactions if item[0] < before}
        self.interactions -= old
        kept = [sent for sent in self.sends if sent >= before]
        dropped = len(old) + len(self.sends) - len(kept)
        self.sends = kept
        return dropped


class MemoryWindowStore:
    """A `WindowStore` in process memory: thread-safe, shared by `ServiceWindow`s given it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._followers: dict[tuple[str, str], _Follower] = {}

    def __repr__(self) -> str:
        return "MemoryWindowStore()"

    def _follower(self, account: str, openid: str) -> _Follower:
        found = self._followers.get((account, openid))
        if found is None:
            found = self._followers[(account, openid)] = _Follower()
        return found

    def add_interaction(self, account: str, openid: str, kind: Interaction, at: datetime) -> None:
        """Store an interaction (the same kind at the same instant is stored once)."""
        with self._lock:
            self._follower(account, openid).interactions.add((at, kind))

    def add_send(self, account: str, openid: str, at: datetime) -> None:
        """Store one customer-service message sent at ``at``."""
        with self._lock:
            self._follower(account, openid).sends.append(at)

    def history(self, account: str, openid: str) -> WindowHistory:
        """The follower's stored interactions and sends."""
        with self._lock:
            follower = self._followers.get((account, openid))
            if follower is None:
                return WindowHistory()
            return _history(follower.interactions, follower.sends)

    def consume(
        self,
        account: str,
        openid: str,
        at: datetime,
        decide: Callable[[WindowHistory], bool],
        *,
        prune_before: datetime,
    ) -> tuple[WindowHistory, bool]:
        """Atomically: read the history; if ``decide`` says so, store a send at ``at``."""
        with self._lock:
            follower = self._follower(account, openid)
            follower.prune(prune_before)
            history = _history(follower.interactions, follower.sends)
            granted = decide(history)
            if granted:
                follower.sends.append(at)
            return history, granted

    def prune(self, account: str, before: datetime) -> int:
        """Drop every follower's interactions and sends older than ``before``."""
        dropped = 0
        with self._lock:
            for key in [key for key in self._followers if key[0] == account]:
                follower = self._followers[key]
                dropped += follower.prune(before)
                if not follower.interactions and not follower.sends:
                    del self._followers[key]
        return dropped

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS wxs_window_interactions (
        account TEXT NOT NULL, openid TEXT NOT NULL, at_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (account, openid, at_us, kind)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS wxs_window_interactions_age
        ON wxs_window_interactions (account, at_us)""",
    """CREATE TABLE IF NOT EXISTS wxs_window_sends (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, openid TEXT NOT NULL,
        at_us INTEGER NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS wxs_window_sends_follower
        ON wxs_window_sends (account, openid, at_us)""",
    """CREATE INDEX IF NOT EXISTS wxs_window_sends_age ON wxs_window_sends (account, at_us)""",
)

_TABLES: Final = ("wxs_window_interactions", "wxs_window_sends")


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


class SQLiteWindowStore:
    """A `WindowStore` in one SQLite file (WAL), shared safely by processes on one host.

    `consume` runs inside ``BEGIN IMMEDIATE``, which takes the write lock before reading, so
    two processes can never both take the last message. The file may be the ledger's file.
    Every commit is synced to disk, as the ledger's are; ``durable=False`` trades that for speed
    (a power cut may then forget the last messages taken, and WeChat answers 45047 for them).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 60.0, durable: bool = True
    ) -> None:
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        enable_wal(self._db, timeout=busy_timeout)
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    self._db.execute(statement)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __repr__(self) -> str:
        return f"SQLiteWindowStore({self._path!r})"

    def _write(self, work: Callable[[], bool]) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def _prune_follower(self, account: str, openid: str, before: datetime) -> None:
        for table in _TABLES:
            self._db.execute(
                f"DELETE FROM {table} WHERE account = ? AND openid = ? AND at_us < ?",
                (account, openid, _micros(before)),
            )

    def _read(self, account: str, openid: str) -> WindowHistory:
        interactions = self._db.execute(
            "SELECT at_us, kind FROM wxs_window_interactions "
            "WHERE account = ? AND openid = ? ORDER BY at_us, kind",
            (account, openid),
        ).fetchall()
        sends = self._db.execute(
            "SELECT at_us FROM wxs_window_sends WHERE account = ? AND openid = ? ORDER BY at_us",
            (account, openid),
        ).fetchall()
        return WindowHistory(
            tuple((_instant(at), Interaction(kind)) for at, kind in interactions),
            tuple(_instant(at) for (at,) in sends),
        )

    def _insert_send(self, account: str, openid: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO wxs_window_sends (account, openid, at_us) VALUES (?, ?, ?)",
            (account, openid, _micros(at)),
        )

    def add_interaction(self, account: str, openid: str, kind: Interaction, at: datetime) -> None:
        """Store an interaction (the same kind at the same instant is stored once)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO wxs_window_interactions (account, openid, at_us, kind) "
                "VALUES (?, ?, ?, ?)",
                (account, openid, _micros(at), kind.value),
            )

    def add_send(self, account: str, openid: str, at: datetime) -> None:
        """Store one customer-service message sent at ``at``."""
        with self._lock:
            self._insert_send(account, openid, at)

    def history(self, account: str, openid: str) -> WindowHistory:
        """The follower's stored interactions and sends (one consistent snapshot)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                return self._read(account, openid)
            finally:
                self._db.execute("COMMIT")

    def consume(
        self,
        account: str,
        openid: str,
        at: datetime,
        decide: Callable[[WindowHistory], bool],
        *,
        prune_before: datetime,
    ) -> tuple[WindowHistory, bool]:
        """Atomically: read the history; if ``decide`` says so, store a send at ``at``."""
        read: list[WindowHistory] = []

        def work() -> bool:
            self._prune_follower(account, openid, prune_before)
            read.append(self._read(account, openid))
            granted = decide(read[0])
            if granted:
                self._insert_send(account, openid, at)
            return granted

        granted = self._write(work)
        return read[0], granted

    def prune(self, account: str, before: datetime) -> int:
        """Drop every follower's interactions and sends older than ``before``."""
        dropped: list[int] = []

        def work() -> bool:
            for table in _TABLES:
                cursor = self._db.execute(
                    f"DELETE FROM {table} WHERE account = ? AND at_us < ?",
                    (account, _micros(before)),
                )
                dropped.append(cursor.rowcount)
            return True

        self._write(work)
        return sum(dropped)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()
