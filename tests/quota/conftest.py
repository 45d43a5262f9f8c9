"""The `make_ledger` fixture: one conformance suite over every ledger backend.

``make_ledger(account="default", limit=4)`` returns a ledger; all ledgers made by one
fixture instance share one isolated store (one memory store, one SQLite file, one PostgreSQL
schema, one Redis key prefix on a single node or on the test Redis Cluster), so a test can open
two accounts, or one account twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.redis_cluster import RedisClusterInfo
from tests.redis_cluster import redis_cluster as redis_cluster
from wxsegment.quota import MemoryLedger, MemoryStore, QuotaLedger, SQLiteLedger

BACKENDS = ("memory", "sqlite", "postgres", "redis", "redis_cluster")

LedgerFactory = Callable[..., QuotaLedger]


@contextlib.contextmanager
def memory_maker() -> Iterator[LedgerFactory]:
    """Ledgers sharing one MemoryStore."""
    store = MemoryStore()

    def make(account: str = "default", limit: int = 4) -> QuotaLedger:
        return MemoryLedger(account=account, limit=limit, store=store)

    yield make


@contextlib.contextmanager
def sqlite_maker(path: Path) -> Iterator[LedgerFactory]:
    """Ledgers sharing one SQLite file; all closed at exit."""
    made: list[SQLiteLedger] = []

    def make(account: str = "default", limit: int = 4) -> QuotaLedger:
        ledger = SQLiteLedger(path, account=account, limit=limit)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            ledger.close()


def ledger_maker(
    backend: str, tmp_path: Path, cluster: RedisClusterInfo | None = None
) -> contextlib.AbstractContextManager[LedgerFactory]:
    """A context manager yielding a factory of ledgers of ``backend`` over one fresh store.

    ``cluster`` is the running test cluster, needed by the ``redis_cluster`` backend.
    """
    if backend == "memory":
        return memory_maker()
    if backend == "sqlite":
        return sqlite_maker(tmp_path / "ledger.sqlite3")
    from tests.quota import servers

    if backend == "postgres":
        return servers.postgres_ledger_maker()
    if backend == "redis_cluster":
        assert cluster is not None, "the redis_cluster backend needs the running cluster"
        return servers.redis_cluster_ledger_maker(cluster)
    return servers.redis_ledger_maker()


def cluster_for(backend: str, request: pytest.FixtureRequest) -> RedisClusterInfo | None:
    """The session's test cluster when ``backend`` needs it (started on first use)."""
    if backend != "redis_cluster":
        return None
    info: RedisClusterInfo = request.getfixturevalue("redis_cluster")
    return info


@pytest.fixture(params=BACKENDS)
def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerFactory]:
    """A factory of ledgers of one backend sharing one isolated store."""
    backend = request.param
    with ledger_maker(backend, tmp_path, cluster_for(backend, request)) as make:
        yield make
