"""Tests of the SQL compiler: SQLite, PostgreSQL, DuckDB and MySQL agree exactly with `matches`."""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._services import PG_DSN, unreachable
from wxsegment import Follower
from wxsegment._clock import SHANGHAI
from wxsegment._model import AttributeValue, value_kind
from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    Between,
    Compare,
    Dialect,
    Exists,
    In,
    Op,
    Segment,
    SqlColumn,
    SqlSchema,
    Tag,
    Within,
    and_,
    attr,
    follower_inserts,
    matches,
    not_,
    or_,
    sql_schema_ddl,
    tag,
    to_sql,
)

DIALECTS = [d.value for d in Dialect]

CUSTOM = SqlSchema(
    followers_table="crm_users",
    openid_column="wx_openid",
    unionid_column="wx_unionid",
    subscribe_time_column="followed_at_us",
    last_interaction_at_column="seen_at_us",
    columns={
        "city": SqlColumn("home_city", "str"),
        "spend": SqlColumn("total_spend", "number"),
        "member": SqlColumn("is_member", "bool"),
        "last_order_at": SqlColumn("last_order_us", "datetime"),
    },
    tags_table="crm_user_labels",
    tags_openid_column="user_openid",
    tag_column="label",
    attributes_table="crm_user_props",
    attributes_openid_column="user_openid",
    name_column="prop",
    str_value_column="s",
    num_value_column="n",
    num_adjust_column="n_fix",
    bool_value_column="b",
    time_value_column="t",
)

#: A CRM whose own text columns sort linguistically (case-insensitively) rather than by code point.
COLLATED = SqlSchema(
    followers_table="collated_users",
    unionid_column=None,
    last_interaction_at_column=None,
    columns={"city": SqlColumn("city", "str")},
    tags_table="collated_tags",
    attributes_table=None,
)
COLLATIONS = {
    "sqlite": "TEXT COLLATE NOCASE",
    "duckdb": "TEXT COLLATE NOCASE",
    "postgresql": 'TEXT COLLATE "en-x-icu"',
    # Case-insensitive and PAD SPACE: "a" = "A " under this collation.
    "mysql": "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
}
MYSQL_URL = os.environ.get("WXSEGMENT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")

# -- databases -----------------------------------------------------------------------------------


class Database:
    """One connection with both layouts created; every query runs in a rolled-back transaction."""

    def __init__(self, dialect: str, connection: Any) -> None:
        self.dialect = dialect
        self.connection = connection

    def create(self) -> None:
        for schema in (None, CUSTOM):
            for statement in sql_schema_ddl(self.dialect, schema):
                self.connection.cursor().execute(statement)
        text = COLLATIONS[self.dialect]
        cursor = self.connection.cursor()
        cursor.execute(
            f"CREATE TABLE collated_users (openid {text} PRIMARY KEY, "
            f"subscribe_time BIGINT NOT NULL, city {text})"
        )
        cursor.execute(f"CREATE TABLE collated_tags (openid {text}, tag {text})")
        self.connection.commit()

    def select(
        self,
        segment: Segment,
        followers: Sequence[Follower],
        now: datetime,
        schema: SqlSchema | None = None,
    ) -> set[str]:
        """Load ``followers``, run the compiled query, and roll everything back."""
        sql, params = to_sql(segment, dialect=self.dialect, schema=schema, now=now)
        inserts = follower_inserts(followers, dialect=self.dialect, schema=schema)
        if self.dialect == "duckdb":
            self.connection.begin()
        try:
            # A DuckDB cursor is a second connection, outside the transaction just begun.
            cursor = self.connection if self.dialect == "duckdb" else self.connection.cursor()
            for insert in inserts:
                if insert.rows:
                    cursor.executemany(insert.sql, insert.rows)
            if self.dialect == "mysql":
                cursor.execute(sql, params)
                rows = cursor.fetchall()
            else:
                rows = cursor.execute(sql, params).fetchall()
        finally:
            self.connection.rollback()
        openids = [row[0] for row in rows]
        assert len(openids) == len(set(openids)), "each follower is listed once"
        return set(openids)


