"""Behaviour of the follower stores, over SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.followers.conftest import StoreFactory
from wxsegment import Follower
from wxsegment._clock import SHANGHAI
from wxsegment.followers import (
    MAX_OPENID_LENGTH,
    AttributeKindError,
    AttributeSchemaError,
    FollowerStore,
    ImportRejectedError,
    ImportReport,
    UndeclaredAttributeError,
)
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.segment import attr, explain, tag

NOW = datetime(2026, 3, 1, 12, tzinfo=SHANGHAI)
DAY = timedelta(days=1)


def alice() -> Follower:
    """A follower with every field set."""
    return Follower(
        "o-alice",
        NOW - 10 * DAY,
        tags={"vip", "90后"},
        attributes={"city": "杭州", "spend": 120.5, "member": True, "last_order_at": NOW - DAY},
        unionid="u-alice",
        last_interaction_at=NOW - timedelta(hours=3),
    )


def bob() -> Follower:
    """A follower with only what is required."""
    return Follower("o-bob", NOW - 400 * DAY)


def test_the_stores_satisfy_the_protocol(store: SqlFollowerStore) -> None:
    """Each backend is a FollowerStore."""
    assert isinstance(store, FollowerStore)


def test_upsert_then_get_round_trips(store: SqlFollowerStore) -> None:
    """A stored follower reads back equal; unknown openids read as None."""
    report = store.upsert([alice(), bob()])
    assert report == ImportReport(inserted=2, updated=0)
    assert store.get("o-alice") == alice()
    got = store.get("o-alice")
    assert got is not None
    assert type(got.attributes["spend"]) is float
    assert store.get("o-bob") == bob()
    assert store.get("o-nobody") is None
    assert len(store) == 2


def test_upsert_replaces_the_whole_follower(store: SqlFollowerStore) -> None:
    """A second upsert replaces tags and attributes, and counts as an update."""
    store.upsert([alice()])
    slimmer = Follower("o-alice", NOW, tags={"new"}, attributes={"city": "上海"})
    assert store.upsert([slimmer]) == ImportReport(inserted=0, updated=1)
    assert store.get("o-alice") == slimmer


def test_segments_run_in_the_database(store: SqlFollowerStore) -> None:
    """select, count and explain agree with the reference semantics."""
    followers = [alice(), bob()]
    store.upsert(followers)
    audience = (tag("vip") & (attr("spend") >= 100)) | ~attr("city").exists()
    assert store.select(audience, now=NOW) == ["o-alice", "o-bob"]
    assert store.count(tag("vip"), now=NOW) == 1
    assert store.explain(audience, now=NOW) == explain(audience, followers, now=NOW)


def test_a_segment_of_the_wrong_kind_is_a_typed_error(store: SqlFollowerStore) -> None:
    """`spend >= "100"` on a float spend names the attribute and both kinds."""
    with pytest.raises(AttributeKindError, match=r"'spend' is declared float.*str") as caught:
        store.count(attr("spend") >= "100", now=NOW)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.attribute, caught.value.declared, caught.value.got) == (
        "spend",
        "float",
        "str",
    )
    with pytest.raises(AttributeKindError, match="within"):
        store.select(attr("city").within(DAY), now=NOW)
    with pytest.raises(AttributeKindError, match="subscribe_time"):
        store.select(attr("subscribe_time") > 3, now=NOW)


def test_an_undeclared_attribute_is_a_typed_error(store: SqlFollowerStore) -> None:
    """Segments and followers naming an undeclared attribute are refused."""
    with pytest.raises(UndeclaredAttributeError, match="'level'"):
        store.select(attr("level") == 3, now=NOW)
    with pytest.raises(ImportRejectedError, match=r"row 1.*'level' is not declared"):
        store.upsert([Follower("o1", NOW, attributes={"level": 3})])
    assert len(store) == 0


def test_undeclared_attributes_only_when_allowed(make_store: StoreFactory) -> None:
    """With allow_undeclared, any attribute is stored and segments may name it."""
    store = make_store(allow_undeclared=True)
    store.upsert([Follower("o1", NOW, attributes={"level": 3, "note": "x"})])
    assert store.select(attr("level") == 3, now=NOW) == ["o1"]
    assert store.get("o1") == Follower("o1", NOW, attributes={"level": 3, "note": "x"})


def test_declarations_are_stored_with_the_data(make_store: StoreFactory) -> None:
    """A second store over the same data sees the kinds; redeclaring a kind is refused."""
    make_store(attributes={"level": "int"})
    again = make_store()
    assert again.schema.kinds["level"] == "int"
    assert again.schema.kinds["subscribed"] == "bool"
    with pytest.raises(AttributeKindError, match="'level' is declared int"):
        again.declare({"level": "str"})
    with pytest.raises(AttributeSchemaError):
        make_store(attributes={"level": "float"})
    again.declare({"tier": "str"})
    assert make_store().schema.kind("tier") == "str"


def test_an_int_widens_to_a_float_kind_but_not_back(store: SqlFollowerStore) -> None:
    """An int for a float attribute is stored as a float; a float for an int one is refused."""
    store.upsert([Follower("o1", NOW, attributes={"spend": 100})])
    got = store.get("o1")
    assert got is not None
    assert type(got.attributes["spend"]) is float
    store.declare({"level": "int"})
    with pytest.raises(ImportRejectedError, match="'level' is declared int, got a float"):
        store.upsert([Follower("o1", NOW, attributes={"level": 1.5})])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"openid": "o2", "subscribe_time": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"openid": "o2", "subscribe_time": NOW, "spend": "12"}, "declared float, got a str"),
        ({"openid": "o2", "subscribe_time": NOW, "city": "a\x00b"}, "NUL"),
        ({"openid": "o" * (MAX_OPENID_LENGTH + 1), "subscribe_time": NOW}, "openid must have"),
        ({"openid": "o2", "subscribe_time": NOW, "tags": "vip"}, "not a single string"),
        ({"openid": "o2", "spend": 3.0}, "no subscribe_time"),
        ({"openid": "o1", "subscribe_time": NOW}, "repeats row 1"),
        ({"subscribe_time": NOW}, "no openid"),
        ({"openid": "o2", "subscribe_time": NOW, "spend": 2.0**70 * 0 + 1e400 * 0}, "finite"),
    ],
)
def test_one_bad_row_rejects_the_call_and_changes_nothing(
    store: SqlFollowerStore, bad: dict[str, object], reason: str
) -> None:
    """The error names the row and the reason; the store is exactly as before."""
    store.upsert([bob()])
    version = store.version()
    rows = [{"openid": "o1", "subscribe_time": NOW, "city": "北京"}, bad]
    with pytest.raises(ImportRejectedError, match=f"row 2 rejected: .*{reason}") as caught:
        store.import_rows(rows)
    assert caught.value.rejected[0].row == 2
    assert store.openids() == ["o-bob"]
    assert store.get("o-bob") == bob()
    assert store.version() == version


def test_import_rows_merge_into_stored_followers(store: SqlFollowerStore) -> None:
    """Rows set only what they name; tags, when given, replace the follower's tags."""
    store.upsert([alice()])
    report = store.import_rows(
        [
            {"openid": "o-alice", "spend": 300.0, "city": None},
            {"openid": "o-new", "subscribe_time": NOW, "tags": ["crm"], "member": False},
        ]
    )
    assert report == ImportReport(inserted=1, updated=1)
    merged = store.get("o-alice")
    assert merged == Follower(
        "o-alice",
        alice().subscribe_time,
        tags=alice().tags,
        attributes={**alice().attributes, "spend": 300.0},
        unionid="u-alice",
        last_interaction_at=alice().last_interaction_at,
    )
    store.import_rows([{"openid": "o-alice", "tags": []}])
    assert store.get("o-alice").tags == frozenset()  # type: ignore[union-attr]
    assert store.get("o-new") == Follower("o-new", NOW, tags={"crm"}, attributes={"member": False})


