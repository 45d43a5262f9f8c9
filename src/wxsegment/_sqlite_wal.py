"""Switching an SQLite file to WAL when several processes open it at once.

Changing the journal mode needs an exclusive lock. Two connections that both hold a shared
lock and both ask for it would deadlock, so SQLite answers one of them ``database is locked``
at once instead of calling the busy handler: ``timeout=`` on `sqlite3.connect` does not cover
it. Every store that opens a shared file therefore switches through `enable_wal`, which retries
that one statement until the file is in WAL or the caller's timeout has passed.
"""

from __future__ import annotations

import sqlite3

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

__all__ = ["enable_wal"]


def _is_busy(error: BaseException) -> bool:
    if not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return "locked" in text or "busy" in text


def enable_wal(db: sqlite3.Connection, *, timeout: float) -> None:
    """Put ``db``'s file in WAL mode, waiting up to ``timeout`` seconds for other openers.

    Raises `sqlite3.OperationalError` if the file is still locked after ``timeout``, or if
    SQLite keeps another journal mode (an in-memory database stays ``memory``).
    """
    retrying = Retrying(
        retry=retry_if_exception(_is_busy),
        stop=stop_after_delay(max(timeout, 0.0)),
        # Jitter keeps processes that collided once from colliding again in lockstep.
        wait=wait_random_exponential(multiplier=0.005, max=0.25),
        reraise=True,
    )
    mode = ""
    for attempt in retrying:
        with attempt:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                (mode,) = db.execute("PRAGMA journal_mode=WAL").fetchone()
    if str(mode).lower() not in {"wal", "memory"}:
        raise sqlite3.OperationalError(f"SQLite kept journal mode {mode!r} instead of WAL")
