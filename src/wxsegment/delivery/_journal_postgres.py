"""`PostgresJournal`: the delivery journal in PostgreSQL, beside the ledger's tables.

Each write is one transaction that locks the campaign's lease row (``FOR UPDATE``) and checks
the token before touching a batch, so a run whose lease was taken cannot write, from any host.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from wxsegment._clock import ensure_aware
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

__all__ = ["PostgresJournal"]

_T = TypeVar("_T")

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.delivery_lease (
        account text NOT NULL, campaign text NOT NULL, token text NOT NULL,
        expires_at timestamptz NOT NULL, PRIMARY KEY (account, campaign))""",
    """CREATE TABLE IF NOT EXISTS {s}.delivery_batch (
        account text NOT NULL, campaign text NOT NULL, idx integer NOT NULL,
        clientmsgid text NOT NULL, members text[] NOT NULL, month text NOT NULL,
        state text NOT NULL, formed_at timestamptz NOT NULL, attempted_at timestamptz,
        msg_id bigint, PRIMARY KEY (account, campaign, idx))""",
)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "PostgresJournal needs psycopg 3: pip install 'wxsegment[postgres]'"
        ) from error
    return psycopg


def _connect(psycopg: Any, dsn: str) -> Any:
    try:
        return psycopg.connect(dsn)
    except psycopg.Error:
        failure = ConnectionError("could not connect to PostgreSQL (the DSN is withheld)")
    # Raised outside the handler so libpq's message, which may echo the DSN, is not kept.
    raise failure


