"""Many processes opening one fresh SQLite file at once: every store must open, none may fail.

Switching a new file to WAL needs an exclusive lock, and SQLite refuses it at once (without
waiting out ``busy_timeout``) when two openers deadlock on the upgrade. CI once failed on it
with four processes starting a `SQLiteLedger` together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from wxsegment._sqlite_wal import enable_wal
from wxsegment.api.callback import SQLiteDedupStore
from wxsegment.delivery import SQLiteJournal
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.quota import SQLiteLedger, SQLiteWindowStore

OPENERS: dict[str, Callable[[Path], Any]] = {
    "ledger": lambda path: SQLiteLedger(path, account="acct"),
    "journal": lambda path: SQLiteJournal(path, account="acct"),
    "dedup": lambda path: SQLiteDedupStore(path, timeout=30.0),
    "window": lambda path: SQLiteWindowStore(path),
    "followers": lambda path: SQLiteFollowerStore(path, busy_timeout=timedelta(seconds=30)),
}

OPENERS_AT_ONCE = 8
FRESH_FILES = 25


@pytest.mark.parametrize("kind", sorted(OPENERS))
def test_simultaneous_first_opens_all_succeed(kind: str, tmp_path: Path) -> None:
    """Eight threads open each of 25 fresh files in the same instant; all 200 opens succeed."""
    failures: list[BaseException] = []

    def open_one(path: Path, barrier: threading.Barrier, opened: list[Any]) -> None:
        barrier.wait()
        try:
            opened.append(OPENERS[kind](path))
        except BaseException as error:
            failures.append(error)

    for trial in range(FRESH_FILES):
        path = tmp_path / f"{kind}-{trial}.sqlite3"
        barrier = threading.Barrier(OPENERS_AT_ONCE)
        opened: list[Any] = []
        threads = [
            threading.Thread(target=open_one, args=(path, barrier, opened))
            for _ in range(OPENERS_AT_ONCE)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in opened:
            close = getattr(store, "close", None)
            if close is not None:
                close()
    assert failures == []


def test_enable_wal_puts_a_file_in_wal(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "plain.sqlite3")
    try:
        enable_wal(db, timeout=1.0)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_enable_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A file held exclusively by another connection is reported, not waited on forever."""
    path = tmp_path / "held.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0.0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enable_wal(other, timeout=0.2)
    finally:
        other.close()
        holder.execute("ROLLBACK")
        holder.close()
