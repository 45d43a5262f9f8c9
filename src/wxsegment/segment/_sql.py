"""Compile a segment into one parameterized SQL query (SQLite, PostgreSQL, DuckDB, MySQL).

`to_sql` returns ``(sql, params)``: a ``SELECT`` of one column, ``openid``, listing the followers
that match the segment, in no particular order. Every value and every tag or attribute name is a
bound parameter; only identifiers from a validated `SqlSchema` (always quoted: double quotes,
backticks for MySQL) and fixed keywords appear in the SQL text. Placeholders are positional:
``?`` for SQLite (``sqlite3``) and DuckDB, ``%s`` for PostgreSQL (psycopg 3) and MySQL/MariaDB
(PyMySQL), with ``params`` a list in placeholder order.

Invariant: over rows written by `follower_inserts` into tables made by `sql_schema_ddl`, the query
returns exactly ``{f.openid for f in followers if matches(segment, f, now=now)}``. Every compiled
condition is two-valued (never SQL ``NULL``), so ``NOT`` is plain negation as in `matches`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

import attrs

from wxsegment._clock import ensure_aware
from wxsegment._model import BUILTIN_FIELDS, AttributeValue, Follower, value_kind
from wxsegment._typing import assert_never
from wxsegment.segment._nodes import (
    RESERVED_WORDS,
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Op,
    Or,
    Segment,
    Tag,
    Within,
    as_node,
)
from wxsegment.segment._render import render

__all__ = [
    "Dialect",
    "SqlColumn",
    "SqlInsert",
    "SqlParam",
    "SqlSchema",
    "follower_inserts",
    "sql_schema_ddl",
    "to_sql",
]

#: A bound parameter value as handed to the database driver.
SqlParam: TypeAlias = str | int | float | bool | Decimal | None

#: The kind of a typed column: the kind of value it holds.
ColumnKind: TypeAlias = Literal["str", "number", "bool", "datetime"]

_KINDS: Final = ("str", "number", "bool", "datetime")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_OPTIONAL_COLUMNS: Final = frozenset({"unionid_column", "last_interaction_at_column"})


class Dialect(str, enum.Enum):
    """A SQL dialect `to_sql` can target; plain strings with these values are accepted too."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    DUCKDB = "duckdb"
    MYSQL = "mysql"


def _dialect(value: object) -> Dialect:
    try:
        return Dialect(value)
    except ValueError:
        names = ", ".join(repr(d.value) for d in Dialect)
        raise ValueError(f"unknown SQL dialect {value!r}: expected one of {names}") from None


def _check_identifier(_instance: Any, attribute: Any, value: Any) -> None:
    if value is None and attribute.name in _OPTIONAL_COLUMNS:
        return
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be an SQL identifier (ASCII letters, digits and '_', not "
            f"starting with a digit, at most 63 characters), got {value!r}"
        )


def _check_table(_instance: Any, attribute: Any, value: Any) -> None:
    if value is None and attribute.name == "attributes_table":
        return
    parts = value.split(".") if isinstance(value, str) else []
    if not 1 <= len(parts) <= 3 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ValueError(
            f"{attribute.name} must be a table name, optionally qualified (schema.table), made "
            f"of SQL identifiers, got {value!r}"
        )


def _check_kind(_instance: Any, _attribute: Any, value: Any) -> None:
    if value not in _KINDS:
        raise ValueError(f"column kind must be one of {', '.join(_KINDS)}, got {value!r}")


@attrs.frozen(slots=True)
class SqlColumn:
    """A typed column of the followers table that holds one attribute (``NULL`` = missing).

    ``kind`` is ``"str"``, ``"number"``, ``"bool"`` or ``"datetime"``; datetimes are stored as
    UTC microseconds since the Unix epoch (``BIGINT``).
    """

    column: str = attrs.field(validator=_check_identifier)
    kind: ColumnKind = attrs.field(validator=_check_kind)


