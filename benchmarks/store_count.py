"""Benchmark: ``store.count(segment)`` in the database beside ``SegmentIndex.count``.

Fills a SQLite file and/or a PostgreSQL schema once with ``--rows`` synthetic CRM followers
(those of ``followers_store.py``, in batches) and keeps them for the next runs; then counts the
reference segment with ``store.count`` (one query in the database, best of three) and with
``SegmentIndex.count`` on ``store.index()`` (best of five), checks they agree and prints the
build time of the index between them.

    PYTHONPATH=src python benchmarks/store_count.py --rows 10000000 --sqlite /tmp/c10m.sqlite3
    PYTHONPATH=src python benchmarks/store_count.py --rows 10000000 \\
        --postgres postgresql://postgres@127.0.0.1:5432/test --schema wxs_count_10m [--drop]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from followers_store import KINDS, NOW, SEGMENT, row_batches


def best(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The fastest of ``runs`` calls (seconds) and the last result."""
    fastest, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, result


def fill(store: Any, count: int, batch: int) -> None:
    """Import ``count`` rows into an empty store; refuse a store holding some but too few."""
    held = len(store)
    if held >= count:
        return
    if held:
        raise SystemExit(f"{store!r} holds {held:,} followers, fewer than --rows {count:,}")
    start = time.perf_counter()
    for part in row_batches(count, batch):
        store.import_rows(part)
    print(f"  filled with {count:,} rows in {time.perf_counter() - start:.1f} s")


def measure(label: str, store: Any) -> None:
    """store.count, the index build and SegmentIndex.count on one filled store."""
    count_s, matched = best(lambda: store.count(SEGMENT, now=NOW), 3)
    print(f"  {label}: store.count(segment)        {count_s * 1000:10.1f} ms  ({matched:,})")
    start, cpu = time.perf_counter(), time.process_time()
    index = store.index()
    print(
        f"  {label}: store.index() build          {time.perf_counter() - start:10.2f} s"
        f"  (CPU {time.process_time() - cpu:.2f} s)"
    )
    index_s, indexed = best(lambda: index.count(SEGMENT, now=NOW), 5)
    assert indexed == matched, "index and store disagree"
    print(
        f"  {label}: SegmentIndex.count(segment)  {index_s * 1000:10.1f} ms"
        f"  ({count_s / index_s:,.0f}x faster; load {os.getloadavg()[0]:.2f})"
    )


def main() -> None:
    """Parse arguments, fill what is new, measure each store given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--sqlite", help="SQLite file to fill once and reuse")
    parser.add_argument("--postgres", help="PostgreSQL DSN")
    parser.add_argument("--schema", default="wxs_count_bench", help="PostgreSQL schema to reuse")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL schema after")
    args = parser.parse_args()
    if args.sqlite:
        from wxsegment.followers import SQLiteFollowerStore

        with SQLiteFollowerStore(args.sqlite, attributes=KINDS) as store:
            print(f"SQLite, {args.rows:,} followers")
            fill(store, args.rows, args.batch)
            measure("SQLite", store)
    if args.postgres:
        from wxsegment.followers import PostgresFollowerStore

        pg = PostgresFollowerStore(args.postgres, schema=args.schema, attributes=KINDS)
        try:
            print(f"PostgreSQL, {args.rows:,} followers")
            fill(pg, args.rows, args.batch)
            measure("PostgreSQL", pg)
        finally:
            if args.drop:
                with pg._write() as cursor:  # the benchmark's own schema
                    cursor.execute(f'DROP SCHEMA "{args.schema}" CASCADE')
            pg.close()


if __name__ == "__main__":
    main()
