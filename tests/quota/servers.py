"""Ledger factories over the real PostgreSQL and Redis servers, each on an isolated store.

Each maker yields ``make(account="default", limit=4)``; every ledger it makes shares one fresh
PostgreSQL schema or Redis key prefix, which is dropped (or deleted) on exit. The makers skip
the test, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Final

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.redis_cluster import RedisClusterInfo
from wxsegment.quota import QuotaLedger

LedgerFactory = Callable[..., QuotaLedger]

#: Options of every RedisLedger on the shared test Redis. That server may run without
#: persistence (it does on the development machines), so these ledgers opt out of the
#: durability check explicitly; the check itself is tested against servers the tests start.
SHARED_REDIS: Final = {"require_durable": False}


def fresh_name(kind: str) -> str:
    """A unique schema or prefix name for one test."""
    return f"wxs_test_{kind}_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    """Drop a test schema and everything in it."""
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def delete_prefix(prefix: str) -> None:
    """Delete every Redis key of a test prefix."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
    finally:
        client.close()


@contextlib.contextmanager
def postgres_ledger_maker() -> Iterator[LedgerFactory]:
    """PostgresLedgers sharing one fresh schema, dropped at exit."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    from wxsegment.quota import PostgresLedger

    schema = fresh_name("pg")
    made: list[PostgresLedger] = []

    def make(account: str = "default", limit: int = 4) -> QuotaLedger:
        ledger = PostgresLedger(PG_DSN, account=account, limit=limit, schema=schema)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            ledger.close()
        drop_schema(schema)


@contextlib.contextmanager
def redis_ledger_maker() -> Iterator[LedgerFactory]:
    """RedisLedgers sharing one fresh key prefix, deleted at exit."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rd")
    made: list[RedisLedger] = []

    def make(account: str = "default", limit: int = 4) -> QuotaLedger:
        ledger = RedisLedger(REDIS_URL, account=account, limit=limit, prefix=prefix, **SHARED_REDIS)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            ledger.close()
        delete_prefix(prefix)


@contextlib.contextmanager
def redis_cluster_ledger_maker(cluster: RedisClusterInfo) -> Iterator[LedgerFactory]:
    """RedisLedgers on the test Redis Cluster sharing one fresh key prefix, deleted at exit."""
    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rcl")
    made: list[RedisLedger] = []

    def make(account: str = "default", limit: int = 4) -> QuotaLedger:
        ledger = RedisLedger(cluster.url, account=account, limit=limit, prefix=prefix, cluster=True)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            ledger.close()
        cluster.delete_matching(f"*{prefix}*")
