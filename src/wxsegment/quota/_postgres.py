"""`PostgresLedger`: the ledger in PostgreSQL (psycopg 3), shared by processes on many hosts.

Each chunk of a batch is one transaction of a few set-based statements. Writers first lock the
chunk's follower rows (``wxs_followers``) in openid order with ``SELECT ... FOR UPDATE``; every
other row a decision reads or writes (monthly counters, content keys, reservations) belongs to
one of those followers, so two writers that share a follower are serialized on it, and since
every writer locks in the same order they cannot deadlock. Within the lock, one statement of
data-modifying CTEs classifies the chunk and applies the grants.
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

DEFAULT_CHUNK: Final = 20_000
_RETRIES: Final = 5
_DROP_DEAD_CONTENTS: Final = """
DELETE FROM {s}.wxs_contents
WHERE account = %(account)s AND openid = ANY(%(ids)s::text[]) AND live <= 0
"""
_T = TypeVar("_T")

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_followers (
        account text NOT NULL, openid text NOT NULL, PRIMARY KEY (account, openid))""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_reservations (
        account text NOT NULL, campaign text NOT NULL, openid text NOT NULL,
        month text NOT NULL, content_key text, committed boolean NOT NULL,
        reserved_at timestamptz NOT NULL, PRIMARY KEY (account, campaign, openid))""",
    """CREATE INDEX IF NOT EXISTS wxs_reservations_pending
        ON {s}.wxs_reservations (account, campaign) WHERE NOT committed""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_months (
        account text NOT NULL, openid text NOT NULL, month text NOT NULL,
        committed integer NOT NULL, pending integer NOT NULL,
        PRIMARY KEY (account, openid, month))""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_contents (
        account text NOT NULL, openid text NOT NULL, content_key text NOT NULL,
        live integer NOT NULL, PRIMARY KEY (account, openid, content_key))""",
)

# Two statements, not one: rows a concurrent transaction inserted after this statement's
# snapshot are invisible to a FOR UPDATE in the same statement (and so would go unlocked),
# while a fresh statement sees everything committed by the time ON CONFLICT stopped waiting.
_ENSURE: Final = """
INSERT INTO {s}.wxs_followers (account, openid)
SELECT %(account)s, o FROM unnest(%(sorted)s::text[]) AS o
ON CONFLICT DO NOTHING
"""

_LOCK: Final = """
SELECT count(*) FROM (
    SELECT 1 FROM {s}.wxs_followers
    WHERE account = %(account)s AND openid = ANY(%(sorted)s::text[])
    ORDER BY openid FOR UPDATE
) AS locked
"""

_APPLY: Final = """, rows AS (
    INSERT INTO {s}.wxs_reservations
        (account, campaign, openid, month, content_key, committed, reserved_at)
    SELECT %(account)s, %(campaign)s, openid, %(month)s, %(content_key)s, %(committed)s,
           %(at)s
    FROM decided WHERE outcome = 'granted'
), months AS (
    INSERT INTO {s}.wxs_months AS m (account, openid, month, committed, pending)
    SELECT %(account)s, openid, %(month)s, %(committed)s::int, 1 - %(committed)s::int
    FROM decided WHERE outcome = 'granted'
    ON CONFLICT (account, openid, month) DO UPDATE
    SET committed = m.committed + excluded.committed, pending = m.pending + excluded.pending
), contents AS (
    INSERT INTO {s}.wxs_contents AS c (account, openid, content_key, live)
    SELECT %(account)s, openid, %(content_key)s, 1
    FROM decided WHERE outcome = 'granted' AND %(content_key)s::text IS NOT NULL
    ON CONFLICT (account, openid, content_key) DO UPDATE SET live = c.live + 1
)
SELECT openid, outcome FROM decided ORDER BY pos
"""

_INPUT: Final = """
WITH input AS (
    SELECT o.openid, o.pos FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS o(openid, pos)
)"""

