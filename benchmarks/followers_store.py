"""Benchmark: the follower store's import, count and index build at scale.

Imports N synthetic CRM rows (openid, subscribe time, city, spend, member level, one or two
tags) with ``store.import_rows`` into SQLite and PostgreSQL, beside a plain ``executemany``
loop inserting the same rows into one wide table of the same database (what a user would
hand-write); then counts a segment with ``store.count`` (in the database) beside
``SegmentIndex.count`` on ``store.index()``, and times the index build.

    PYTHONPATH=src python benchmarks/followers_store.py [--rows 1000000] [--postgres DSN]
        [--dir /tmp] [--skip-sqlite] [--openids sequential|random]

``--index-only --reuse PATH`` times only ``store.index()`` (through ``IndexedStore``) and one
``refresh()`` after ``--changed`` followers were rewritten, on the SQLite store at PATH: filled
with ``--rows`` rows on the first run (in batches, so 10M rows fit in memory) and kept for the
next runs. Peak RSS is the whole process's; run the first, filling run apart from the timed one.
``--openids random`` makes WeChat-like openids (28 base64url characters sharing only the first
6) instead of ``o`` and 27 digits; a reused file keeps the openids it was filled with.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import os
import random
import resource
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from wxsegment.followers import IndexedStore, SQLiteFollowerStore
from wxsegment.segment import attr, tag

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
KINDS: dict[str, Any] = {"city": "str", "spend": "float", "member_level": "int"}
CITIES = ["杭州", "上海", "北京", "广州", "深圳", "成都", "武汉", "南京"]
TAGS = ["90后", "已购", "vip", "杭州门店", "新客", "老客"]
SEGMENT = (
    tag("90后")
    & attr("city").isin(["杭州", "上海"])
    & attr("subscribe_time").within(timedelta(days=180))
    & (attr("spend") >= 100)
)


#: How openids look: ``sequential`` (``o`` and 27 digits, sharing 21 leading bytes) or
#: ``random`` (WeChat-like: 28 base64url characters sharing only the account's first 6).
OPENIDS = ["sequential"]
#: The first characters every random openid of the benchmark's account starts with.
ACCOUNT = "oX3a_Q"


def openid_of(i: int) -> str:
    """Openid number ``i`` in the shape `OPENIDS` names; the same ``i`` always gives the same."""
    if OPENIDS[0] == "sequential":
        return f"o{i:027d}"
    digest = hashlib.blake2b(i.to_bytes(8, "little"), digest_size=17).digest()
    return ACCOUNT + base64.urlsafe_b64encode(digest).decode("ascii")[:22]


def row(i: int, pick: random.Random) -> dict[str, Any]:
    """Synthetic CRM row number ``i``, drawn from ``pick``."""
    return {
        "openid": openid_of(i),
        "subscribe_time": NOW - timedelta(seconds=pick.randrange(0, 3 * 365 * 86400)),
        "city": pick.choice(CITIES),
        "spend": round(pick.uniform(0, 500), 2),
        "member_level": pick.randrange(0, 5),
        "tags": frozenset(pick.sample(TAGS, pick.randrange(1, 3))),
    }


def rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Synthetic CRM rows, the same for every run with the same seed."""
    pick = random.Random(seed)
    return [row(i, pick) for i in range(count)]


