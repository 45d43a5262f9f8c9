"""`PostgresLedger`: the ledger in PostgreSQL (psycopg 3), shared by processes on many hosts.

Concurrency: every write transaction first takes a transaction-scoped advisory lock on
(schema, account), then decides one chunk of followers in READ COMMITTED. This is the same
model as SQLite's ``BEGIN IMMEDIATE``, chosen over per-follower row locks because a decision
reads three tables (campaign idempotency, a content key in *any* month, the month's counter):
row locks would need an extra lock row written per follower, costing more than the decision
itself, and SERIALIZABLE would turn overlapping batches into retry storms. A chunk holds the
lock for a fraction of a second; readers (`usage`, `pending`) never wait, other accounts never
wait, and a single lock per transaction cannot deadlock. Because the lock is taken before the
deciding statement starts, that statement's snapshot sees every earlier writer's commit.

Speed: a chunk's openids travel as one array parameter; one statement of data-modifying CTEs
classifies them and applies the grants; commit and release are single-table statements keyed
by ``openid = ANY(array)``. Every follower is found through a primary key (per-row scalar
subqueries, never joins), so no plan depends on table statistics, which lag behind bulk loads
on fresh tables and would otherwise pick quadratic joins. A killed client's open transaction
is rolled back by the server: each follower's reservation, counter and content key are written
together or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

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

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresLedger"]

#: Followers decided per transaction (and per hold of the account lock).
DEFAULT_CHUNK: Final = 20_000
_T = TypeVar("_T")

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_reservations (
        account text NOT NULL, campaign text NOT NULL, openid text NOT NULL,
        month text NOT NULL, content_key text, committed boolean NOT NULL,
        reserved_at timestamptz NOT NULL, PRIMARY KEY (account, campaign, openid))""",
    """CREATE INDEX IF NOT EXISTS wxs_reservations_pending
        ON {s}.wxs_reservations (account, campaign, openid) WHERE NOT committed""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_months (
        account text NOT NULL, openid text NOT NULL, month text NOT NULL,
        committed integer NOT NULL, pending integer NOT NULL,
        PRIMARY KEY (account, openid, month))""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_contents (
        account text NOT NULL, openid text NOT NULL, content_key text NOT NULL,
        live integer NOT NULL, PRIMARY KEY (account, openid, content_key))""",
)

_BEGIN: Final = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

_INPUT: Final = """
WITH input AS (
    SELECT o.openid, o.pos FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS o(openid, pos)
)"""

# Outcome codes: 0 granted, 1 already, 2 duplicate content, 3 quota exhausted.
_RESERVE_DECIDE: Final = """, decided AS MATERIALIZED (
    SELECT i.openid, i.pos,
           CASE WHEN (SELECT true FROM {s}.wxs_reservations AS r
                      WHERE r.account = %(account)s AND r.campaign = %(campaign)s
                        AND r.openid = i.openid) THEN 1
                WHEN (SELECT c.live > 0 FROM {s}.wxs_contents AS c
                      WHERE c.account = %(account)s AND c.openid = i.openid
                        AND c.content_key = %(content_key)s) THEN 2
                WHEN coalesce((SELECT m.committed + m.pending FROM {s}.wxs_months AS m
                               WHERE m.account = %(account)s AND m.openid = i.openid
                                 AND m.month = %(month)s), 0) >= %(limit)s THEN 3
                ELSE 0 END AS outcome
    FROM input AS i
)"""

_EXTERNAL_DECIDE: Final = """, decided AS MATERIALIZED (
    SELECT i.openid, i.pos,
           CASE WHEN (SELECT true FROM {s}.wxs_reservations AS r
                      WHERE r.account = %(account)s AND r.campaign = %(campaign)s
                        AND r.openid = i.openid) THEN 1
                ELSE 0 END AS outcome
    FROM input AS i
)"""