_RESERVE: Final = (
    _INPUT
    + """, decided AS (
    SELECT i.openid, i.pos,
           CASE WHEN r.openid IS NOT NULL THEN 'already'
                WHEN c.live > 0 THEN 'duplicate'
                WHEN coalesce(m.committed, 0) + coalesce(m.pending, 0) >= %(limit)s
                    THEN 'exhausted'
                ELSE 'granted' END AS outcome
    FROM input AS i
    LEFT JOIN {s}.wxs_reservations AS r
           ON r.account = %(account)s AND r.campaign = %(campaign)s AND r.openid = i.openid
    LEFT JOIN {s}.wxs_contents AS c
           ON c.account = %(account)s AND c.openid = i.openid
          AND c.content_key = %(content_key)s
    LEFT JOIN {s}.wxs_months AS m
           ON m.account = %(account)s AND m.openid = i.openid AND m.month = %(month)s
)"""
    + _APPLY
)

_EXTERNAL: Final = (
    _INPUT
    + """, decided AS (
    SELECT i.openid, i.pos,
           CASE WHEN r.openid IS NOT NULL THEN 'already' ELSE 'granted' END AS outcome
    FROM input AS i
    LEFT JOIN {s}.wxs_reservations AS r
           ON r.account = %(account)s AND r.campaign = %(campaign)s AND r.openid = i.openid
)"""
    + _APPLY
)

_TARGET: Final = (
    _INPUT
    + """, target AS (
    SELECT i.openid, i.pos, r.month, r.committed, r.content_key
    FROM input AS i
    LEFT JOIN {s}.wxs_reservations AS r
           ON r.account = %(account)s AND r.campaign = %(campaign)s AND r.openid = i.openid
)"""
)

_COMMIT: Final = (
    _TARGET
    + """, rows AS (
    UPDATE {s}.wxs_reservations AS r SET committed = true
    FROM target AS t
    WHERE r.account = %(account)s AND r.campaign = %(campaign)s AND r.openid = t.openid
      AND NOT t.committed
), months AS (
    UPDATE {s}.wxs_months AS m SET committed = m.committed + 1, pending = m.pending - 1
    FROM target AS t
    WHERE m.account = %(account)s AND m.openid = t.openid AND m.month = t.month
      AND NOT t.committed
)
SELECT openid, CASE WHEN month IS NULL THEN 'missing' WHEN committed THEN 'committed'
                    ELSE 'pending' END
FROM target ORDER BY pos
"""
)