def test_import_csv_parses_cells_by_declared_kind(store: SqlFollowerStore, tmp_path: Path) -> None:
    """CSV cells become values of the declared kinds; empty cells are no value."""
    path = tmp_path / "crm.csv"
    path.write_text(
        "wx_openid,subscribe_time,city,spend,member,last_order_at,tags\n"
        "o1,2026-01-01T08:00:00+08:00,杭州,99.5,yes,2026-02-01T00:00:00Z,vip|90后\n"
        "o2,2025-12-31T23:00:00Z,,100,0,,\n",
        encoding="utf-8",
    )
    report = store.import_csv(path, columns={"wx_openid": "openid"})
    assert report == ImportReport(inserted=2, updated=0)
    assert store.get("o1") == Follower(
        "o1",
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        tags={"vip", "90后"},
        attributes={
            "city": "杭州",
            "spend": 99.5,
            "member": True,
            "last_order_at": datetime(2026, 2, 1, tzinfo=timezone.utc),
        },
    )
    assert store.get("o2") == Follower(
        "o2",
        datetime(2025, 12, 31, 23, tzinfo=timezone.utc),
        attributes={"spend": 100.0, "member": False},
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("o3,2026-01-01T08:00:00,x,1", "no UTC offset"),
        ("o3,2026-01-01T08:00:00Z,x,lots", "'lots' is not a number"),
        ("o3,2026-01-01T08:00:00Z,x", "2 cells|3 cells"),
    ],
)
def test_a_bad_csv_row_is_named_by_its_line(
    store: SqlFollowerStore, tmp_path: Path, line: str, reason: str
) -> None:
    """Rows count from 2 (the header is row 1); nothing is written."""
    path = tmp_path / "bad.csv"
    path.write_text(
        f"openid,subscribe_time,city,spend\no1,2026-01-01T00:00:00Z,x,1\n{line}\n", encoding="utf-8"
    )
    with pytest.raises(ImportRejectedError, match=f"row 3 rejected: .*({reason})"):
        store.import_csv(path)
    assert len(store) == 0


