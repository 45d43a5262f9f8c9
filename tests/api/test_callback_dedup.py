"""Tests of Deduplicator, dedup_key and the three stores (memory, SQLite, real Redis)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._services import REDIS_URL, unreachable
from wxsegment.api.callback import (
    DEFAULT_WINDOW,
    Deduplicator,
    DedupStore,
    MemoryDedupStore,
    RedisDedupStore,
    SQLiteDedupStore,
    dedup_key,
    parse,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def text(msg_id: int, *, account: str = "gh_1", sender: str = "o1", stamp: int = 100) -> str:
    """A text message push."""
    return (
        f"<xml><ToUserName>{account}</ToUserName><FromUserName>{sender}</FromUserName>"
        f"<CreateTime>{stamp}</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def event(
    name: str = "CLICK",
    key: str | None = "K",
    *,
    sender: str = "o1",
    stamp: int = 100,
    extra: str = "",
) -> str:
    """An event push."""
    key_xml = "" if key is None else f"<EventKey>{key}</EventKey>"
    return (
        f"<xml><ToUserName>gh_1</ToUserName><FromUserName>{sender}</FromUserName>"
        f"<CreateTime>{stamp}</CreateTime><MsgType>event</MsgType><Event>{name}</Event>"
        f"{key_xml}{extra}</xml>"
    )


# -- keys -------------------------------------------------------------------------------------


def test_message_retries_share_a_key() -> None:
    """Two deliveries of one message (same MsgId) share a key; another MsgId differs."""
    assert dedup_key(parse(text(1))) == dedup_key(parse(text(1)))
    # WeChat's retry of a message keeps the MsgId; the key does not depend on other fields.
    assert dedup_key(parse(text(1))) == dedup_key(parse(text(1, stamp=105)))
    assert dedup_key(parse(text(1))) != dedup_key(parse(text(2)))
    assert dedup_key(parse(text(1))) != dedup_key(parse(text(1, account="gh_2")))


def test_event_retries_share_a_key() -> None:
    """Event key: sender + CreateTime + Event (any case) + EventKey."""
    base = dedup_key(parse(event()))
    assert base == dedup_key(parse(event()))
    assert base == dedup_key(parse(event("click")))
    assert base != dedup_key(parse(event(key="L")))
    assert base != dedup_key(parse(event(sender="o2")))
    assert base != dedup_key(parse(event(stamp=101)))
    assert base != dedup_key(parse(event("VIEW")))
    assert dedup_key(parse(event("subscribe", None))) != dedup_key(
        parse(event("unsubscribe", None))
    )


def test_job_events_in_one_second_differ_by_msg_id() -> None:
    """Two job-finish events from one sender in one second are different pushes."""
    template = "<MsgID>{}</MsgID><Status>success</Status>"
    first = parse(event("TEMPLATESENDJOBFINISH", None, extra=template.format(1)))
    second = parse(event("TEMPLATESENDJOBFINISH", None, extra=template.format(2)))
    assert dedup_key(first) != dedup_key(second)


@given(
    a=st.tuples(st.text(max_size=5), st.text(max_size=5)),
    b=st.tuples(st.text(max_size=5), st.text(max_size=5)),
)
def test_keys_are_unambiguous(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Different (sender, EventKey) pairs never collide, whatever separators they hold."""
    from xml.sax.saxutils import escape

    def key(sender: str, event_key: str) -> str:
        push = parse(event(sender="s" + escape(sender), key=escape(event_key)))
        return dedup_key(push)

    try:
        ka, kb = key(*a), key(*b)
    except ValueError:  # text XML cannot carry
        return
    assert (ka == kb) == (("s" + a[0], a[1].strip()) == ("s" + b[0], b[1].strip()))


def test_dedup_key_needs_a_parsed_push() -> None:
    """Anything but a parsed push is a TypeError."""
    with pytest.raises(TypeError):
        dedup_key("<xml/>")  # type: ignore[arg-type]


# -- stores -----------------------------------------------------------------------------------


StoreFactory = Callable[[], DedupStore]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix in the real Redis; its keys are deleted afterwards."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(reason)
    import redis

    prefix = f"wxsegment-test:dedup:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores sharing one backend: one memory store, one SQLite file, one Redis prefix."""
    if request.param == "memory":
        shared = MemoryDedupStore()
        yield lambda: shared
    elif request.param == "sqlite":
        opened: list[SQLiteDedupStore] = []

        def sqlite_store() -> DedupStore:
            opened.append(SQLiteDedupStore(tmp_path / "seen.db"))
            return opened[-1]

        yield sqlite_store
        for store in opened:
            store.close()
    else:
        import redis

        prefix = request.getfixturevalue("redis_prefix")
        clients: list[redis.Redis] = []

        def redis_store() -> DedupStore:
            clients.append(redis.Redis.from_url(REDIS_URL))
            return RedisDedupStore(clients[-1], prefix=prefix)

        yield redis_store
        for client in clients:
            client.close()


def test_stores_satisfy_the_protocol(factory: StoreFactory) -> None:
    """Every store is a DedupStore."""
    assert isinstance(factory(), DedupStore)


