"""Real Redis servers for tests: a 3-master Redis Cluster, and single nodes with chosen settings.

Cluster tests take the session-scoped ``redis_cluster`` fixture (import it into a conftest or
test module: ``from tests.redis_cluster import redis_cluster``). It starts three
``redis-server`` masters on free loopback ports, data in a temporary directory, joins them
with ``CLUSTER ADDSLOTS`` and ``CLUSTER MEET``, waits until every node reports
``cluster_state:ok``, and stops the servers and deletes their data at the end of the session.
It skips, saying why, when ``redis-server`` is not installed. Nodes run with
``appendonly yes`` and ``appendfsync everysec``, so stores that check durability accept them.

    def test_something(redis_cluster: RedisClusterInfo) -> None:
        client = redis_cluster.client()  # a redis.cluster.RedisCluster
        ...

Tests share the cluster: give each test its own key prefix and delete its keys afterwards
(`RedisClusterInfo.delete_matching`). `redis_server` starts one plain node with any
configuration (e.g. persistence off) for tests of server settings.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = [
    "RedisClusterInfo",
    "RedisServerInfo",
    "redis_cluster",
    "redis_server",
    "start_redis_cluster",
]

HOST = "127.0.0.1"
_SLOTS = 16384
_START_TIMEOUT = 30.0
# Redis Cluster talks between nodes on the client port + 10000.
_BUS_OFFSET = 10000

#: Settings of every node the harness starts unless a caller overrides them.
DURABLE: Mapping[str, str] = {"appendonly": "yes", "appendfsync": "everysec", "save": ""}


@dataclass(frozen=True)
class RedisServerInfo:
    """A running single Redis node: where it listens."""

    port: int

    @property
    def url(self) -> str:
        """A ``redis://`` URL of the node (database 0)."""
        return f"redis://{HOST}:{self.port}/0"

    def client(self, **options: Any) -> redis.Redis:
        """A new ``redis.Redis`` on the node; the caller closes it."""
        import redis

        return redis.Redis(host=HOST, port=self.port, **options)


