"""The column-at-a-time import path checks exactly what the row-by-row path checks."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.followers.conftest import StoreFactory
from wxsegment import Follower
from wxsegment.followers import ImportRejectedError, SQLiteFollowerStore
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.followers._bulk import bulk_rows
from wxsegment.followers._codec import typed_columns
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import Tag

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
KINDS: dict[str, Any] = {
    "city": "str",
    "spend": "float",
    "level": "int",
    "member": "bool",
    "last_order_at": "datetime",
}
SCHEMA = AttributeSchema(KINDS)
EVERY = typed_columns(SCHEMA)


def good(i: int = 1, **extra: object) -> dict[str, object]:
    """A plain import row of exact built-in values of the declared kinds."""
    return {
        "openid": f"o{i}",
        "subscribe_time": NOW - timedelta(days=i),
        "city": "杭州",
        "spend": 12.5,
        "level": 3,
        "member": True,
        "last_order_at": NOW,
        "tags": frozenset({"vip", "90后"}),
        **extra,
    }


def test_a_plain_batch_binds_column_by_column() -> None:
    """Typed columns come in name order; each row carries its tags as a sorted JSON array."""
    bulk = bulk_rows([good(1), good(2, tags=None, city=None)], SCHEMA, EVERY, exact=False)
    assert bulk is not None
    assert [c.column for c in bulk.typed] == [
        "a_city",
        "a_last_order_at",
        "a_level",
        "a_member",
        "a_spend",
    ]
    assert bulk.columns == [
        "row_no",
        "openid",
        "subscribe_time",
        "tags",
        *(c.column for c in bulk.typed),
    ]
    first, second = bulk.follower_rows
    assert first[:2] == (1, "o1")
    assert first[3] == '["90后", "vip"]'
    assert second[:2] == (2, "o2")
    assert second[3] is None
    assert second[4] is None  # its city
    assert type(first[7]) is int  # member: a bool, bound as an int
    assert list(bulk.tag_rows) == []
    rows = bulk_rows([good(1, unionid=None)], SCHEMA, EVERY, exact=False, json_tags=False)
    assert rows is not None
    assert rows.columns[:4] == ["row_no", "openid", "subscribe_time", "has_tags"]
    (only,) = rows.follower_rows
    assert only[3] == 1
    assert type(only[3]) is int  # a flag, bound as an int
    assert sorted(rows.tag_rows) == [("o1", "90后"), ("o1", "vip")]


@pytest.mark.parametrize(
    "bad",
    [
        {"openid": "o\x00"},
        {"openid": ""},
        {"openid": "o" * 65},
        {"openid": 7},
        {"openid": None},
        {"subscribe_time": datetime(2026, 1, 1)},
        {"last_order_at": datetime(2026, 1, 1)},
        {"city": "a\x00b"},
        {"city": "\ud800"},
        {"city": 3},
        {"spend": math.nan},
        {"spend": math.inf},
        {"spend": 3},
        {"level": 2**63},
        {"level": True},
        {"member": 1},
        {"unionid": "u\x00"},
        {"tags": "vip"},
        {"tags": frozenset({""})},
        {"tags": ["\ud800"]},
        {"tags": [["unhashable"]]},
        {"undeclared": "x"},
        {3: "not a name"},
    ],
)
def test_anything_unusual_goes_row_by_row(bad: dict[Any, object]) -> None:
    """A value the fast checks do not vouch for sends the whole batch to the row-by-row path."""
    assert bulk_rows([good(1), {**good(2), **bad}], SCHEMA, EVERY, exact=False) is None  # type: ignore[arg-type]


def test_a_repeated_openid_or_another_mapping_goes_row_by_row() -> None:
    """Duplicate openids and non-dict rows are left to the path that names the rows."""
    assert bulk_rows([good(1), good(1)], SCHEMA, EVERY, exact=False) is None
    assert bulk_rows([good(1), MappingProxyType(good(2))], SCHEMA, EVERY, exact=False) is None


GOOD_MOMENTS = [None, NOW, NOW - timedelta(days=40), NOW.astimezone(timezone(timedelta(hours=8)))]
#: Per field: values the column path accepts, then values it must leave to the row path.
VALUES: dict[str, tuple[list[Any], list[Any]]] = {
    "subscribe_time": (GOOD_MOMENTS, [datetime(2026, 1, 1)]),
    "last_interaction_at": (GOOD_MOMENTS, [datetime(2026, 1, 1)]),
    "unionid": ([None, "u1"], ["u\x00"]),
    "city": ([None, "北京", "上海"], ["a\x00", "\ud800", 5]),
    "spend": ([None, 1.5, 0.0, 1e300], [3, math.nan]),
    "level": ([None, 0, -(2**63)], [2**63, False]),
    "member": ([None, True, False], [1]),
    "last_order_at": (GOOD_MOMENTS, [datetime(2026, 1, 1)]),
    "tags": (
        [None, frozenset(), frozenset({"vip"}), ["a", "b", "a"], ("90后",)],
        ["vip", {""}],
    ),
}
OPENIDS = (["o1", "o2", "o3", "o4", "o5", "o6"], ["o\x00", ""])


def rows_of(bad: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Batches of import rows, with (``bad``) or without values the column path refuses."""

    def pick(choices: tuple[list[Any], list[Any]]) -> st.SearchStrategy[Any]:
        return st.sampled_from(choices[0] + choices[1] if bad else choices[0])

    optional = {name: pick(choices) for name, choices in VALUES.items()}
    if bad:
        optional["undeclared"] = st.just("x")
    row = st.fixed_dictionaries({"openid": pick(OPENIDS)}, optional=optional)
    return st.lists(row, min_size=1, max_size=6, unique_by=None if bad else lambda r: r["openid"])


