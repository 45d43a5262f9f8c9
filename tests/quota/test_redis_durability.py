"""RedisLedger refuses a server that can forget grants, unless the caller opts out explicitly.

Each test starts its own redis-server (free port, temporary directory) with the settings under
test; the shared test Redis is not used here.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.redis_cluster import redis_server, start_redis_cluster
from wxsegment.quota import NotDurableError

AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"appendonly": "no"}, "appendonly"),
        ({"appendfsync": "no"}, "appendfsync"),
        ({"maxmemory_policy": "allkeys-lru"}, "maxmemory-policy"),
        ({"maxmemory_policy": "allkeys-random"}, "maxmemory-policy"),
    ],
)
def test_unsafe_server_is_refused_before_any_write(config: dict[str, str], named: str) -> None:
    """No persistence, lazy fsync or an evicting policy is a NotDurableError; nothing written."""
    from wxsegment.quota import RedisLedger

    with redis_server(**config) as server:
        with pytest.raises(NotDurableError, match=named) as caught:
            RedisLedger(server.url)
        assert "require_durable=False" in str(caught.value)
        client = server.client()
        try:
            assert client.dbsize() == 0
        finally:
            client.close()


def test_unsafe_server_is_used_when_the_caller_opts_out() -> None:
    """require_durable=False accepts a server without persistence (e.g. for tests)."""
    from wxsegment.quota import RedisLedger

    with redis_server(appendonly="no") as server:
        ledger = RedisLedger(server.url, require_durable=False)
        try:
            assert ledger.reserve("c1", ["a"], at=AT).granted == ("a",)
        finally:
            ledger.close()


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"appendfsync": "always"},
        {"maxmemory_policy": "noeviction"},
        {"maxmemory_policy": "volatile-lru"},
        {"maxmemory_policy": "volatile-ttl"},
    ],
)
def test_durable_server_is_accepted(config: dict[str, str]) -> None:
    """appendonly yes with fsync always/everysec and a policy that spares keys without TTL."""
    from wxsegment.quota import RedisLedger

    with redis_server(**config) as server:
        ledger = RedisLedger(server.url)
        try:
            assert ledger.reserve("c1", ["a"], at=AT).granted == ("a",)
        finally:
            ledger.close()


def test_server_hiding_its_configuration_is_refused_unless_opted_out() -> None:
    """When CONFIG GET is refused (ACL or renamed command), durability is unknown: refused."""
    from wxsegment.quota import RedisLedger

    with redis_server() as server:
        admin = server.client()
        try:
            admin.acl_setuser(
                "app", enabled=True, nopass=True, commands=["+@all", "-config"], keys=["*"]
            )
        finally:
            admin.close()
        url = f"redis://app@127.0.0.1:{server.port}/0"
        with pytest.raises(NotDurableError, match="CONFIG"):
            RedisLedger(url)
        ledger = RedisLedger(url, require_durable=False)
        try:
            assert ledger.reserve("c1", ["a"], at=AT).granted == ("a",)
        finally:
            ledger.close()


def test_cluster_is_checked_on_every_master() -> None:
    """A cluster whose masters run without persistence is refused, naming a master."""
    from wxsegment.quota import RedisLedger

    with start_redis_cluster(appendonly="no") as cluster:
        with pytest.raises(NotDurableError, match=r"appendonly.*on 127\.0\.0\.1:\d+"):
            RedisLedger(cluster.url, cluster=True)
        ledger = RedisLedger(cluster.url, cluster=True, require_durable=False)
        try:
            assert ledger.reserve("c1", ["a", "b"], at=AT).granted == ("a", "b")
        finally:
            ledger.close()
