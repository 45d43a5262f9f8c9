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
classifies them and applies the grants (or commits or releases them). Every follower's rows
are found through their primary keys in per-row subqueries, and updates address the rows
found by ``ctid``, so no plan depends on table statistics, which lag behind bulk loads and
undervalue a new campaign or account, inviting the planner into quadratic joins. A killed
client's open transaction is rolled back by the server: each follower's reservation, counter
and content key are written together or not at all.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote

from wxsegment.quota._base import (
    ALREADY,
    LedgerBase,
    Outcome,
    ReserveTally,
    chunks,
    shared_usages,
)
from wxsegment.quota._types import (
    DEFAULT_ACCOUNT,
    MAX_PUSHES_PER_MONTH,
    ConnectionBusyError,
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

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresLedger"]

#: Followers decided per transaction (and per hold of the account lock).
DEFAULT_CHUNK: Final = 20_000
#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated without an error.
_MAX_IDENTIFIER_BYTES: Final = 63
_T = TypeVar("_T")

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_reservations (
        account text NOT NULL, campaign text COLLATE "C" NOT NULL,
        openid text COLLATE "C" NOT NULL, month text NOT NULL, content_key text,
        committed boolean NOT NULL,
        reserved_at timestamptz NOT NULL, PRIMARY KEY (account, campaign, openid))""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_months (
        account text NOT NULL, openid text COLLATE "C" NOT NULL, month text NOT NULL,
        committed integer NOT NULL, pending integer NOT NULL,
        PRIMARY KEY (account, openid, month))""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_contents (
        account text NOT NULL, openid text COLLATE "C" NOT NULL, content_key text NOT NULL,
        live integer NOT NULL, PRIMARY KEY (account, openid, content_key))""",
)

# The account lock, and no JIT: the planner's cost for a 20,000-row chunk crosses the JIT
# threshold, and compiling each statement costs more than running it.
_BEGIN: Final = """
SELECT pg_advisory_xact_lock(hashtextextended(%s, 0)), set_config('jit', 'off', true)
"""

_INPUT: Final = """
WITH input AS (
    SELECT o.openid, o.pos FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS o(openid, pos)
)"""

# Outcome codes: 0 granted, 1 already, 2 duplicate content, 3 quota exhausted.
_OUTCOMES: Final[dict[int, Outcome]] = {
    1: ALREADY,
    2: RefusalReason.DUPLICATE_CONTENT,
    3: RefusalReason.QUOTA_EXHAUSTED,
}
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

# The next chunk of a campaign's pending reservations, after the last one settled. The primary
# key serves it; a partial index of pending rows would cost every grant and commit more than it
# saves here.
_PICK: Final = """
SELECT openid FROM {s}.wxs_reservations
WHERE account = %(account)s AND campaign = %(campaign)s AND NOT committed
  AND openid > %(after)s
ORDER BY openid LIMIT %(limit)s
"""

# Outcome codes: 0 pending (moved by this call), 1 committed already, 2 missing. Rows are
# found by primary key in per-row subqueries and then written by ctid, so no plan depends on
# statistics (an unknown campaign looks tiny to the planner, inviting quadratic scans).
_TARGET: Final = (
    _INPUT
    + """, target AS MATERIALIZED (
    SELECT i.openid, i.pos, r.tid, r.month, r.content_key,
           CASE WHEN r.tid IS NULL THEN 2 WHEN r.committed THEN 1 ELSE 0 END AS outcome
    FROM input AS i
    LEFT JOIN LATERAL (
        SELECT ctid AS tid, month, content_key, committed FROM {s}.wxs_reservations
        WHERE account = %(account)s AND campaign = %(campaign)s AND openid = i.openid
        LIMIT 1
    ) AS r ON true
), month_rows AS MATERIALIZED (
    SELECT array(
        SELECT (SELECT m.ctid FROM {s}.wxs_months AS m
                WHERE m.account = %(account)s AND m.openid = t.openid AND m.month = t.month)
        FROM target AS t WHERE t.outcome = 0
    ) AS tids
)"""
)

_COMMIT: Final = (
    _TARGET
    + """, rows AS (
    UPDATE {s}.wxs_reservations SET committed = true
    WHERE ctid = ANY(array(SELECT tid FROM target WHERE outcome = 0))
), months AS (
    UPDATE {s}.wxs_months SET committed = committed + 1, pending = pending - 1
    WHERE ctid = ANY((SELECT tids FROM month_rows)::tid[])
)
SELECT pos, outcome FROM target WHERE outcome <> 0
"""
)

_RELEASE: Final = (
    _TARGET
    + """, content_rows AS MATERIALIZED (
    SELECT array(
        SELECT (SELECT c.ctid FROM {s}.wxs_contents AS c
                WHERE c.account = %(account)s AND c.openid = t.openid
                  AND c.content_key = t.content_key)
        FROM target AS t WHERE t.outcome = 0 AND t.content_key IS NOT NULL
    ) AS tids
), rows AS (
    DELETE FROM {s}.wxs_reservations
    WHERE ctid = ANY(array(SELECT tid FROM target WHERE outcome = 0))
), months AS (
    UPDATE {s}.wxs_months SET pending = pending - 1
    WHERE ctid = ANY((SELECT tids FROM month_rows)::tid[])
), fewer AS (
    UPDATE {s}.wxs_contents SET live = live - 1
    WHERE ctid = ANY((SELECT tids FROM content_rows)::tid[]) AND live > 1
), gone AS (
    DELETE FROM {s}.wxs_contents
    WHERE ctid = ANY((SELECT tids FROM content_rows)::tid[]) AND live <= 1
)
SELECT pos, outcome FROM target WHERE outcome <> 0
"""
)


# Where a libpq connection string can carry a password: URI userinfo, a URI query parameter,
# or a key=value pair (quoted or bare).
_PASSWORDS: Final = (
    re.compile(r"://[^/@?#]*?:([^/?#]*)@"),
    re.compile(r"[?&]password=([^&#]*)"),
    re.compile(r"\bpassword\s*=\s*'((?:[^'\\]|\\.)*)'"),
    re.compile(r"\bpassword\s*=\s*([^\s']\S*)"),
)


def _redact(message: str, dsn: str) -> str:
    """``message`` with every password the connection string holds replaced by ``***``."""
    secrets = {found for pattern in _PASSWORDS for found in pattern.findall(dsn) if found}
    secrets |= {unquote(secret) for secret in secrets}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _connect(psycopg: Any, dsn: str) -> Any:
    """Open a connection; libpq echoes parts of a malformed DSN, so errors are redacted."""
    try:
        return psycopg.connect(dsn)
    except psycopg.Error as error:
        failure = type(error)(_redact(str(error), dsn))
    # Raised outside the handler so the original error is not kept as the context either.
    raise failure


# Ledgers handed the same connection share one lock, so their transactions take turns on it
# instead of nesting into each other's.
_CONNECTION_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK: Final = threading.Lock()


def _connection_lock(connection: Any) -> threading.Lock:
    with _REGISTRY_LOCK:
        lock = _CONNECTION_LOCKS.get(connection)
        if lock is None:
            lock = _CONNECTION_LOCKS[connection] = threading.Lock()
        return lock


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "PostgresLedger needs psycopg 3: pip install 'wxsegment[postgres]'"
        ) from error
    return psycopg


class PostgresLedger(LedgerBase):
    """A `QuotaLedger` in PostgreSQL: safe across processes and hosts sharing the database.

    ``dsn`` is a libpq connection string or an open ``psycopg.Connection`` in autocommit mode
    (the ledger then uses, and never closes, it; ledgers sharing it take turns; a call while
    the caller holds a transaction on it raises `ConnectionBusyError`). Tables live in
    ``schema`` and are created on first use.
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
        super().__init__(account, limit)
        if not isinstance(schema, str) or not schema.isidentifier():
            raise ValueError(f"schema must be a plain identifier, got {schema!r}")
        if len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
            # PostgreSQL would silently truncate it, while the account lock keeps the full name:
            # two long names would then share tables but not the lock.
            raise ValueError(
                f"schema must be at most {_MAX_IDENTIFIER_BYTES} bytes in UTF-8, "
                f"got {len(schema.encode())}"
            )
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int of at least 1, got {chunk_size!r}")
        if not isinstance(dsn, str) and not getattr(dsn, "autocommit", False):
            raise ValueError(
                "a connection handed to PostgresLedger must be in autocommit mode "
                "(psycopg.connect(..., autocommit=True)): otherwise its grants would join "
                "the caller's transaction and vanish with its rollback"
            )
        self._schema = schema
        self._chunk = chunk_size
        self._owned = isinstance(dsn, str)
        self._db: Any = _connect(psycopg, dsn) if isinstance(dsn, str) else dsn
        self._lock = _connection_lock(self._db)
        self._idle = psycopg.pq.TransactionStatus.IDLE
        self._lock_key = f"wxsegment:{schema}:{self._account}"
        self._statements: dict[str, str] = {}
        self._transaction(self._create_tables, lock=False)

    def __repr__(self) -> str:
        return (
            f"PostgresLedger(schema={self._schema!r}, account={self._account!r}, "
            f"limit={self._limit})"
        )

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
        with self._lock:
            status = self._db.info.transaction_status
            if status != self._idle:
                raise ConnectionBusyError(
                    f"the ledger's connection is inside a transaction or a query "
                    f"({status.name}) it did not start; finish it, or give the ledger a "
                    "connection of its own"
                )
            with self._db.transaction(), self._db.cursor() as cursor:
                # A connection handed in by the caller may default to a stricter level, whose
                # snapshot would predate the lock and hide the previous holder's writes.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                if lock:
                    cursor.execute(_BEGIN, (self._lock_key,))
                return work(cursor)

    def _decide(
        self, statement: str, chunk: Sequence[str], params: dict[str, Any]
    ) -> dict[int, Outcome]:
        """Run a deciding statement on one chunk; the outcomes of the exceptions by position."""

        def work(cursor: Any) -> dict[int, Outcome]:
            cursor.execute(self._sql(statement), {**params, "ids": list(chunk)})
            # Positions come from WITH ORDINALITY, which counts from 1.
            return {row[0] - 1: _OUTCOMES[row[1]] for row in cursor.fetchall()}

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
        key, at, month, targets = check_batch(campaign, "campaign", openids, at, content_key)
        params = {
            "account": self._account,
            "campaign": campaign,
            "content_key": key,
            "month": month,
            "limit": self._limit,
            "committed": False,
            "at": at,
        }
        tally = ReserveTally()
        for chunk in chunks(targets, self._chunk):
            tally.add(chunk, self._decide(_RESERVE, chunk, params))
        return tally.result(campaign, month)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[list[str], list[str], list[str]]:
        """Commit or release; (moved, already committed, missing), each in order."""
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        params = {"account": self._account, "campaign": campaign, "limit": self._chunk}
        statement = self._sql(_COMMIT if commit else _RELEASE)
        moved: list[str] = []
        committed: list[str] = []
        missing: list[str] = []

        def work(cursor: Any, chunk: Sequence[str] | None, after: str = "") -> int:
            if chunk is None:
                cursor.execute(self._sql(_PICK), {**params, "after": after})
                chunk = [row[0] for row in cursor.fetchall()]
            cursor.execute(statement, {**params, "ids": list(chunk)})
            outcomes = dict(cursor.fetchall())
            for position, openid in enumerate(chunk, 1):
                (moved, committed, missing)[outcomes.get(position, 0)].append(openid)
            return len(chunk)

        if targets is None:
            # Keyset pagination over the campaign's pending openids, in byte order.
            while self._transaction(partial(work, chunk=None, after=moved[-1] if moved else "")):
                pass
        else:
            for part in chunks(targets, self._chunk):
                self._transaction(partial(work, chunk=part))
        return moved, committed, missing

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

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """`usage` of many followers: one statement per chunk (``= ANY`` on the key)."""
        listed = check_many(openids)
        _, month = check_at(at)

        def work(cursor: Any) -> dict[str, tuple[int, int]]:
            found: dict[str, tuple[int, int]] = {}
            for chunk in chunks(listed, self._chunk):
                cursor.execute(
                    self._sql(
                        "SELECT openid, committed, pending FROM {s}.wxs_months "
                        "WHERE account = %s AND month = %s AND openid = ANY(%s)"
                    ),
                    (self._account, month, list(chunk)),
                )
                found.update((openid, (c, p)) for openid, c, p in cursor.fetchall())
            return found

        found = self._transaction(work, lock=False) if listed else {}
        return shared_usages(listed, found, month, self._limit)

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Which of ``content_keys`` each follower holds; followers holding none left out."""
        listed = check_many(openids)
        keys = check_keys(content_keys)
        if not keys or not listed:
            return {}

        def work(cursor: Any) -> dict[str, set[str]]:
            held: dict[str, set[str]] = {}
            for chunk in chunks(listed, self._chunk):
                cursor.execute(
                    self._sql(
                        "SELECT openid, content_key FROM {s}.wxs_contents WHERE account = %s "
                        "AND openid = ANY(%s) AND content_key = ANY(%s) AND live > 0"
                    ),
                    (self._account, list(chunk), keys),
                )
                for openid, key in cursor.fetchall():
                    held.setdefault(openid, set()).add(key)
            return held

        return {o: frozenset(k) for o, k in self._transaction(work, lock=False).items()}

    def month_usage(self, *, at: datetime) -> Mapping[str, Usage]:
        """Every follower with pushes in the month of ``at``: one scan (see `ScanningLedger`)."""
        _, month = check_at(at)

        def work(cursor: Any) -> list[tuple[int, int, list[str]]]:
            # One array per distinct pair of counts (a handful a month), not a row per follower.
            cursor.execute(
                self._sql(
                    "SELECT committed, pending, array_agg(openid) FROM {s}.wxs_months "
                    "WHERE account = %s AND month = %s AND committed + pending > 0 "
                    "GROUP BY committed, pending"
                ),
                (self._account, month),
            )
            return list(cursor.fetchall())

        out: dict[str, Usage] = {}
        for committed, pending, openids in self._transaction(work, lock=False):
            out.update(dict.fromkeys(openids, Usage(month, committed, pending, self._limit)))
        return out

    def content_holders(self, content_keys: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """The followers holding each content key: one scan (see `ScanningLedger`)."""
        keys = check_keys(content_keys)
        out = dict.fromkeys(keys, frozenset[str]())
        if not keys:
            return out

        def work(cursor: Any) -> list[tuple[str, list[str]]]:
            cursor.execute(
                self._sql(
                    "SELECT content_key, array_agg(openid) FROM {s}.wxs_contents "
                    "WHERE account = %s AND content_key = ANY(%s) AND live > 0 "
                    "GROUP BY content_key"
                ),
                (self._account, keys),
            )
            return list(cursor.fetchall())

        out.update(
            (key, frozenset(openids)) for key, openids in self._transaction(work, lock=False)
        )
        return out

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
        key, at, month, targets = check_batch(external_id, "external_id", openids, at, content_key)
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
        for chunk in chunks(targets, self._chunk):
            outcomes = self._decide(_EXTERNAL, chunk, params)
            for position, openid in enumerate(chunk):
                (already if position in outcomes else done).append(openid)
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Close the connection if the ledger opened it."""
        with self._lock:
            if self._owned:
                self._db.close()
