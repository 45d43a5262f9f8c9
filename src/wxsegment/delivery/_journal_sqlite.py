"""`SQLiteJournal`: the delivery journal in a SQLite file (by default the ledger's own file).

Every write runs in a ``BEGIN IMMEDIATE`` transaction that first checks the lease token, so a
run whose lease was taken cannot write, across threads and processes sharing the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Final

from wxsegment._clock import ensure_aware
from wxsegment._sqlite_wal import enable_wal
from wxsegment.delivery._journal import (
    BatchRecord,
    BatchState,
    CampaignBusyError,
    JournalConflictError,
    Lease,
    LeaseLostError,
    check_records,
    check_transition,
    check_ttl,
    new_token,
)

__all__ = ["SQLiteJournal"]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS wxsegment_delivery_lease (
        account TEXT NOT NULL, campaign TEXT NOT NULL, token TEXT NOT NULL,
        expires_at TEXT NOT NULL, PRIMARY KEY (account, campaign))""",
    """CREATE TABLE IF NOT EXISTS wxsegment_delivery_batch (
        account TEXT NOT NULL, campaign TEXT NOT NULL, idx INTEGER NOT NULL,
        clientmsgid TEXT NOT NULL, members TEXT NOT NULL, month TEXT NOT NULL,
        state TEXT NOT NULL, formed_at TEXT NOT NULL, attempted_at TEXT, msg_id INTEGER,
        PRIMARY KEY (account, campaign, idx))""",
)


def to_text(at: datetime) -> str:
    """An aware datetime as sortable UTC ISO text."""
    return ensure_aware(at).astimezone(timezone.utc).isoformat()


def from_text(text: str | None) -> datetime | None:
    """The inverse of `to_text` (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)


class SQLiteJournal:
    """A `DeliveryJournal` in a SQLite file; safe across threads and processes (WAL)."""

    def __init__(
        self, path: str | os.PathLike[str], *, account: str = "default", busy_timeout: float = 60.0
    ) -> None:
        self._account = account
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        enable_wal(self._db, timeout=busy_timeout)
        self._db.execute("PRAGMA synchronous=FULL")
        with self._write():
            for statement in _SCHEMA:
                self._db.execute(statement)

    def __repr__(self) -> str:
        return f"SQLiteJournal({self._path!r}, account={self._account!r})"

    @property
    def account(self) -> str:
        """The service account this journal belongs to."""
        return self._account

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _holder(self, campaign: str) -> tuple[str, datetime] | None:
        row = self._db.execute(
            "SELECT token, expires_at FROM wxsegment_delivery_lease "
            "WHERE account = ? AND campaign = ?",
            (self._account, campaign),
        ).fetchone()
        if row is None:
            return None
        expires = from_text(row[1])
        assert expires is not None
        return str(row[0]), expires

    def _check(self, lease: Lease) -> None:
        held = self._holder(lease.campaign)
        if held is None or held[0] != lease.token:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")

    def _set_lease(self, campaign: str, token: str, expires: datetime) -> None:
        self._db.execute(
            "INSERT INTO wxsegment_delivery_lease (account, campaign, token, expires_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (account, campaign) DO UPDATE SET "
            "token = excluded.token, expires_at = excluded.expires_at",
            (self._account, campaign, token, to_text(expires)),
        )

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the campaign's lease until ``now + ttl``, or raise `CampaignBusyError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        token = new_token()
        with self._write():
            held = self._holder(campaign)
            if held is not None and held[1] > now:
                raise CampaignBusyError(
                    f"campaign {campaign!r} is being delivered by another run until "
                    f"{held[1].isoformat()}"
                )
            self._set_lease(campaign, token, now + ttl)
        return Lease(campaign, token, now + ttl)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend a still-held lease to ``now + ttl``, or raise `LeaseLostError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        with self._write():
            self._check(lease)
            self._set_lease(lease.campaign, lease.token, now + ttl)
        return Lease(lease.campaign, lease.token, now + ttl)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still held."""
        with self._write():
            self._db.execute(
                "DELETE FROM wxsegment_delivery_lease "
                "WHERE account = ? AND campaign = ? AND token = ?",
                (self._account, lease.campaign, lease.token),
            )

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Every stored batch of the campaign, by index."""
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, clientmsgid, members, month, state, formed_at, attempted_at, msg_id "
                "FROM wxsegment_delivery_batch WHERE account = ? AND campaign = ? ORDER BY idx",
                (self._account, campaign),
            ).fetchall()
        records = []
        for idx, clientmsgid, members, month, state, formed, attempted, msg_id in rows:
            formed_at = from_text(formed)
            assert formed_at is not None
            records.append(
                BatchRecord(
                    campaign=campaign,
                    index=int(idx),
                    clientmsgid=str(clientmsgid),
                    members=tuple(json.loads(members)),
                    month=str(month),
                    state=BatchState(state),
                    formed_at=formed_at,
                    attempted_at=from_text(attempted),
                    msg_id=None if msg_id is None else int(msg_id),
                )
            )
        return records

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """Store new batches; indexes must be unused."""
        checked = check_records(records, lease)
        rows = [
            (
                self._account,
                r.campaign,
                r.index,
                r.clientmsgid,
                json.dumps(list(r.members), ensure_ascii=False),
                r.month,
                r.state.value,
                to_text(r.formed_at),
            )
            for r in checked
        ]
        with self._write():
            self._check(lease)
            try:
                self._db.executemany(
                    "INSERT INTO wxsegment_delivery_batch (account, campaign, idx, clientmsgid, "
                    "members, month, state, formed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except sqlite3.IntegrityError as error:
                raise JournalConflictError("a batch index is already used") from error

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
        if campaign != lease.campaign:
            raise ValueError("the lease belongs to another campaign")
        attempted = None if attempted_at is None else to_text(attempted_at)
        with self._write():
            self._check(lease)
            changed = self._db.execute(
                "UPDATE wxsegment_delivery_batch SET state = ?, "
                "attempted_at = COALESCE(attempted_at, ?), msg_id = COALESCE(?, msg_id) "
                "WHERE account = ? AND campaign = ? AND idx = ? AND state = ?",
                (state.value, attempted, msg_id, self._account, campaign, index, expect.value),
            ).rowcount
            if changed != 1:
                raise JournalConflictError(
                    f"batch {index} of {campaign!r} is not {expect.value} (or is missing)"
                )

    def forget(self, lease: Lease) -> int:
        """Drop the campaign's batches and its lease, if the lease is still held."""
        with self._write():
            self._check(lease)
            dropped = self._db.execute(
                "DELETE FROM wxsegment_delivery_batch WHERE account = ? AND campaign = ?",
                (self._account, lease.campaign),
            ).rowcount
            self._db.execute(
                "DELETE FROM wxsegment_delivery_lease WHERE account = ? AND campaign = ?",
                (self._account, lease.campaign),
            )
        return int(dropped)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
