"""`SQLiteLedger`: the embedded default ledger, one file shared safely by processes on a host.

Every batch is decided by set-based statements inside one ``BEGIN IMMEDIATE`` transaction per
chunk: the chunk's openids go into a temporary table in one statement (``json_each``), one
``INSERT ... SELECT`` classifies them all against the reservations, content keys and monthly
counters, and a few more statements apply the grants. ``BEGIN IMMEDIATE`` takes the database's
write lock before reading, so concurrent reservers (threads or processes) are serialized and
can never both grant the last slot. A crash rolls the open transaction back: a follower's
reservation is either fully written (row, counter, content key) or absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Final

from wxsegment._sqlite_wal import enable_wal
from wxsegment.quota._base import (
    ALREADY,
    LedgerBase,
    Outcome,
    ReserveTally,
    chunks,
    scanned_usages,
    shared_usages,
)
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

__all__ = ["SQLiteLedger"]

#: Followers decided per transaction: large enough to amortize statements, small enough that
#: other processes wait at most a fraction of a second for the write lock.
DEFAULT_CHUNK: Final = 20_000

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS wxs_reservations (
        account TEXT NOT NULL, campaign TEXT NOT NULL, openid TEXT NOT NULL,
        month TEXT NOT NULL, content_key TEXT, committed INTEGER NOT NULL,
        reserved_at TEXT NOT NULL,
        PRIMARY KEY (account, campaign, openid)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS wxs_reservations_pending
        ON wxs_reservations (account, committed, campaign)""",
    """CREATE TABLE IF NOT EXISTS wxs_months (
        account TEXT NOT NULL, openid TEXT NOT NULL, month TEXT NOT NULL,
        committed INTEGER NOT NULL, pending INTEGER NOT NULL,
        PRIMARY KEY (account, openid, month)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS wxs_contents (
        account TEXT NOT NULL, openid TEXT NOT NULL, content_key TEXT NOT NULL,
        live INTEGER NOT NULL,
        PRIMARY KEY (account, openid, content_key)) WITHOUT ROWID""",
)

_TEMP: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS wxs_in (pos INTEGER PRIMARY KEY, openid TEXT NOT NULL)",
    """CREATE TEMP TABLE IF NOT EXISTS wxs_decision (
        openid TEXT PRIMARY KEY, pos INTEGER NOT NULL, outcome TEXT NOT NULL,
        month TEXT) WITHOUT ROWID""",
)

_LOAD: Final = "INSERT INTO temp.wxs_in (pos, openid) SELECT key, value FROM json_each(?)"

_CLASSIFY_RESERVE: Final = """
INSERT INTO temp.wxs_decision (openid, pos, outcome)
SELECT i.openid, i.pos,
       CASE WHEN r.openid IS NOT NULL THEN 'already'
            WHEN c.live > 0 THEN 'duplicate'
            WHEN coalesce(m.committed, 0) + coalesce(m.pending, 0) >= :limit THEN 'exhausted'
            ELSE 'granted' END
FROM temp.wxs_in AS i
LEFT JOIN wxs_reservations AS r
       ON r.account = :account AND r.campaign = :campaign AND r.openid = i.openid
LEFT JOIN wxs_contents AS c
       ON c.account = :account AND c.openid = i.openid AND c.content_key = :content_key
LEFT JOIN wxs_months AS m
       ON m.account = :account AND m.openid = i.openid AND m.month = :month
"""

_INSERT_GRANTED: Final = """
INSERT INTO wxs_reservations
    (account, campaign, openid, month, content_key, committed, reserved_at)
SELECT :account, :campaign, openid, :month, :content_key, :committed, :reserved_at
FROM temp.wxs_decision WHERE outcome = 'granted'
"""

_BUMP_MONTHS: Final = """
INSERT INTO wxs_months (account, openid, month, committed, pending)
SELECT :account, openid, :month, :committed, 1 - :committed
FROM temp.wxs_decision WHERE outcome = 'granted'
ON CONFLICT (account, openid, month) DO UPDATE
SET committed = committed + excluded.committed, pending = pending + excluded.pending
"""

