"""One property suite over both stores: the database answers exactly what `matches` answers."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.followers.conftest import StoreFactory
from wxsegment import Follower
from wxsegment._model import value_kind
from wxsegment.followers import AttributeSchemaError, IndexedStore, StaleVersionError
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.segment import Segment, Tag, explain, matches
from wxsegment.testing.strategies import DEFAULT_NOW, followers, segments

NOW = DEFAULT_NOW
STORE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def distinct(batch: Sequence[Follower]) -> list[Follower]:
    """The followers of ``batch`` with one (the last) per openid."""
    return list({f.openid: f for f in batch}.values())


def reset(store: SqlFollowerStore) -> None:
    """Empty the store between hypothesis examples."""
    store.delete(store.openids())


def check_agreement(
    store: SqlFollowerStore,
    model: dict[str, Follower],
    audiences: Sequence[Segment],
    indexed: IndexedStore | None = None,
) -> None:
    """Store reads, the store's index, a refreshed index and `matches` all agree."""
    assert store.openids() == sorted(model)
    assert store.followers(model) == model
    index = store.index()
    for audience in audiences:
        try:
            store.schema.check_segment(audience)
        except AttributeSchemaError:
            # A built-in field compared with a value of another kind: refused, never run.
            with pytest.raises(AttributeSchemaError):
                store.select(audience, now=NOW)
            continue
        expected = sorted(o for o, f in model.items() if matches(audience, f, now=NOW))
        assert store.select(audience, now=NOW) == expected
        assert store.count(audience, now=NOW) == len(expected)
        assert sorted(index.evaluate(audience, now=NOW)) == expected
        if indexed is not None:
            assert indexed.select(audience, now=NOW) == expected
    for audience in audiences[:1]:
        with contextlib.suppress(AttributeSchemaError):
            assert store.explain(audience, now=NOW) == explain(audience, model.values(), now=NOW)


@STORE_SETTINGS
@given(
    first=st.lists(followers(), max_size=12),
    second=st.lists(followers(), max_size=8),
    removed=st.sets(st.integers(0, 11), max_size=3),
    audiences=st.lists(segments(), min_size=1, max_size=4),
)
def test_select_agrees_with_matches_after_updates(
    make_store: StoreFactory,
    first: list[Follower],
    second: list[Follower],
    removed: set[int],
    audiences: list[Segment],
) -> None:
    """After upserts, replacing upserts and deletes, select/count/index equal the model."""
    store = make_store(allow_undeclared=True)
    reset(store)
    indexed = IndexedStore(store)
    model: dict[str, Follower] = {}
    batch = distinct(first)
    report = store.upsert(batch)
    model.update((f.openid, f) for f in batch)
    assert (report.inserted, report.updated) == (len(batch), 0)
    check_agreement(store, model, audiences, indexed)
    again = distinct(second + [f for i, f in enumerate(batch) if i % 2])
    known = sum(f.openid in model for f in again)
    report = store.upsert(again)
    assert (report.inserted, report.updated) == (len(again) - known, known)
    model.update((f.openid, f) for f in again)
    gone = [f.openid for i, f in enumerate(batch) if i in removed]
    store.delete(gone)
    for openid in gone:
        model.pop(openid, None)
    check_agreement(store, model, audiences, indexed)


@STORE_SETTINGS
@given(
    batch=st.lists(followers(), min_size=1, max_size=10),
    patch=st.data(),
    audiences=st.lists(segments(), min_size=1, max_size=3),
)
def test_imported_rows_merge_like_the_model(
    make_store: StoreFactory, batch: list[Follower], patch: st.DataObject, audiences: list[Segment]
) -> None:
    """Import rows merge attributes and tags into stored followers exactly as documented."""
    store = make_store(allow_undeclared=True)
    reset(store)
    stored = distinct(batch)
    store.upsert(stored)
    model = {f.openid: f for f in stored}
    rows = []
    for follower in stored:
        other = patch.draw(followers())
        if patch.draw(st.booleans()):
            rows.append({"openid": follower.openid, **other.attributes, "tags": other.tags})
            model[follower.openid] = Follower(
                follower.openid,
                follower.subscribe_time,
                tags=other.tags,
                attributes={**follower.attributes, **other.attributes},
                unionid=follower.unionid,
                last_interaction_at=follower.last_interaction_at,
            )
    store.import_rows(rows)
    check_agreement(store, model, audiences)


def test_a_trimmed_feed_makes_the_index_rebuild(make_store: StoreFactory) -> None:
    """An index behind a trimmed feed is rebuilt whole and still agrees with the store."""
    store = make_store(allow_undeclared=True)
    indexed = IndexedStore(store)
    store.upsert([Follower("o1", NOW, tags={"vip"})])
    assert indexed.refresh() == 1
    store.upsert([Follower("o2", NOW, tags={"vip"})])
    store.delete(["o1"])
    store.trim_changes(store.version())
    with pytest.raises(StaleVersionError):
        store.changes(indexed.version)
    indexed.refresh()
    assert indexed.select(Tag("vip"), now=NOW) == ["o2"]
    assert indexed.version == store.version()
    assert store.changes(indexed.version) == (indexed.version, frozenset())


DECLARED = {"city": "str", "spend": "float", "member": "bool", "last_order_at": "datetime"}
SEGMENT_KINDS = {"str": "str", "float": "number", "bool": "bool", "datetime": "datetime"}


def fitting(follower: Follower) -> Follower:
    """The follower without attributes whose values do not fit the declared kinds."""
    kept = {
        name: value
        for name, value in follower.attributes.items()
        if value_kind(value) == SEGMENT_KINDS[DECLARED[name]]
    }
    return attrs.evolve(follower, attributes=kept)


@STORE_SETTINGS
@given(
    batch=st.lists(followers(), max_size=12),
    audiences=st.lists(segments(), min_size=1, max_size=4),
)
def test_typed_columns_agree_with_matches(
    make_store: StoreFactory, batch: list[Follower], audiences: list[Segment]
) -> None:
    """Declared attributes (typed columns) answer segments exactly as matches does."""
    store = make_store(attributes=DECLARED)
    reset(store)
    stored = [fitting(f) for f in distinct(batch)]
    store.upsert(stored)
    check_agreement(store, {f.openid: f for f in stored}, audiences)
