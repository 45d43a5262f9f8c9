"""Processes sharing a PostgreSQL schema or a Redis prefix never overbook; SIGKILL is safe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.quota import _checks
from tests.quota.servers import delete_prefix, drop_schema, fresh_name
from tests.redis_cluster import RedisClusterInfo


@pytest.fixture
def postgres_spec() -> Iterator[tuple[str, ...]]:
    """A spec naming a fresh PostgreSQL schema, dropped afterwards."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    schema = fresh_name("pgc")
    yield ("postgres", PG_DSN, schema)
    drop_schema(schema)


@pytest.fixture
def redis_spec() -> Iterator[tuple[str, ...]]:
    """A spec naming a fresh Redis key prefix, deleted afterwards."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    prefix = fresh_name("rdc")
    yield ("redis", REDIS_URL, prefix)
    delete_prefix(prefix)


def test_processes_never_overbook_postgres(postgres_spec: tuple[str, ...]) -> None:
    """Four processes reserving overlapping audiences in one schema never exceed the limit."""
    _checks.check_no_overbooking(postgres_spec, "acct")


def test_sigkill_mid_reserve_leaves_postgres_consistent(postgres_spec: tuple[str, ...]) -> None:
    """A process killed during a large reserve leaves each follower fully reserved or absent."""
    _checks.check_crash_consistency(postgres_spec, "acct", size=100_000)


def test_processes_never_overbook_redis(redis_spec: tuple[str, ...]) -> None:
    """Four processes reserving overlapping audiences under one prefix never exceed the limit."""
    _checks.check_no_overbooking(redis_spec, "acct")


def test_sigkill_mid_reserve_leaves_redis_consistent(redis_spec: tuple[str, ...]) -> None:
    """A process killed during a large reserve leaves each follower fully reserved or absent."""
    _checks.check_crash_consistency(redis_spec, "acct", size=300_000)


def test_processes_never_overbook_redis_cluster(redis_cluster: RedisClusterInfo) -> None:
    """Four processes reserving overlapping audiences on a Redis Cluster never exceed the limit."""
    prefix = fresh_name("rclc")
    try:
        _checks.check_no_overbooking(("redis_cluster", redis_cluster.url, prefix), "acct")
    finally:
        redis_cluster.delete_matching(f"*{prefix}*")


def test_sigkill_mid_reserve_leaves_redis_cluster_consistent(
    redis_cluster: RedisClusterInfo,
) -> None:
    """A process killed during a large reserve on a cluster leaves each follower whole or absent."""
    prefix = fresh_name("rclk")
    try:
        spec = ("redis_cluster", redis_cluster.url, prefix)
        _checks.check_crash_consistency(spec, "acct", size=200_000)
    finally:
        redis_cluster.delete_matching(f"*{prefix}*")