@pytest.fixture(scope="module")
def sqlite_db() -> Iterator[Database]:
    """An in-memory SQLite database with both layouts."""
    connection = sqlite3.connect(":memory:")
    database = Database("sqlite", connection)
    database.create()
    yield database
    connection.close()


@pytest.fixture(scope="module")
def duckdb_db() -> Iterator[Database]:
    """An in-memory DuckDB database with both layouts."""
    duckdb = pytest.importorskip("duckdb")
    connection = duckdb.connect()
    database = Database("duckdb", connection)
    database.create()
    yield database
    connection.close()


@pytest.fixture(scope="module")
def postgresql_db() -> Iterator[Database]:
    """A fresh schema on the PostgreSQL test server, dropped at the end of the module."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    psycopg = pytest.importorskip("psycopg")
    connection = psycopg.connect(PG_DSN)
    schema = f"wxs_sql_{uuid.uuid4().hex[:12]}"
    connection.execute(f'CREATE SCHEMA "{schema}"')
    connection.execute(f'SET search_path TO "{schema}"')
    try:
        database = Database("postgresql", connection)
        database.create()
        yield database
    finally:
        connection.rollback()
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.commit()
        connection.close()


@pytest.fixture(scope="module")
def mysql_db() -> Iterator[Database]:
    """A fresh database on the MariaDB/MySQL test server, dropped at the end of the module."""
    reason = unreachable(MYSQL_URL)
    if reason:
        pytest.skip(f"MySQL: {reason}")
    pymysql = pytest.importorskip("pymysql")
    parts = urlsplit(MYSQL_URL)
    connection = pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        charset="utf8mb4",
    )
    database = f"wxs_sql_{uuid.uuid4().hex[:12]}"
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    cursor.execute(f"USE `{database}`")
    try:
        db = Database("mysql", connection)
        db.create()
        yield db
    finally:
        connection.rollback()
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        connection.close()


@pytest.fixture(scope="module", params=DIALECTS)
def db(request: pytest.FixtureRequest) -> Database:
    """Each database in turn."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


# -- strategies ----------------------------------------------------------------------------------
# Segments and followers are drawn as templates that point into a per-example vocabulary, so the
# strategies are built once and followers and segments meet at equal (and adjacent) values.

HOSTILE = (
    "'", '"', "''", "';--", "'; DROP TABLE wxs_followers; --", "\\", "\\'", "%s", "%%",
    "%(x)s", "?", "$1", ":name", "/*", "*/", "a", "A", "B", "é", "e\u0301", "\uffff", "😀",
    "杭州", "a b", "\t\n", "\x7f", "\x01", "\U0010ffff", "",
)  # fmt: skip
NUMBERS = (
    0, -0.0, 1, 1.0, 0.5, -1, 99.5, 100, 0.1, 0.3, 0.30000000000000004, 1e16, 10**16 + 1,
    2**53, 2**53 + 1, float(2**53), 2**53 + 2, 2**63 - 1, -(2**63), float(2**63), -float(2**63),
    2**63 - 512, 2**63 - 513, 9.223372036854775e18, 1e300, -1e300, 5e-324,
)  # fmt: skip
#: DuckDB compares a DOUBLE column with an integer through doubles: exact up to 2**53 only.
SAFE_NUMBERS = tuple(n for n in NUMBERS if isinstance(n, float) or abs(n) <= 2**53)
DURATIONS = (timedelta(seconds=1), timedelta(days=1), timedelta(days=180))
OFFSETS = (timezone.utc, SHANGHAI, timezone(timedelta(hours=-5, minutes=-30)))
KINDS = ("str", "number", "bool", "datetime")
ATTRIBUTES = ("city", "spend", "member", "last_order_at", "extra")
FIELDS = ("openid", "unionid", "subscribe_time", "last_interaction_at")
NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=SHANGHAI)
POOL = 8


def _texts(postgresql: bool, min_size: int = 0) -> st.SearchStrategy[str]:
    pool = [s for s in HOSTILE if len(s) >= min_size]
    if not postgresql:
        pool.append("a\x00b")
    excluded = "\x00" if postgresql else ""
    alphabet = st.characters(exclude_categories=("Cs",), exclude_characters=excluded)
    return st.sampled_from(pool) | st.text(alphabet, min_size=min_size, max_size=4)