@dataclass(frozen=True)
class RedisClusterInfo:
    """A running Redis Cluster: its master nodes' ports, startup nodes and a URL."""

    ports: tuple[int, ...]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of every master, for ``redis.cluster.ClusterNode``."""
        return [(HOST, port) for port in self.ports]

    @property
    def url(self) -> str:
        """A ``redis://`` URL of one node; ``RedisCluster.from_url`` discovers the rest."""
        return f"redis://{HOST}:{self.ports[0]}/0"

    def client(self, **options: Any) -> redis.cluster.RedisCluster:
        """A new ``redis.cluster.RedisCluster`` on the cluster; the caller closes it.

        Its ``close`` also closes the nodes' pooled sockets, which redis-py leaves to the
        garbage collector (a ResourceWarning, an error under ``filterwarnings = error``).
        """
        from redis.cluster import ClusterNode, RedisCluster

        class ClosingCluster(RedisCluster):
            def close(self) -> None:
                for node in self.get_nodes():
                    if node.redis_connection is not None:
                        node.redis_connection.connection_pool.disconnect()
                super().close()

        nodes = [ClusterNode(host, port) for host, port in self.startup_nodes]
        return ClosingCluster(startup_nodes=nodes, **options)

    def delete_matching(self, pattern: str) -> None:
        """Delete every key matching ``pattern`` (a SCAN pattern) on every master."""
        for port in self.ports:
            node = RedisServerInfo(port).client()
            try:
                keys = list(node.scan_iter(match=pattern, count=10_000))
                # One key per call: a node refuses a multi-key DEL across slots.
                for key in keys:
                    node.delete(key)
            finally:
                node.close()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(cluster: bool) -> int:
    """A loopback port nobody listens on (and, for a cluster node, its bus port too)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = int(probe.getsockname()[1])
        if not cluster or (port + _BUS_OFFSET < 65536 and _port_is_free(port + _BUS_OFFSET)):
            return port
    raise RuntimeError("no free loopback port pair for a Redis Cluster node")


def _require_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (needed to start test Redis servers)")
    return binary


def _launch(
    binary: str, port: int, directory: Path, config: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True)
    arguments = [binary, "--port", str(port), "--bind", HOST, "--dir", str(directory)]
    arguments += ["--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
    arguments += ["--logfile", str(directory / "redis.log")]
    for name, value in config.items():
        arguments += [f"--{name}", value]
    return subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(check: Any, what: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode} ({what})")
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def redis_server(**config: str) -> Iterator[RedisServerInfo]:
    """Start one plain Redis node with ``config`` (e.g. ``appendonly="no"``); stop it at exit.

    Names are redis.conf directives with ``_`` for ``-``; the harness defaults (`DURABLE`)
    apply to whatever is not given. Skips the test when ``redis-server`` is missing.
    """
    binary = _require_binary()
    settings = {**DURABLE, **{name.replace("_", "-"): value for name, value in config.items()}}
    with tempfile.TemporaryDirectory(prefix="wxs-redis-") as root:
        port = _free_port(cluster=False)
        process = _launch(binary, port, Path(root) / str(port), settings)
        info = RedisServerInfo(port)
        try:
            _wait_for(lambda: _ping(info), f"redis-server on port {port}", [process])
            yield info
        finally:
            _stop([process])


def _ping(info: RedisServerInfo) -> bool:
    client = info.client(socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _cluster_ready(ports: tuple[int, ...]) -> bool:
    """Every node is ok, knows all the others, and they agree on epochs and slot owners.

    A fresh cluster first resolves its nodes' equal config epochs; a client connecting before
    that settles may see its slot map change under it.
    """
    epochs: set[str] = set()
    own_epochs: set[str] = set()
    layouts: set[frozenset[str]] = set()
    for port in ports:
        client = RedisServerInfo(port).client(socket_timeout=1, decode_responses=True)
        try:
            # redis-py parses the reply into a dict of strings.
            info = client.execute_command("CLUSTER INFO")
            nodes = client.execute_command("CLUSTER NODES")
        finally:
            client.close()
        if info.get("cluster_state") != "ok" or info.get("cluster_known_nodes") != str(len(ports)):
            return False
        epochs.add(info.get("cluster_current_epoch"))
        own_epochs.add(info.get("cluster_my_epoch"))
        layouts.add(frozenset(f"{name}:{node['slots']}" for name, node in nodes.items()))
    return len(epochs) == 1 and len(own_epochs) == len(ports) and len(layouts) == 1


@contextlib.contextmanager
def start_redis_cluster(masters: int = 3, **config: str) -> Iterator[RedisClusterInfo]:
    """Start a Redis Cluster of ``masters`` nodes (no replicas); stop it and delete its data.

    ``config`` is applied to every node, as in `redis_server`.
    """
    binary = _require_binary()
    settings = {**DURABLE, **{name.replace("_", "-"): value for name, value in config.items()}}
    settings |= {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf"}
    settings |= {"cluster-node-timeout": "5000"}
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="wxs-redis-cluster-") as root:
        try:
            ports: list[int] = []
            while len(ports) < masters:
                port = _free_port(cluster=True)
                if port in ports:
                    continue
                ports.append(port)
                processes.append(_launch(binary, port, Path(root) / str(port), settings))
            info = RedisClusterInfo(tuple(ports))
            for port in ports:
                _wait_for(lambda p=port: _ping(RedisServerInfo(p)), f"node {port}", processes)
            _assign_slots(info)
            _wait_for(lambda: _cluster_ready(info.ports), "cluster_state:ok", processes)
            yield info
        finally:
            _stop(processes)


def _assign_slots(info: RedisClusterInfo) -> None:
    """Give each master an equal share of the slots and introduce the nodes to each other."""
    count = len(info.ports)
    for index, port in enumerate(info.ports):
        first = index * _SLOTS // count
        last = (index + 1) * _SLOTS // count - 1
        client = RedisServerInfo(port).client()
        try:
            # ADDSLOTS rather than ADDSLOTSRANGE, which needs Redis 7.
            client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
            if index:
                client.execute_command("CLUSTER MEET", HOST, info.ports[0])
        finally:
            client.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterInfo]:
    """A 3-master Redis Cluster shared by the session's tests (skips without redis-server)."""
    with start_redis_cluster() as info:
        yield info