def test_seen_within_the_window(factory: StoreFactory) -> None:
    """First delivery is new; retries within the window are seen; other pushes are new."""
    dedup = Deduplicator(factory())
    push = parse(text(42))
    assert not dedup.seen(push, now=T0)
    assert dedup.seen(push, now=T0 + timedelta(seconds=5))
    assert dedup.seen(parse(text(42)), now=T0 + timedelta(seconds=10))
    assert not dedup.seen(parse(text(43)), now=T0 + timedelta(seconds=10))
    assert not dedup.seen(parse(event()), now=T0)
    assert dedup.seen(parse(event("click")), now=T0 + timedelta(seconds=1))


def test_forget_lets_the_next_delivery_through(factory: StoreFactory) -> None:
    """After forget, the same push counts as new once more."""
    dedup = Deduplicator(factory())
    push = parse(text(7))
    assert not dedup.seen(push, now=T0)
    dedup.forget(push)
    assert not dedup.seen(push, now=T0)
    assert dedup.seen(push, now=T0)


def test_shared_backend_is_seen_by_every_instance(factory: StoreFactory) -> None:
    """A push marked through one store instance is seen through another on the same backend."""
    push = parse(text(9))
    assert not Deduplicator(factory()).seen(push, now=T0)
    assert Deduplicator(factory()).seen(push, now=T0 + timedelta(seconds=1))


def test_concurrent_deliveries_have_one_winner(factory: StoreFactory) -> None:
    """Of many concurrent deliveries of one push (each with its own store), exactly one is new."""
    push = parse(text(11))
    dedups = [Deduplicator(factory()) for _ in range(8)]
    results: list[bool] = []
    barrier = threading.Barrier(len(dedups))

    def deliver(dedup: Deduplicator) -> None:
        barrier.wait()
        results.append(dedup.seen(push, now=T0))

    threads = [threading.Thread(target=deliver, args=(dedup,)) for dedup in dedups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] + [True] * (len(dedups) - 1)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_after_the_window_a_push_is_new_again(kind: str, tmp_path: Path) -> None:
    """Once the window has passed (by the injected clock), the same push is new again."""
    store: DedupStore = (
        MemoryDedupStore() if kind == "memory" else SQLiteDedupStore(tmp_path / "s.db")
    )
    dedup = Deduplicator(store, window=timedelta(seconds=15))
    push = parse(event())
    assert not dedup.seen(push, now=T0)
    assert dedup.seen(push, now=T0 + timedelta(seconds=14))
    assert not dedup.seen(push, now=T0 + timedelta(seconds=15))
    assert dedup.seen(push, now=T0 + timedelta(seconds=16))
    if isinstance(store, SQLiteDedupStore):
        store.close()


def test_redis_window_follows_redis_expiry(redis_prefix: str) -> None:
    """In Redis the mark expires after the window (PX), so the push is new again."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    dedup = Deduplicator(
        RedisDedupStore(client, prefix=redis_prefix), window=timedelta(milliseconds=50)
    )
    push = parse(event())
    assert not dedup.seen(push, now=T0)
    assert dedup.seen(push, now=T0)
    ttl = client.pttl(redis_prefix + dedup_key(push))
    # -1 would mean "no expiry"; -2 (already gone) is fine on a slow machine.
    assert ttl != -1
    assert ttl <= 50
    deadline = time.monotonic() + 5
    while client.exists(redis_prefix + dedup_key(push)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not dedup.seen(push, now=T0)
    client.close()


def test_memory_store_is_bounded() -> None:
    """Beyond max_entries the oldest marks are evicted; expired marks are dropped."""
    store = MemoryDedupStore(max_entries=3)
    ttl = timedelta(seconds=60)
    for key in "abcde":
        assert store.add(key, now=T0, ttl=ttl)
    assert len(store) == 3
    assert store.add("a", now=T0, ttl=ttl)  # evicted, so new again
    assert not store.add("e", now=T0, ttl=ttl)
    assert store.add("f", now=T0 + ttl, ttl=ttl)
    assert len(store) == 1


def test_sqlite_store_purges_expired_rows(tmp_path: Path) -> None:
    """Expired rows are deleted as new marks arrive, so the file does not grow forever."""
    import sqlite3

    path = tmp_path / "purge.db"
    store = SQLiteDedupStore(path)
    ttl = timedelta(seconds=1)
    for i in range(600):
        store.add(f"k{i}", now=T0 + timedelta(seconds=i), ttl=ttl)
    store.close()
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT count(*) FROM wxsegment_callback_seen").fetchone()
    db.close()
    assert count < 300


def test_bad_arguments_raise() -> None:
    """A non-positive window, a naive now or a bad bound is a ValueError."""
    with pytest.raises(ValueError, match="window"):
        Deduplicator(window=timedelta(0))
    with pytest.raises(ValueError, match="timezone"):
        Deduplicator().seen(parse(text(1)), now=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="max_entries"):
        MemoryDedupStore(max_entries=0)
    assert Deduplicator().window == DEFAULT_WINDOW


def test_reprs_hide_connection_secrets(redis_prefix: str) -> None:
    """The Redis store's repr shows its prefix, never the client's URL or password."""
    import redis

    client = redis.Redis.from_url("redis://:hunter2secret@127.0.0.1:6379/0")
    text_repr = repr(Deduplicator(RedisDedupStore(client, prefix=redis_prefix)))
    assert "hunter2secret" not in text_repr
    assert redis_prefix in text_repr
    client.close()