@attrs.frozen
class Vocabulary:
    """The values one example draws from."""

    now: datetime
    strings: tuple[str, ...]
    numbers: tuple[int | float, ...]
    datetimes: tuple[datetime, ...]
    tags: tuple[str, ...]

    def value(self, ref: tuple[str, int]) -> AttributeValue:
        """The value a template reference ``(kind, index)`` points at."""
        kind, index = ref
        pools: dict[str, Sequence[AttributeValue]] = {
            "str": self.strings,
            "number": self.numbers,
            "bool": (False, True),
            "datetime": self.datetimes,
        }
        pool = pools[kind]
        return pool[index % len(pool)]


@st.composite
def _vocabularies(draw: st.DrawFn, postgresql: bool, safe: bool) -> Vocabulary:
    now = NOW + timedelta(microseconds=draw(st.integers(-(10**12), 10**12)))
    moments = [now, now + timedelta(microseconds=1)]
    for duration in DURATIONS:
        moments += [now - duration, now - duration - timedelta(microseconds=1)]
    moments += [now + timedelta(microseconds=us) for us in draw(LONG_OFFSETS)]
    return Vocabulary(
        now=now.astimezone(draw(ZONES)),
        strings=tuple(draw(st.lists(TEXTS[postgresql, 0], min_size=1, max_size=5))),
        numbers=tuple(draw(st.lists(NUMBER_VALUES[safe], min_size=1, max_size=6))),
        datetimes=tuple(m.astimezone(draw(ZONES)) for m in moments),
        tags=tuple(draw(st.lists(TEXTS[postgresql, 1], min_size=1, max_size=4))),
    )


TEXTS = {(pg, size): _texts(pg, size) for pg in (False, True) for size in (0, 1)}
ZONES = st.sampled_from(OFFSETS)
LONG_OFFSETS = st.lists(st.integers(-(10**14), 10**14), max_size=3)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
NUMBER_VALUES = {
    False: st.sampled_from(NUMBERS) | st.integers(-(2**63), 2**63 - 1) | FLOATS,
    True: st.sampled_from(SAFE_NUMBERS) | st.integers(-(2**53), 2**53) | FLOATS,
}
REFS = st.tuples(st.sampled_from(KINDS), st.integers(0, POOL - 1))
NAMES = st.sampled_from(ATTRIBUTES + FIELDS)
LEAVES = st.one_of(
    st.tuples(st.just("const"), st.booleans()),
    st.tuples(st.just("tag"), st.integers(0, POOL - 1)),
    st.tuples(st.just("compare"), NAMES, st.sampled_from(list(Op)), REFS),
    st.tuples(st.just("in"), NAMES, st.lists(REFS, min_size=1, max_size=4)),
    st.tuples(st.just("between"), NAMES, REFS, st.integers(0, POOL - 1)),
    st.tuples(st.just("exists"), NAMES),
    st.tuples(st.just("within"), NAMES, st.sampled_from(DURATIONS)),
)
TEMPLATES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.sampled_from(("and", "or")), st.lists(children, min_size=1, max_size=4)),
    ),
    max_leaves=10,
)
FOLLOWER_TEMPLATES = st.lists(
    st.tuples(
        st.integers(0, POOL - 1) | st.text(min_size=1, max_size=3),  # openid
        st.integers(0, POOL - 1),  # subscribe_time
        st.frozensets(st.integers(0, POOL - 1), max_size=4),  # tags
        st.fixed_dictionaries({}, optional=dict.fromkeys(ATTRIBUTES, REFS)),
        st.none() | st.integers(0, POOL - 1),  # unionid
        st.none() | st.integers(0, POOL - 1),  # last_interaction_at
    ),
    min_size=2,
    max_size=10,
)