_APPLY: Final = """, rows AS (
    INSERT INTO {s}.wxs_reservations
        (account, campaign, openid, month, content_key, committed, reserved_at)
    SELECT %(account)s, %(campaign)s, openid, %(month)s, %(content_key)s, %(committed)s,
           %(at)s
    FROM decided WHERE outcome = 0
), months AS (
    INSERT INTO {s}.wxs_months AS m (account, openid, month, committed, pending)
    SELECT %(account)s, openid, %(month)s, %(committed)s::int, 1 - %(committed)s::int
    FROM decided WHERE outcome = 0
    ON CONFLICT (account, openid, month) DO UPDATE
    SET committed = m.committed + excluded.committed, pending = m.pending + excluded.pending
), contents AS (
    INSERT INTO {s}.wxs_contents AS c (account, openid, content_key, live)
    SELECT %(account)s, openid, %(content_key)s, 1
    FROM decided WHERE outcome = 0 AND %(content_key)s::text IS NOT NULL
    ON CONFLICT (account, openid, content_key) DO UPDATE SET live = c.live + 1
)
SELECT pos, outcome FROM decided WHERE outcome <> 0
"""

_RESERVE: Final = _INPUT + _RESERVE_DECIDE + _APPLY
_EXTERNAL: Final = _INPUT + _EXTERNAL_DECIDE + _APPLY

# Settling is a handful of single-table statements, each keyed by primary key and an array:
# their plans cannot go wrong, whatever the table statistics say.
_PICK: Final = """
SELECT openid FROM {s}.wxs_reservations
WHERE account = %(account)s AND campaign = %(campaign)s AND NOT committed
ORDER BY openid COLLATE "C" LIMIT %(limit)s
"""

_COMMIT_ROWS: Final = """
UPDATE {s}.wxs_reservations SET committed = true
WHERE account = %(account)s AND campaign = %(campaign)s AND openid = ANY(%(ids)s::text[])
  AND NOT committed
RETURNING openid, month, content_key
"""

_RELEASE_ROWS: Final = """
DELETE FROM {s}.wxs_reservations
WHERE account = %(account)s AND campaign = %(campaign)s AND openid = ANY(%(ids)s::text[])
  AND NOT committed
RETURNING openid, month, content_key
"""

_COMMITTED_AMONG: Final = """
SELECT openid FROM {s}.wxs_reservations
WHERE account = %(account)s AND campaign = %(campaign)s AND openid = ANY(%(ids)s::text[])
"""

_COMMIT_MONTHS: Final = """
UPDATE {s}.wxs_months SET committed = committed + 1, pending = pending - 1
WHERE account = %(account)s AND month = %(month)s AND openid = ANY(%(ids)s::text[])
"""

_RELEASE_MONTHS: Final = """
UPDATE {s}.wxs_months SET pending = pending - 1
WHERE account = %(account)s AND month = %(month)s AND openid = ANY(%(ids)s::text[])
"""

_RELEASE_CONTENTS: Final = (
    """
UPDATE {s}.wxs_contents SET live = live - 1
WHERE account = %(account)s AND content_key = %(key)s AND openid = ANY(%(ids)s::text[])
""",
    """
DELETE FROM {s}.wxs_contents
WHERE account = %(account)s AND content_key = %(key)s AND openid = ANY(%(ids)s::text[])
  AND live <= 0
""",
)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "PostgresLedger needs psycopg 3: pip install 'wxsegment[postgres]'"
        ) from error
    return psycopg


