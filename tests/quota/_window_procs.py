"""Window stores named by a spec, and the child-process worker of the multi-process tests.

A *spec* names a store and how to open it in another process: ``("memory",)``,
``("sqlite", path)``, ``("postgres", dsn, schema)``, ``("redis", url, prefix)`` or
``("redis_cluster", url, prefix)``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.redis_cluster import RedisClusterInfo
from wxsegment.quota import Interaction, ServiceWindow, WindowHistory, WindowStore

NOW = datetime(2026, 7, 15, 12, 0, 30, tzinfo=timezone.utc)
STORES = ("memory", "sqlite", "postgres", "redis", "redis_cluster")
Spec = tuple[str, ...]


def open_store(spec: Spec) -> WindowStore:
    """Open the window store a spec names (a memory spec makes a new, empty store)."""
    kind = spec[0]
    if kind == "memory":
        from wxsegment.quota import MemoryWindowStore

        return MemoryWindowStore()
    if kind == "sqlite":
        from wxsegment.quota import SQLiteWindowStore

        return SQLiteWindowStore(spec[1])
    if kind == "postgres":
        from wxsegment.quota import PostgresWindowStore

        return PostgresWindowStore(spec[1], schema=spec[2])
    from wxsegment.quota import RedisWindowStore

    return RedisWindowStore(spec[1], prefix=spec[2], cluster=kind == "redis_cluster")


@contextlib.contextmanager
def store_spec(
    kind: str, directory: Path, cluster: RedisClusterInfo | None = None
) -> Iterator[Spec]:
    """A spec naming a fresh, isolated store of ``kind``, removed at exit.

    ``cluster`` is the running test cluster, needed by ``redis_cluster``. Skips the test, with
    the reason, when the store's server is unreachable.
    """
    from tests.quota.servers import delete_prefix, drop_schema, fresh_name

    if kind == "memory":
        yield ("memory",)
    elif kind == "sqlite":
        yield ("sqlite", str(directory / f"{fresh_name('w')}.sqlite3"))
    elif kind == "postgres":
        reason = unreachable(PG_DSN)
        if reason:
            pytest.skip(f"PostgreSQL: {reason}")
        schema = fresh_name("pgw")
        try:
            yield ("postgres", PG_DSN, schema)
        finally:
            drop_schema(schema)
    elif kind == "redis_cluster":
        assert cluster is not None, "the redis_cluster store needs the running cluster"
        prefix = fresh_name("rcw")
        try:
            yield ("redis_cluster", cluster.url, prefix)
        finally:
            cluster.delete_matching(f"*{prefix}*")
    else:
        reason = unreachable(REDIS_URL)
        if reason:
            pytest.skip(f"Redis: {reason}")
        prefix = fresh_name("rdw")
        try:
            yield ("redis", REDIS_URL, prefix)
        finally:
            delete_prefix(prefix)


def cluster_for(kind: str, request: pytest.FixtureRequest) -> RedisClusterInfo | None:
    """The session's test cluster when ``kind`` needs it (started on first use)."""
    if kind != "redis_cluster":
        return None
    info: RedisClusterInfo = request.getfixturevalue("redis_cluster")
    return info


def consume_many(spec: Spec, openids: list[str], attempts: int) -> dict[str, int]:
    """Try ``attempts`` sends to each follower; return how many were granted per follower."""
    store = open_store(spec)
    window = ServiceWindow(store, account="acct")
    granted = dict.fromkeys(openids, 0)
    try:
        for _ in range(attempts):
            for openid in openids:
                granted[openid] += window.consume(openid, now=NOW).granted
    finally:
        store.close()
    return granted


def consume_and_hang(spec: Spec, ready: Any) -> None:
    """Start a consume, say so while deciding, and hang there until killed."""
    store = open_store(spec)
    window = ServiceWindow(store, account="acct")
    window.record("o", Interaction.MESSAGE, at=NOW)

    def decide(history: WindowHistory) -> bool:
        ready.set()
        time.sleep(3600)
        return True

    store.consume("acct", "o", NOW, decide, prune_before=NOW - timedelta(hours=48))
