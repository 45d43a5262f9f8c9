"""Backend specifics: optional extras, Redis Cluster key layout, PostgreSQL connection handling."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.quota.servers import SHARED_REDIS, delete_prefix, drop_schema, fresh_name
from wxsegment.quota import RefusalReason, Transition

AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("blocked", "make", "extra"),
    [
        ("psycopg", "PostgresLedger('postgresql://x')", "wxsegment[postgres]"),
        ("redis", "RedisLedger('redis://x')", "wxsegment[redis]"),
    ],
)
def test_quota_imports_without_server_clients(blocked: str, make: str, extra: str) -> None:
    """wxsegment.quota imports without psycopg/redis; using the backend names the extra."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from wxsegment.quota import *\n"
        "from wxsegment.quota import PostgresLedger, RedisLedger\n"
        f"try:\n    {make}\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert extra in done.stdout


def test_redis_keys_share_one_hash_tag_per_bucket() -> None:
    """Every Redis key lives under {P:prefix:A:account:bucket}, the bucket of its openids."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    import redis

    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rdk")
    ledger = RedisLedger(REDIS_URL, account="wx1", prefix=prefix, buckets=8, **SHARED_REDIS)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        openids = [f"o{i}" for i in range(200)]
        ledger.reserve("c1", openids, at=AT, content_key="k")
        ledger.commit("c1", openids[:50])
        ledger.record_external("e1", openids[:10], at=AT)
        stem = f"{len(prefix)}:{prefix}:3:wx1"
        tag = re.compile(r"^\{" + re.escape(stem) + r":(\d+)\}:[rmpkc]")
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        assert f"{{{stem}}}:buckets" in keys
        buckets = set()
        for key in keys:
            if key.endswith(":buckets"):
                continue
            match = tag.match(key)
            assert match, key
            bucket = int(match.group(1))
            buckets.add(bucket)
            if key.split("}:", 1)[1][0] in "rmpk":
                for field in client.hkeys(key):
                    assert zlib.crc32(field.encode()) % 8 == bucket
        assert buckets == set(range(8))
        with pytest.raises(ValueError, match="buckets"):
            RedisLedger(REDIS_URL, account="wx1", prefix=prefix, buckets=4, **SHARED_REDIS)
        with pytest.raises(ValueError, match="hash tags"):
            RedisLedger(REDIS_URL, account="wx{1}", prefix=prefix, **SHARED_REDIS)
    finally:
        ledger.close()
        client.close()
        delete_prefix(prefix)


def test_postgres_uses_but_never_closes_a_callers_connection() -> None:
    """A ledger on a caller's (REPEATABLE READ) connection agrees with others, leaves it open."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresLedger

    schema = fresh_name("pgrr")
    options = "-c default_transaction_isolation=repeatable\\ read"
    connection = psycopg.connect(PG_DSN, options=options, autocommit=True)
    try:
        mine = PostgresLedger(connection, account="wx1", limit=1, schema=schema)
        other = PostgresLedger(PG_DSN, account="wx1", limit=1, schema=schema)
        assert other.reserve("c1", ["a"], at=AT).granted == ("a",)
        assert mine.reserve("c2", ["a", "b"], at=AT).granted == ("b",)
        other.close()
        mine.close()
        assert not connection.closed
    finally:
        connection.close()
        drop_schema(schema)


@pytest.mark.parametrize("statement", ["_RESERVE", "_COMMIT", "_RELEASE"])
def test_postgres_plans_do_not_depend_on_statistics(statement: str) -> None:
    """On a big never-analysed campaign, plans are key lookups: no scans, hashes or filters."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresLedger, _postgres

    schema = fresh_name("pgplan")
    ledger = PostgresLedger(PG_DSN, account="wx1", schema=schema)
    openids = [f"o{i:05d}" for i in range(20_000)]
    try:
        ledger.reserve("c1", openids, at=AT, content_key="k")
        params = {
            "account": "wx1",
            "campaign": "c1",
            "content_key": "k",
            "month": "2026-07",
            "limit": 4,
            "committed": False,
            "at": AT,
            "ids": openids,
        }
        with psycopg.connect(PG_DSN) as connection:
            rows = connection.execute(
                "EXPLAIN " + ledger._sql(getattr(_postgres, statement)), params
            ).fetchall()
        plan = "\n".join(row[0] for row in rows)
        for bad in ("Seq Scan", "Hash", "Merge Join", "Join Filter", "Filter: (openid"):
            assert bad not in plan, plan
        if statement != "_RESERVE":
            assert "Tid Scan" in plan, plan
    finally:
        ledger.close()
        drop_schema(schema)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://wx:Pa ss-w0rd@127.0.0.1:5432/test",
        "postgresql://wx:Pa%zzss-w0rd@127.0.0.1:5432/test",
        "postgresql://wx@127.0.0.1:5432/test?password=Pa ss-w0rd",
        "host=127.0.0.1 password='Pa ss-w0rd' port=notaport",
    ],
)
def test_postgres_connection_errors_never_show_the_password(dsn: str) -> None:
    """A malformed DSN's error (message, cause and context) does not contain its password."""
    import psycopg

    from wxsegment.quota import PostgresLedger

    with pytest.raises(psycopg.Error) as caught:
        PostgresLedger(dsn)
    error = caught.value
    shown = " ".join(map(str, (error, error.__cause__, error.__context__, repr(error))))
    assert "Pa ss" not in shown
    assert "ss-w0rd" not in shown


