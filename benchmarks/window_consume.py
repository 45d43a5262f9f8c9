"""Take customer-service messages through `ServiceWindow.consume` on every window store.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.window_consume --followers 2000 --processes 4

Each follower paid (an unlimited 48-hour window), so every consume is granted and writes a
send. The script times one consume per follower in one process, then the same number of
consumes split over ``--processes`` processes hitting the same followers at once (so they
contend for them), and checks that every grant was stored. Beside each store it times the
floor a hand-written version could not beat on the same server: one durable write per call
(SQLite ``BEGIN IMMEDIATE; INSERT; COMMIT``, a PostgreSQL transaction of one ``INSERT``, one
Redis ``EVAL`` of a one-command script) with no read and no decision. PostgreSQL and Redis
are skipped when unreachable.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from wxsegment.quota import (
    Interaction,
    MemoryWindowStore,
    PostgresWindowStore,
    RedisWindowStore,
    ServiceWindow,
    SQLiteWindowStore,
    WindowStore,
)

PG_DSN = os.environ.get("WXSEGMENT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WXSEGMENT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)
ACCOUNT = "bench"
Spec = tuple[str, ...]


def open_store(spec: Spec) -> WindowStore:
    """The store a spec names: ("sqlite", path), ("postgres", schema) or ("redis", prefix)."""
    if spec[0] == "sqlite":
        return SQLiteWindowStore(spec[1])
    if spec[0] == "postgres":
        return PostgresWindowStore(PG_DSN, schema=spec[1])
    return RedisWindowStore(REDIS_URL, prefix=spec[1])


def timed(window: ServiceWindow, openids: list[str]) -> tuple[int, float]:
    """Consume once per follower; (granted, seconds)."""
    start = time.perf_counter()
    granted = sum(window.consume(o, now=NOW).granted for o in openids)
    return granted, time.perf_counter() - start


def consume_all(spec: Spec, openids: list[str]) -> tuple[int, float]:
    """Open the store, consume once per follower, close it; (granted, seconds)."""
    store = open_store(spec)
    try:
        return timed(ServiceWindow(store, account=ACCOUNT), openids)
    finally:
        store.close()


def floor(spec: Spec, calls: int) -> float:
    """Calls per second of one bare durable write per call on the store's server."""
    write: Callable[[int], object]
    if spec[0] == "sqlite":
        db = sqlite3.connect(spec[1] + ".floor", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (openid TEXT, at_us INTEGER)")

        def write(i: int) -> object:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t VALUES (?, ?)", (f"o{i}", i))
            return db.execute("COMMIT")

        close: Callable[[], object] = db.close
    elif spec[0] == "postgres":
        import psycopg

        pg = psycopg.connect(PG_DSN)
        pg.execute(f'CREATE TABLE "{spec[1]}".floor (openid text, at_us bigint)')
        pg.commit()

        def write(i: int) -> object:
            with pg.transaction():
                return pg.execute(f'INSERT INTO "{spec[1]}".floor VALUES (%s, %s)', (f"o{i}", i))

        close = pg.close
    else:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        script = client.register_script("return redis.call('ZADD', KEYS[1], 0, ARGV[1])")

        def write(i: int) -> object:
            return script(keys=[f"{spec[1]}:floor:{i % 100}"], args=[str(i)])

        close = client.close
    start = time.perf_counter()
    for i in range(calls):
        write(i)
    rate = calls / (time.perf_counter() - start)
    close()
    return rate


def cleanup(spec: Spec) -> None:
    """Drop the schema or keys a spec made."""
    if spec[0] == "postgres":
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{spec[1]}" CASCADE')
    elif spec[0] == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in list(client.scan_iter(match=f"{spec[1]}*", count=10_000)):
            client.delete(key)
        client.close()


def run(spec: Spec, followers: int, processes: int) -> tuple[float, float, float]:
    """Consumes per second in one process and over ``processes``, and the floor's rate."""
    openids = [f"o{i:07d}" for i in range(followers)]
    store = open_store(spec)
    window = ServiceWindow(store, account=ACCOUNT)
    for openid in openids:
        window.record(openid, Interaction.PAYMENT, at=NOW)
    granted, seconds = consume_all(spec, openids)
    assert granted == followers
    share = followers // processes
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        start = time.perf_counter()
        results = pool.starmap(consume_all, [(spec, openids[:share])] * processes)
        elapsed = time.perf_counter() - start
    assert sum(r[0] for r in results) == share * processes
    sends = sum(len(store.history(ACCOUNT, o).sends) for o in openids[:share])
    assert sends == share * (processes + 1)
    store.close()
    return followers / seconds, share * processes / elapsed, floor(spec, followers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    tag = f"wxs_bench_w_{uuid.uuid4().hex[:8]}"
    memory = ServiceWindow(MemoryWindowStore(), account=ACCOUNT)
    openids = [f"o{i:07d}" for i in range(args.followers)]
    for openid in openids:
        memory.record(openid, Interaction.PAYMENT, at=NOW)
    granted, seconds = timed(memory, openids)
    assert granted == args.followers
    many = f"{args.processes} processes /s"
    print(f"{'store':9} {'1 process /s':>13} {many:>16} {'floor /s':>10} {'vs floor':>9}")
    print(f"{'memory':9} {args.followers / seconds:13,.0f} {'-':>16} {'-':>10} {'-':>9}")
    with tempfile.TemporaryDirectory() as directory:
        specs: list[Spec] = [
            ("sqlite", os.path.join(directory, "window.sqlite3")),
            ("postgres", tag),
            ("redis", tag),
        ]
        for spec in specs:
            try:
                single, parallel, bare = run(spec, args.followers, args.processes)
            except OSError as error:
                print(f"{spec[0]:9} skipped ({error})")
                continue
            finally:
                cleanup(spec)
            print(
                f"{spec[0]:9} {single:13,.0f} {parallel:16,.0f} {bare:10,.0f} {single / bare:9.2f}"
            )


if __name__ == "__main__":
    main()