def row_batches(count: int, size: int, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """The rows of `rows` made ``size`` at a time, so ten million never sit in memory at once."""
    pick = random.Random(seed)
    for start in range(0, count, size):
        yield [row(i, pick) for i in range(start, min(start + size, count))]


#: Process CPU seconds of the last `timed` call: on a shared machine wall time mostly measures
#: the other jobs, while the CPU this process spent (SQLite's work included, a server's not)
#: does not depend on them as much.
LAST_CPU = [0.0]
#: The PostgreSQL backend process the next `timed` call drives (its CPU goes to `SERVER_CPU`),
#: when the server runs on this machine and /proc shows it; ``None`` otherwise.
SERVER_PID: list[int | None] = [None]
SERVER_CPU: list[float | None] = [None]


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user and system) process ``pid`` has used, if /proc shows it."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call took, and its result (its CPU seconds go to `LAST_CPU`)."""
    start, cpu = time.perf_counter(), time.process_time()
    server = process_cpu(SERVER_PID[0])
    result = action()
    LAST_CPU[0] = time.process_time() - cpu
    after = process_cpu(SERVER_PID[0])
    SERVER_CPU[0] = None if server is None or after is None else after - server
    return time.perf_counter() - start, result


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices of ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plain_rows(data: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows as a hand-written loader would bind them (one wide table, tags joined)."""
    return [
        (
            r["openid"],
            int(r["subscribe_time"].timestamp() * 1_000_000),
            r["city"],
            r["spend"],
            r["member_level"],
            "|".join(sorted(r["tags"])),
        )
        for r in data
    ]


def report(name: str, seconds: float, count: int) -> None:
    """One line: the time and the rate, by wall clock and by this process's CPU time."""
    cpu = LAST_CPU[0]
    server = "" if SERVER_CPU[0] is None else f", server CPU {SERVER_CPU[0]:6.2f} s"
    print(
        f"  {name:<44} {seconds:8.2f} s  {count / seconds:>10,.0f} rows/s"
        f"  (CPU {cpu:6.2f} s, {count / cpu:>10,.0f} rows/CPU-s{server})"
    )


def frame(data: list[dict[str, Any]]) -> Any:
    """The rows as one Arrow table (what a polars or pandas export converts to)."""
    import pyarrow as pa

    return pa.table(
        {
            "openid": [r["openid"] for r in data],
            "subscribe_time": pa.array(
                [r["subscribe_time"] for r in data], pa.timestamp("us", "UTC")
            ),
            "city": [r["city"] for r in data],
            "spend": [r["spend"] for r in data],
            "member_level": [r["member_level"] for r in data],
            "tags": [sorted(r["tags"]) for r in data],
        }
    )


def bench_frame(label: str, store: Any, table: Any, batch: int) -> None:
    """import_frame into an empty store, in slices of ``batch`` rows."""
    seconds, _ = timed(
        lambda: [
            store.import_frame(table.slice(start, batch))
            for start in range(0, table.num_rows, batch)
        ]
    )
    report(f"{label}: store.import_frame ({batch:,} per call)", seconds, table.num_rows)


def bench_store(label: str, store: Any, data: list[dict[str, Any]], batch: int) -> None:
    """Import, count and index build on one store."""
    seconds, _ = timed(lambda: [store.import_rows(part) for part in chunks(data, batch)])
    report(f"{label}: store.import_rows ({batch:,} per call)", seconds, len(data))
    for _ in range(2):
        count_s, matched = timed(lambda: store.count(SEGMENT, now=NOW))
    print(
        f"  {label}: store.count(segment)                 {count_s * 1000:8.1f} ms  ({matched:,})"
    )
    build_s, index = timed(store.index)
    print(f"  {label}: store.index() build                  {build_s:8.2f} s")
    for _ in range(3):
        index_s, indexed = timed(lambda: index.count(SEGMENT, now=NOW))
    assert indexed == matched
    print(f"  {label}: SegmentIndex.count(segment)          {index_s * 1000:8.1f} ms")


def bench_sqlite(data: list[dict[str, Any]], folder: str, batch: int) -> None:
    """SQLite: the store beside a plain executemany into a wide table of the same kind of file."""
    print(f"SQLite {sqlite3.sqlite_version}, {len(data):,} rows")
    path = os.path.join(folder, f"bench-{uuid.uuid4().hex[:8]}.sqlite3")
    plain_path = path + ".plain"
    db = sqlite3.connect(plain_path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute(
        "CREATE TABLE crm (openid TEXT PRIMARY KEY, subscribe_time INTEGER, city TEXT, "
        "spend REAL, member_level INTEGER, tags TEXT)"
    )

    def plain() -> None:
        for part in chunks(data, batch):
            db.execute("BEGIN")
            db.executemany("INSERT INTO crm VALUES (?, ?, ?, ?, ?, ?)", plain_rows(part))
            db.execute("COMMIT")

    plain_s, _ = timed(plain)
    report("SQLite: plain executemany (same batches)", plain_s, len(data))
    db.close()
    store = SQLiteFollowerStore(path, attributes=KINDS)
    framed = SQLiteFollowerStore(path + ".frame", attributes=KINDS)
    try:
        bench_store("SQLite", store, data, batch)
        bench_frame("SQLite", framed, frame(data), batch)
    finally:
        store.close()
        framed.close()
        for suffix in ("", ".plain", ".frame"):
            for tail in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix + tail):
                    os.remove(path + suffix + tail)


def bench_postgres(data: list[dict[str, Any]], dsn: str, batch: int) -> None:
    """PostgreSQL: the store beside a plain executemany into a wide table of the same server."""
    import psycopg

    from wxsegment.followers import PostgresFollowerStore

    schema = f"wxs_bench_{uuid.uuid4().hex[:8]}"
    print(f"PostgreSQL, {len(data):,} rows")
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
        try:
            db.execute(
                f'CREATE TABLE "{schema}".crm (openid TEXT PRIMARY KEY, subscribe_time BIGINT, '
                "city TEXT, spend DOUBLE PRECISION, member_level INT, tags TEXT)"
            )

            def plain() -> None:
                for part in chunks(data, batch):
                    with db.transaction(), db.cursor() as cursor:
                        cursor.executemany(
                            f'INSERT INTO "{schema}".crm VALUES (%s, %s, %s, %s, %s, %s)',
                            plain_rows(part),
                        )

            SERVER_PID[0] = db.info.backend_pid
            plain_s, _ = timed(plain)
            report("PostgreSQL: plain executemany (same batches)", plain_s, len(data))
            store = PostgresFollowerStore(dsn, schema=schema, attributes=KINDS)
            framed = PostgresFollowerStore(dsn, schema=schema + "_f", attributes=KINDS)
            try:
                # The stores' own connections (private, read only to time their server work).
                SERVER_PID[0] = store._connection.info.backend_pid
                bench_store("PostgreSQL", store, data, batch)
                SERVER_PID[0] = framed._connection.info.backend_pid
                bench_frame("PostgreSQL", framed, frame(data), batch)
            finally:
                SERVER_PID[0] = None
                store.close()
                framed.close()
        finally:
            db.execute(f'DROP SCHEMA "{schema}" CASCADE')
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}_f" CASCADE')