def test_sqlite_failed_commit_does_not_keep_the_write_lock(tmp_path: Path) -> None:
    """When COMMIT fails, the ledger's transaction is rolled back, not left holding the lock."""
    import sqlite3
    import threading

    from wxsegment.quota._sqlite import _Transaction

    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE c (pid INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)")
    # A deferred foreign key violation makes COMMIT fail and, by itself, stay open.
    with pytest.raises(sqlite3.IntegrityError), _Transaction(db, threading.Lock()):
        db.execute("INSERT INTO c VALUES (7)")
    assert not db.in_transaction
    other = sqlite3.connect(tmp_path / "t.sqlite3", timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    db.close()


@pytest.mark.parametrize(
    "statement",
    ["_CLASSIFY_SETTLE", "_MOVE_MONTHS", "_COMMIT_ROWS", "_DROP_CONTENTS", "_PRUNE_CONTENTS"],
)
def test_sqlite_settling_reaches_rows_by_openid(tmp_path: Path, statement: str) -> None:
    """Commit and release statements look rows up by openid, never scanning an account."""
    from wxsegment.quota import SQLiteLedger, _sqlite

    ledger = SQLiteLedger(tmp_path / "plan.sqlite3", account="wx1")
    try:
        ledger.reserve("c0", [f"o{i:04d}" for i in range(2_000)], at=AT, content_key="k")
        ledger.reserve("c1", ["o0001", "o0002"], at=AT)
        params = {"account": "wx1", "campaign": "c1", "to_committed": 1}
        plan = ledger._db.execute(
            "EXPLAIN QUERY PLAN " + getattr(_sqlite, statement), params
        ).fetchall()
    finally:
        ledger.close()
    for _, _, _, step in plan:
        if " wxs_" in step or " r " in step:
            assert step.startswith("SEARCH"), plan
            assert "openid=?" in step, plan


def test_sqlite_grants_survive_a_power_loss_by_default(tmp_path: Path) -> None:
    """Every SQLite commit is synced (synchronous=FULL) unless durability is waived."""
    from wxsegment.quota import SQLiteLedger

    full, normal = 2, 1
    ledger = SQLiteLedger(tmp_path / "d.sqlite3")
    fast = SQLiteLedger(tmp_path / "d.sqlite3", durable=False)
    try:
        assert ledger._db.execute("PRAGMA synchronous").fetchone() == (full,)
        assert fast._db.execute("PRAGMA synchronous").fetchone() == (normal,)
    finally:
        ledger.close()
        fast.close()


def test_postgres_refuses_schema_names_postgres_would_truncate() -> None:
    """A schema name over 63 UTF-8 bytes is refused; one of exactly 63 bytes is used verbatim."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresLedger

    # 21 CJK characters are 63 bytes; a 22nd would be cut off by PostgreSQL, so two such names
    # would share tables while taking different account locks.
    base = "账" * 20 + uuid.uuid4().hex[:3]
    longer = base + "本"
    try:
        with pytest.raises(ValueError, match="63 bytes"):
            PostgresLedger(PG_DSN, schema=longer)
        ledger = PostgresLedger(PG_DSN, schema=base)
        ledger.close()
        with psycopg.connect(PG_DSN) as connection:
            names = {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace")}
        assert base in names
    finally:
        drop_schema(longer)
        drop_schema(base)


def test_redis_keys_of_different_prefix_and_account_pairs_never_meet() -> None:
    """(p, "shop:eu") and ("p:shop", "eu") keep separate quotas; neither settles the other's."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rdamb")
    first = RedisLedger(REDIS_URL, account="shop:eu", limit=1, prefix=prefix, **SHARED_REDIS)
    second = RedisLedger(REDIS_URL, account="eu", limit=1, prefix=f"{prefix}:shop", **SHARED_REDIS)
    try:
        assert first.reserve("c1", ["a"], at=AT).granted == ("a",)
        assert second.reserve("c2", ["a"], at=AT).granted == ("a",)
        assert second.release("c1", ["a"]) == Transition(missing=("a",))
        assert second.commit("c1") == Transition()
        assert [(e.campaign, e.openid) for e in first.pending()] == [("c1", "a")]
        assert first.usage("a", at=AT).pending == 1
    finally:
        first.close()
        second.close()
        delete_prefix(prefix)


def test_postgres_refuses_a_connection_that_is_not_in_autocommit_mode() -> None:
    """A caller's connection outside autocommit would fold grants into the caller's transaction."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import PostgresLedger

    schema = fresh_name("pgac")
    connection = psycopg.connect(PG_DSN)
    try:
        with pytest.raises(ValueError, match="autocommit"):
            PostgresLedger(connection, schema=schema)
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with psycopg.connect(PG_DSN) as admin:
            found = admin.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
        assert found == (0,)
    finally:
        connection.close()
        drop_schema(schema)


def test_postgres_refuses_to_join_the_callers_open_transaction() -> None:
    """Inside the caller's transaction a ledger raises, not granting what a rollback undoes."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import psycopg

    from wxsegment.quota import ConnectionBusyError, PostgresLedger

    schema = fresh_name("pgtx")
    connection = psycopg.connect(PG_DSN, autocommit=True)
    try:
        ledger = PostgresLedger(connection, account="wx1", limit=1, schema=schema)
        other = PostgresLedger(PG_DSN, account="wx1", limit=1, schema=schema)
        with pytest.raises(ConnectionBusyError, match="transaction"), connection.transaction():
            ledger.reserve("c1", ["a"], at=AT)
        assert other.reserve("c2", ["a"], at=AT).granted == ("a",)
        assert ledger.reserve("c3", ["a"], at=AT).refused == {"a": RefusalReason.QUOTA_EXHAUSTED}
        other.close()
        ledger.close()
    finally:
        connection.close()
        drop_schema(schema)


def test_postgres_ledgers_sharing_a_connection_across_threads_take_turns() -> None:
    """Two ledgers on one connection, driven from two threads, never interleave transactions."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    import threading

    import psycopg

    from wxsegment.quota import PostgresLedger

    schema = fresh_name("pgsh")
    connection = psycopg.connect(PG_DSN, autocommit=True)
    failures: list[BaseException] = []
    try:
        ledgers = [
            PostgresLedger(connection, account=f"wx{n}", limit=4, schema=schema) for n in (1, 2)
        ]
        audience = [f"o{i}" for i in range(200)]

        def work(ledger: PostgresLedger) -> None:
            try:
                for index in range(40):
                    campaign = f"c{index}"
                    result = ledger.reserve(campaign, audience, at=AT)
                    if result.granted:
                        ledger.commit(campaign, result.granted[::2])
                        ledger.release(campaign, result.granted[1::2])
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=work, args=(ledger,)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert failures == []
        for ledger in ledgers:
            # Each round commits half the audience and releases the rest: 4 rounds fill it.
            assert ledger.usage("o0", at=AT).committed == 4
            assert ledger.usage("o1", at=AT).committed == 4
            assert list(ledger.pending()) == []
            ledger.close()
    finally:
        connection.close()
        drop_schema(schema)


_PARTS = st.text(alphabet=st.sampled_from(":a1{"), min_size=1, max_size=6)


@given(first=st.tuples(_PARTS, _PARTS), second=st.tuples(_PARTS, _PARTS))
def test_redis_key_stems_are_injective(first: tuple[str, str], second: tuple[str, str]) -> None:
    """Distinct (prefix, account) pairs never share a key stem, nor does one extend another."""
    from wxsegment.quota._redis import _key_stem

    if first != second:
        one, other = _key_stem(*first), _key_stem(*second)
        assert one != other
        # Keys continue after the stem with ':<bucket>}' or '}': neither may be a prefix.
        assert not (one + ":").startswith(other + ":")
