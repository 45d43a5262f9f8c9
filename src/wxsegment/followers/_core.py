"""How SQL follower stores reach their tables: connections, names, the schema, bulk writes.

Every write fills small load tables (``executemany`` on SQLite, ``COPY`` on PostgreSQL), then
runs the same few set-based statements from them, inside one transaction that writers take one
at a time: a call is applied whole or not at all. `SqlCore` holds that machinery; the public
store API is `SqlFollowerStore` on top of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from wxsegment._model import AttributeValue
from wxsegment.followers._bulk import BulkRows
from wxsegment.followers._codec import (
    Param,
    column_value,
    from_micros,
    micros,
    number_of,
    set_columns,
    tag_lists,
    typed_columns,
    value_columns,
)
from wxsegment.followers._errors import ImportRejectedError
from wxsegment.followers._report import ImportReport, RejectedRow
from wxsegment.followers._rows import (
    Write,
    check_openid,
)
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import (
    Dialect,
    SqlColumn,
    SqlSchema,
)

__all__ = [
    "NEXT_OPENID_KEY",
    "TRIMMED_KEY",
    "SqlCore",
    "chunks",
    "decode_attribute",
    "openid_list",
    "quote",
]

#: Openids per statement where a statement lists openids.
_CHUNK: Final = 500
NEXT_OPENID_KEY: Final = "next_openid"
TRIMMED_KEY: Final = "changes_trimmed_to"
#: The leading columns of the followers load table, in the order `_apply` binds them.
_LEAD: Final = (
    "row_no",
    "openid",
    "subscribe_time",
    "unionid",
    "last_interaction_at",
    "has_tags",
    "tags",
)


def quote(name: str) -> str:
    """A possibly schema-qualified name, double-quoted part by part."""
    return ".".join(f'"{part}"' for part in name.split("."))


def chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most ``size`` openids, one per statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlCore:
    """Connections, table names, the stored schema and the bulk write path of a SQL store."""

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

    def _among_loaded(self, condition: str) -> str:
        """A test that an ``openid`` is among the loaded rows meeting ``condition``."""
        return f"IN (SELECT openid FROM wxs_load_f WHERE {condition})"

    #: Whether load rows carry their tags as JSON arrays (else tags load as rows).
    _tags_as_json: bool = False

    def _json_elements(self, column: str) -> str:
        """A ``FROM`` item ``j`` whose ``value`` column lists the strings of a JSON array."""
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

    # -- names -----------------------------------------------------------------------------------

    def _t(self, name: str) -> str:
        return quote(f"{self._prefix}{name}")

    @property
    def _followers(self) -> str:
        return quote(self.layout.followers_table)

    @property
    def _tags(self) -> str:
        return quote(self.layout.tags_table)

    @property
    def _attributes(self) -> str:
        assert self.layout.attributes_table is not None
        return quote(self.layout.attributes_table)

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

    # -- loading and merging -------------------------------------------------------------------

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
        attribute_rows: list[tuple[Param, ...]] = []
        tag_rows: list[tuple[Param, ...]] = []
        as_json = self._tags_as_json
        tag_texts = iter(tag_lists(w.tags if as_json else None for w in writes))
        for w in writes:
            values = w.attributes
            follower_rows.append(
                (
                    w.row,
                    w.openid,
                    None if w.subscribe_time is None else micros(w.subscribe_time),
                    w.unionid,
                    None if w.last_interaction_at is None else micros(w.last_interaction_at),
                    None if as_json or w.tags is None else 1,
                    next(tag_texts),
                    *[column_value(values.get(name), exact) for name in names],
                )
            )
            if w.tags and not as_json:
                tag_rows.extend((w.openid, t) for t in w.tags)
            if not values.keys() <= every.keys():
                attribute_rows.extend(
                    (w.openid, name, *value_columns(value, exact=exact))
                    for name, value in values.items()
                    if name not in every
                )
        unset = [c.column for name, c in every.items() if name not in typed] if replace else []
        loaded, loaded_rows = set_columns(
            zip(
                [*_LEAD, *(c.column for c in typed.values())],
                zip(*follower_rows, strict=True),
                strict=True,
            )
        )
        return self._load_and_merge(
            cursor,
            list(typed.values()),
            loaded_rows,
            tag_rows,
            attribute_rows,
            unset,
            replace=replace,
            known_only=known_only,
            loaded=loaded,
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
        loaded: Sequence[str],
    ) -> ImportReport:
        """Fill the load tables and merge them; ``loaded`` names the columns rows fill."""
        columns = [c.column for c in typed]
        for statement in self._load_ddl([(c.column, self._column_types[c.kind]) for c in typed]):
            cursor.execute(statement)
        self._load(
            cursor,
            "wxs_load_f",
            loaded,
            follower_rows,
        )
        self._load(
            cursor,
            "wxs_load_a",
            ["openid", "name", "str_value", "num_value", "bool_value", "time_value"],
            attribute_rows,
        )
        report = self._merge(
            cursor, columns, unset, tag_rows, replace=replace, known_only=known_only
        )
        # Only on success: after an error the transaction rolls back (and PostgreSQL would
        # refuse any further statement in it).
        for table in ("wxs_load_f", "wxs_load_a"):
            cursor.execute(f"DELETE FROM {table}")
        return report

    def _merge_bulk(self, cursor: Any, bulk: BulkRows) -> ImportReport:
        """Merge a batch `bulk_rows` checked (no attributes-table rows) as `import_rows` does."""
        return self._load_and_merge(
            cursor,
            bulk.typed,
            bulk.follower_rows,
            bulk.tag_rows,
            [],
            [],
            replace=False,
            known_only=False,
            loaded=bulk.columns,
        )

    def _merge(
        self,
        cursor: Any,
        columns: list[str],
        unset: list[str],
        tag_rows: Iterable[tuple[Any, ...]],
        *,
        replace: bool,
        known_only: bool,
    ) -> ImportReport:
        f, t, a = self._followers, self._tags, self._attributes
        load_f, load_a = "wxs_load_f", "wxs_load_a"
        known = f"EXISTS (SELECT 1 FROM {f} AS k WHERE k.openid = l.openid)"
        if known_only:
            # Writes to known followers only (subscribe state, interactions) carry no tags.
            for table in (load_f, load_a):
                cursor.execute(
                    f"DELETE FROM {table} WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {f} AS k WHERE k.openid = {table}.openid)"
                )
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

        fields = ["subscribe_time", "unionid", "last_interaction_at", *(f'"{c}"' for c in columns)]
        inserted, updated = self._merge_followers(cursor, fields, unset, replace=replace)
        # A row replaces its tags when it says so or brings them as a JSON array.
        replaced = "has_tags OR tags IS NOT NULL"
        cursor.execute(f"DELETE FROM {t} WHERE openid {self._among_loaded(replaced)}")
        if self._tags_as_json:
            cursor.execute(
                f"INSERT INTO {t} (openid, tag) SELECT l.openid, j.value "
                f"FROM {load_f} AS l, {self._json_elements('l.tags')} WHERE l.tags IS NOT NULL"
            )
        # Straight into the tags table: the rows of one call never repeat a pair.
        self._load(cursor, t, ["openid", "tag"], tag_rows)
        if replace:
            cursor.execute(f"DELETE FROM {a} WHERE openid {self._among_loaded('TRUE')}")
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

    def _merge_followers(
        self, cursor: Any, fields: list[str], unset: list[str], *, replace: bool
    ) -> tuple[int, int]:
        """Write the loaded follower rows into the followers table: (inserted, updated)."""
        f = self._followers

        def field(name: str) -> str:
            if replace:
                return f"{name} = l.{name}"
            return f"{name} = COALESCE(l.{name}, {f}.{name})"

        cleared = "".join(f', "{c}" = NULL' for c in unset)
        cursor.execute(
            f"UPDATE {f} SET {', '.join(field(name) for name in fields)}{cleared} "
            f"FROM wxs_load_f AS l WHERE {f}.openid = l.openid"
        )
        updated = int(cursor.rowcount)
        listed = ", ".join(fields)
        cursor.execute(
            f"INSERT INTO {f} (openid, {listed}) SELECT openid, {listed} FROM wxs_load_f AS l "
            f"WHERE NOT EXISTS (SELECT 1 FROM {f} AS k WHERE k.openid = l.openid)"
        )
        return int(cursor.rowcount), updated

    def _log_changes(self, cursor: Any, select_openids: str, params: Sequence[Param] = ()) -> None:
        cursor.execute(
            self._sql(f"INSERT INTO {self._t('wxs_changes')} (openid) {select_openids}"), params
        )

    def _logopenid_list(self, cursor: Any, openids: Sequence[str]) -> None:
        cursor.executemany(
            self._sql(f"INSERT INTO {self._t('wxs_changes')} (openid) VALUES (?)"),
            [(o,) for o in openids],
        )


def openid_list(openids: Iterable[str]) -> list[str]:
    """Checked, deduplicated, sorted openids (a single string is refused)."""
    if isinstance(openids, str):
        raise TypeError("openids must be an iterable of openids, not a single string")
    return sorted({check_openid(o) for o in openids})


def decode_attribute(
    schema: AttributeSchema, name: str, s: Any, n: Any, b: Any, t: Any
) -> AttributeValue:
    """An attributes-table row's value: the one value column that is set, as its kind."""
    if s is not None:
        return str(s)
    if n is not None:
        return number_of(n, schema.kinds.get(name))
    if b is not None:
        return bool(b)
    return from_micros(t)