def build_segment(template: Any, v: Vocabulary) -> Segment:
    """The segment a template describes, built with the smart constructors."""
    head, *rest = template
    if head == "const":
        return EVERYONE if rest[0] else NOBODY
    if head == "tag":
        return Tag(v.tags[rest[0] % len(v.tags)])
    if head == "compare":
        return Compare(rest[0], rest[1], v.value(rest[2]))
    if head == "in":
        return In(rest[0], [v.value(ref) for ref in rest[1]])
    if head == "between":
        kind, index = rest[1]
        lo, hi = sorted([v.value((kind, index)), v.value((kind, rest[2]))])  # type: ignore[type-var]
        return Between(rest[0], lo, hi)
    if head == "exists":
        return Exists(rest[0])
    if head == "within":
        return Within(rest[0], rest[1])
    if head == "not":
        return not_(build_segment(rest[0], v))
    parts = [build_segment(child, v) for child in rest[0]]
    return and_(*parts) if head == "and" else or_(*parts)


def build_followers(templates: Any, v: Vocabulary, postgresql: bool) -> list[Follower]:
    """Followers with unique openids (some equal to vocabulary strings)."""
    result: dict[str, Follower] = {}
    for number, (openid, subscribed, tags, refs, unionid, seen) in enumerate(templates):
        if isinstance(openid, int):
            openid = v.strings[openid % len(v.strings)] or f"o{number}"
        if postgresql:
            openid = openid.replace("\x00", "")
        openid = openid.encode("utf-8", "replace").decode("utf-8") or f"o{number}"
        result.setdefault(
            openid,
            Follower(
                openid=openid,
                subscribe_time=v.datetimes[subscribed % len(v.datetimes)],
                tags={v.tags[t % len(v.tags)] for t in tags},
                attributes={name: v.value(ref) for name, ref in refs.items()},
                unionid=None if unionid is None else v.strings[unionid % len(v.strings)],
                last_interaction_at=None if seen is None else v.datetimes[seen % len(v.datetimes)],
            ),
        )
    return list(result.values())


@st.composite
def _scenarios(
    draw: st.DrawFn, postgresql: bool, safe: bool
) -> tuple[Segment, list[Follower], datetime]:
    v = draw(_vocabularies(postgresql, safe))
    segment = build_segment(draw(TEMPLATES), v)
    return segment, build_followers(draw(FOLLOWER_TEMPLATES), v, postgresql), v.now


VOCABULARIES = _vocabularies(postgresql=True, safe=False)
SCENARIOS = {(pg, safe): _scenarios(pg, safe) for pg in (False, True) for safe in (False, True)}


def expected(segment: Segment, followers: Sequence[Follower], now: datetime) -> set[str]:
    """The reference answer."""
    return {f.openid for f in followers if matches(segment, f, now=now)}


def fit_custom(follower: Follower) -> Follower:
    """Drop attributes whose kind does not fit their typed column in `CUSTOM`."""
    kept = {
        name: value
        for name, value in follower.attributes.items()
        if name not in CUSTOM.columns or value_kind(value) == CUSTOM.columns[name].kind
    }
    return attrs.evolve(follower, attributes=kept)


# -- differential properties ---------------------------------------------------------------------


@given(data=st.data())
def test_default_layout_agrees_with_matches(db: Database, data: st.DataObject) -> None:
    """For random followers and segments, the database returns exactly matches' openids."""
    segment, followers, now = data.draw(SCENARIOS[db.dialect == "postgresql", False])
    assert db.select(segment, followers, now) == expected(segment, followers, now)


@given(data=st.data())
def test_custom_schema_agrees_with_matches(db: Database, data: st.DataObject) -> None:
    """A CRM mapping (renamed tables, typed columns of its own) gives the same answers."""
    segment, followers, now = data.draw(SCENARIOS[db.dialect == "postgresql", True])
    fitted = [fit_custom(f) for f in followers]
    assert db.select(segment, fitted, now, CUSTOM) == expected(segment, fitted, now)