class PostgresJournal:
    """A `DeliveryJournal` in PostgreSQL; ``dsn`` is a connection string or an open connection.

    A connection handed in is used and never closed (`journal_for` passes the ledger's own,
    with the ledger's ``lock`` so their transactions never interleave on it). Tables
    ``delivery_lease`` and ``delivery_batch`` live in ``schema``.
    """

    def __init__(
        self,
        dsn: str | Any,
        *,
        account: str = "default",
        schema: str = "wxsegment",
        lock: threading.Lock | None = None,
    ) -> None:
        psycopg = _import_psycopg()
        if not isinstance(schema, str) or not schema.isidentifier():
            raise ValueError(f"schema must be a plain identifier, got {schema!r}")
        self._account = account
        self._schema = schema
        self._lock = lock or threading.Lock()
        self._owned = isinstance(dsn, str)
        self._db: Any = _connect(psycopg, dsn) if isinstance(dsn, str) else dsn

        def create(cursor: Any) -> None:
            # CREATE ... IF NOT EXISTS races between sessions; take turns, as the ledger does.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"wxsegment:{schema}",),
            )
            for statement in _SCHEMA:
                cursor.execute(self._sql(statement))

        self._transaction(create)

    def __repr__(self) -> str:
        return f"PostgresJournal(schema={self._schema!r}, account={self._account!r})"

    @property
    def account(self) -> str:
        """The service account this journal belongs to."""
        return self._account

    def _sql(self, statement: str) -> str:
        return statement.replace("{s}", f'"{self._schema}"')

    def _transaction(self, work: Callable[[Any], _T]) -> _T:
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return work(cursor)

    def _check(self, cursor: Any, lease: Lease) -> None:
        cursor.execute(
            self._sql(
                "SELECT token FROM {s}.delivery_lease WHERE account = %s AND campaign = %s "
                "FOR UPDATE"
            ),
            (self._account, lease.campaign),
        )
        row = cursor.fetchone()
        if row is None or row[0] != lease.token:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the campaign's lease until ``now + ttl``, or raise `CampaignBusyError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        token = new_token()

        def work(cursor: Any) -> datetime | None:
            cursor.execute(
                self._sql(
                    "INSERT INTO {s}.delivery_lease AS l (account, campaign, token, expires_at) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (account, campaign) DO UPDATE SET "
                    "token = excluded.token, expires_at = excluded.expires_at "
                    "WHERE l.expires_at <= %s RETURNING l.token"
                ),
                (self._account, campaign, token, now + ttl, now),
            )
            if cursor.fetchone() is not None:
                return None
            cursor.execute(
                self._sql(
                    "SELECT expires_at FROM {s}.delivery_lease WHERE account = %s AND campaign = %s"
                ),
                (self._account, campaign),
            )
            row = cursor.fetchone()
            return now if row is None else row[0]

        busy_until = self._transaction(work)
        if busy_until is not None:
            raise CampaignBusyError(
                f"campaign {campaign!r} is being delivered by another run until "
                f"{busy_until.isoformat()}"
            )
        return Lease(campaign, token, now + ttl)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend a still-held lease to ``now + ttl``, or raise `LeaseLostError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)

        def work(cursor: Any) -> None:
            self._check(cursor, lease)
            cursor.execute(
                self._sql(
                    "UPDATE {s}.delivery_lease SET expires_at = %s "
                    "WHERE account = %s AND campaign = %s"
                ),
                (now + ttl, self._account, lease.campaign),
            )

        self._transaction(work)
        return Lease(lease.campaign, lease.token, now + ttl)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still held."""
        self._transaction(
            lambda cursor: cursor.execute(
                self._sql(
                    "DELETE FROM {s}.delivery_lease "
                    "WHERE account = %s AND campaign = %s AND token = %s"
                ),
                (self._account, lease.campaign, lease.token),
            )
        )

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Every stored batch of the campaign, by index."""

        def work(cursor: Any) -> list[Any]:
            cursor.execute(
                self._sql(
                    "SELECT idx, clientmsgid, members, month, state, formed_at, attempted_at, "
                    "msg_id FROM {s}.delivery_batch WHERE account = %s AND campaign = %s "
                    "ORDER BY idx"
                ),
                (self._account, campaign),
            )
            return list(cursor.fetchall())

        rows = self._transaction(work)
        return [
            BatchRecord(
                campaign=campaign,
                index=int(idx),
                clientmsgid=str(clientmsgid),
                members=tuple(members),
                month=str(month),
                state=BatchState(state),
                formed_at=formed,
                attempted_at=attempted,
                msg_id=None if msg_id is None else int(msg_id),
            )
            for idx, clientmsgid, members, month, state, formed, attempted, msg_id in rows
        ]

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """Store new batches; indexes must be unused."""
        checked = check_records(records, lease)
        rows = [
            (
                self._account,
                r.campaign,
                r.index,
                r.clientmsgid,
                list(r.members),
                r.month,
                r.state.value,
                r.formed_at,
            )
            for r in checked
        ]

        def work(cursor: Any) -> None:
            self._check(cursor, lease)
            cursor.execute(
                self._sql(
                    "SELECT count(*) FROM {s}.delivery_batch "
                    "WHERE account = %s AND campaign = %s AND idx = ANY(%s)"
                ),
                (self._account, lease.campaign, [r.index for r in checked]),
            )
            (taken,) = cursor.fetchone()
            if taken:
                raise JournalConflictError("a batch index is already used")
            cursor.executemany(
                self._sql(
                    "INSERT INTO {s}.delivery_batch (account, campaign, idx, clientmsgid, "
                    "members, month, state, formed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                ),
                rows,
            )

        self._transaction(work)

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
        if attempted_at is not None:
            ensure_aware(attempted_at, "attempted_at")

        def work(cursor: Any) -> None:
            self._check(cursor, lease)
            cursor.execute(
                self._sql(
                    "UPDATE {s}.delivery_batch SET state = %s, "
                    "attempted_at = COALESCE(attempted_at, %s::timestamptz), "
                    "msg_id = COALESCE(%s::bigint, msg_id) "
                    "WHERE account = %s AND campaign = %s AND idx = %s AND state = %s"
                ),
                (state.value, attempted_at, msg_id, self._account, campaign, index, expect.value),
            )
            if cursor.rowcount != 1:
                raise JournalConflictError(
                    f"batch {index} of {campaign!r} is not {expect.value} (or is missing)"
                )

        self._transaction(work)

    def forget(self, lease: Lease) -> int:
        """Drop the campaign's batches and its lease, if the lease is still held."""

        def work(cursor: Any) -> int:
            self._check(cursor, lease)
            cursor.execute(
                self._sql("DELETE FROM {s}.delivery_batch WHERE account = %s AND campaign = %s"),
                (self._account, lease.campaign),
            )
            dropped = int(cursor.rowcount)
            cursor.execute(
                self._sql("DELETE FROM {s}.delivery_lease WHERE account = %s AND campaign = %s"),
                (self._account, lease.campaign),
            )
            return dropped

        dropped: int = self._transaction(work)
        return dropped

    def close(self) -> None:
        """Close the connection if the journal opened it."""
        if self._owned:
            with self._lock:
                self._db.close()
