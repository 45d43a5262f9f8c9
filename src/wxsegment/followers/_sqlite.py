"""`SQLiteFollowerStore`: the embedded default, one file shared safely by several processes.

WAL lets readers run beside the one writer; every write is ``BEGIN IMMEDIATE`` (writers queue
on the file lock, waiting up to ``busy_timeout``), so a call is applied whole or not at all and
a process killed mid-import leaves every committed call intact and nothing of its own.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Final

from wxsegment._sqlite_wal import enable_wal
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.followers._schema import AttributeKind, AttributeSchema
from wxsegment.segment import Dialect

__all__ = ["SQLiteFollowerStore"]

#: Page cache per connection, in KiB.
_CACHE_KIB: Final = 32 * 1024


class SQLiteFollowerStore(SqlFollowerStore):
    """Followers, tags and attributes in one SQLite file (WAL; safe across processes).

    ``attributes`` declares attribute kinds, merged into those stored in the file;
    ``allow_undeclared`` also stores (and lets segments name) attributes nobody declared.
    ``durable=False`` trades the last commits before a power loss for speed (a crashed
    process still loses nothing committed).
    """

    _dialect = Dialect.SQLITE

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        attributes: dict[str, AttributeKind] | None = None,
        allow_undeclared: bool = False,
        busy_timeout: timedelta = timedelta(seconds=30),
        durable: bool = True,
    ) -> None:
        super().__init__("", AttributeSchema(attributes or {}, allow_undeclared))
        self._path = os.fspath(path)
        self._connection = sqlite3.connect(
            self._path,
            timeout=busy_timeout.total_seconds(),
            isolation_level=None,
            check_same_thread=False,
        )
        self._connection.execute(
            f"PRAGMA busy_timeout = {int(busy_timeout.total_seconds() * 1000)}"
        )
        enable_wal(self._connection, timeout=busy_timeout.total_seconds())
        self._connection.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        self._connection.execute("PRAGMA temp_store = MEMORY")
        # The default 2 MiB page cache thrashes once a million followers' B-trees are written.
        self._connection.execute(f"PRAGMA cache_size = {-_CACHE_KIB}")
        try:
            self._tags_as_json = _has_json_each(self._connection)
            with self._write() as cursor:
                self._setup(cursor)
        except BaseException:
            self._connection.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteFollowerStore({self._path!r})"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                cursor.execute("COMMIT")
                cursor.close()

    def _extra_ddl(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS wxs_attribute_kinds "
            "(name TEXT NOT NULL PRIMARY KEY, kind TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS wxs_tag_ids "
            "(tag_id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
            "CREATE TABLE IF NOT EXISTS wxs_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT)",
            "CREATE TABLE IF NOT EXISTS wxs_changes "
            "(seq INTEGER PRIMARY KEY AUTOINCREMENT, openid TEXT NOT NULL)",
        ]

    _column_types: Mapping[str, str] = {
        "str": "TEXT",
        "number": "NUMERIC",
        "bool": "INTEGER",
        "datetime": "INTEGER",
    }

    def _columns_of(self, cursor: Any) -> set[str]:
        cursor.execute("SELECT name FROM pragma_table_info('wxs_followers')")
        return {row[0] for row in cursor.fetchall()}

    def _load_ddl(self, typed: Sequence[tuple[str, str]]) -> list[str]:
        extra = "".join(f', "{name}" {kind}' for name, kind in typed)
        return [
            "DROP TABLE IF EXISTS temp.wxs_load_f",
            "CREATE TEMP TABLE wxs_load_f (row_no INTEGER, openid TEXT, "
            "subscribe_time INTEGER, unionid TEXT, last_interaction_at INTEGER, "
            f"has_tags INTEGER, tags TEXT{extra})",
            "CREATE TEMP TABLE IF NOT EXISTS wxs_load_a (openid TEXT, name TEXT, "
            "str_value TEXT, num_value NUMERIC, bool_value INTEGER, time_value INTEGER, "
            "PRIMARY KEY (openid, name))",
        ]

    # Binding one text per follower and letting json_each expand it costs less than binding
    # every tag row; builds of SQLite without JSON support bind the rows.
    _tags_as_json = True

    def _json_elements(self, column: str) -> str:
        return f"json_each({column}) AS j"

    def _load(
        self, cursor: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _has_json_each(connection: sqlite3.Connection) -> bool:
    """Whether this SQLite has the JSON functions (built in since 3.38, often before)."""
    try:
        connection.execute("SELECT value FROM json_each('[]')").fetchall()
    except sqlite3.OperationalError:
        return False
    return True
