"""Window store specifics: optional extras, Redis keys and expiry, PostgreSQL connections."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.quota import _window_procs
from tests.quota.servers import delete_prefix, drop_schema, fresh_name
from wxsegment.quota import Interaction, ServiceWindow, WindowHistory

T = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh Redis key prefix, deleted afterwards."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    prefix = fresh_name("rdws")
    yield prefix
    delete_prefix(prefix)


@pytest.mark.parametrize(
    ("blocked", "make", "extra"),
    [
        ("psycopg", "PostgresWindowStore('postgresql://x')", "wxsegment[postgres]"),
        ("redis", "RedisWindowStore('redis://x')", "wxsegment[redis]"),
    ],
)
def test_window_stores_import_without_server_clients(blocked: str, make: str, extra: str) -> None:
    """wxsegment.quota imports without psycopg/redis; using the store names the extra."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from wxsegment.quota import PostgresWindowStore, RedisWindowStore\n"
        f"try:\n    {make}\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert extra in done.stdout


TRICKY = ["a", "a:b", "a%3Ab", "{a}", "}", "{", "a}:h", "*", "a\\", "微信"]


def test_redis_keys_are_injective_and_one_slot_per_follower(redis_prefix: str) -> None:
    """Delimiters in prefix, account or openid never merge followers; each sits in one slot."""
    import redis
    from redis.crc import key_slot

    from wxsegment.quota import RedisWindowStore

    stores = [
        RedisWindowStore(REDIS_URL, prefix=redis_prefix + suffix) for suffix in ("", ":w{x", "}")
    ]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        expected = {}
        for s, store in enumerate(stores):
            for a, account in enumerate(["acct", "acct:a", "{acct}"]):
                for o, openid in enumerate(TRICKY):
                    at = T + timedelta(seconds=s * 1000 + a * 100 + o)
                    store.add_interaction(account, openid, Interaction.MESSAGE, at)
                    expected[(s, account, openid)] = WindowHistory(((at, Interaction.MESSAGE),), ())
        for (s, account, openid), history in expected.items():
            assert stores[s].history(account, openid) == history
        keys = [bytes(k) for k in client.scan_iter(match=f"*{redis_prefix}*", count=1000)]
        assert len(keys) == 2 * len(expected)
        for key in keys:
            twin = key[:-1] + (b"v" if key.endswith(b"h") else b"h")
            assert twin in keys
            assert key_slot(key) == key_slot(twin)
    finally:
        for store in stores:
            store.close()
        client.close()


def test_redis_prune_walks_only_its_account(redis_prefix: str) -> None:
    """prune(account) drops old entries of that account only, glob characters included."""
    from wxsegment.quota import RedisWindowStore

    store = RedisWindowStore(REDIS_URL, prefix=redis_prefix)
    try:
        for account in ("a*", "ab", "a"):
            for openid in TRICKY:
                store.add_interaction(account, openid, Interaction.CLICK, T)
                store.add_send(account, openid, T + timedelta(hours=1))
        assert store.prune("a*", T + timedelta(minutes=1)) == len(TRICKY)
        assert store.prune("a*", T + timedelta(hours=2)) == len(TRICKY)
        assert store.history("a*", "a") == WindowHistory()
        assert store.history("ab", "a").sends == (T + timedelta(hours=1),)
        assert store.history("a", "a:b").interactions == ((T, Interaction.CLICK),)
    finally:
        store.close()


def test_redis_keys_expire_together_after_the_ttl(redis_prefix: str) -> None:
    """Both keys of a follower share one expiry within the ttl; ttl=None keeps them."""
    import redis

    from wxsegment.quota import RedisWindowStore

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for ttl, account in ((timedelta(hours=72), "ttl"), (None, "forever")):
            store = RedisWindowStore(REDIS_URL, prefix=redis_prefix, ttl=ttl)
            window = ServiceWindow(store, account=account)
            window.record("o", Interaction.MESSAGE, at=T)
            assert window.consume("o", now=T).granted
            keys = list(client.scan_iter(match=f"*{redis_prefix}*{account}*"))
            times = {client.pexpiretime(key) for key in keys}
            assert len(keys) == 2
            if ttl is None:
                assert times == {-1}
            else:
                (expiry,) = times
                seconds, micros = client.time()
                now_ms = seconds * 1000 + micros // 1000
                assert 0 < expiry - now_ms <= ttl // timedelta(milliseconds=1)
            store.close()
    finally:
        client.close()


def test_redis_consume_retries_when_another_writer_intervenes(redis_prefix: str) -> None:
    """A send stored between consume's read and its write makes it decide again."""
    from wxsegment.quota import RedisWindowStore

    store = RedisWindowStore(REDIS_URL, prefix=redis_prefix)
    other = RedisWindowStore(REDIS_URL, prefix=redis_prefix)
    try:
        store.add_interaction("acct", "o", Interaction.MESSAGE, T)
        seen: list[int] = []

        def decide(history: WindowHistory) -> bool:
            seen.append(len(history.sends))
            if len(seen) == 1:
                other.add_send("acct", "o", T)
            return len(history.sends) < 1

        history, granted = store.consume("acct", "o", T, decide, prune_before=T)
        assert seen == [0, 1]
        assert (len(history.sends), granted) == (1, False)
        assert len(store.history("acct", "o").sends) == 1
    finally:
        store.close()
        other.close()