_BUMP_CONTENTS: Final = """
INSERT INTO wxs_contents (account, openid, content_key, live)
SELECT :account, openid, :content_key, 1
FROM temp.wxs_decision WHERE outcome = 'granted'
ON CONFLICT (account, openid, content_key) DO UPDATE SET live = live + 1
"""

_CLASSIFY_SETTLE: Final = """
INSERT INTO temp.wxs_decision (openid, pos, outcome, month)
SELECT i.openid, i.pos,
       CASE WHEN r.openid IS NULL THEN 'missing'
            WHEN r.committed = 1 THEN 'committed'
            ELSE 'pending' END,
       r.month
FROM temp.wxs_in AS i
LEFT JOIN wxs_reservations AS r
       ON r.account = :account AND r.campaign = :campaign AND r.openid = i.openid
"""

_SELECT_ALL_PENDING: Final = """
INSERT INTO temp.wxs_decision (openid, pos, outcome, month)
SELECT openid, row_number() OVER (ORDER BY openid), 'pending', month
FROM wxs_reservations
WHERE account = :account AND campaign = :campaign AND committed = 0
"""

# Settling statements are driven by the chunk's decisions and reach every row through its
# primary key: the planner would otherwise scan all the account's counters (or the whole
# campaign's reservations) once per chunk, making settling cost grow with the ledger's size.
_MOVE_MONTHS: Final = """
UPDATE wxs_months
SET committed = committed + :to_committed, pending = pending - 1
WHERE account = :account AND (openid, month) IN (
    SELECT openid, month FROM temp.wxs_decision WHERE outcome = 'pending')
"""

_COMMIT_ROWS: Final = """
UPDATE wxs_reservations SET committed = 1
WHERE account = :account AND campaign = :campaign AND committed = 0
  AND openid IN (SELECT openid FROM temp.wxs_decision WHERE outcome = 'pending')
"""

_DROP_CONTENTS: Final = """
UPDATE wxs_contents SET live = live - 1
WHERE account = :account AND (openid, content_key) IN (
    SELECT r.openid, r.content_key FROM temp.wxs_decision AS d
    CROSS JOIN wxs_reservations AS r
    WHERE r.account = :account AND r.campaign = :campaign AND r.openid = d.openid
      AND d.outcome = 'pending' AND r.content_key IS NOT NULL)
"""

# Only the released followers' rows can have reached zero: a primary-key lookup each, not a
# scan of the account's every content key per chunk.
_PRUNE_CONTENTS: Final = """
DELETE FROM wxs_contents
WHERE account = :account AND live <= 0
  AND openid IN (SELECT openid FROM temp.wxs_decision WHERE outcome = 'pending')
"""

_DELETE_ROWS: Final = """
DELETE FROM wxs_reservations
WHERE account = :account AND campaign = :campaign AND committed = 0
  AND openid IN (SELECT openid FROM temp.wxs_decision WHERE outcome = 'pending')
"""


# Whole-account scans answer in one row of NUL-joined text (openids never contain NUL): one
# Python string per scan instead of a tuple per follower.
_SCAN_MONTH: Final = """
SELECT group_concat(openid, char(0)), group_concat(committed, ','), group_concat(pending, ',')
FROM wxs_months WHERE account = ? AND month = ? AND committed + pending > 0
"""

_SCAN_HOLDERS: Final = """
SELECT group_concat(openid, char(0)) FROM wxs_contents
WHERE account = ? AND content_key = ? AND live > 0
"""

_OUTCOMES: Final[dict[str, Outcome]] = {
    "already": ALREADY,
    "duplicate": RefusalReason.DUPLICATE_CONTENT,
    "exhausted": RefusalReason.QUOTA_EXHAUSTED,
}


def _utc_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


