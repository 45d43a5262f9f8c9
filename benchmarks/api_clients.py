"""Benchmark: Client, AsyncClient and wechatpy's WeChatClient against a loopback WeChat.

Tags N followers (``batchtagging``, 50 per call) and fetches their profiles
(``user/info/batchget``, 100 per call) with each client, against the same server process, with
no added latency and with a per-call latency (20 ms by default, a round trip to WeChat).

    PYTHONPATH=src python benchmarks/api_clients.py [--followers 100000] [--latency-ms 20]

The server is `wxsegment.testing.FakeWeChat` (its ASGI app, with ``FakeConfig(latency=...)``)
under uvicorn in its own process, so that it does not compete with the clients for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx

from wxsegment.api import AsyncClient, Client

APPID = "wxbench000000001"
SECRET = "bench-secret"


def _app(followers: int, latency: float) -> tuple[Any, list[str]]:
    from wxsegment.testing import FakeConfig, FakeWeChat

    fake = FakeWeChat(appid=APPID, secret=SECRET, config=FakeConfig(latency=latency))
    return fake.asgi, list(fake.add_followers(followers))


def _serve(port: int, followers: int, latency: float, ready: Any, openids_out: Any) -> None:
    import uvicorn

    app, openids = _app(followers, latency)
    openids_out.put(openids)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", lifespan="off", backlog=4096
    )
    server = uvicorn.Server(config)
    ready.set()
    server.run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_client(base_url: str, openids: list[str]) -> dict[str, float]:
    with Client(APPID, SECRET, base_url=base_url, mass_per_minute=None) as client:
        tag = client.tags.create(f"c{time.monotonic_ns() % 10**9}")
        start = time.perf_counter()
        client.tags.tag_users(tag.id, openids)
        tagged = time.perf_counter() - start
        start = time.perf_counter()
        users = client.users.get_many(openids)
        fetched = time.perf_counter() - start
    assert len(users) == len(openids)
    return {"tag": tagged, "info": fetched}


def run_async(base_url: str, openids: list[str], concurrency: int, pools: int) -> dict[str, float]:
    async def main() -> dict[str, float]:
        async with AsyncClient(
            APPID,
            SECRET,
            base_url=base_url,
            concurrency=concurrency,
            pools=pools,
            mass_per_minute=None,
        ) as client:
            tag = await client.tags.create(f"a{time.monotonic_ns() % 10**9}")
            start = time.perf_counter()
            await client.tags.tag_users(tag.id, openids)
            tagged = time.perf_counter() - start
            start = time.perf_counter()
            users = await client.users.get_many(openids)
            fetched = time.perf_counter() - start
        assert len(users) == len(openids)
        return {"tag": tagged, "info": fetched}

    return asyncio.run(main())


def run_wechatpy(base_url: str, openids: list[str]) -> dict[str, float]:
    from wechatpy import WeChatClient

    with Client(APPID, SECRET, base_url=base_url) as ours:
        token = ours.access_token()
    client = WeChatClient(APPID, SECRET, access_token=token, timeout=30)
    client.API_BASE_URL = base_url + "/cgi-bin/"
    tag = client.tag.create(f"w{time.monotonic_ns() % 10**9}")
    start = time.perf_counter()
    for chunk in _chunks(openids, 50):
        client.tag.tag_user(tag["id"], chunk)
    tagged = time.perf_counter() - start
    start = time.perf_counter()
    users: list[Any] = []
    for chunk in _chunks(openids, 100):
        users.extend(client.user.get_batch(chunk))
    fetched = time.perf_counter() - start
    assert len(users) == len(openids)
    return {"tag": tagged, "info": fetched}


def scenario(followers: int, latency: float, concurrency: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ready, queue = ctx.Event(), ctx.Queue()
    server = ctx.Process(target=_serve, args=(port, followers, latency, ready, queue), daemon=True)
    server.start()
    openids: list[str] = queue.get(timeout=300)
    ready.wait(60)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base_url + "/cgi-bin/tags/get", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    calls = {"tag": -(-followers // 50), "info": -(-followers // 100)}
    runs: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("wechatpy WeChatClient", lambda: run_wechatpy(base_url, openids)),
        ("Client", lambda: run_client(base_url, openids)),
        (
            f"AsyncClient ({concurrency} in flight, 1 pool)",
            lambda: run_async(base_url, openids, concurrency, 1),
        ),
        (
            f"AsyncClient ({concurrency} in flight, 4 pools: default)",
            lambda: run_async(base_url, openids, concurrency, 4),
        ),
        (
            f"AsyncClient ({concurrency} in flight, {concurrency} pools)",
            lambda: run_async(base_url, openids, concurrency, concurrency),
        ),
    ]
    print(
        f"\n== {followers:,} followers, latency {latency * 1000:.0f} ms per call "
        f"({calls['tag']} tagging calls, {calls['info']} batchget calls)"
    )
    print(
        f"{'client':48} {'tag s':>8} {'info s':>8} {'ms/call':>8} {'calls/s':>8} {'vs wechatpy':>11}"
    )
    baseline: float | None = None
    try:
        for name, run in runs:
            times = run()
            total = times["tag"] + times["info"]
            per_call = total / (calls["tag"] + calls["info"])
            baseline = baseline or total
            print(
                f"{name:48} {times['tag']:8.2f} {times['info']:8.2f} {per_call * 1000:8.3f} "
                f"{1 / per_call:8.0f} {baseline / total:10.2f}x"
            )
    finally:
        server.terminate()
        server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    scenario(args.followers, 0.0, args.concurrency)
    scenario(args.followers, args.latency_ms / 1000, args.concurrency)


if __name__ == "__main__":
    main()