@pytest.mark.parametrize(
    ("make", "error"),
    [
        ("RedisWindowStore(URL, prefix='')", ValueError),
        ("RedisWindowStore(URL, ttl=timedelta(0))", ValueError),
        ("RedisWindowStore(URL, ttl=60)", TypeError),
        ("RedisWindowStore(URL, prefix=b'p')", TypeError),
        ("PostgresWindowStore(PG, schema='bad name')", ValueError),
        ("PostgresWindowStore(PG, schema=7)", TypeError),
        ("PostgresWindowStore(PG, schema='s' * 64)", ValueError),
    ],
)
def test_bad_store_configuration_raises(make: str, error: type[Exception]) -> None:
    """Bad prefixes, ttls and schemas raise a typed error before anything is written."""
    from wxsegment.quota import PostgresWindowStore, RedisWindowStore

    names = {
        "RedisWindowStore": RedisWindowStore,
        "PostgresWindowStore": PostgresWindowStore,
        "URL": "redis://127.0.0.1:1/0",
        "PG": "postgresql://nobody@127.0.0.1:1/none",
        "timedelta": timedelta,
    }
    with pytest.raises(error):
        eval(make, names)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://wx:Pa ss-w0rd@127.0.0.1:5432/test",
        "postgresql://wx@127.0.0.1:5432/test?password=Pa ss-w0rd",
        "host=127.0.0.1 password='Pa ss-w0rd' port=notaport",
    ],
)
def test_postgres_window_store_never_shows_the_password(dsn: str) -> None:
    """A malformed DSN's error (message, cause and context) does not contain its password."""
    import psycopg

    from wxsegment.quota import PostgresWindowStore

    with pytest.raises(psycopg.Error) as caught:
        PostgresWindowStore(dsn)
    error = caught.value
    shown = " ".join(map(str, (error, error.__cause__, error.__context__, repr(error))))
    assert "ss-w0rd" not in shown


def test_postgres_window_store_uses_but_never_closes_a_callers_connection() -> None:
    """Given a connection, the store works through it and leaves it open; repr shows no DSN."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresWindowStore

    schema = fresh_name("pgwc")
    connection = psycopg.connect(PG_DSN)
    try:
        store = PostgresWindowStore(connection, schema=schema)
        window = ServiceWindow(store)
        window.record("o", Interaction.PAYMENT, at=T)
        assert window.consume("o", now=T).granted
        store.close()
        assert not connection.closed
        assert repr(store) == f"PostgresWindowStore(schema={schema!r})"
    finally:
        connection.close()
        drop_schema(schema)


def test_window_stores_share_a_postgres_schema_with_the_ledger(tmp_path: Path) -> None:
    """The window's tables sit beside the ledger's in one schema; neither disturbs the other."""
    with _window_procs.store_spec("postgres", tmp_path) as spec:
        from wxsegment.quota import PostgresLedger

        ledger = PostgresLedger(spec[1], schema=spec[2])
        store = _window_procs.open_store(spec)
        try:
            ledger.reserve("c1", ["a"], at=T)
            window = ServiceWindow(store)
            window.record("a", Interaction.PAYMENT, at=T)
            assert sum(window.consume("a", now=T).granted for _ in range(10)) == 10
            usage = ledger.usage("a", at=T)
            assert (usage.committed, usage.pending) == (0, 1)
        finally:
            store.close()
            ledger.close()


def test_docs_server_store_example_runs(tmp_path: Path) -> None:
    """The ```python servers block of docs/quota.md runs against the test servers."""
    import re

    page = Path(__file__).resolve().parents[2] / "docs" / "quota.md"
    (block,) = re.findall(
        r"^```python servers\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S
    )
    with (
        _window_procs.store_spec("postgres", tmp_path) as pg,
        _window_procs.store_spec("redis", tmp_path) as rd,
    ):
        code = (
            block.replace('"postgresql://app@db.internal/crm"', repr(pg[1]))
            .replace('schema="wxsegment"', f"schema={pg[2]!r}")
            .replace('"redis://cache.internal:6379/0"', repr(rd[1]))
            .replace('prefix="wxsegment"', f"prefix={rd[2]!r}")
        )
        assert code.count(pg[2]) == 1
        assert code.count(rd[2]) == 1
        namespace = {"Interaction": Interaction, "at": T, "later": T + timedelta(hours=1)}
        exec(compile(code, f"{page.name}[servers]", "exec"), namespace)


@pytest.mark.parametrize("given", ["dsn", "connection"])
def test_postgres_window_store_reads_committed_whatever_the_default(given: str) -> None:
    """Under a SERIALIZABLE server default the store's transactions still run READ COMMITTED."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresWindowStore

    schema = fresh_name("pgwi")
    dsn = (
        PG_DSN
        + ("&" if "?" in PG_DSN else "?")
        + "options=-c%20default_transaction_isolation%3Dserializable"
    )
    connection = psycopg.connect(dsn) if given == "connection" else None
    store = PostgresWindowStore(connection or dsn, schema=schema)
    try:
        levels = store._transaction(
            lambda cursor: cursor.execute("SHOW transaction_isolation").fetchone()
        )
        assert levels == ("read committed",)
    finally:
        store.close()
        if connection is not None:
            connection.close()
        drop_schema(schema)