_RELEASE: Final = (
    _TARGET
    + """, rows AS (
    DELETE FROM {s}.wxs_reservations AS r
    USING target AS t
    WHERE r.account = %(account)s AND r.campaign = %(campaign)s AND r.openid = t.openid
      AND NOT t.committed
), months AS (
    UPDATE {s}.wxs_months AS m SET pending = m.pending - 1
    FROM target AS t
    WHERE m.account = %(account)s AND m.openid = t.openid AND m.month = t.month
      AND NOT t.committed
), contents AS (
    UPDATE {s}.wxs_contents AS c SET live = c.live - 1
    FROM target AS t
    WHERE c.account = %(account)s AND c.openid = t.openid AND c.content_key = t.content_key
      AND NOT t.committed
)
SELECT openid, CASE WHEN month IS NULL THEN 'missing' WHEN committed THEN 'committed'
                    ELSE 'pending' END
FROM target ORDER BY pos
"""
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
        if not schema.isidentifier():
            raise ValueError(f"schema must be a plain identifier, got {schema!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self._schema = schema
        self._chunk = chunk_size
        self._lock = threading.Lock()
        self._owned = isinstance(dsn, str)
        self._db: Any = psycopg.connect(dsn) if isinstance(dsn, str) else dsn
        self._errors = psycopg.errors
        self._run(self._create_tables)

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
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"wxsegment:{self._schema}",))
        for statement in _SCHEMA:
            cursor.execute(self._sql(statement))

    def _sql(self, statement: str) -> str:
        return statement.replace("{s}", f'"{self._schema}"')

    def _run(self, work: Callable[[Any], _T]) -> _T:
        """Run ``work(cursor)`` in one transaction, retrying on deadlock or serialization."""
        retryable = (self._errors.DeadlockDetected, self._errors.SerializationFailure)
        with self._lock:
            for attempt in range(_RETRIES):
                try:
                    with self._db.transaction(), self._db.cursor() as cursor:
                        return work(cursor)
                except retryable:
                    if attempt == _RETRIES - 1:
                        raise
            raise AssertionError("unreachable")

    def _locked(
        self, cursor: Any, *, chunk: Sequence[str], statement: str, params: dict[str, Any]
    ) -> list[tuple[str, str]]:
        arguments = {**params, "ids": list(chunk)}
        keys = {"account": self._account, "sorted": sorted(set(chunk))}
        cursor.execute(self._sql(_ENSURE), keys)
        cursor.execute(self._sql(_LOCK), keys)
        (locked,) = cursor.fetchone()
        if locked != len(keys["sorted"]):
            raise AssertionError(f"locked {locked} of {len(keys['sorted'])} follower rows")
        cursor.execute(self._sql(statement), arguments)
        decided = [(row[0], row[1]) for row in cursor.fetchall()]
        if statement is _RELEASE:
            cursor.execute(self._sql(_DROP_DEAD_CONTENTS), arguments)
        return decided

    def _chunks(self, openids: Sequence[str]) -> Iterator[Sequence[str]]:
        for start in range(0, len(openids), self._chunk):
            yield openids[start : start + self._chunk]

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
            for openid, outcome in self._run(
                partial(self._locked, chunk=chunk, statement=_RESERVE, params=params)
            ):
                if outcome == "granted":
                    granted.append(openid)
                elif outcome == "already":
                    already.append(openid)
                elif outcome == "duplicate":
                    refused[openid] = RefusalReason.DUPLICATE_CONTENT
                else:
                    refused[openid] = RefusalReason.QUOTA_EXHAUSTED
        return Reservation(campaign, month, tuple(granted), tuple(already), refused)

    def _pending_openids(self, campaign: str) -> list[str]:
        def work(cursor: Any) -> list[str]:
            cursor.execute(
                self._sql(
                    "SELECT openid FROM {s}.wxs_reservations WHERE account = %s "
                    'AND campaign = %s AND NOT committed ORDER BY openid COLLATE "C"'
                ),
                (self._account, campaign),
            )
            return [row[0] for row in cursor.fetchall()]

        return self._run(work)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, statement: str
    ) -> list[tuple[str, str]]:
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        if targets is None:
            targets = self._pending_openids(campaign)
        params = {"account": self._account, "campaign": campaign}
        decided: list[tuple[str, str]] = []
        for chunk in self._chunks(targets):
            decided.extend(
                self._run(partial(self._locked, chunk=chunk, statement=statement, params=params))
            )
        return decided

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Mark pending reservations as sent (see `QuotaLedger.commit`)."""
        decided = self._settle(campaign, openids, _COMMIT)
        return Transition(
            done=tuple(o for o, outcome in decided if outcome == "pending"),
            already=tuple(o for o, outcome in decided if outcome == "committed"),
            missing=tuple(o for o, outcome in decided if outcome == "missing"),
        )

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Drop pending reservations; committed ones are refused (see `QuotaLedger.release`)."""
        decided = self._settle(campaign, openids, _RELEASE)
        return Transition(
            done=tuple(o for o, outcome in decided if outcome == "pending"),
            missing=tuple(o for o, outcome in decided if outcome == "missing"),
            refused=tuple(o for o, outcome in decided if outcome == "committed"),
        )

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

        committed, pending = self._run(work)
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

        return iter(self._run(work))

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
            for openid, outcome in self._run(
                partial(self._locked, chunk=chunk, statement=_EXTERNAL, params=params)
            ):
                (done if outcome == "granted" else already).append(openid)
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Close the connection if the ledger opened it."""
        with self._lock:
            if self._owned:
                self._db.close()