class PostgresLedger:
    """A `QuotaLedger` in PostgreSQL: safe across processes and hosts sharing the database.

    ``dsn`` is a libpq connection string or an open ``psycopg.Connection`` (the ledger then
    uses, and never closes, it). Tables live in ``schema`` and are created on first use.
    """

    def __init__(
        self,
        dsn: str | psycopg.Connection[Any],
        *,
        account: str = DEFAULT_ACCOUNT,
        limit: int = MAX_PUSHES_PER_MONTH,
        schema: str = "wxsegment",
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        psycopg = _import_psycopg()
        self._account = check_account(account)
        self._limit = check_limit(limit)
        if not isinstance(schema, str) or not schema.isidentifier():
            raise ValueError(f"schema must be a plain identifier, got {schema!r}")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int of at least 1, got {chunk_size!r}")
        self._schema = schema
        self._chunk = chunk_size
        self._lock = threading.Lock()
        self._owned = isinstance(dsn, str)
        self._db: Any = psycopg.connect(dsn) if isinstance(dsn, str) else dsn
        self._lock_key = f"wxsegment:{schema}:{self._account}"
        self._statements: dict[str, str] = {}
        self._transaction(self._create_tables, lock=False)

    def __repr__(self) -> str:
        return (
            f"PostgresLedger(schema={self._schema!r}, account={self._account!r}, "
            f"limit={self._limit})"
        )

    @property
    def account(self) -> str:
        """The service account this ledger counts for."""
        return self._account

    @property
    def limit(self) -> int:
        """Maximum committed + pending pushes per follower per month."""
        return self._limit

    def _create_tables(self, cursor: Any) -> None:
        # CREATE ... IF NOT EXISTS races between sessions (a unique violation on the catalog),
        # so ledgers opening the same schema at once take turns.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"wxsegment:{self._schema}",)
        )
        for statement in _SCHEMA:
            cursor.execute(self._sql(statement))

    def _sql(self, statement: str) -> str:
        sql = self._statements.get(statement)
        if sql is None:
            sql = self._statements[statement] = statement.replace("{s}", f'"{self._schema}"')
        return sql

    def _transaction(self, work: Callable[[Any], _T], *, lock: bool = True) -> _T:
        """Run ``work(cursor)`` in one READ COMMITTED transaction, under the account lock."""
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            # A connection handed in by the caller may default to a stricter level, whose
            # snapshot would predate the lock and hide the previous holder's writes.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            if lock:
                cursor.execute(_BEGIN, (self._lock_key,))
            return work(cursor)

    def _chunks(self, openids: Sequence[str]) -> Iterator[Sequence[str]]:
        for start in range(0, len(openids), self._chunk):
            yield openids[start : start + self._chunk]

    def _decide(
        self, statement: str, chunk: Sequence[str], params: dict[str, Any]
    ) -> list[tuple[int, int]]:
        """Run a deciding statement on one chunk; (position from 1, outcome) of the exceptions."""

        def work(cursor: Any) -> list[tuple[int, int]]:
            cursor.execute(self._sql(statement), {**params, "ids": list(chunk)})
            return [(row[0], row[1]) for row in cursor.fetchall()]

        return self._transaction(work)

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
        params = {
            "account": self._account,
            "campaign": campaign,
            "content_key": key,
            "month": month,
            "limit": self._limit,
            "committed": False,
            "at": at,
        }
        granted: list[str] = []
        already: list[str] = []
        refused: dict[str, RefusalReason] = {}
        for chunk in self._chunks(targets):
            outcomes = dict(self._decide(_RESERVE, chunk, params))
            for position, openid in enumerate(chunk, 1):
                outcome = outcomes.get(position, 0)
                if outcome == 0:
                    granted.append(openid)
                elif outcome == 1:
                    already.append(openid)
                elif outcome == 2:
                    refused[openid] = RefusalReason.DUPLICATE_CONTENT
                else:
                    refused[openid] = RefusalReason.QUOTA_EXHAUSTED
        return Reservation(campaign, month, tuple(granted), tuple(already), refused)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[list[str], list[str], list[str]]:
        """Commit or release; (moved, already committed, missing), each in order."""
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        params = {"account": self._account, "campaign": campaign, "limit": self._chunk}
        moved: list[str] = []
        committed: list[str] = []
        missing: list[str] = []

        def work(cursor: Any, chunk: Sequence[str] | None) -> int:
            if chunk is None:
                cursor.execute(self._sql(_PICK), params)
                chunk = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                self._sql(_COMMIT_ROWS if commit else _RELEASE_ROWS), {**params, "ids": chunk}
            )
            rows: list[tuple[str, str, str | None]] = cursor.fetchall()
            by_month: dict[str, list[str]] = {}
            by_key: dict[str, list[str]] = {}
            for openid, month, key in rows:
                by_month.setdefault(month, []).append(openid)
                if key is not None and not commit:
                    by_key.setdefault(key, []).append(openid)
            for month, ids in by_month.items():
                cursor.execute(
                    self._sql(_COMMIT_MONTHS if commit else _RELEASE_MONTHS),
                    {**params, "month": month, "ids": ids},
                )
            for key, ids in by_key.items():
                for statement in _RELEASE_CONTENTS:
                    cursor.execute(self._sql(statement), {**params, "key": key, "ids": ids})
            done = {row[0] for row in rows}
            rest = [openid for openid in chunk if openid not in done]
            held: set[str] = set()
            if rest:
                cursor.execute(self._sql(_COMMITTED_AMONG), {**params, "ids": rest})
                held = {row[0] for row in cursor.fetchall()}
            for openid in chunk:
                if openid in done:
                    moved.append(openid)
                elif openid in held:
                    committed.append(openid)
                else:
                    missing.append(openid)
            return len(chunk)

        if targets is None:
            # Each round moves the smallest pending openids out of pending, so the next
            # round continues after them until none are left.
            while self._transaction(partial(work, chunk=None)) == self._chunk:
                pass
        else:
            for part in self._chunks(targets):
                self._transaction(partial(work, chunk=part))
        return moved, committed, missing

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Mark pending reservations as sent (see `QuotaLedger.commit`)."""
        done, already, missing = self._settle(campaign, openids, commit=True)
        return Transition(done=tuple(done), already=tuple(already), missing=tuple(missing))

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Drop pending reservations; committed ones are refused (see `QuotaLedger.release`)."""
        done, refused, missing = self._settle(campaign, openids, commit=False)
        return Transition(done=tuple(done), missing=tuple(missing), refused=tuple(refused))

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        check_openids([openid])
        _, month = check_at(at)

        def work(cursor: Any) -> tuple[int, int]:
            cursor.execute(
                self._sql(
                    "SELECT committed, pending FROM {s}.wxs_months "
                    "WHERE account = %s AND openid = %s AND month = %s"
                ),
                (self._account, openid, month),
            )
            row = cursor.fetchone()
            return (row[0], row[1]) if row is not None else (0, 0)

        committed, pending = self._transaction(work, lock=False)
        return Usage(month, committed, pending, self._limit)

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Free slots of ``openid`` in the month of ``at``."""
        return self.usage(openid, at=at).remaining

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations ordered by campaign then openid."""
        query = (
            "SELECT campaign, openid, month, content_key, reserved_at "
            "FROM {s}.wxs_reservations WHERE account = %s AND NOT committed"
        )
        args: tuple[str, ...] = (self._account,)
        if campaign is not None:
            check_id(campaign, "campaign")
            query += " AND campaign = %s"
            args += (campaign,)

        def work(cursor: Any) -> list[PendingEntry]:
            order = ' ORDER BY campaign COLLATE "C", openid COLLATE "C"'
            cursor.execute(self._sql(query + order), args)
            return [PendingEntry(*row) for row in cursor.fetchall()]

        return iter(self._transaction(work, lock=False))

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
        params = {
            "account": self._account,
            "campaign": external_id,
            "content_key": key,
            "month": month,
            "committed": True,
            "at": at,
        }
        done: list[str] = []
        already: list[str] = []
        for chunk in self._chunks(targets):
            outcomes = dict(self._decide(_EXTERNAL, chunk, params))
            for position, openid in enumerate(chunk, 1):
                (already if outcomes.get(position, 0) else done).append(openid)
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Close the connection if the ledger opened it."""
        with self._lock:
            if self._owned:
                self._db.close()
