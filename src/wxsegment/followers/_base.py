"""The SQL follower store both backends share: one layout, one set of set-based statements.

Every write fills small load tables (``executemany`` on SQLite, ``COPY`` on PostgreSQL), then
runs the same few statements from them, inside one transaction that writers take one at a time:
a call is applied whole or not at all. Reads compile segments with `segment.to_sql` over the
very tables the store writes, so the database answers ``select``, ``count`` and ``explain``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue, Follower
from wxsegment.followers._codec import (
    Param,
    column_value,
    decode_column,
    from_micros,
    micros,
    number_of,
    typed_columns,
    value_columns,
)
from wxsegment.followers._errors import ImportRejectedError, StaleVersionError
from wxsegment.followers._report import ImportReport, RejectedRow
from wxsegment.followers._rows import (
    Write,
    check_openid,
    check_text,
    csv_rows,
    follower_write,
    mapping_write,
    prepare,
)
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import (
    And,
    Dialect,
    Explanation,
    Not,
    Or,
    Segment,
    SqlColumn,
    SqlSchema,
    render,
    to_sql,
)

__all__ = ["SqlFollowerStore"]

#: Openids per statement where a statement lists openids.
_CHUNK: Final = 500
_NEXT_OPENID: Final = "next_openid"
_TRIMMED: Final = "changes_trimmed_to"


def _quote(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlFollowerStore:
    """What SQLite and PostgreSQL stores share; a backend supplies connections and loading."""

    _dialect: Dialect
    _exact_numbers: bool = False

    def __init__(self, prefix: str, schema: AttributeSchema) -> None:
        self._lock = threading.RLock()
        self._prefix = prefix
        self._given = schema
        self._schema = schema
        self._layouts: dict[AttributeSchema, SqlSchema] = {}

    @property
    def layout(self) -> SqlSchema:
        """The `SqlSchema` of the store's tables as of the last schema read (for `to_sql`)."""
        return self._layout(self._schema)

    def _layout(self, schema: AttributeSchema) -> SqlSchema:
        """Declared attributes with a plain ASCII name are typed columns of the followers row."""
        layout = self._layouts.get(schema)
        if layout is None:
            layout = self._layouts[schema] = SqlSchema(
                followers_table=f"{self._prefix}wxs_followers",
                tags_table=f"{self._prefix}wxs_follower_tags",
                attributes_table=f"{self._prefix}wxs_follower_attributes",
                columns=typed_columns(schema),
            )
        return layout

    # -- what a backend provides -----------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Any]:
        """A cursor inside a write transaction that no other writer shares."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        """A cursor for reading a consistent snapshot."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        """Statement text with ``?`` placeholders in the driver's style."""
        return text

    def _load(
        self, cursor: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        """Fill a load table (already empty) with ``rows``."""
        raise NotImplementedError

    def _load_ddl(self, typed: Sequence[tuple[str, str]]) -> list[str]:
        """Statements creating the three load tables (temporary), the first with ``typed``."""
        raise NotImplementedError

    #: SQL type of a typed attribute column, by `SqlColumn` kind.
    _column_types: Mapping[str, str]

    def _columns_of(self, cursor: Any) -> set[str]:
        """The column names of the followers table."""
        raise NotImplementedError

    def _extra_ddl(self) -> list[str]:
        """Statements creating the tables beside the segment layout."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        raise NotImplementedError

    def __enter__(self) -> SqlFollowerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- names -----------------------------------------------------------------------------------

    def _t(self, name: str) -> str:
        return _quote(f"{self._prefix}{name}")

    @property
    def _followers(self) -> str:
        return _quote(self.layout.followers_table)

    @property
    def _tags(self) -> str:
        return _quote(self.layout.tags_table)

    @property
    def _attributes(self) -> str:
        assert self.layout.attributes_table is not None
        return _quote(self.layout.attributes_table)

    # -- schema ----------------------------------------------------------------------------------

    def _setup(self, cursor: Any) -> None:
        """Create the layout (idempotent) and merge the given declarations into the stored ones."""
        from wxsegment.segment import sql_schema_ddl

        bare = self._layout(AttributeSchema())
        bare = SqlSchema(
            followers_table=bare.followers_table,
            tags_table=bare.tags_table,
            attributes_table=bare.attributes_table,
        )
        for statement in [*sql_schema_ddl(self._dialect, bare), *self._extra_ddl()]:
            cursor.execute(statement)
        self._declare(cursor, self._given.kinds)

    def _declare(self, cursor: Any, kinds: Mapping[str, str]) -> AttributeSchema:
        """Merge declarations into the stored ones; add a column (and index) for each new one."""
        stored = self._stored_schema(cursor)
        merged = stored.merged(kinds)
        cursor.executemany(
            self._sql(f"INSERT INTO {self._t('wxs_attribute_kinds')} (name, kind) VALUES (?, ?)"),
            [(n, k) for n, k in merged.kinds.items() if n not in stored.kinds],
        )
        present = self._columns_of(cursor)
        for column in self._layout(merged).columns.values():
            if column.column not in present:
                # No index per column: segments mostly select broad audiences, which a scan of
                # one row per follower answers, and every index slows imports down.
                cursor.execute(
                    f'ALTER TABLE {self._followers} ADD COLUMN "{column.column}" '
                    f"{self._column_types[column.kind]}"
                )
        self._schema = merged
        return merged

    def _stored_schema(self, cursor: Any) -> AttributeSchema:
        cursor.execute(f"SELECT name, kind FROM {self._t('wxs_attribute_kinds')}")
        rows = cursor.fetchall()
        schema = AttributeSchema(dict(rows), self._given.allow_undeclared)
        self._schema = schema
        return schema

    @property
    def schema(self) -> AttributeSchema:
        """The attribute schema as stored with the data (declarations of other processes too)."""
        with self._read() as cursor:
            self._schema = self._stored_schema(cursor)
        return self._schema

    def declare(self, kinds: Mapping[str, str]) -> AttributeSchema:
        """Declare more attributes, stored with the data; redeclaring a kind is an error."""
        with self._write() as cursor:
            return self._declare(cursor, kinds)

    # -- writes ----------------------------------------------------------------------------------

    def upsert(self, followers: Iterable[Follower]) -> ImportReport:
        """Store each follower whole (tags and attributes replaced); all or nothing."""
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            writes = prepare(followers, lambda row, f: follower_write(row, f, schema))
            return self._apply(cursor, writes, replace=True)

    def import_rows(self, rows: Iterable[Mapping[str, Any]]) -> ImportReport:
        """Merge CRM rows: ``openid`` plus fields, tags and attributes to set; all or nothing.

        A missing or ``None`` value leaves the stored one alone; ``tags`` (when given) replaces
        the follower's tags. A new follower needs a ``subscribe_time``.
        """
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            writes = prepare(rows, lambda row, m: mapping_write(row, m, schema))
            return self._apply(cursor, writes, replace=False)

    def import_csv(
        self,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str] | None = None,
        delimiter: str = ",",
        tag_separator: str = "|",
        encoding: str = "utf-8",
    ) -> ImportReport:
        """Merge the rows of a CSV file as `import_rows` does; cells parse by declared kind.

        ``columns`` renames header names to fields or attributes; an empty cell is no value;
        ``tags`` cells list names split by ``tag_separator``; rows count from 2 (the header is 1).
        """
        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            parsed = csv_rows(
                path,
                schema,
                columns=columns,
                delimiter=delimiter,
                tag_separator=tag_separator,
                encoding=encoding,
            )

            def make(row: int, item: Mapping[str, Any] | Exception) -> Write:
                if isinstance(item, Exception):
                    raise ValueError(str(item))
                return mapping_write(row, item, schema)

            writes = prepare(parsed, make, first_row=2)
            return self._apply(cursor, writes, replace=False)

    def _apply(
        self, cursor: Any, writes: list[Write], *, replace: bool, known_only: bool = False
    ) -> ImportReport:
        if not writes:
            return ImportReport()
        exact = self._exact_numbers
        every = self._layout(self._schema).columns
        # Only the typed columns some row sets travel: a CRM file rarely fills the WeChat ones.
        present = set().union(*(w.attributes.keys() for w in writes))
        typed = {name: column for name, column in every.items() if name in present}
        names = list(typed)
        follower_rows: list[tuple[Param, ...]] = []
        tag_rows: list[tuple[Param, ...]] = []
        attribute_rows: list[tuple[Param, ...]] = []
        for w in writes:
            values = w.attributes
            follower_rows.append(
                (
                    w.row,
                    w.openid,
                    None if w.subscribe_time is None else micros(w.subscribe_time),
                    w.unionid,
                    None if w.last_interaction_at is None else micros(w.last_interaction_at),
                    w.tags is not None,
                    *[column_value(values.get(name), exact) for name in names],
                )
            )
            if w.tags:
                tag_rows.extend((w.openid, t) for t in w.tags)
            if not values.keys() <= every.keys():
                attribute_rows.extend(
                    (w.openid, name, *value_columns(value, exact=exact))
                    for name, value in values.items()
                    if name not in every
                )
        unset = [c.column for name, c in every.items() if name not in typed] if replace else []
        return self._load_and_merge(
            cursor,
            list(typed.values()),
            follower_rows,
            tag_rows,
            attribute_rows,
            unset,
            replace=replace,
            known_only=known_only,
        )

    def import_frame(self, frame: Any) -> ImportReport:
        """Merge a polars or pandas DataFrame or a pyarrow Table as `import_rows` does.

        Columns: ``openid``, optional fields (timestamps with a time zone), ``tags`` (lists of
        names) and declared attributes; nulls leave stored values alone. Checked column by
        column with Arrow kernels (the ``frames`` extra); one bad cell rejects the call.
        """
        from wxsegment.followers._frames import checked_kinds, frame_columns

        with self._write() as cursor:
            schema = self._stored_schema(cursor)
            columns = frame_columns(frame, schema, exact=self._exact_numbers)
            checked_kinds(schema, columns.typed)
            every = self._layout(schema).columns
            typed = [every[name] for name in columns.typed]
            fields = columns.fields
            rows = zip(
                range(1, columns.count + 1),
                fields["openid"],
                fields["subscribe_time"],
                fields["unionid"],
                fields["last_interaction_at"],
                columns.has_tags,
                *columns.typed.values(),
                strict=True,
            )
            tags = zip(*columns.tags, strict=True) if columns.tags else iter(())
            return self._load_and_merge(
                cursor, typed, rows, tags, [], [], replace=False, known_only=False
            )

    def _load_and_merge(
        self,
        cursor: Any,
        typed: Sequence[SqlColumn],
        follower_rows: Iterable[tuple[Any, ...]],
        tag_rows: Iterable[tuple[Any, ...]],
        attribute_rows: Iterable[tuple[Any, ...]],
        unset: list[str],
        *,
        replace: bool,
        known_only: bool,
    ) -> ImportReport:
        columns = [c.column for c in typed]
        for statement in self._load_ddl([(c.column, self._column_types[c.kind]) for c in typed]):
            cursor.execute(statement)
        self._load(
            cursor,
            "wxs_load_f",
            [
                "row_no",
                "openid",
                "subscribe_time",
                "unionid",
                "last_interaction_at",
                "has_tags",
                *columns,
            ],
            follower_rows,
        )
        self._load(cursor, "wxs_load_t", ["openid", "tag"], tag_rows)
        self._load(
            cursor,
            "wxs_load_a",
            ["openid", "name", "str_value", "num_value", "bool_value", "time_value"],
            attribute_rows,
        )
        report = self._merge(cursor, columns, unset, replace=replace, known_only=known_only)
        # Only on success: after an error the transaction rolls back (and PostgreSQL would
        # refuse any further statement in it).
        for table in ("wxs_load_f", "wxs_load_t", "wxs_load_a"):
            cursor.execute(f"DELETE FROM {table}")
        return report

    def _merge(
        self,
        cursor: Any,
        columns: list[str],
        unset: list[str],
        *,
        replace: bool,
        known_only: bool,
    ) -> ImportReport:
        f, t, a = self._followers, self._tags, self._attributes
        load_f, load_t, load_a = "wxs_load_f", "wxs_load_t", "wxs_load_a"
        known = f"EXISTS (SELECT 1 FROM {f} AS k WHERE k.openid = l.openid)"
        if known_only:
            for table in (load_f, load_t, load_a):
                cursor.execute(f"DELETE FROM {table} WHERE openid NOT IN (SELECT openid FROM {f})")
        else:
            cursor.execute(
                f"SELECT row_no, openid FROM {load_f} AS l "
                f"WHERE l.subscribe_time IS NULL AND NOT {known} ORDER BY row_no"
            )
            missing = cursor.fetchall()
            if missing:
                raise ImportRejectedError(
                    tuple(
                        RejectedRow(int(row), f"new follower {openid!r} has no subscribe_time")
                        for row, openid in missing[:100]
                    )
                )

        def field(name: str) -> str:
            if replace:
                return f"{name} = l.{name}"
            return f"{name} = COALESCE(l.{name}, {f}.{name})"

        fields = ["subscribe_time", "unionid", "last_interaction_at", *(f'"{c}"' for c in columns)]
        cleared = "".join(f', "{c}" = NULL' for c in unset)
        cursor.execute(
            f"UPDATE {f} SET {', '.join(field(name) for name in fields)}{cleared} "
            f"FROM {load_f} AS l WHERE {f}.openid = l.openid"
        )
        updated = cursor.rowcount
        listed = ", ".join(fields)
        cursor.execute(
            f"INSERT INTO {f} (openid, {listed}) SELECT openid, {listed} FROM {load_f} AS l "
            f"WHERE NOT {known}"
        )
        inserted = cursor.rowcount
        cursor.execute(
            f"DELETE FROM {t} WHERE openid IN (SELECT openid FROM {load_f} WHERE has_tags)"
        )
        cursor.execute(f"INSERT INTO {t} (openid, tag) SELECT openid, tag FROM {load_t}")
        if replace:
            cursor.execute(f"DELETE FROM {a} WHERE openid IN (SELECT openid FROM {load_f})")
        else:
            cursor.execute(
                f"DELETE FROM {a} WHERE EXISTS (SELECT 1 FROM {load_a} AS l "
                f"WHERE l.openid = {a}.openid AND l.name = {a}.name)"
            )
        cursor.execute(
            f"INSERT INTO {a} (openid, name, str_value, num_value, bool_value, time_value) "
            f"SELECT openid, name, str_value, num_value, bool_value, time_value FROM {load_a}"
        )
        self._log_changes(cursor, f"SELECT openid FROM {load_f}")
        return ImportReport(inserted=inserted, updated=updated)

    def _log_changes(self, cursor: Any, select_openids: str, params: Sequence[Param] = ()) -> None:
        cursor.execute(
            self._sql(f"INSERT INTO {self._t('wxs_changes')} (openid) {select_openids}"), params
        )

    def _log_openids(self, cursor: Any, openids: Sequence[str]) -> None:
        cursor.executemany(
            self._sql(f"INSERT INTO {self._t('wxs_changes')} (openid) VALUES (?)"),
            [(o,) for o in openids],
        )

    def mark_unsubscribed(self, openids: Iterable[str], *, at: datetime) -> int:
        """Record that known followers unsubscribed at ``at``; unknown openids are skipped."""
        return self._set_known(openids, {"subscribed": False, "unsubscribed_at": at})

    def mark_subscribed(self, openids: Iterable[str], *, at: datetime) -> int:
        """Record that known followers (re)subscribed at ``at``: a new subscribe time."""
        ensure_aware(at, "at")
        listed = _openids(openids)
        schema = self._schema
        writes = [
            Write(
                i, o, False, at, None, None, None, {"subscribed": schema.value("subscribed", True)}
            )
            for i, o in enumerate(listed, 1)
        ]
        with self._write() as cursor:
            return self._apply(cursor, writes, replace=False, known_only=True).updated

    def _set_known(self, openids: Iterable[str], values: Mapping[str, AttributeValue]) -> int:
        for value in values.values():
            if isinstance(value, datetime):
                ensure_aware(value, "at")
        listed = _openids(openids)
        writes = [
            Write(i, o, False, None, None, None, None, values) for i, o in enumerate(listed, 1)
        ]
        with self._write() as cursor:
            return self._apply(cursor, writes, replace=False, known_only=True).updated

    def touch(self, openids: Iterable[str], *, at: datetime) -> int:
        """Move ``last_interaction_at`` of known followers forward to ``at`` (never back)."""
        moment = micros(ensure_aware(at, "at"))
        listed = _openids(openids)
        f = self._followers
        changed = 0
        with self._write() as cursor:
            for chunk in _chunks(listed):
                marks = ", ".join("?" for _ in chunk)
                cursor.execute(
                    self._sql(
                        f"UPDATE {f} SET last_interaction_at = ? WHERE openid IN ({marks}) "
                        "AND (last_interaction_at IS NULL OR last_interaction_at < ?)"
                    ),
                    [moment, *chunk, moment],
                )
                changed += cursor.rowcount
                self._log_changes(
                    cursor, f"SELECT openid FROM {f} WHERE openid IN ({marks})", list(chunk)
                )
        return changed

    def add_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Give each of ``openids`` the tags ``names``.

        Tags may be recorded for openids not stored yet (a pull sees a tag's members before
        their user info); they count once the follower is stored, unless an `upsert` of the
        whole follower replaces them.
        """
        self._change_tags(openids, names, add=True)

    def remove_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Take the tags ``names`` from each of ``openids``."""
        self._change_tags(openids, names, add=False)

    def _change_tags(self, openids: Iterable[str], names: Iterable[str], *, add: bool) -> None:
        listed = _openids(openids)
        if isinstance(names, str):
            raise TypeError("names must be an iterable of tag names, not a single string")
        tags = sorted({check_text(n, "tag name") for n in names})
        if any(not n for n in tags):
            raise ValueError("tag names must be non-empty")
        t = self._tags
        pairs = [(o, n) for o in listed for n in tags]
        with self._write() as cursor:
            if add:
                cursor.executemany(
                    self._sql(
                        f"INSERT INTO {t} (openid, tag) SELECT ?, ? WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {t} AS e WHERE e.openid = ? AND e.tag = ?)"
                    ),
                    [(o, n, o, n) for o, n in pairs],
                )
            else:
                cursor.executemany(
                    self._sql(f"DELETE FROM {t} WHERE openid = ? AND tag = ?"), pairs
                )
            self._log_openids(cursor, listed)

    def delete(self, openids: Iterable[str]) -> None:
        """Forget followers entirely: their row, tags and attributes."""
        listed = _openids(openids)
        with self._write() as cursor:
            for table in (self._tags, self._attributes, self._followers):
                cursor.executemany(
                    self._sql(f"DELETE FROM {table} WHERE openid = ?"), [(o,) for o in listed]
                )
            self._log_openids(cursor, listed)

    # -- tag ids and checkpoints -------------------------------------------------------------------

    def set_tag_id(self, name: str, tag_id: int) -> None:
        """Map a tag name to its WeChat tag id (a rename moves the name; the id is the key)."""
        check_text(name, "tag name")
        if isinstance(tag_id, bool) or not isinstance(tag_id, int) or tag_id < 0:
            raise ValueError(f"tag_id must be a non-negative int, got {tag_id!r}")
        with self._write() as cursor:
            self._set_tag_id(cursor, name, tag_id)

    def _set_tag_id(self, cursor: Any, name: str, tag_id: int) -> None:
        table, t = self._t("wxs_tag_ids"), self._tags
        cursor.execute(self._sql(f"SELECT name FROM {table} WHERE tag_id = ?"), (tag_id,))
        row = cursor.fetchone()
        if row is not None and row[0] != name:
            # A rename on WeChat: the members keep the tag under its new name.
            old = row[0]
            self._log_changes(cursor, f"SELECT openid FROM {t} WHERE tag = ?", [old])
            cursor.execute(
                self._sql(
                    f"DELETE FROM {t} WHERE tag = ? AND openid IN "
                    f"(SELECT openid FROM {t} WHERE tag = ?)"
                ),
                (old, name),
            )
            cursor.execute(self._sql(f"UPDATE {t} SET tag = ? WHERE tag = ?"), (name, old))
        cursor.execute(
            self._sql(f"DELETE FROM {table} WHERE tag_id = ? OR name = ?"), (tag_id, name)
        )
        cursor.execute(
            self._sql(f"INSERT INTO {table} (tag_id, name) VALUES (?, ?)"), (tag_id, name)
        )

    def replace_tags(
        self, tag_ids: Mapping[int, str], members: Mapping[str, Iterable[str]]
    ) -> None:
        """Replace, in one transaction, the tag-id map and the members of every mapped tag.

        ``members`` maps tag names to openids; tags named by neither the old nor the new map
        (CRM tags WeChat does not know) are left alone.
        """
        fresh = {int(i): check_text(n, "tag name") for i, n in tag_ids.items()}
        groups = {check_text(n, "tag name"): _openids(o) for n, o in members.items()}
        unmapped = sorted(set(groups) - set(fresh.values()))
        if unmapped:
            raise ValueError(f"members name tags without a tag id: {unmapped}")
        table, t = self._t("wxs_tag_ids"), self._tags
        with self._write() as cursor:
            cursor.execute(f"SELECT name FROM {table}")
            names = sorted({row[0] for row in cursor.fetchall()} | set(fresh.values()))
            cursor.execute(f"DELETE FROM {table}")
            cursor.executemany(
                self._sql(f"INSERT INTO {table} (tag_id, name) VALUES (?, ?)"),
                sorted(fresh.items()),
            )
            for chunk in _chunks(names):
                marks = ", ".join("?" for _ in chunk)
                self._log_changes(
                    cursor,
                    f"SELECT DISTINCT openid FROM {t} WHERE tag IN ({marks})",
                    list(chunk),
                )
                cursor.execute(self._sql(f"DELETE FROM {t} WHERE tag IN ({marks})"), list(chunk))
            pairs = [(o, name) for name, openids in sorted(groups.items()) for o in openids]
            cursor.executemany(self._sql(f"INSERT INTO {t} (openid, tag) VALUES (?, ?)"), pairs)
            self._log_openids(cursor, sorted({o for o, _ in pairs}))

    def tags_of(self, openid: str) -> frozenset[str]:
        """The tag names recorded for ``openid`` (stored as a follower or not yet)."""
        with self._read() as cursor:
            cursor.execute(
                self._sql(f"SELECT tag FROM {self._tags} WHERE openid = ?"), (check_openid(openid),)
            )
            return frozenset(row[0] for row in cursor.fetchall())

    def forget_tag_id(self, tag_id: int) -> None:
        """Drop the mapping of a WeChat tag id (the tag was deleted on WeChat)."""
        with self._write() as cursor:
            cursor.execute(
                self._sql(f"DELETE FROM {self._t('wxs_tag_ids')} WHERE tag_id = ?"), (tag_id,)
            )

    def tag_ids(self) -> Mapping[int, str]:
        """Every known WeChat tag id and its name."""
        with self._read() as cursor:
            cursor.execute(f"SELECT tag_id, name FROM {self._t('wxs_tag_ids')} ORDER BY tag_id")
            return {int(i): str(n) for i, n in cursor.fetchall()}

    def next_openid(self) -> str | None:
        """The checkpoint of a resumable follower pull (``None``: start from the beginning)."""
        with self._read() as cursor:
            cursor.execute(
                self._sql(f"SELECT value FROM {self._t('wxs_meta')} WHERE key = ?"), (_NEXT_OPENID,)
            )
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def set_next_openid(self, value: str | None) -> None:
        """Record (or, with ``None``, clear) the checkpoint of a follower pull."""
        if value is not None:
            check_openid(value)
        table = self._t("wxs_meta")
        with self._write() as cursor:
            cursor.execute(self._sql(f"DELETE FROM {table} WHERE key = ?"), (_NEXT_OPENID,))
            if value is not None:
                cursor.execute(
                    self._sql(f"INSERT INTO {table} (key, value) VALUES (?, ?)"),
                    (_NEXT_OPENID, value),
                )

    # -- reads -----------------------------------------------------------------------------------

    def get(self, openid: str) -> Follower | None:
        """The stored follower, or ``None`` when unknown."""
        found = self._fetch([check_openid(openid)])
        return found.get(openid)

    def _fetch(self, openids: Sequence[str]) -> dict[str, Follower]:
        schema = self._schema
        rows: list[Any] = []
        tags: dict[str, set[str]] = {}
        attributes: dict[str, dict[str, AttributeValue]] = {}
        with self._read() as cursor:
            schema = self._stored_schema(cursor)
            typed = self._layout(schema).columns
            selected = "".join(f', "{c.column}"' for c in typed.values())
            for chunk in _chunks(openids):
                marks = ", ".join("?" for _ in chunk)
                cursor.execute(
                    self._sql(
                        f"SELECT openid, subscribe_time, unionid, last_interaction_at{selected} "
                        f"FROM {self._followers} WHERE openid IN ({marks})"
                    ),
                    list(chunk),
                )
                rows.extend(cursor.fetchall())
                cursor.execute(
                    self._sql(f"SELECT openid, tag FROM {self._tags} WHERE openid IN ({marks})"),
                    list(chunk),
                )
                for openid, tag in cursor.fetchall():
                    tags.setdefault(openid, set()).add(tag)
                cursor.execute(
                    self._sql(
                        "SELECT openid, name, str_value, num_value, bool_value, time_value "
                        f"FROM {self._attributes} WHERE openid IN ({marks})"
                    ),
                    list(chunk),
                )
                for openid, name, s, n, b, t in cursor.fetchall():
                    attributes.setdefault(openid, {})[name] = _decode(schema, name, s, n, b, t)
        kinds = [(name, schema.kinds[name]) for name in typed]
        found = {}
        for openid, subscribed, unionid, seen, *values in rows:
            own = attributes.setdefault(openid, {})
            for (name, kind), value in zip(kinds, values, strict=True):
                if value is not None:
                    own[name] = decode_column(value, kind)
            found[openid] = Follower(
                openid,
                from_micros(subscribed),
                tags=frozenset(tags.get(openid, ())),
                attributes=own,
                unionid=unionid,
                last_interaction_at=None if seen is None else from_micros(seen),
            )
        return found

    def __len__(self) -> int:
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._followers}")
            return int(cursor.fetchone()[0])

    def openids(self) -> list[str]:
        """Every stored openid, sorted."""
        with self._read() as cursor:
            cursor.execute(f"SELECT openid FROM {self._followers}")
            return sorted(row[0] for row in cursor.fetchall())

    def _compiled(self, segment: Segment, now: datetime) -> tuple[str, list[Any]]:
        ensure_aware(now, "now")
        self.schema.check_segment(segment)
        return to_sql(segment, dialect=self._dialect, schema=self.layout, now=now)

    def select(self, segment: Segment, *, now: datetime) -> list[str]:
        """The openids ``segment`` matches at ``now``, sorted; checked against the schema first."""
        sql, params = self._compiled(segment, now)
        with self._read() as cursor:
            cursor.execute(sql, params)
            return sorted(row[0] for row in cursor.fetchall())

    def count(self, segment: Segment, *, now: datetime) -> int:
        """How many followers ``segment`` matches at ``now``, counted by the database."""
        sql, params = self._compiled(segment, now)
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", params)
            return int(cursor.fetchone()[0])

    def explain(self, segment: Segment, *, now: datetime) -> Explanation:
        """Counts of ``segment`` and of every sub-expression, each counted by the database."""
        self._compiled(segment, now)
        counts: dict[Segment, int] = {}
        with self._read() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self._followers}")
            total = int(cursor.fetchone()[0])

            def build(node: Segment) -> Explanation:
                if node not in counts:
                    sql, params = to_sql(node, dialect=self._dialect, schema=self.layout, now=now)
                    cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS q", params)
                    counts[node] = int(cursor.fetchone()[0])
                children: tuple[Segment, ...] = ()
                if isinstance(node, (And, Or)):
                    children = tuple(sorted(node.children, key=render))
                elif isinstance(node, Not):
                    children = (node.child,)
                return Explanation(node, counts[node], total, tuple(build(c) for c in children))

            return build(segment)

    # -- the change feed and the index -----------------------------------------------------------

    def version(self) -> int:
        """The change feed's position: it grows with every write that changes a follower."""
        with self._read() as cursor:
            cursor.execute(f"SELECT MAX(seq) FROM {self._t('wxs_changes')}")
            value = cursor.fetchone()[0]
            if value is None:
                # An empty feed after a trim sits at the trimmed position, not at 0.
                cursor.execute(
                    self._sql(f"SELECT value FROM {self._t('wxs_meta')} WHERE key = ?"),
                    (_TRIMMED,),
                )
                row = cursor.fetchone()
                value = 0 if row is None else row[0]
        return int(value)

    def changes(self, since: int) -> tuple[int, frozenset[str]]:
        """The feed's position now and the openids written after position ``since``.

        Raises `StaleVersionError` when `trim_changes` removed entries after ``since``.
        """
        with self._read() as cursor:
            cursor.execute(
                self._sql(f"SELECT value FROM {self._t('wxs_meta')} WHERE key = ?"), (_TRIMMED,)
            )
            row = cursor.fetchone()
            if row is not None and since < int(row[0]):
                raise StaleVersionError(
                    f"the change feed was trimmed up to {row[0]}; position {since} is gone"
                )
            cursor.execute(
                self._sql(f"SELECT seq, openid FROM {self._t('wxs_changes')} WHERE seq > ?"),
                (since,),
            )
            rows = cursor.fetchall()
        top = max((int(seq) for seq, _ in rows), default=since)
        return top, frozenset(openid for _, openid in rows)

    def trim_changes(self, upto: int) -> None:
        """Drop feed entries up to position ``upto``; readers behind it must rebuild."""
        if isinstance(upto, bool) or not isinstance(upto, int):
            raise TypeError(f"upto must be an int, got {type(upto).__name__}")
        table, meta = self._t("wxs_changes"), self._t("wxs_meta")
        with self._write() as cursor:
            cursor.execute(self._sql(f"SELECT value FROM {meta} WHERE key = ?"), (_TRIMMED,))
            row = cursor.fetchone()
            if row is not None and int(row[0]) >= upto:
                return
            cursor.execute(self._sql(f"DELETE FROM {table} WHERE seq <= ?"), (upto,))
            cursor.execute(self._sql(f"DELETE FROM {meta} WHERE key = ?"), (_TRIMMED,))
            cursor.execute(
                self._sql(f"INSERT INTO {meta} (key, value) VALUES (?, ?)"), (_TRIMMED, str(upto))
            )

    def followers(self, openids: Iterable[str]) -> dict[str, Follower]:
        """The stored followers among ``openids``, by openid (unknown ones are left out)."""
        return self._fetch(_openids(openids))

    def index(self) -> Any:
        """A `SegmentIndex` of every stored follower, built from columns read in bulk."""
        from wxsegment.followers._columnar import build_index

        with self._read() as cursor:
            schema = self._schema = self._stored_schema(cursor)
            return build_index(self, cursor, schema)


def _openids(openids: Iterable[str]) -> list[str]:
    if isinstance(openids, str):
        raise TypeError("openids must be an iterable of openids, not a single string")
    return sorted({check_openid(o) for o in openids})


def _decode(schema: AttributeSchema, name: str, s: Any, n: Any, b: Any, t: Any) -> AttributeValue:
    if s is not None:
        return str(s)
    if n is not None:
        return number_of(n, schema.kinds.get(name))
    if b is not None:
        return bool(b)
    return from_micros(t)