ROWS = st.one_of(rows_of(False), rows_of(True))


@pytest.fixture
def bulk_store(make_store: StoreFactory) -> SqlFollowerStore:
    """A store declaring one attribute of each kind."""
    return make_store(attributes=KINDS)


def outcome(store: SqlFollowerStore, rows: list[Any]) -> tuple[object, dict[str, Follower]]:
    """The report or the rejected rows, and every stored follower afterwards."""
    before = store.version()
    try:
        result: object = store.import_rows(rows)
    except ImportRejectedError as error:
        result = error.rejected
        assert store.version() == before
    else:
        _, changed = store.changes(before)
        assert changed == {r["openid"] for r in rows}
    return result, store.followers(store.openids())


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=ROWS, stored=st.sets(st.sampled_from(["o1", "o2", "o3"])))
def test_both_paths_agree(bulk_store: SqlFollowerStore, rows: list[Any], stored: set[str]) -> None:
    """Plain dicts (column path) and read-only mappings (row path) give the same outcome."""
    store = bulk_store
    seed = [Follower(o, subscribe_time=NOW, tags=frozenset({"old"})) for o in sorted(stored)]
    results = []
    for wrap in (MappingProxyType, dict):
        store.delete(store.openids())
        store.upsert(seed)
        results.append(outcome(store, [wrap(r) for r in rows]))
    assert results[0] == results[1]


#: Tag names as a CRM may spell them: JSON's special characters, control characters, CJK,
#: characters outside the BMP (astral ones travel as surrogate pairs when escaped).
TAG_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
) | st.sampled_from(['"', "\\", '\\"', "\\u0041", "\n", "\u2028", "😀", "a,b", "[]", "null"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tag_sets=st.lists(st.frozensets(TAG_NAMES, max_size=4), min_size=1, max_size=5))
def test_any_tag_name_reads_back_through_every_write_path(
    bulk_store: SqlFollowerStore, tag_sets: list[frozenset[str]]
) -> None:
    """Tags travel to the database as JSON arrays or as rows; either way they read back as given."""
    store = bulk_store
    openids = [f"o{i}" for i in range(len(tag_sets))]
    expected = dict(zip(openids, tag_sets, strict=True))
    writes: list[Any] = [
        lambda: store.upsert(Follower(o, NOW, tags=t) for o, t in expected.items()),
        lambda: store.import_rows(
            [{"openid": o, "subscribe_time": NOW, "tags": t} for o, t in expected.items()]
        ),
        lambda: store.import_rows(
            [
                MappingProxyType({"openid": o, "subscribe_time": NOW, "tags": t})
                for o, t in expected.items()
            ]
        ),
    ]
    # SQLite builds without JSON support bind tag rows instead: check both ways there.
    modes = (True, False) if isinstance(store, SQLiteFollowerStore) else (False,)
    for as_json, write in itertools.product(modes, writes):
        store._tags_as_json = as_json
        store.delete(store.openids())
        write()
        assert {o: f.tags for o, f in store.followers(openids).items()} == expected
        assert all(store.tags_of(o) == t for o, t in expected.items())
        index = store.index()
        for name in set().union(*tag_sets):
            holders = {o for o, t in expected.items() if name in t}
            assert set(index.evaluate(Tag(name), now=NOW)) == holders