@given(data=st.data())
def test_sql_text_holds_no_value(data: st.DataObject) -> None:
    """No value or name is spliced: the SQL is ASCII, without quotes, digits, ';' or '--'."""
    dialect = data.draw(st.sampled_from(DIALECTS))
    segment, _followers, now = data.draw(SCENARIOS[dialect == "postgresql", False])
    sql, params = to_sql(segment, dialect=dialect, now=now)
    assert sql.isascii()
    assert not any(ch in sql for ch in "'0123456789;\\")
    assert "--" not in sql
    assert "/*" not in sql
    mark = "%s" if dialect in ("postgresql", "mysql") else "?"
    assert sql.count(mark) == len(params)
    assert sql.replace(mark, "").count("?") + sql.replace(mark, "").count("%") == 0


def _reversed(template: Any) -> Any:
    """The same template with the children of every and/or listed in reverse order."""
    if template[0] in ("and", "or"):
        return (template[0], [_reversed(child) for child in reversed(template[1])])
    if template[0] == "not":
        return ("not", _reversed(template[1]))
    return template


@given(template=TEMPLATES, vocabulary=VOCABULARIES)
def test_equal_segments_compile_to_identical_sql(template: Any, vocabulary: Vocabulary) -> None:
    """Building the same segment in another order yields the same SQL text and params."""
    first = build_segment(template, vocabulary)
    second = build_segment(_reversed(template), vocabulary)
    assert first == second
    for dialect in DIALECTS:
        assert to_sql(first, dialect=dialect, now=NOW) == to_sql(second, dialect=dialect, now=NOW)


