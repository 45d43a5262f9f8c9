"""The Redis test harness starts a real cluster and real single nodes with the settings asked."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.quota.servers import fresh_name
from tests.redis_cluster import RedisClusterInfo, RedisServerInfo, redis_server

AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)


def test_cluster_has_three_masters_covering_every_slot(redis_cluster: RedisClusterInfo) -> None:
    """The fixture's cluster is healthy, with three masters sharing all 16384 slots."""
    client = redis_cluster.client()
    try:
        info = client.cluster_info()
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == 16384
        assert len(client.get_primaries()) == 3
        assert {node.port for node in client.get_primaries()} == set(redis_cluster.ports)
    finally:
        client.close()


def test_cluster_ledger_spreads_buckets_over_every_master(redis_cluster: RedisClusterInfo) -> None:
    """A RedisLedger on the cluster writes keys on all three masters (it really is sharded)."""
    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rclspread")
    ledger = RedisLedger(redis_cluster.url, prefix=prefix, cluster=True)
    try:
        ledger.reserve("c1", [f"o{i}" for i in range(1000)], at=AT)
        holders = set()
        for port in redis_cluster.ports:
            node = RedisServerInfo(port).client()
            try:
                if any(True for _ in node.scan_iter(match=f"*{prefix}*")):
                    holders.add(port)
            finally:
                node.close()
        assert holders == set(redis_cluster.ports)
    finally:
        ledger.close()
        redis_cluster.delete_matching(f"*{prefix}*")


def test_single_node_runs_with_the_configuration_asked() -> None:
    """redis_server applies the given directives over the durable defaults."""
    with redis_server(appendonly="no", maxmemory_policy="allkeys-lru") as server:
        client = server.client(decode_responses=True)
        try:
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        finally:
            client.close()


def test_cluster_ledger_reloads_flushed_scripts_and_runs_each_call_once(
    redis_cluster: RedisClusterInfo,
) -> None:
    """After SCRIPT FLUSH on every master, a reserve still grants each follower exactly once."""
    from wxsegment.quota import RedisLedger

    prefix = fresh_name("rclflush")
    ledger = RedisLedger(redis_cluster.url, prefix=prefix, cluster=True, limit=2)
    try:
        audience = [f"o{i}" for i in range(300)]
        assert len(ledger.reserve("c1", audience, at=AT).granted) == 300
        for port in redis_cluster.ports:
            node = RedisServerInfo(port).client()
            try:
                node.script_flush()
            finally:
                node.close()
        again = ledger.reserve("c2", audience, at=AT)
        assert (len(again.granted), again.already) == (300, ())
        assert ledger.usage("o7", at=AT).pending == 2
    finally:
        ledger.close()
        redis_cluster.delete_matching(f"*{prefix}*")