def peak_rss_mib() -> float:
    """The largest resident set this process has had so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    """The 1-minute load average, printed beside every figure (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.2f}"


def reused_store(path: str, count: int, batch: int) -> SQLiteFollowerStore:
    """The SQLite store at ``path``, filled with ``count`` rows first if the file is new."""
    fresh = not os.path.exists(path)
    store = SQLiteFollowerStore(path, attributes=KINDS)
    if fresh:
        seconds, _ = timed(lambda: [store.import_rows(part) for part in row_batches(count, batch)])
        report(f"SQLite: filled {path} with store.import_rows", seconds, count)
    held = len(store)
    if held < count:
        raise SystemExit(f"{path} holds {held:,} followers, fewer than --rows {count:,}")
    return store


def changed_rows(count: int, changed: int, seed: int) -> list[dict[str, Any]]:
    """New values (city, spend, level, subscribe time, tags) for ``changed`` spread followers."""
    pick = random.Random(seed)
    step = max(count // changed, 1)
    return [row(i, pick) for i in range(0, step * changed, step)][:changed]


def bench_index(path: str, count: int, batch: int, changed: int) -> None:
    """store.index() (via IndexedStore) on a reused SQLite store, then one refresh()."""
    store = reused_store(path, count, batch)
    try:
        held = len(store)
        print(f"SQLite {sqlite3.sqlite_version}, {held:,} followers in {path}")
        gc.collect()
        before = peak_rss_mib()
        print(f"  peak RSS before the build                  {before:8.0f} MiB  ({load_average()})")
        build_s, indexed = timed(lambda: IndexedStore(store))
        build_cpu = LAST_CPU[0]
        index = indexed.index
        print(
            f"  store.index() build                        {build_s:8.2f} s"
            f"  (CPU {build_cpu:6.2f} s, {load_average()})"
        )
        print(f"  peak RSS after the build                   {peak_rss_mib():8.0f} MiB")
        print(f"  index.nbytes()                             {index.nbytes() / 2**20:8.1f} MiB")
        matched = store.count(SEGMENT, now=NOW)
        assert index.count(SEGMENT, now=NOW) == matched, "index and store disagree"
        print(f"  SegmentIndex.count agrees with store.count ({matched:,})")
        update = changed_rows(held, changed, seed=int(time.time()))
        write_s, _ = timed(lambda: store.import_rows(update))
        print(f"  store.import_rows of {len(update):,} changed followers   {write_s:8.2f} s")
        refresh_s, refreshed = timed(indexed.refresh)
        print(
            f"  IndexedStore.refresh() of {refreshed:,} followers    {refresh_s:8.2f} s"
            f"  (CPU {LAST_CPU[0]:6.2f} s, {load_average()})"
        )
        matched = store.count(SEGMENT, now=NOW)
        assert indexed.index.count(SEGMENT, now=NOW) == matched, "refreshed index disagrees"
        print(f"  refreshed index agrees with store.count ({matched:,})")
        print(f"  peak RSS of the run                        {peak_rss_mib():8.0f} MiB")
    finally:
        store.close()


def main() -> None:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("WXSEGMENT_TEST_PG_DSN"))
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--index-only", action="store_true")
    parser.add_argument("--reuse", help="SQLite file to fill once and reuse (--index-only)")
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--openids", choices=["sequential", "random"], default="sequential")
    args = parser.parse_args()
    OPENIDS[0] = args.openids
    if args.index_only:
        path = args.reuse or os.path.join(args.dir, f"wxsegment-bench-{args.rows}.sqlite3")
        bench_index(path, args.rows, args.batch, args.changed)
        return
    make_s, data = timed(lambda: rows(args.rows))
    print(f"made {len(data):,} rows in {make_s:.1f} s")
    if not args.skip_sqlite:
        bench_sqlite(data, args.dir, args.batch)
    if args.postgres:
        bench_postgres(data, args.postgres, args.batch)


if __name__ == "__main__":
    main()