class SQLiteLedger(LedgerBase):
    """A `QuotaLedger` in one SQLite file (WAL): the embedded default, safe across processes.

    Several accounts may share a file; each ledger instance counts for one. Use one instance
    per thread or share one (calls are serialized by a lock). ``durable=False`` skips the
    fsync per transaction: faster small calls, but a power loss may then forget grants
    whose pushes were already sent.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        account: str = DEFAULT_ACCOUNT,
        limit: int = MAX_PUSHES_PER_MONTH,
        chunk_size: int = DEFAULT_CHUNK,
        busy_timeout: float = 60.0,
        cache_mib: int = 64,
        durable: bool = True,
    ) -> None:
        super().__init__(account, limit)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if not isinstance(cache_mib, int) or cache_mib < 1:
            raise ValueError(f"cache_mib must be an int of at least 1, got {cache_mib!r}")
        self._chunk = chunk_size
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        enable_wal(self._db, timeout=busy_timeout)
        # In WAL mode, NORMAL may lose the last commits on a power loss or OS crash: a grant
        # the application already acted on would vanish and free a slot already used.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA temp_store=MEMORY")
        # Batches touch every follower's rows once; a page cache well above the 2 MiB default
        # keeps the B-tree interiors and the hot leaves in memory across chunks.
        self._db.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        with self._write():
            for statement in _SCHEMA:
                self._db.execute(statement)
        for statement in _TEMP:
            self._db.execute(statement)

    def __repr__(self) -> str:
        return f"SQLiteLedger({self._path!r}, account={self._account!r}, limit={self._limit})"

    def _write(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def _load(self, openids: Sequence[str]) -> None:
        self._db.execute("DELETE FROM temp.wxs_in")
        self._db.execute("DELETE FROM temp.wxs_decision")
        self._db.execute(_LOAD, (json.dumps(list(openids)),))

    def _decisions(self) -> list[tuple[str, str]]:
        return self._db.execute(
            "SELECT openid, outcome FROM temp.wxs_decision ORDER BY pos"
        ).fetchall()

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
        tally = ReserveTally()
        params: dict[str, object] = {
            "account": self._account,
            "campaign": campaign,
            "content_key": key,
            "month": month,
            "limit": self._limit,
            "committed": 0,
            "reserved_at": _utc_text(at),
        }
        for chunk in chunks(targets, self._chunk):
            with self._write():
                self._load(chunk)
                self._db.execute(_CLASSIFY_RESERVE, params)
                self._apply_grants(params, key)
                others = self._db.execute(
                    "SELECT pos, outcome FROM temp.wxs_decision WHERE outcome <> 'granted'"
                ).fetchall()
            tally.add(chunk, {position: _OUTCOMES[outcome] for position, outcome in others})
        return tally.result(campaign, month)

    def _apply_grants(self, params: dict[str, object], key: str | None) -> None:
        self._db.execute(_INSERT_GRANTED, params)
        self._db.execute(_BUMP_MONTHS, params)
        if key is not None:
            self._db.execute(_BUMP_CONTENTS, params)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[list[str], list[str], list[str]]:
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        params = {"account": self._account, "campaign": campaign, "to_committed": int(commit)}
        parts: Iterable[Sequence[str] | None] = (
            [None] if targets is None else chunks(targets, self._chunk)
        )
        moved: list[str] = []
        settled: list[str] = []
        missing: list[str] = []
        into = {"pending": moved, "committed": settled, "missing": missing}
        for chunk in parts:
            with self._write():
                if chunk is None:
                    self._db.execute("DELETE FROM temp.wxs_decision")
                    self._db.execute(_SELECT_ALL_PENDING, params)
                else:
                    self._load(chunk)
                    self._db.execute(_CLASSIFY_SETTLE, params)
                self._db.execute(_MOVE_MONTHS, params)
                if commit:
                    self._db.execute(_COMMIT_ROWS, params)
                else:
                    self._db.execute(_DROP_CONTENTS, params)
                    self._db.execute(_PRUNE_CONTENTS, params)
                    self._db.execute(_DELETE_ROWS, params)
                for openid, outcome in self._decisions():
                    into[outcome].append(openid)
        return moved, settled, missing

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        check_openids([openid])
        _, month = check_at(at)
        with self._lock:
            row = self._db.execute(
                "SELECT committed, pending FROM wxs_months "
                "WHERE account = ? AND openid = ? AND month = ?",
                (self._account, openid, month),
            ).fetchone()
        committed, pending = row if row is not None else (0, 0)
        return Usage(month, committed, pending, self._limit)

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """`usage` of many followers: one statement per chunk over ``json_each``."""
        listed = check_many(openids)
        _, month = check_at(at)
        found: dict[str, tuple[int, int]] = {}
        with self._lock:
            for chunk in chunks(listed, self._chunk):
                rows = self._db.execute(
                    # CROSS JOIN keeps json_each outside: joined the other way round, the
                    # planner scans every row of the account once per chunk.
                    "SELECT m.openid, m.committed, m.pending FROM json_each(?) AS j "
                    "CROSS JOIN wxs_months AS m ON m.account = ? AND m.openid = j.value "
                    "AND m.month = ?",
                    (json.dumps(chunk), self._account, month),
                ).fetchall()
                found.update((openid, (c, p)) for openid, c, p in rows)
        return shared_usages(listed, found, month, self._limit)

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Which of ``content_keys`` each follower holds; followers holding none left out."""
        listed = check_many(openids)
        keys = check_keys(content_keys)
        held: dict[str, set[str]] = {}
        if not keys:
            return {}
        with self._lock:
            for chunk in chunks(listed, self._chunk):
                rows = self._db.execute(
                    # CROSS JOIN: one primary-key search per follower (see usage_many).
                    "SELECT c.openid, c.content_key FROM json_each(?) AS j "
                    "CROSS JOIN wxs_contents AS c ON c.account = ? AND c.openid = j.value "
                    "WHERE c.live > 0 AND c.content_key IN (SELECT value FROM json_each(?))",
                    (json.dumps(chunk), self._account, json.dumps(keys)),
                ).fetchall()
                for openid, key in rows:
                    held.setdefault(openid, set()).add(key)
        return {openid: frozenset(found) for openid, found in held.items()}

    def month_usage(self, *, at: datetime) -> Mapping[str, Usage]:
        """Every follower with pushes in the month of ``at``: one scan (see `ScanningLedger`)."""
        _, month = check_at(at)
        with self._lock:
            openids, committed, pending = self._db.execute(
                _SCAN_MONTH, (self._account, month)
            ).fetchone()
        if openids is None:
            return {}
        pairs = list(zip(committed.split(","), pending.split(","), strict=True))
        return scanned_usages(openids.split("\0"), pairs, month, self._limit)

    def content_holders(self, content_keys: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """The followers holding each content key: one scan per key (see `ScanningLedger`)."""
        keys = check_keys(content_keys)
        out: dict[str, frozenset[str]] = {}
        with self._lock:
            for key in keys:
                (joined,) = self._db.execute(_SCAN_HOLDERS, (self._account, key)).fetchone()
                out[key] = frozenset(joined.split("\0")) if joined is not None else frozenset()
        return out

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations ordered by campaign then openid."""
        query = (
            "SELECT campaign, openid, month, content_key, reserved_at FROM wxs_reservations "
            "WHERE account = ? AND committed = 0"
        )
        args: tuple[str, ...] = (self._account,)
        if campaign is not None:
            check_id(campaign, "campaign")
            query += " AND campaign = ?"
            args += (campaign,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY campaign, openid", args).fetchall()
        return iter(
            [
                PendingEntry(name, openid, month, key, datetime.fromisoformat(at))
                for name, openid, month, key, at in rows
            ]
        )

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
        params: dict[str, object] = {
            "account": self._account,
            "campaign": external_id,
            "content_key": key,
            "month": month,
            "committed": 1,
            "reserved_at": _utc_text(at),
        }
        done: list[str] = []
        already: list[str] = []
        for chunk in chunks(targets, self._chunk):
            with self._write():
                self._load(chunk)
                self._db.execute(_CLASSIFY_SETTLE, params)
                self._db.execute(
                    "UPDATE temp.wxs_decision SET outcome = "
                    "CASE outcome WHEN 'missing' THEN 'granted' ELSE 'already' END"
                )
                self._apply_grants(params, key)
                for openid, outcome in self._decisions():
                    (done if outcome == "granted" else already).append(openid)
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) under the instance lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            try:
                self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
            finally:
                # A failed COMMIT (or ROLLBACK) can leave the transaction open, and with it the
                # database's write lock, stalling every other process and this connection.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
        finally:
            self._lock.release()
