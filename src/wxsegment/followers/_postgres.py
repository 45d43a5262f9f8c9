"""`PostgresFollowerStore`: followers in a PostgreSQL schema, loaded with ``COPY``.

Writers of one schema take a transaction-level advisory lock, so each call is applied whole
and in one order whatever the number of processes and hosts; readers see a repeatable-read
snapshot and never wait for writers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from wxsegment.followers._base import SqlFollowerStore
from wxsegment.followers._schema import AttributeKind, AttributeSchema
from wxsegment.segment import Dialect

__all__ = ["PostgresFollowerStore"]

_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresFollowerStore(SqlFollowerStore):
    """Followers, tags and attributes in the PostgreSQL schema ``schema`` (psycopg 3).

    Same behaviour as `SQLiteFollowerStore`; ``dsn`` is a libpq connection string or URL and
    never appears in reprs or errors.
    """

    _dialect = Dialect.POSTGRESQL
    _exact_numbers = True

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "wxsegment",
        attributes: dict[str, AttributeKind] | None = None,
        allow_undeclared: bool = False,
    ) -> None:
        import psycopg

        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must be an SQL identifier, got {schema!r}")
        super().__init__(f"{schema}.", AttributeSchema(attributes or {}, allow_undeclared))
        self._schema_name = schema
        try:
            self._connection = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            # libpq messages name the host and user, never the password; the DSN stays out.
            raise ConnectionError(f"cannot connect to PostgreSQL: {error}") from None
        try:
            with self._write() as cursor:
                self._setup(cursor)
        except BaseException:
            self._connection.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresFollowerStore(schema={self._schema_name!r})"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock, self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"wxsegment.followers:{self._schema_name}",),
            )
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema_name}"')
            yield cursor

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock, self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    def _extra_ddl(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self._t('wxs_attribute_kinds')} "
            "(name TEXT NOT NULL PRIMARY KEY, kind TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._t('wxs_tag_ids')} "
            "(tag_id BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
            f"CREATE TABLE IF NOT EXISTS {self._t('wxs_meta')} "
            "(key TEXT NOT NULL PRIMARY KEY, value TEXT)",
            f"CREATE TABLE IF NOT EXISTS {self._t('wxs_changes')} "
            "(seq BIGSERIAL PRIMARY KEY, openid TEXT NOT NULL)",
        ]

    _column_types: Mapping[str, str] = {
        "str": 'TEXT COLLATE "C"',
        "number": "NUMERIC",
        "bool": "BOOLEAN",
        "datetime": "BIGINT",
    }

    def _columns_of(self, cursor: Any) -> set[str]:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'wxs_followers'",
            (self._schema_name,),
        )
        return {row[0] for row in cursor.fetchall()}

    def _load_ddl(self, typed: Sequence[tuple[str, str]]) -> list[str]:
        extra = "".join(f', "{name}" {kind}' for name, kind in typed)
        return [
            "DROP TABLE IF EXISTS pg_temp.wxs_load_f",
            "CREATE TEMP TABLE wxs_load_f (row_no BIGINT, openid TEXT, "
            "subscribe_time BIGINT, unionid TEXT, last_interaction_at BIGINT, "
            f"has_tags BOOLEAN, tags TEXT{extra})",
            "CREATE TEMP TABLE IF NOT EXISTS wxs_load_a (openid TEXT, name TEXT, "
            "str_value TEXT, num_value NUMERIC, bool_value BOOLEAN, time_value BIGINT, "
            "PRIMARY KEY (openid, name))",
        ]

    def _among_loaded(self, condition: str) -> str:
        # As an array the planner probes the openid index once per loaded row; as a subquery
        # it hashes the loaded rows and scans the whole table, which grows with the store.
        return f"= ANY (ARRAY(SELECT openid FROM wxs_load_f WHERE {condition}))"

    def _merge_followers(
        self, cursor: Any, fields: list[str], unset: list[str], *, replace: bool
    ) -> tuple[int, int]:
        """One ``INSERT ... ON CONFLICT`` rather than an ``UPDATE ... FROM`` and an anti-join.

        Each loaded row then costs one probe of the openid index, where the join scanned the
        whole followers table. A row without a subscribe time (only known followers get past
        the check before this) would fail ``NOT NULL`` before its conflict is seen, so those
        few are updated apart.
        """
        f = self._followers
        listed = ", ".join(fields)
        cleared = "".join(f', "{c}" = NULL' for c in unset)

        def field(name: str, source: str) -> str:
            if replace:
                return f"{name} = {source}.{name}"
            return f"{name} = COALESCE({source}.{name}, t.{name})"

        # ``xmax`` is 0 on a row version this statement inserted; an updated row carries the
        # updating transaction's id there.
        cursor.execute(
            f"WITH written AS (INSERT INTO {f} AS t (openid, {listed}) "
            f"SELECT openid, {listed} FROM wxs_load_f AS l WHERE l.subscribe_time IS NOT NULL "
            f"ON CONFLICT (openid) DO UPDATE SET "
            f"{', '.join(field(name, 'EXCLUDED') for name in fields)}{cleared} "
            "RETURNING t.xmax = 0 AS fresh) "
            "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM written"
        )
        inserted, updated = (int(n) for n in cursor.fetchone())
        cursor.execute("SELECT EXISTS (SELECT 1 FROM wxs_load_f WHERE subscribe_time IS NULL)")
        if cursor.fetchone()[0]:
            cursor.execute(
                f"UPDATE {f} AS t SET {', '.join(field(name, 'l') for name in fields)}{cleared} "
                "FROM wxs_load_f AS l WHERE l.subscribe_time IS NULL AND t.openid = l.openid"
            )
            updated += int(cursor.rowcount)
        return inserted, updated

    def _load(
        self, cursor: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
