"""Reserve one campaign for N followers on every ledger backend; compare with a per-follower loop.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.quota_reserve --followers 1000000

Followers' counts this month are spread evenly over 0..4 beforehand (four earlier campaigns,
three committed and one pending, written through the batch path), so a fifth of the audience
is refused as exhausted. For each backend the script times ``reserve`` of the whole audience,
then ``commit`` of half the grants and ``release`` of the other half, and, on a smaller
audience of fresh followers with the same spread, the loop a user would otherwise write: one
statement, command or call per follower (checked to grant exactly what the ledger grants on
a twin audience). PostgreSQL and Redis are skipped when unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from wxsegment.quota import (
    MemoryLedger,
    PostgresLedger,
    QuotaLedger,
    RedisLedger,
    SQLiteLedger,
)

PG_DSN = os.environ.get("WXSEGMENT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WXSEGMENT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)
MONTH = "2026-07"
ACCOUNT = "bench"
LIMIT = 4

Loop = Callable[[list[str]], int]


def prepopulate(ledger: QuotaLedger, openids: list[str]) -> None:
    """Give follower i a count of i % 5 this month: three campaigns committed, one pending."""
    for level in range(1, 5):
        audience = [o for i, o in enumerate(openids) if i % 5 >= level]
        ledger.reserve(f"earlier-{level}", audience, at=AT)
        if level < 4:
            ledger.commit(f"earlier-{level}")


@contextlib.contextmanager
def memory() -> Iterator[tuple[QuotaLedger, Loop]]:
    ledger = MemoryLedger(account=ACCOUNT)

    def loop(openids: list[str]) -> int:
        return sum(len(ledger.reserve("loop", [o], at=AT).granted) for o in openids)

    yield ledger, loop


@contextlib.contextmanager
def sqlite() -> Iterator[tuple[QuotaLedger, Loop]]:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "bench.sqlite3")
        ledger = SQLiteLedger(path, account=ACCOUNT)
        db = sqlite3.connect(path, isolation_level=None)

        def loop(openids: list[str]) -> int:
            # One conditional counter upsert per follower, plus its reservation row when
            # granted, all in one transaction: the obvious hand-written version.
            granted = 0
            db.execute("BEGIN IMMEDIATE")
            for openid in openids:
                row = db.execute(
                    "INSERT INTO wxs_months (account, openid, month, committed, pending) "
                    "VALUES (?, ?, ?, 0, 1) ON CONFLICT (account, openid, month) DO UPDATE "
                    "SET pending = pending + 1 WHERE committed + pending < ? RETURNING 1",
                    (ACCOUNT, openid, MONTH, LIMIT),
                ).fetchone()
                if row is not None:
                    db.execute(
                        "INSERT INTO wxs_reservations VALUES (?, 'loop', ?, ?, NULL, 0, ?)",
                        (ACCOUNT, openid, MONTH, AT.isoformat()),
                    )
                    granted += 1
            db.execute("COMMIT")
            return granted

        try:
            yield ledger, loop
        finally:
            db.close()
            ledger.close()


@contextlib.contextmanager
def postgres() -> Iterator[tuple[QuotaLedger, Loop]]:
    import psycopg

    schema = f"wxs_bench_{uuid.uuid4().hex[:10]}"
    ledger = PostgresLedger(PG_DSN, account=ACCOUNT, schema=schema)
    db = psycopg.connect(PG_DSN)

    def loop(openids: list[str]) -> int:
        granted = 0
        with db.transaction(), db.cursor() as cursor:
            for openid in openids:
                cursor.execute(
                    f"INSERT INTO {schema}.wxs_months AS m "
                    "(account, openid, month, committed, pending) VALUES (%s, %s, %s, 0, 1) "
                    "ON CONFLICT (account, openid, month) DO UPDATE "
                    "SET pending = m.pending + 1 WHERE m.committed + m.pending < %s RETURNING 1",
                    (ACCOUNT, openid, MONTH, LIMIT),
                )
                if cursor.fetchone() is not None:
                    cursor.execute(
                        f"INSERT INTO {schema}.wxs_reservations VALUES "
                        "(%s, 'loop', %s, %s, NULL, false, %s)",
                        (ACCOUNT, openid, MONTH, AT),
                    )
                    granted += 1
        return granted

    try:
        yield ledger, loop
    finally:
        db.close()
        ledger.close()
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def redis_backend() -> Iterator[tuple[QuotaLedger, Loop]]:
    import redis

    prefix = f"wxs_bench_{uuid.uuid4().hex[:10]}"
    # Measured on whatever server it is pointed at, often a scratch one without persistence.
    ledger = RedisLedger(REDIS_URL, account=ACCOUNT, prefix=prefix, require_durable=False)
    client = redis.Redis.from_url(REDIS_URL)
    single: Any = ledger._reserve  # the ledger's own script, called once per follower
    tags = ledger._tags

    def loop(openids: list[str]) -> int:
        granted = 0
        for openid in openids:
            tag = tags[ledger._bucket(openid)]
            letter = single(keys=[tag], args=["loop", MONTH, LIMIT, "", AT.isoformat(), openid])
            granted += letter == b"g"
        return granted

    try:
        yield ledger, loop
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
        client.close()
        ledger.close()


BACKENDS = {"memory": memory, "sqlite": sqlite, "postgres": postgres, "redis": redis_backend}


def reachable(name: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    url = {"postgres": PG_DSN, "redis": REDIS_URL}.get(name)
    if url is None:
        return True
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def run(name: str, followers: int, loop_followers: int) -> None:
    audience = [f"o{i:08d}" for i in range(followers)]
    fresh = [f"l{i:08d}" for i in range(loop_followers)]
    twin = [f"t{i:08d}" for i in range(loop_followers)]
    with BACKENDS[name]() as (ledger, loop):
        _, setup = timed(lambda: [prepopulate(ledger, o) for o in (audience, fresh, twin)])
        result, reserve_s = timed(lambda: ledger.reserve("bench", audience, at=AT))
        granted = list(result.granted)
        half = len(granted) // 2
        _, commit_s = timed(lambda: ledger.commit("bench", granted[:half]))
        _, release_s = timed(lambda: ledger.release("bench", granted[half:]))
        looped, loop_s = timed(lambda: loop(fresh))
        batched = ledger.reserve("twin", twin, at=AT)
    # The loop must decide exactly like the ledger on an identical twin audience.
    assert len(batched.granted) == looped, (len(batched.granted), looped)
    reserve_rate = followers / reserve_s
    loop_rate = loop_followers / loop_s
    print(
        f"{name:9s} reserve {reserve_rate:>11,.0f}/s  commit {half / commit_s:>11,.0f}/s  "
        f"release {(len(granted) - half) / release_s:>11,.0f}/s  "
        f"per-follower loop {loop_rate:>9,.0f}/s  ratio {reserve_rate / loop_rate:5.1f}x  "
        f"(granted {len(granted):,} of {followers:,}; set-up {setup:.1f}s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--loop-followers", type=int, default=None)
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    loop_followers = args.loop_followers or max(1_000, min(50_000, args.followers // 20))
    print(
        f"reserve for {args.followers:,} followers (counts spread over 0..4), "
        f"per-follower loop on {loop_followers:,}"
    )
    for name in args.backends:
        if not reachable(name):
            print(f"{name:9s} skipped: server unreachable")
            continue
        run(name, args.followers, loop_followers)


if __name__ == "__main__":
    main()