def _freeze_columns(columns: Mapping[str, SqlColumn]) -> Mapping[str, SqlColumn]:
    copy = dict(columns)
    for name, column in copy.items():
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_WORDS:
            raise ValueError(f"columns keys must be attribute names, got {name!r}")
        if name in BUILTIN_FIELDS:
            raise ValueError(f"{name!r} is a built-in field; map it with {name}_column")
        if not isinstance(column, SqlColumn):
            raise TypeError(f"columns values must be SqlColumn, got {type(column).__name__}")
    return MappingProxyType(copy)


@attrs.frozen(slots=True)
class SqlSchema:
    """Where `to_sql` finds followers, tags and attributes: table and column names.

    The defaults describe the layout made by `sql_schema_ddl`. A CRM points the compiler at its
    own tables by overriding names, and declares attributes kept in typed columns of its own
    followers table with ``columns``; other attributes live in the attributes table (``None``:
    there is none, and naming another attribute in a segment is a ``ValueError``).
    """

    followers_table: str = attrs.field(default="wxs_followers", validator=_check_table)
    openid_column: str = attrs.field(default="openid", validator=_check_identifier)
    unionid_column: str | None = attrs.field(default="unionid", validator=_check_identifier)
    subscribe_time_column: str = attrs.field(default="subscribe_time", validator=_check_identifier)
    last_interaction_at_column: str | None = attrs.field(
        default="last_interaction_at", validator=_check_identifier
    )
    columns: Mapping[str, SqlColumn] = attrs.field(
        factory=dict, converter=_freeze_columns, hash=False
    )
    tags_table: str = attrs.field(default="wxs_follower_tags", validator=_check_table)
    tags_openid_column: str = attrs.field(default="openid", validator=_check_identifier)
    tag_column: str = attrs.field(default="tag", validator=_check_identifier)
    attributes_table: str | None = attrs.field(
        default="wxs_follower_attributes", validator=_check_table
    )
    attributes_openid_column: str = attrs.field(default="openid", validator=_check_identifier)
    name_column: str = attrs.field(default="name", validator=_check_identifier)
    str_value_column: str = attrs.field(default="str_value", validator=_check_identifier)
    num_value_column: str = attrs.field(default="num_value", validator=_check_identifier)
    num_adjust_column: str = attrs.field(default="num_adjust", validator=_check_identifier)
    bool_value_column: str = attrs.field(default="bool_value", validator=_check_identifier)
    time_value_column: str = attrs.field(default="time_value", validator=_check_identifier)

    def __attrs_post_init__(self) -> None:
        own = [
            self.openid_column,
            self.unionid_column,
            self.subscribe_time_column,
            self.last_interaction_at_column,
            *(c.column for c in self.columns.values()),
        ]
        names = [n for n in own if n is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"followers table columns are used twice: {duplicates}")


@attrs.frozen(slots=True)
class SqlInsert:
    """One parameterized ``INSERT`` and its rows, to run with ``executemany(sql, rows)``."""

    sql: str
    rows: list[tuple[SqlParam, ...]]


def _quote(identifier: str) -> str:
    # Identifiers are validated against _IDENTIFIER, so no quote character can occur in them.
    return ".".join(f'"{part}"' for part in identifier.split("."))


def _placeholder(dialect: Dialect) -> str:
    return "%s" if dialect in (Dialect.POSTGRESQL, Dialect.MYSQL) else "?"


def _finish(sql: str, dialect: Dialect) -> str:
    """Statement text in the dialect's identifier quotes.

    Statements are built with double-quoted identifiers. The only other double quotes are the
    collation names of PostgreSQL and DuckDB, and no value is ever spliced in, so for MySQL
    (whose default SQL mode reads double quotes as strings) every one is an identifier quote.
    """
    return sql.replace('"', "`") if dialect is Dialect.MYSQL else sql


# -- value encoding ------------------------------------------------------------------------------


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _check_str(value: str, dialect: Dialect, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate): {value!r}") from None
    if dialect is Dialect.POSTGRESQL and "\x00" in value:
        raise ValueError(f"{what} contains a NUL character, which PostgreSQL text cannot hold")
    return value


def _check_int(value: int, what: str) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{what} {value} lies outside the signed 64-bit range SQL supports")
    return value


