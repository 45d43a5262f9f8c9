"""`PostgresWindowStore`: the customer-service window in PostgreSQL, shared by many hosts.

`consume` runs in one READ COMMITTED transaction that first takes a transaction-scoped
advisory lock on the follower, so two consumers of one follower take turns while other
followers never wait; the statement that reads the history starts after the lock is held, so
its snapshot sees the previous holder's send. Instants are stored as microseconds since the
Unix epoch (``bigint``), exactly as the SQLite store keeps them, so no session time zone can
shift them. A killed client's open transaction is rolled back by the server: a send is
either stored with its decision or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from wxsegment.quota._postgres import _connect, _import_psycopg
from wxsegment.quota._window import Interaction, WindowHistory
from wxsegment.quota._window_stores import _instant, _micros

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresWindowStore"]

_T = TypeVar("_T")

_SCHEMA: Final = (
    "CREATE SCHEMA IF NOT EXISTS {s}",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_window_interactions (
        account text NOT NULL, openid text COLLATE "C" NOT NULL, at_us bigint NOT NULL,
        kind text NOT NULL, PRIMARY KEY (account, openid, at_us, kind))""",
    """CREATE INDEX IF NOT EXISTS wxs_window_interactions_age
        ON {s}.wxs_window_interactions (account, at_us)""",
    """CREATE TABLE IF NOT EXISTS {s}.wxs_window_sends (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account text NOT NULL,
        openid text COLLATE "C" NOT NULL, at_us bigint NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS wxs_window_sends_follower
        ON {s}.wxs_window_sends (account, openid, at_us)""",
    """CREATE INDEX IF NOT EXISTS wxs_window_sends_age ON {s}.wxs_window_sends (account, at_us)""",
)

# One statement, one snapshot: both halves of the history are read together. Rows older than
# ``cut`` are left out here and, in `_PRUNE_AND_READ`, deleted by the same statement.
_READ: Final = """
SELECT 0, at_us, kind FROM {s}.wxs_window_interactions
WHERE account = %(account)s AND openid = %(openid)s AND at_us >= %(cut)s
UNION ALL
SELECT 1, at_us, NULL FROM {s}.wxs_window_sends
WHERE account = %(account)s AND openid = %(openid)s AND at_us >= %(cut)s
ORDER BY 1, 2, 3
"""

_PRUNE_AND_READ: Final = (
    """
WITH old_interactions AS (
    DELETE FROM {s}.wxs_window_interactions
    WHERE account = %(account)s AND openid = %(openid)s AND at_us < %(cut)s
), old_sends AS (
    DELETE FROM {s}.wxs_window_sends
    WHERE account = %(account)s AND openid = %(openid)s AND at_us < %(cut)s
)"""
    + _READ
)

_INSERT_SEND: Final = (
    "INSERT INTO {s}.wxs_window_sends (account, openid, at_us) VALUES (%s, %s, %s)"
)

# PostgreSQL silently truncates longer identifiers, which could merge two schemas.
_MAX_IDENTIFIER_BYTES: Final = 63

# The smallest bigint: reads that prune nothing use it as their cut.
_NO_CUT: Final = -(2**63)


def _history(rows: list[tuple[int, int, str | None]]) -> WindowHistory:
    return WindowHistory(
        tuple((_instant(at), Interaction(kind)) for what, at, kind in rows if what == 0 and kind),
        tuple(_instant(at) for what, at, _ in rows if what == 1),
    )


def _lock_key(schema: str, account: str, openid: str) -> str:
    # Length-prefixed so no two (schema, account, openid) share a key; a hash collision of two
    # keys would only make two followers take turns.
    return f"wxsegment:window:{len(schema)}:{schema}:{len(account)}:{account}:{openid}"


class PostgresWindowStore:
    """A `WindowStore` in PostgreSQL (psycopg 3): safe across processes and hosts.

    ``dsn`` is a libpq connection string or an open ``psycopg.Connection`` (the store then
    uses, and never closes, it). Tables live in ``schema`` (created on first use), which may
    be the ledger's schema.
    """

    def __init__(self, dsn: str | psycopg.Connection[Any], *, schema: str = "wxsegment") -> None:
        psycopg = _import_psycopg()
        if not isinstance(schema, str):
            raise TypeError(f"schema must be a string, not {type(schema).__name__}")
        if not schema.isidentifier() or len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
            raise ValueError(f"schema must be a plain identifier of at most 63 bytes: {schema!r}")
        self._schema = schema
        self._lock = threading.Lock()
        self._owned = isinstance(dsn, str)
        self._db: Any = _connect(psycopg, dsn) if isinstance(dsn, str) else dsn
        if self._owned:
            # BEGIN then names the level itself, saving a round trip per call.
            self._db.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        self._statements: dict[str, str] = {}
        self._transaction(self._create_tables)

    def __repr__(self) -> str:
        return f"PostgresWindowStore(schema={self._schema!r})"

    def _create_tables(self, cursor: Any) -> None:
        # CREATE ... IF NOT EXISTS races between sessions, so stores opening one schema take
        # turns (under the lock the ledger takes for the same reason).
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

    def _transaction(self, work: Callable[[Any], _T]) -> _T:
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            if not self._owned:
                # A connection handed in may default to a stricter level, whose snapshot would
                # predate the follower lock and hide the previous holder's send.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return work(cursor)

    def add_interaction(self, account: str, openid: str, kind: Interaction, at: datetime) -> None:
        """Store an interaction (the same kind at the same instant is stored once)."""
        self._transaction(
            lambda cursor: cursor.execute(
                self._sql(
                    "INSERT INTO {s}.wxs_window_interactions (account, openid, at_us, kind) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                ),
                (account, openid, _micros(at), kind.value),
            )
        )

    def add_send(self, account: str, openid: str, at: datetime) -> None:
        """Store one customer-service message sent at ``at``."""
        self._transaction(
            lambda cursor: cursor.execute(self._sql(_INSERT_SEND), (account, openid, _micros(at)))
        )

    def history(self, account: str, openid: str) -> WindowHistory:
        """The follower's stored interactions and sends (one consistent snapshot)."""

        def work(cursor: Any) -> WindowHistory:
            params = {"account": account, "openid": openid, "cut": _NO_CUT}
            cursor.execute(self._sql(_READ), params)
            return _history(cursor.fetchall())

        return self._transaction(work)

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

        def work(cursor: Any) -> tuple[WindowHistory, bool]:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (_lock_key(self._schema, account, openid),),
            )
            params = {"account": account, "openid": openid, "cut": _micros(prune_before)}
            cursor.execute(self._sql(_PRUNE_AND_READ), params)
            history = _history(cursor.fetchall())
            granted = decide(history)
            if granted:
                cursor.execute(self._sql(_INSERT_SEND), (account, openid, _micros(at)))
            return history, granted

        return self._transaction(work)

    def prune(self, account: str, before: datetime) -> int:
        """Drop every follower's interactions and sends older than ``before``."""

        def work(cursor: Any) -> int:
            dropped = 0
            for table in ("wxs_window_interactions", "wxs_window_sends"):
                cursor.execute(
                    self._sql(f"DELETE FROM {{s}}.{table} WHERE account = %s AND at_us < %s"),
                    (account, _micros(before)),
                )
                dropped += cursor.rowcount
            return dropped

        return self._transaction(work)

    def close(self) -> None:
        """Close the connection if the store opened it."""
        with self._lock:
            if self._owned:
                self._db.close()