SHAPES: list[Callable[[str], Segment]] = [
    tag,
    lambda v: attr("city") == v,
    lambda v: attr("city") < v,
    lambda v: attr("city").isin([v, 1]),
    lambda v: attr("city").between(v, v),
    lambda v: attr("openid") >= v,
    lambda v: ~tag(v) & (attr("unionid") != v),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("shape", range(len(SHAPES)))
@given(hostile=TEXTS[True, 1])
def test_hostile_strings_change_only_the_params(dialect: str, shape: int, hostile: str) -> None:
    """Any string yields the same SQL text as a plain one; it travels only as a parameter."""
    build = SHAPES[shape]
    sql, params = to_sql(build(hostile), dialect=dialect, now=NOW)
    plain_sql, _ = to_sql(build("plain"), dialect=dialect, now=NOW)
    assert sql == plain_sql
    assert hostile in params


# -- exactness traps, one at a time --------------------------------------------------------------

BARE = Follower("o-bare", NOW)
TRAPS: list[tuple[dict[str, AttributeValue], Segment]] = [
    ({"spend": 2**53 + 1}, attr("spend") > float(2**53)),
    ({"spend": 2**53 + 1}, attr("spend") == float(2**53)),
    ({"spend": float(2**53)}, attr("spend") < 2**53 + 1),
    ({"spend": 2**63 - 1}, attr("spend") < float(2**63)),
    ({"spend": 2**63 - 1}, attr("spend") == float(2**63)),
    ({"spend": 9.223372036854775e18}, attr("spend") < 2**63 - 513),
    ({"spend": 0.1}, attr("spend") > 0.09999999999999999),
    ({"spend": 0.30000000000000004}, attr("spend") == 0.3),
    ({"spend": -0.0}, attr("spend") == 0),
    ({"spend": 1}, attr("spend") == True),  # noqa: E712
    ({"member": True}, attr("member") == 1),
    ({"member": True}, attr("member") > False),
    ({"city": "é"}, attr("city") > "z"),
    ({"city": "😀"}, attr("city") > "\uffff"),
    ({"city": "a"}, attr("city") < "B"),
    ({"city": "120"}, attr("spend") >= 100),
    ({"city": "x"}, ~(attr("city") == "y")),
    ({}, ~(attr("city") == "y")),
    ({}, attr("city") != "y"),
    ({"spend": 5}, attr("spend").isin(["5", True, 5.0])),
    ({"last_order_at": NOW - timedelta(days=1)}, attr("last_order_at").within(timedelta(days=1))),
    (
        {"last_order_at": NOW - timedelta(days=1, microseconds=1)},
        attr("last_order_at").within(timedelta(days=1)),
    ),
    ({"last_order_at": NOW.astimezone(timezone.utc)}, attr("last_order_at") == NOW),
    ({"last_order_at": NOW + timedelta(microseconds=1)}, attr("last_order_at") > NOW),
]


@pytest.mark.parametrize(("attributes", "segment"), TRAPS, ids=[str(s) for _, s in TRAPS])
def test_exactness_traps(
    db: Database, attributes: dict[str, AttributeValue], segment: Segment
) -> None:
    """Each trap (int vs float, bool vs number, code points, instants, missing) as matches says."""
    followers = [Follower("o-1", NOW, attributes=attributes), BARE]
    for now in (NOW, NOW.astimezone(timezone.utc)):
        assert db.select(segment, followers, now) == expected(segment, followers, now)


def test_own_columns_with_a_linguistic_collation_compare_by_code_point(db: Database) -> None:
    """Ordering and equality follow Python even where the CRM's columns ignore case."""
    cities = ["a", "A", "b", "B", "é", "E", "ä", "Z"]
    followers = [
        Follower(f"o{i}", NOW, tags={"VIP" if i % 2 else "vip"}, attributes={"city": city})
        for i, city in enumerate(cities)
    ]
    city = attr("city")
    for segment in [
        city < "B",
        city >= "a",
        city > "Z",
        city == "A",
        city != "a",
        city.isin(["A", "e"]),
        city.between("A", "b"),
        tag("VIP"),
    ]:
        want = expected(segment, followers, NOW)
        assert db.select(segment, followers, NOW, COLLATED) == want, segment


def test_constants(db: Database) -> None:
    """EVERYONE lists every follower and NOBODY none."""
    followers = [Follower(f"o{i}", NOW, tags={"t"}) for i in range(3)]
    assert db.select(EVERYONE, followers, NOW) == {"o0", "o1", "o2"}
    assert db.select(NOBODY, followers, NOW) == set()


def test_qualified_table_names_in_sqlite() -> None:
    """Schema-qualified table names are quoted part by part and work end to end."""
    schema = SqlSchema(followers_table="main.f2", tags_table="main.t2", attributes_table="main.a2")
    connection = sqlite3.connect(":memory:")
    for statement in sql_schema_ddl("sqlite", schema):
        connection.execute(statement)
    followers = [Follower("o1", NOW, tags={"vip"}, attributes={"spend": 3}), BARE]
    for insert in follower_inserts(followers, dialect="sqlite", schema=schema):
        connection.executemany(insert.sql, insert.rows)
    sql, params = to_sql(tag("vip") & (attr("spend") > 2), dialect="sqlite", schema=schema, now=NOW)
    assert '"main"."f2"' in sql
    assert {row[0] for row in connection.execute(sql, params)} == {"o1"}
    connection.close()


# -- bad input -----------------------------------------------------------------------------------


def test_unknown_dialect_is_a_value_error() -> None:
    """An unknown dialect is refused by every entry point."""
    with pytest.raises(ValueError, match="unknown SQL dialect 'mssql'"):
        to_sql(EVERYONE, dialect="mssql", now=NOW)
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        sql_schema_ddl("oracle")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        follower_inserts([], dialect="")


def test_naive_now_and_non_segments_are_refused() -> None:
    """A naive now is a ValueError; a non-segment or a bad schema is a TypeError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        to_sql(EVERYONE, dialect="sqlite", now=datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="Segment"):
        to_sql("tag:vip", dialect="sqlite", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SqlSchema"):
        to_sql(EVERYONE, dialect="sqlite", schema={}, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "segment",
    [tag("a\x00b"), attr("city") == "a\x00", attr("city").isin(["x", "\x00"])],
)
def test_nul_is_refused_for_postgresql_only(segment: Segment) -> None:
    """PostgreSQL text cannot hold NUL: to_sql refuses it there and accepts it elsewhere."""
    with pytest.raises(ValueError, match="NUL"):
        to_sql(segment, dialect="postgresql", now=NOW)
    for dialect in ("sqlite", "duckdb", "mysql"):
        to_sql(segment, dialect=dialect, now=NOW)
    follower = Follower("o\x00", NOW)
    with pytest.raises(ValueError, match="NUL"):
        follower_inserts([follower], dialect="postgresql")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unencodable_and_out_of_range_values_are_refused(dialect: str) -> None:
    """Lone surrogates and integers beyond 64 bits are a ValueError, not a driver error."""
    for segment in (tag("\ud800"), attr("city") == "a\udfff", attr("spend") < 2**63):
        with pytest.raises(ValueError, match=r"surrogate|64-bit"):
            to_sql(segment, dialect=dialect, now=NOW)
    for follower in (
        Follower("o1", NOW, attributes={"spend": -(2**63) - 1}),
        Follower("o1", NOW, tags={"\udc80"}),
    ):
        with pytest.raises(ValueError, match=r"surrogate|64-bit"):
            follower_inserts([follower], dialect=dialect)


@pytest.mark.parametrize(
    "changes",
    [
        {"followers_table": 'users"; DROP TABLE x; --'},
        {"followers_table": "a.b.c.d"},
        {"followers_table": ""},
        {"openid_column": "1abc"},
        {"tag_column": "tag name"},
        {"str_value_column": "é"},
        {"tags_table": None},
        {"openid_column": "x" * 64},
        {"columns": {"city": SqlColumn("openid", "str")}},
        {"columns": {"openid": SqlColumn("oid", "str")}},
        {"columns": {"not": SqlColumn("x", "str")}},
    ],
)
def test_bad_schemas_are_refused(changes: dict[str, Any]) -> None:
    """Identifiers that are not plain SQL names, and clashing columns, are a ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SqlSchema(**changes)


def test_bad_columns_are_refused() -> None:
    """A typed column needs an identifier and a known kind."""
    with pytest.raises(ValueError, match="kind"):
        SqlColumn("x", "money")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        SqlColumn("x y", "str")
    with pytest.raises(TypeError, match="SqlColumn"):
        SqlSchema(columns={"city": "home_city"})  # type: ignore[dict-item]


def test_attributes_without_a_home_are_refused() -> None:
    """Without an attributes table, unmapped attributes and dropped fields raise ValueError."""
    schema = SqlSchema(
        attributes_table=None,
        last_interaction_at_column=None,
        columns={"city": SqlColumn("city", "str")},
    )
    to_sql(attr("city") == "x", dialect="sqlite", schema=schema, now=NOW)
    with pytest.raises(ValueError, match="'spend' has no column"):
        to_sql(attr("spend") > 1, dialect="sqlite", schema=schema, now=NOW)
    with pytest.raises(ValueError, match="'last_interaction_at'"):
        to_sql(attr("last_interaction_at").exists(), dialect="sqlite", schema=schema, now=NOW)
    with pytest.raises(ValueError, match="'spend' has no column"):
        follower_inserts(
            [Follower("o1", NOW, attributes={"spend": 1})], dialect="sqlite", schema=schema
        )
    with pytest.raises(ValueError, match="no column for"):
        follower_inserts(
            [Follower("o1", NOW, last_interaction_at=NOW)], dialect="sqlite", schema=schema
        )
    with pytest.raises(ValueError, match="holds str values"):
        follower_inserts(
            [Follower("o1", NOW, attributes={"city": 3})], dialect="sqlite", schema=schema
        )


def test_ddl_names_every_layout_table() -> None:
    """The DDL creates the followers, tags and attributes tables, with indexes except on DuckDB."""
    for dialect in DIALECTS:
        text = "\n".join(sql_schema_ddl(dialect))
        quote = "`" if dialect == "mysql" else '"'
        for table in ("wxs_followers", "wxs_follower_tags", "wxs_follower_attributes"):
            assert f"CREATE TABLE IF NOT EXISTS {quote}{table}{quote}" in text
        assert ("CREATE INDEX" in text) is (dialect not in ("duckdb", "mysql"))
        assert ("INDEX `by_tag`" in text) is (dialect == "mysql")


def test_the_mysql_mapping_example_of_the_docs_runs() -> None:
    """docs/segment.md's MySQL CRM mapping compiles as the page says."""
    page = Path(__file__).resolve().parents[2] / "docs" / "segment.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    (example,) = [block for block in blocks if 'dialect="mysql"' in block]
    namespace: dict[str, Any] = {}
    exec(compile(example, str(page), "exec"), namespace)
    assert namespace["params"][-1] == "vip"