def _number(value: int | float, dialect: Dialect, what: str) -> int | float | Decimal:
    if isinstance(value, int):
        _check_int(value, what)
    # float -> numeric in PostgreSQL keeps only 15 digits; a Decimal carries the exact binary value.
    if dialect is Dialect.POSTGRESQL:
        return Decimal(value)
    return value + 0 if isinstance(value, int) else value + 0.0


def _split_number(value: int | float, what: str) -> tuple[float, int]:
    """Encode a number as (nearest double, integer correction), ordered lexicographically.

    Rounding to the nearest double is monotonic, so distinct doubles order their numbers; equal
    doubles belong to integers that differ only by the exact correction (0 for every float).
    DuckDB compares BIGINT with DOUBLE through doubles, which this pair keeps exact.
    """
    if isinstance(value, int):
        _check_int(value, what)
        nearest = float(value)
        return nearest, value - int(nearest)
    return value + 0.0, 0


def _scalar(value: AttributeValue, dialect: Dialect, what: str) -> SqlParam:
    """A value of kind str, bool or datetime as a parameter (numbers go through `_number`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _check_str(value, dialect, what)
    if isinstance(value, datetime):
        return _micros(value)
    raise AssertionError(f"not a scalar kind: {value!r}")


# -- compilation --------------------------------------------------------------------------------

_SQL_OPS: Final = {Op.EQ: "=", Op.NE: "<>", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_TRUE: Final = "TRUE"
_FALSE: Final = "FALSE"


@attrs.frozen(slots=True)
class _Location:
    """Where an attribute lives: a typed column of the followers row, or the attributes table."""

    column: str | None  # quoted, qualified with the followers alias; None = attributes table
    kind: str | None
    nullable: bool = True


class _Compiler:
    def __init__(self, dialect: Dialect, schema: SqlSchema, now: datetime) -> None:
        self.dialect = dialect
        self.schema = schema
        self.now = now
        self.mark = _placeholder(dialect)

    def compile(self, segment: Segment) -> tuple[str, list[SqlParam]]:
        node = as_node(segment)
        match node:
            case Constant(value=truth):
                return (_TRUE if truth else _FALSE), []
            case Tag(name=name):
                return self._tag(name)
            case Compare() | In() | Between() | Exists() | Within():
                return self._predicate(node)
            case And(children=children):
                return self._join(" AND ", children)
            case Or(children=children):
                return self._join(" OR ", children)
            case Not(child=child):
                sql, params = self.compile(child)
                return f"NOT ({sql})", params
            case _:
                assert_never(node)

    def _join(self, glue: str, children: Iterable[Segment]) -> tuple[str, list[SqlParam]]:
        # Sorting by the canonical text keeps the SQL (and prepared-statement caches) stable
        # across processes, whatever the hash seed.
        parts = sorted(((render(c), *self.compile(c)) for c in children), key=lambda p: p[:2])
        params: list[SqlParam] = []
        for _text, _sql, child_params in parts:
            params.extend(child_params)
        return "(" + glue.join(sql for _text, sql, _params in parts) + ")", params

    def _tag(self, name: str) -> tuple[str, list[SqlParam]]:
        s = self.schema
        sql = (
            f"EXISTS (SELECT * FROM {_quote(s.tags_table)} AS t "
            f"WHERE t.{_quote(s.tags_openid_column)} = f.{_quote(s.openid_column)} "
            f"AND {self._text(f't.{_quote(s.tag_column)}', ordering=False)} = {self.mark})"
        )
        return sql, [_check_str(name, self.dialect, "tag name")]

    def _locate(self, name: str) -> _Location:
        s = self.schema
        builtin: dict[str, tuple[str | None, str, bool]] = {
            "openid": (s.openid_column, "str", False),
            "unionid": (s.unionid_column, "str", True),
            "subscribe_time": (s.subscribe_time_column, "datetime", False),
            "last_interaction_at": (s.last_interaction_at_column, "datetime", True),
        }
        if name in builtin:
            column, kind, nullable = builtin[name]
            if column is None:
                raise ValueError(f"the schema has no column for the built-in field {name!r}")
            return _Location(f"f.{_quote(column)}", kind, nullable)
        if name in s.columns:
            typed = s.columns[name]
            return _Location(f"f.{_quote(typed.column)}", typed.kind)
        if s.attributes_table is None:
            raise ValueError(
                f"attribute {name!r} has no column in the schema and there is no attributes table"
            )
        return _Location(None, None)

    def _predicate(
        self, node: Compare | In | Between | Exists | Within
    ) -> tuple[str, list[SqlParam]]:
        location = self._locate(node.attr)
        if location.column is None:
            return self._eav(node)
        column, kind = location.column, location.kind
        if isinstance(node, Exists):
            return (f"{column} IS NOT NULL" if location.nullable else _TRUE), []
        guard = f"{column} IS NOT NULL AND " if location.nullable else ""
        condition = self._condition(node, column, kind, typed=True)
        if condition is None:
            return _FALSE, []
        sql, params = condition
        return f"({guard}{sql})", params

    def _eav(self, node: Compare | In | Between | Exists | Within) -> tuple[str, list[SqlParam]]:
        s = self.schema
        assert s.attributes_table is not None
        head = (
            f"EXISTS (SELECT * FROM {_quote(s.attributes_table)} AS a "
            f"WHERE a.{_quote(s.attributes_openid_column)} = f.{_quote(s.openid_column)} "
            f"AND {self._text(f'a.{_quote(s.name_column)}', ordering=False)} = {self.mark}"
        )
        params: list[SqlParam] = [node.attr]
        if isinstance(node, Exists):
            return head + ")", params
        if isinstance(node, In):
            groups: dict[str, list[AttributeValue]] = {}
            for value in node.values:
                groups.setdefault(value_kind(value), []).append(value)
            parts = []
            for kind, values in groups.items():
                sql, more = self._in(self._eav_column(kind), kind, values, typed=False)
                parts.append(sql)
                params.extend(more)
            return f"{head} AND ({' OR '.join(parts)}))", params
        kind = "datetime" if isinstance(node, Within) else value_kind(_first_value(node))
        condition = self._condition(node, self._eav_column(kind), kind, typed=False)
        if condition is None:
            return _FALSE, []
        sql, more = condition
        return f"{head} AND {sql})", params + more

    def _eav_column(self, kind: str) -> str:
        s = self.schema
        column = {
            "str": s.str_value_column,
            "number": s.num_value_column,
            "bool": s.bool_value_column,
            "datetime": s.time_value_column,
        }[kind]
        return f"a.{_quote(column)}"

    def _split(self, *, typed: bool) -> bool:
        """Whether numbers compare as (double, correction) pairs: DuckDB's and MySQL's EAV."""
        return self.dialect in _SPLIT_DIALECTS and not typed

    def _condition(
        self, node: Compare | In | Between | Within, column: str, kind: str | None, *, typed: bool
    ) -> tuple[str, list[SqlParam]] | None:
        """The condition on a non-null ``column`` of ``kind``; None when it can never hold."""
        match node:
            case Compare(op=op, value=value):
                if value_kind(value) != kind:
                    return None
                return self._compare(column, kind, op, value, typed=typed)
            case In(values=values):
                same = [v for v in values if value_kind(v) == kind]
                return self._in(column, kind, same, typed=typed) if same else None
            case Between(lo=lo, hi=hi):
                if value_kind(lo) != kind:
                    return None
                low, low_params = self._compare(column, kind, Op.GE, lo, typed=typed)
                high, high_params = self._compare(column, kind, Op.LE, hi, typed=typed)
                return f"{low} AND {high}", low_params + high_params
            case Within(duration=duration):
                if kind != "datetime":
                    return None
                try:
                    start = self.now - duration
                except OverflowError:
                    raise ValueError(f"within {duration} reaches before year 1") from None
                return (
                    f"{column} BETWEEN {self.mark} AND {self.mark}",
                    [_micros(start), _micros(self.now)],
                )
            case _:
                assert_never(node)

    def _compare(
        self, column: str, kind: str | None, op: Op, value: AttributeValue, *, typed: bool
    ) -> tuple[str, list[SqlParam]]:
        mark = self.mark
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self._split(typed=typed):
                return self._compare_split(column, op, value)
            return f"{column} {_SQL_OPS[op]} {mark}", [_number(value, self.dialect, "number")]
        if kind == "str":
            column = self._text(column, ordering=op not in (Op.EQ, Op.NE))
        return f"{column} {_SQL_OPS[op]} {mark}", [_scalar(value, self.dialect, "string value")]

    def _compare_split(self, column: str, op: Op, value: int | float) -> tuple[str, list[SqlParam]]:
        nearest, correction = _split_number(value, "number")
        adjust = f"a.{_quote(self.schema.num_adjust_column)}"
        m = self.mark
        if op is Op.EQ:
            return f"({column} = {m} AND {adjust} = {m})", [nearest, correction]
        if op is Op.NE:
            return f"({column} <> {m} OR {adjust} <> {m})", [nearest, correction]
        strict = "<" if op in (Op.LT, Op.LE) else ">"
        return (
            f"({column} {strict} {m} OR ({column} = {m} AND {adjust} {_SQL_OPS[op]} {m}))",
            [nearest, nearest, correction],
        )

    def _in(
        self, column: str, kind: str | None, values: list[AttributeValue], *, typed: bool
    ) -> tuple[str, list[SqlParam]]:
        if kind == "number" and self._split(typed=typed):
            parts: list[str] = []
            params: list[SqlParam] = []
            for value in values:
                assert isinstance(value, (int, float))
                sql, more = self._compare_split(column, Op.EQ, value)
                parts.append(sql)
                params.extend(more)
            return "(" + " OR ".join(parts) + ")", params
        encoded: list[SqlParam] = [
            _number(v, self.dialect, "number")
            if kind == "number" and isinstance(v, (int, float))
            else _scalar(v, self.dialect, "string value")
            for v in values
        ]
        marks = ", ".join(self.mark for _ in encoded)
        if kind == "str":
            column = self._text(column, ordering=False)
        return f"{column} IN ({marks})", encoded

    def _text(self, column: str, *, ordering: bool) -> str:
        """``column`` compared as Python compares strings: by code point, equal only if equal.

        Code-point order is the byte order of UTF-8. SQLite and DuckDB get their binary
        collation on every comparison (an index on a default-collated column still applies).
        PostgreSQL gets "C" for ordering only: under its deterministic collations equality is
        already bytewise, and leaving it alone keeps indexes on a CRM's own columns usable.
        """
        match self.dialect:
            case Dialect.SQLITE:
                return f"{column} COLLATE BINARY"
            case Dialect.POSTGRESQL:
                return f'{column} COLLATE "C"' if ordering else column
            case Dialect.DUCKDB:
                return f'{column} COLLATE "binary"'
            case Dialect.MYSQL:
                # Bytes of UTF-8 order as code points do, and binary strings are never padded
                # (MariaDB's utf8mb4_bin would find "a" equal to "a ").
                return f"CAST({column} AS BINARY)"
            case _:
                assert_never(self.dialect)


def _first_value(node: Compare | Between) -> AttributeValue:
    return node.value if isinstance(node, Compare) else node.lo


def _check_schema(schema: SqlSchema | None) -> SqlSchema:
    if schema is None:
        return SqlSchema()
    if not isinstance(schema, SqlSchema):
        raise TypeError(f"schema must be a SqlSchema, got {type(schema).__name__}")
    return schema


def to_sql(
    segment: Segment,
    *,
    dialect: Dialect | str,
    schema: SqlSchema | None = None,
    now: datetime,
) -> tuple[str, list[SqlParam]]:
    """Compile ``segment`` into ``(sql, params)``: a query for the openids it matches at ``now``.

    The query returns one column, ``openid``, in no particular order. ``params`` is a list for
    positional placeholders (``?`` for SQLite and DuckDB, ``%s`` for psycopg 3). Raises
    ``ValueError`` for an unknown dialect, a naive ``now``, or a value the dialect cannot hold.
    """
    target = _dialect(dialect)
    ensure_aware(now, "now")
    if not isinstance(segment, Segment):
        raise TypeError(f"expected a Segment, got {type(segment).__name__}")
    s = _check_schema(schema)
    where, params = _Compiler(target, s, now).compile(segment)
    # MySQL's layout keeps openids as bytes (see sql_schema_ddl): hand them back as text.
    selected = f"f.{_quote(s.openid_column)}"
    if target is Dialect.MYSQL:
        selected = f"CAST({selected} AS CHAR)"
    sql = f'SELECT {selected} AS "openid" FROM {_quote(s.followers_table)} AS f WHERE {where}'
    return _finish(sql, target), params


# -- layout and loading -------------------------------------------------------------------------

_COLUMN_TYPES: Final[dict[Dialect, dict[str, str]]] = {
    Dialect.SQLITE: {"str": "TEXT", "number": "NUMERIC", "bool": "INTEGER", "datetime": "INTEGER"},
    Dialect.POSTGRESQL: {
        "str": 'TEXT COLLATE "C"',
        "number": "NUMERIC",
        "bool": "BOOLEAN",
        "datetime": "BIGINT",
    },
    Dialect.DUCKDB: {"str": "VARCHAR", "number": "DOUBLE", "bool": "BOOLEAN", "datetime": "BIGINT"},
    # VARBINARY compares bytes with no padding and no case folding; a prefix indexes BLOBs.
    Dialect.MYSQL: {"str": "BLOB", "number": "DOUBLE", "bool": "BOOLEAN", "datetime": "BIGINT"},
}
_SPLIT_DIALECTS: Final = frozenset({Dialect.DUCKDB, Dialect.MYSQL})
#: MySQL key columns (openids, tag and attribute names): bytes, short enough for an index.
_MYSQL_KEY: Final = "VARBINARY(255)"
#: Bytes of a MySQL BLOB column an index covers.
_MYSQL_PREFIX: Final = 255


def _index(
    dialect: Dialect, table: str, suffix: str, columns: Iterable[str], where: str = ""
) -> str:
    *qualifier, base = table.split(".")
    name = f"{base}_{suffix}"
    listed = ", ".join(_quote(c) for c in columns)
    if dialect is Dialect.SQLITE:
        # SQLite qualifies the index name, not the table name.
        return (
            f"CREATE INDEX IF NOT EXISTS {_quote('.'.join([*qualifier, name]))} "
            f"ON {_quote(base)} ({listed}){where}"
        )
    return f"CREATE INDEX IF NOT EXISTS {_quote(name)} ON {_quote(table)} ({listed}){where}"


def sql_schema_ddl(dialect: Dialect | str, schema: SqlSchema | None = None) -> list[str]:
    """``CREATE TABLE``/``CREATE INDEX`` statements for the layout `to_sql` reads, in order.

    Datetimes are ``BIGINT`` UTC microseconds since the Unix epoch; strings compare in code-point
    order. DuckDB gets no secondary indexes: it scans columns with zone maps instead. MySQL keeps
    strings as bytes (``VARBINARY``/``BLOB``) and declares its indexes inside ``CREATE TABLE``.
    """
    target = _dialect(dialect)
    s = _check_schema(schema)
    types = _COLUMN_TYPES[target]
    text, number, boolean, micros = types["str"], types["number"], types["bool"], types["datetime"]
    mysql = target is Dialect.MYSQL
    key_type = _MYSQL_KEY if mysql else text
    followers = [
        f"{_quote(s.openid_column)} {key_type} NOT NULL PRIMARY KEY",
        f"{_quote(s.subscribe_time_column)} {micros} NOT NULL",
    ]
    if s.unionid_column is not None:
        followers.append(f"{_quote(s.unionid_column)} {key_type}")
    if s.last_interaction_at_column is not None:
        followers.append(f"{_quote(s.last_interaction_at_column)} {micros}")
    followers.extend(f"{_quote(c.column)} {types[c.kind]}" for c in s.columns.values())
    without_rowid = " WITHOUT ROWID" if target is Dialect.SQLITE else ""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {_quote(s.followers_table)} ({', '.join(followers)})",
        f"CREATE TABLE IF NOT EXISTS {_quote(s.tags_table)} ("
        f"{_quote(s.tags_openid_column)} {key_type} NOT NULL, "
        f"{_quote(s.tag_column)} {key_type} NOT NULL, "
        f"PRIMARY KEY ({_quote(s.tags_openid_column)}, {_quote(s.tag_column)})){without_rowid}",
    ]
    indexed: list[tuple[str, str, list[str]]] = [
        (s.tags_table, "by_tag", [s.tag_column, s.tags_openid_column]),
        (s.followers_table, "by_subscribe_time", [s.subscribe_time_column]),
    ]
    partial: dict[str, str] = {}
    if s.last_interaction_at_column is not None:
        indexed.append(
            (s.followers_table, "by_last_interaction_at", [s.last_interaction_at_column])
        )
        # Followers a CRM import brings rarely have an interaction yet: leaving them out of
        # the index spares every such row an index entry, and a range on the column (what
        # segments compile to) still implies ``IS NOT NULL``, so the planner keeps using it.
        partial["by_last_interaction_at"] = (
            f" WHERE {_quote(s.last_interaction_at_column)} IS NOT NULL"
        )
    indexed.extend((s.followers_table, f"by_{c.column}", [c.column]) for c in s.columns.values())
    if s.attributes_table is not None:
        values = [s.str_value_column, s.num_value_column, s.bool_value_column, s.time_value_column]
        count = {
            Dialect.SQLITE: " + ".join(f"({_quote(v)} IS NOT NULL)" for v in values),
            Dialect.POSTGRESQL: f"num_nonnulls({', '.join(_quote(v) for v in values)})",
            Dialect.DUCKDB: " + ".join(f"CAST({_quote(v)} IS NOT NULL AS INTEGER)" for v in values),
            Dialect.MYSQL: " + ".join(f"({_quote(v)} IS NOT NULL)" for v in values),
        }[target]
        adjust = f"{_quote(s.num_adjust_column)} BIGINT, " if target in _SPLIT_DIALECTS else ""
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {_quote(s.attributes_table)} ("
            f"{_quote(s.attributes_openid_column)} {key_type} NOT NULL, "
            f"{_quote(s.name_column)} {key_type} NOT NULL, "
            f"{_quote(s.str_value_column)} {text}, {_quote(s.num_value_column)} {number}, "
            f"{adjust}{_quote(s.bool_value_column)} {boolean}, "
            f"{_quote(s.time_value_column)} {micros}, "
            f"PRIMARY KEY ({_quote(s.attributes_openid_column)}, {_quote(s.name_column)}), "
            f"CHECK ({count} = 1)){without_rowid}"
        )
        for value, suffix in zip(values, ("str", "num", "bool", "time"), strict=True):
            key = [s.name_column, value, s.attributes_openid_column]
            indexed.append((s.attributes_table, f"by_{suffix}", key))
    if mysql:
        prefixed = {s.str_value_column} | {c.column for c in s.columns.values() if c.kind == "str"}
        tables = [s.followers_table, s.tags_table, s.attributes_table]
        for table, suffix, cols in indexed:
            listed = ", ".join(
                f"{_quote(c)}({_MYSQL_PREFIX})" if c in prefixed else _quote(c) for c in cols
            )
            at = tables.index(table)
            statements[at] = f"{statements[at][:-1]}, INDEX {_quote(suffix)} ({listed}))"
        return [_finish(statement, target) for statement in statements]
    if target is not Dialect.DUCKDB:
        statements.extend(
            _index(target, table, suffix, cols, partial.get(suffix, ""))
            for table, suffix, cols in indexed
        )
    return statements


def _insert(dialect: Dialect, table: str, columns: list[str]) -> str:
    marks = ", ".join(_placeholder(dialect) for _ in columns)
    sql = f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) VALUES ({marks})"
    return _finish(sql, dialect)


def follower_inserts(
    followers: Iterable[Follower],
    *,
    dialect: Dialect | str,
    schema: SqlSchema | None = None,
) -> list[SqlInsert]:
    """``INSERT`` statements and rows that store ``followers`` in the layout of `sql_schema_ddl`.

    Run each with ``executemany(insert.sql, insert.rows)``. Raises ``ValueError`` for a value the
    schema or dialect cannot hold (a field or attribute without a column, a typed column of
    another kind, an integer outside 64 bits, NUL in PostgreSQL text).
    """
    target = _dialect(dialect)
    s = _check_schema(schema)
    typed = list(s.columns.items())
    follower_columns = [s.openid_column, s.subscribe_time_column]
    if s.unionid_column is not None:
        follower_columns.append(s.unionid_column)
    if s.last_interaction_at_column is not None:
        follower_columns.append(s.last_interaction_at_column)
    follower_columns.extend(c.column for _, c in typed)
    attribute_columns = [
        s.attributes_openid_column,
        s.name_column,
        s.str_value_column,
        s.num_value_column,
        *([s.num_adjust_column] if target in _SPLIT_DIALECTS else []),
        s.bool_value_column,
        s.time_value_column,
    ]
    follower_rows: list[tuple[SqlParam, ...]] = []
    tag_rows: list[tuple[SqlParam, ...]] = []
    attribute_rows: list[tuple[SqlParam, ...]] = []
    for follower in followers:
        if not isinstance(follower, Follower):
            raise TypeError(f"expected a Follower, got {type(follower).__name__}")
        openid = _check_str(follower.openid, target, "openid")
        row: list[SqlParam] = [openid, _micros(follower.subscribe_time)]
        for column, field in (
            (s.unionid_column, follower.unionid),
            (s.last_interaction_at_column, follower.last_interaction_at),
        ):
            if column is not None:
                row.append(None if field is None else _scalar(field, target, "field"))
            elif field is not None:
                raise ValueError(f"follower {openid!r} has a field the schema has no column for")
        for name, column_spec in typed:
            held = follower.attributes.get(name)
            if held is not None and value_kind(held) != column_spec.kind:
                raise ValueError(
                    f"follower {openid!r}: attribute {name!r} is a {value_kind(held)}, but its "
                    f"column {column_spec.column!r} holds {column_spec.kind} values"
                )
            row.append(None if held is None else _column_value(held, target))
        follower_rows.append(tuple(row))
        tag_rows.extend((openid, _check_str(t, target, "tag name")) for t in sorted(follower.tags))
        for name, value in sorted(follower.attributes.items()):
            if name in s.columns:
                continue
            if s.attributes_table is None:
                raise ValueError(
                    f"follower {openid!r}: attribute {name!r} has no column and there is no "
                    "attributes table"
                )
            attribute_rows.append((openid, name, *_attribute_values(value, target)))
    inserts = [
        SqlInsert(_insert(target, s.followers_table, follower_columns), follower_rows),
        SqlInsert(_insert(target, s.tags_table, [s.tags_openid_column, s.tag_column]), tag_rows),
    ]
    if s.attributes_table is not None:
        inserts.append(
            SqlInsert(_insert(target, s.attributes_table, attribute_columns), attribute_rows)
        )
    return inserts


def _column_value(value: AttributeValue, dialect: Dialect) -> SqlParam:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value, dialect, "number")
    return _scalar(value, dialect, "string value")


def _attribute_values(value: AttributeValue, dialect: Dialect) -> tuple[SqlParam, ...]:
    """The typed value columns of one attribute row: exactly one is not ``NULL``."""
    kind = value_kind(value)
    text = _scalar(value, dialect, "string value") if kind == "str" else None
    flag = value if kind == "bool" else None
    micros = _scalar(value, dialect, "datetime") if kind == "datetime" else None
    number: tuple[SqlParam, ...]
    if kind != "number":
        number = (None, None) if dialect in _SPLIT_DIALECTS else (None,)
    else:
        assert isinstance(value, (int, float))
        if dialect in _SPLIT_DIALECTS:
            number = _split_number(value, "number")
        else:
            number = (_number(value, dialect, "number"),)
    return (text, *number, flag, micros)
