"""The library's delivery, simulated over many seeds on every ledger backend.

Seed counts are bounded for CI; ``WXSEGMENT_SIM_SEEDS=N`` runs N per backend,
``WXSEGMENT_SIM_SEED_START=S`` starts elsewhere and ``WXSEGMENT_SIM_SEED=K`` replays one seed.
A failure names its seed; the message carries the violations and the last steps.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.quota.servers import delete_prefix, drop_schema, fresh_name
from tests.redis_cluster import RedisClusterInfo
from tests.redis_cluster import redis_cluster as redis_cluster
from wxsegment.delivery import (
    DeliveryJournal,
    PostgresJournal,
    RedisJournal,
    SQLiteJournal,
)
from wxsegment.quota import PostgresLedger, QuotaLedger, RedisLedger, SQLiteLedger
from wxsegment.testing.simulation import (
    DeliverySystem,
    JournalFactory,
    LedgerFactory,
    SimulationConfig,
    SimulationResult,
    memory_ledgers,
    simulate,
)

pytestmark = pytest.mark.simulation

CONFIG = SimulationConfig()


def delivery_system(journals: JournalFactory | None = None) -> DeliverySystem:
    """The library's delivery; batches it leaves to the operator (attempted in an ended month,
    outcome unknown) are settled by hand in the fault-free resumes, as docs/delivery.md says."""
    return DeliverySystem(journals, operator_settles=True)


def seeds(default: int) -> range:
    """The seeds to run: one to replay, a chosen count, or the CI default."""
    one = os.environ.get("WXSEGMENT_SIM_SEED")
    if one is not None:
        return range(int(one), int(one) + 1)
    start = int(os.environ.get("WXSEGMENT_SIM_SEED_START", "0"))
    count = int(os.environ.get("WXSEGMENT_SIM_SEEDS", "0")) or default
    return range(start, start + count)


def assert_exercised(results: list[SimulationResult]) -> None:
    """The seeds did crash runs, inject faults and push, so passing them means something."""
    if len(results) < 10:
        return  # a replay of one seed need not have done all three
    assert sum(r.crashes for r in results) > 0
    assert sum(r.faults for r in results) > 0
    assert sum(r.pushes for r in results) > 0


def test_memory_ledger() -> None:
    """Every invariant holds over the seeds on the in-memory ledger and journal."""
    results = [
        simulate(seed, CONFIG, memory_ledgers(), system=delivery_system()) for seed in seeds(300)
    ]
    assert_exercised(results)


@pytest.mark.parametrize("seed", [1249, 1442])
def test_seeds_that_once_failed(seed: int) -> None:
    """1442: a retry loop carried a batch accepted after midnight under November's reservation,
    until every attempt was bound by the month's end. 1249: a deadline on a token replay hid the
    earlier ambiguous attempt from the retry chain, and its batch was released and sent again."""
    simulate(seed, CONFIG, memory_ledgers(), system=delivery_system())


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in RAM when the system has one: SQLite's fsyncs cost nothing there."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="wxsegment-sim-") as folder:
        yield Path(folder)


def test_sqlite_ledger(fast_dir: Path) -> None:
    """Every invariant holds over the seeds on SQLite (ledger and journal in one file a seed)."""
    results = []
    for seed in seeds(150):
        path = fast_dir / f"{seed}.sqlite3"

        # A simulated crash kills a process, not the machine: WAL with NORMAL survives that.
        def ledgers(account: str, path: Path = path) -> QuotaLedger:
            return SQLiteLedger(path, account=account, durable=False)

        def journals(account: str, path: Path = path) -> DeliveryJournal:
            return SQLiteJournal(path, account=account)

        results.append(simulate(seed, CONFIG, ledgers, system=delivery_system(journals)))
    assert_exercised(results)


@pytest.fixture
def postgres() -> Iterator[tuple[LedgerFactory, JournalFactory]]:
    """Ledger and journal handles on one fresh PostgreSQL schema; each seed its own account."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    schema = fresh_name("sim")
    # A simulated crash kills a client process, never the server: commits need not wait for
    # the server's disk.
    dsn = PG_DSN + ("&" if "?" in PG_DSN else "?") + "options=-c%20synchronous_commit%3Doff"

    def ledgers(account: str) -> QuotaLedger:
        return PostgresLedger(dsn, account=account, schema=schema)

    def journals(account: str) -> DeliveryJournal:
        return PostgresJournal(dsn, account=account, schema=schema)

    try:
        yield ledgers, journals
    finally:
        drop_schema(schema)


@pytest.fixture
def redis() -> Iterator[tuple[LedgerFactory, JournalFactory]]:
    """Ledger and journal handles under one fresh Redis prefix; each seed its own account."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    prefix = fresh_name("sim")

    def ledgers(account: str) -> QuotaLedger:
        # The shared test server is disposable and not configured to persist: a simulated
        # crash kills a client, never the server, so durability is not what is tested here.
        return RedisLedger(REDIS_URL, account=account, prefix=prefix, require_durable=False)

    def journals(account: str) -> DeliveryJournal:
        return RedisJournal(REDIS_URL, account=account, prefix=prefix)

    try:
        yield ledgers, journals
    finally:
        delete_prefix(prefix)


def test_postgres(postgres: tuple[LedgerFactory, JournalFactory]) -> None:
    """Every invariant holds over fewer seeds on a real PostgreSQL server."""
    ledgers, journals = postgres
    system = delivery_system(journals)
    assert_exercised([simulate(seed, CONFIG, ledgers, system=system) for seed in seeds(5)])


def test_redis(redis: tuple[LedgerFactory, JournalFactory]) -> None:
    """Every invariant holds over fewer seeds on a real Redis server."""
    ledgers, journals = redis
    system = delivery_system(journals)
    assert_exercised([simulate(seed, CONFIG, ledgers, system=system) for seed in seeds(12)])


@pytest.mark.slow
def test_redis_cluster(redis_cluster: RedisClusterInfo) -> None:
    """Every invariant holds over a few seeds on a real 3-master Redis Cluster."""
    prefix = fresh_name("simc")
    # One cluster client for every simulated process: cluster discovery per handle is slow.
    shared = redis_cluster.client()

    def ledgers(account: str) -> QuotaLedger:
        return RedisLedger(shared, account=account, prefix=prefix)

    def journals(account: str) -> DeliveryJournal:
        return RedisJournal(shared, account=account, prefix=prefix)

    system = delivery_system(journals)
    try:
        for seed in seeds(5):
            simulate(seed, CONFIG, ledgers, system=system)
    finally:
        shared.close()
        redis_cluster.delete_matching(f"*{prefix}*")