def test_sync_and_event_writes(store: SqlFollowerStore) -> None:
    """Unsubscribe, subscribe, touch and tag changes reach only known followers."""
    store.upsert([alice(), bob()])
    assert store.mark_unsubscribed(["o-bob", "o-ghost"], at=NOW) == 1
    got = store.get("o-bob")
    assert got is not None
    assert got.attributes == {"subscribed": False, "unsubscribed_at": NOW}
    assert store.select(attr("subscribed") == False, now=NOW) == ["o-bob"]  # noqa: E712
    assert store.mark_subscribed(["o-bob"], at=NOW + DAY) == 1
    got = store.get("o-bob")
    assert got is not None
    assert (got.subscribe_time, got.attributes["subscribed"]) == (NOW + DAY, True)
    assert store.touch(["o-alice", "o-bob"], at=NOW - DAY) == 1  # alice's is later already
    assert store.get("o-alice").last_interaction_at == alice().last_interaction_at  # type: ignore[union-attr]
    store.add_tags(["o-bob", "o-ghost"], ["new", "vip"])
    store.remove_tags(["o-alice"], ["vip"])
    assert store.get("o-bob").tags == {"new", "vip"}  # type: ignore[union-attr]
    assert store.get("o-alice").tags == {"90后"}  # type: ignore[union-attr]
    assert store.get("o-ghost") is None
    store.delete(["o-alice"])
    assert store.openids() == ["o-bob"]


def test_tag_ids_and_the_pull_checkpoint(store: SqlFollowerStore) -> None:
    """Tag names map to WeChat ids (a rename keeps the id); the checkpoint round-trips."""
    store.set_tag_id("vip", 100)
    store.set_tag_id("星标", 101)
    store.set_tag_id("VIP", 100)
    assert store.tag_ids() == {100: "VIP", 101: "星标"}
    store.forget_tag_id(101)
    assert store.tag_ids() == {100: "VIP"}
    assert store.next_openid() is None
    store.set_next_openid("o-next")
    assert store.next_openid() == "o-next"
    store.set_next_openid(None)
    assert store.next_openid() is None


def test_naive_now_is_refused(store: SqlFollowerStore) -> None:
    """Every read taking a now refuses a naive one."""
    with pytest.raises(ValueError, match="timezone-aware"):
        store.select(tag("vip"), now=datetime(2026, 1, 1))


def test_postgres_repr_and_errors_hide_the_password() -> None:
    """A DSN password appears in neither the repr nor a connection error."""
    pytest.importorskip("psycopg")
    from wxsegment.followers import PostgresFollowerStore

    with pytest.raises(ConnectionError) as caught:
        PostgresFollowerStore("postgresql://u:s3cret-pw@127.0.0.1:1/x?connect_timeout=2")
    assert "s3cret-pw" not in str(caught.value)
    assert caught.value.__cause__ is None
