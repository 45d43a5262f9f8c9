"""`IndexedStore.refresh` after random writes: the patched index is a full rebuild's equal."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from tests.followers.conftest import StoreFactory
from tests.followers.test_conformance import NOW, STORE_SETTINGS, reset
from wxsegment import Follower
from wxsegment._model import value_kind
from wxsegment.followers import AttributeSchemaError, IndexedStore
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.segment import Segment, attr, tag
from wxsegment.testing.strategies import followers, segments

#: Typed columns of each kind, beside undeclared attributes kept in the attributes table.
DECLARED = {"city": "str", "spend": "float", "member": "bool", "last_order_at": "datetime"}
KIND_OF = {"str": "str", "float": "number", "bool": "bool", "datetime": "datetime"}
PICKS = st.sets(st.integers(0, 30), max_size=4)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(followers(), max_size=5)),
        st.tuples(st.just("import"), st.lists(st.tuples(st.integers(0, 30), followers()))),
        st.tuples(st.just("unsubscribe"), PICKS),
        st.tuples(st.just("subscribe"), PICKS),
        st.tuples(st.just("delete"), PICKS),
        st.tuples(st.just("tag"), PICKS, st.booleans()),
        st.tuples(st.just("touch"), PICKS),
    ),
    min_size=1,
    max_size=6,
)
#: Segments over what the operations change, beside random ones.
FIXED: tuple[Segment, ...] = (
    attr("subscribed") == True,  # noqa: E712 - a segment, not a comparison
    attr("unsubscribed_at").within(timedelta(days=30)),
    tag("changed") & attr("last_interaction_at").exists(),
    attr("city").exists() | (attr("spend") >= 0),
)


def fitting(follower: Follower) -> Follower:
    """The follower without declared attributes whose values do not fit their kind."""
    kept = {
        name: value
        for name, value in follower.attributes.items()
        if name not in DECLARED or value_kind(value) == KIND_OF[DECLARED[name]]
    }
    return attrs.evolve(follower, attributes=kept)


def pick(known: Sequence[str], numbers: set[int]) -> list[str]:
    """The known openids the numbers name (none while nothing is known)."""
    return sorted({known[n % len(known)] for n in numbers}) if known else []


def apply(store: SqlFollowerStore, operation: tuple[Any, ...], known: list[str]) -> None:
    """One write; a write the store refuses changes nothing, which the index must see too."""
    kind, *args = operation
    with contextlib.suppress(ValueError, TypeError):
        if kind == "upsert":
            batch = list({f.openid: fitting(f) for f in args[0]}.values())
            store.upsert(batch)
            known.extend(f.openid for f in batch)
        elif kind == "import":
            rows = {}
            for number, other in args[0]:
                openid = known[number % len(known)] if known and number % 3 else other.openid
                rows[openid] = {
                    "openid": openid,
                    "subscribe_time": other.subscribe_time,
                    "tags": other.tags,
                    **fitting(other).attributes,
                }
            store.import_rows(list(rows.values()))
            known.extend(rows)
        elif kind == "unsubscribe":
            store.mark_unsubscribed(pick(known, args[0]), at=NOW - timedelta(days=1))
        elif kind == "subscribe":
            store.mark_subscribed(pick(known, args[0]), at=NOW - timedelta(hours=1))
        elif kind == "delete":
            store.delete(pick(known, args[0]))
        elif kind == "tag":
            change = store.add_tags if args[1] else store.remove_tags
            change(pick(known, args[0]), ["changed"])
        else:
            store.touch(pick(known, args[0]), at=NOW - timedelta(minutes=5))


@STORE_SETTINGS
@given(
    start=st.lists(followers(), max_size=10),
    operations=st.lists(OPERATIONS, min_size=1, max_size=3),
    audiences=st.lists(segments(), min_size=1, max_size=3),
)
def test_refresh_agrees_with_a_rebuild_and_the_store(
    make_store: StoreFactory,
    start: list[Follower],
    operations: list[list[tuple[Any, ...]]],
    audiences: list[Segment],
) -> None:
    """Refreshed after each round of writes, the index answers as a rebuild and SQL do."""
    store = make_store(attributes=DECLARED, allow_undeclared=True)
    reset(store)
    known: list[str] = []
    apply(store, ("upsert", start), known)
    indexed = IndexedStore(store)
    for round_ in operations:
        for operation in round_:
            apply(store, operation, known)
        indexed.refresh()
        assert indexed.version == store.version()
        rebuilt = store.index()
        assert len(indexed.index) == len(rebuilt) == len(store)
        assert all(openid in indexed.index for openid in store.openids())
        for audience in (*FIXED, *audiences):
            try:
                store.schema.check_segment(audience)
            except AttributeSchemaError:
                continue
            expected = store.select(audience, now=NOW)
            assert sorted(indexed.index.evaluate(audience, now=NOW)) == expected
            assert sorted(rebuilt.evaluate(audience, now=NOW)) == expected
            assert indexed.index.count(audience, now=NOW) == len(expected)
