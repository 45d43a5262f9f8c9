"""Token stores serialize refreshes: one fetch per expiry across threads, processes and hosts."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests._services import REDIS_URL, unreachable
from tests.api import _token_procs
from tests.quota.servers import delete_prefix, fresh_name
from tests.redis_cluster import RedisClusterInfo
from tests.redis_cluster import redis_cluster as redis_cluster
from wxsegment.api import Client, MemoryTokenStore, RedisTokenStore, SharedTokenStore
from wxsegment.testing import FakeConfig, FakeWeChat

uvicorn = pytest.importorskip("uvicorn")

TOKEN_PATHS = ("/cgi-bin/token", "/cgi-bin/stable_token")


def token_fetches(wechat: FakeWeChat) -> int:
    """Token requests the fake answered with a token."""
    return sum(c.path in TOKEN_PATHS and c.errcode is None for c in wechat.calls)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the test Redis, its keys deleted afterwards."""
    reason = unreachable(REDIS_URL)
    if reason:
        pytest.skip(f"Redis: {reason}")
    prefix = fresh_name("tok") + ":"
    yield prefix
    delete_prefix(prefix)


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """A FakeWeChat whose replaced tokens die at once, slow enough for refreshes to overlap."""
    wechat = FakeWeChat(config=FakeConfig(token_grace=0, latency=0.05))
    config = uvicorn.Config(
        wechat.asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield wechat, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_every_store_is_shared() -> None:
    """Memory, file and Redis stores all offer the refresh lock the clients look for."""
    for name in ("MemoryTokenStore", "FileTokenStore", "RedisTokenStore"):
        import wxsegment.api

        assert hasattr(getattr(wxsegment.api, name), "refresh_lock")
    assert isinstance(MemoryTokenStore(), SharedTokenStore)


@pytest.mark.parametrize("server", ["redis", "redis_cluster"])
@pytest.mark.parametrize("endpoint", ["classic", "stable"])
def test_processes_fetch_one_token_per_expiry(
    served: tuple[FakeWeChat, str], endpoint: str, server: str, request: pytest.FixtureRequest
) -> None:
    """Four processes on one RedisTokenStore: one fetch per expiry, no invalidated token used."""
    wechat, base_url = served
    if server == "redis_cluster":
        cluster: RedisClusterInfo = request.getfixturevalue("redis_cluster")
        url = cluster.url
        prefix = fresh_name("tokc") + ":"
        request.addfinalizer(lambda: cluster.delete_matching(f"*{prefix}*"))
    else:
        url, prefix = REDIS_URL, request.getfixturevalue("redis_prefix")
    setup = {
        "redis_url": url,
        "cluster": server == "redis_cluster",
        "prefix": prefix,
        "base_url": base_url,
        "appid": wechat.appid,
        "secret": wechat.secret,
        "endpoint": endpoint,
    }
    hosts, rounds = 4, 3
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(hosts + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_token_procs.refresh_rounds,
            args=(setup, n % 2 == 1, barrier, rounds, results),
        )
        for n in range(hosts)
    ]
    for process in processes:
        process.start()
    try:
        for _ in range(rounds):
            barrier.wait(120)
            barrier.wait(120)
            wechat.expire_tokens()
        failures = [results.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
    assert failures == [None] * hosts
    assert token_fetches(wechat) == rounds
    errcodes = [c.errcode for c in wechat.calls if c.path not in TOKEN_PATHS]
    # Each host meets each expiry once (42001) and never a token replaced under it (40001).
    assert errcodes.count(42001) == hosts * (rounds - 1)
    assert 40001 not in errcodes


def test_a_killed_holder_frees_the_lock_after_its_lease(
    served: tuple[FakeWeChat, str], redis_prefix: str
) -> None:
    """A live holder keeps renewing its lease; once SIGKILLed, the lease ends and others go."""
    wechat, base_url = served
    key = f"classic:{wechat.appid}"
    lease = 0.5
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(
        target=_token_procs.hold_lock, args=(REDIS_URL, redis_prefix, key, lease, ready)
    )
    holder.start()
    store = RedisTokenStore.from_url(REDIS_URL, prefix=redis_prefix, lease=lease, lock_wait=30)
    try:
        assert ready.wait(60)
        impatient = RedisTokenStore.from_url(
            REDIS_URL, prefix=redis_prefix, lease=lease, lock_wait=4 * lease
        )
        with pytest.raises(TimeoutError), impatient.refresh_lock(key):
            pass
        assert store._redis.exists(store.lock_prefix + key)
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(30)
        client = Client(
            wechat.appid,
            wechat.secret,
            base_url=base_url,
            token_store=store,
            token_endpoint="classic",
        )
        with client:
            client.tags.list()
        assert token_fetches(wechat) == 1
        assert not store._redis.exists(store.lock_prefix + key)
    finally:
        if holder.is_alive():
            holder.kill()
        store._redis.close()


def test_redis_lock_is_released_only_by_its_owner(redis_prefix: str) -> None:
    """A holder whose lease passed to another host neither frees nor extends that host's lock."""
    store = RedisTokenStore.from_url(REDIS_URL, prefix=redis_prefix, lease=0.3)
    name = store.lock_prefix + "k"
    try:
        with store.refresh_lock("k"):
            assert store._redis.pttl(name) > 0
            store._redis.set(name, "another-host", px=60_000)
            time.sleep(0.3)  # let the renewer find the lock gone to someone else
        assert store._redis.get(name) == b"another-host"
        # Renewing it would have cut its expiry to this store's 0.3 s lease.
        assert store._redis.pttl(name) > 30_000
    finally:
        store._redis.close()


def test_redis_lock_keys_stay_apart_from_tokens(redis_prefix: str) -> None:
    """The lock lives under its own prefix; a bad lease or wait is refused."""
    store = RedisTokenStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        assert store.lock_prefix == redis_prefix + "refresh-lock:"
        with store.refresh_lock("k"):
            assert store.get("k") is None
        bad_values = [
            ({"lease": 0}, ValueError),
            ({"lock_wait": -1.0}, ValueError),
            ({"lease": float("nan")}, ValueError),
            ({"lock_prefix": "p"}, ValueError),
            ({"lease": True}, TypeError),
            ({"lock_wait": "60"}, TypeError),
        ]
        for bad, error in bad_values:
            with pytest.raises(error, match=r"lease|lock_wait|lock_prefix"):
                RedisTokenStore(store._redis, prefix="p", **bad)
        assert "refresh-lock" not in repr(store)
    finally:
        store._redis.close()


def test_clients_sharing_a_memory_store_fetch_once() -> None:
    """Clients with their own locks but one MemoryTokenStore fetch a single classic token."""
    wechat = FakeWeChat(config=FakeConfig(token_grace=0))

    def slow_tokens(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/token":
            time.sleep(0.05)
        return wechat.handler(request)

    store = MemoryTokenStore()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run_one() -> None:
        client = Client(
            wechat.appid,
            wechat.secret,
            token_store=store,
            token_endpoint="classic",
            http_client=httpx.Client(transport=httpx.MockTransport(slow_tokens)),
        )
        barrier.wait()
        try:
            client.tags.list()
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert token_fetches(wechat) == 1


def test_a_failed_release_leaves_the_lease_to_expire(redis_prefix: str) -> None:
    """When Redis fails at release time, the refresh still succeeds; the lease runs out alone."""
    store = RedisTokenStore.from_url(REDIS_URL, prefix=redis_prefix, lease=0.3)
    name = store.lock_prefix + "k"

    def broken(**_: object) -> int:
        raise ConnectionError("Redis went away")

    try:
        store._release = broken
        with store.refresh_lock("k"):
            pass
        assert store._redis.get(name) is not None
        assert 0 < store._redis.pttl(name) <= 300
    finally:
        store._redis.close()


def test_a_cancelled_async_refresh_gives_the_store_lock_back() -> None:
    """An AsyncClient task cancelled while waiting for the store's lock does not keep it."""
    import asyncio

    from wxsegment.api import AsyncClient

    wechat = FakeWeChat()
    gate = threading.Lock()
    entering, entered = threading.Event(), threading.Event()

    class Gate:
        """A lock held through a class (no generator for the garbage collector to close)."""

        def __enter__(self) -> None:
            entering.set()
            # Bounded, so that a kept lock fails this test instead of hanging it.
            if not gate.acquire(timeout=20):
                raise TimeoutError("the gate stayed locked")
            entered.set()

        def __exit__(self, *exc_info: object) -> None:
            gate.release()

    class Watched(MemoryTokenStore):
        def refresh_lock(self, key: str) -> Gate:
            return Gate()

    client = AsyncClient(
        wechat.appid,
        wechat.secret,
        token_store=Watched(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler)),
    )

    async def main() -> None:
        gate.acquire()
        task = asyncio.ensure_future(client.access_token())
        await asyncio.to_thread(entering.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        entering.clear()
        gate.release()
        # The cancelled refresh's thread now takes the lock after all.
        await asyncio.to_thread(entered.wait, 30)
        # Were it kept, this would never finish.
        assert await asyncio.wait_for(client.access_token(), timeout=10)
        await client.aclose()

    asyncio.run(main())
