"""Benchmark: pulling every follower from WeChat into a SQLite follower store.

FakeWeChat (its ASGI app with ``FakeConfig(latency=...)``) serves N followers under uvicorn in
its own process; each puller writes into its own fresh `SQLiteFollowerStore`:

- ``async_sync_followers`` over `AsyncClient` (pages read one after another, each page's
  ``user/info/batchget`` calls concurrently);
- ``sync_followers`` over the blocking `Client`;
- wechatpy 1.8.18 doing the same pull by hand (``user.iter_followers``-style paging with
  ``user.get_followers`` and ``user.get_batch``), converted and written with the same store.

    PYTHONPATH=src python benchmarks/sync_followers.py [--followers 1000000] [--latency-ms 20]
        [--wechatpy-followers 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from wxsegment.api import AsyncClient, Client, User
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.tagging import async_sync_followers, follower_from_user, sync_followers

APPID = "wxbench000000001"
SECRET = "bench-secret"


def _serve(port: int, followers: int, latency: float, ready: Any) -> None:
    import uvicorn

    from wxsegment.testing import FakeConfig, FakeWeChat

    fake = FakeWeChat(appid=APPID, secret=SECRET, config=FakeConfig(latency=latency))
    fake.add_followers(followers)
    config = uvicorn.Config(
        fake.asgi, host="127.0.0.1", port=port, log_level="error", lifespan="off", backlog=4096
    )
    ready.set()
    uvicorn.Server(config).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(followers: int, latency: float) -> tuple[Any, str]:
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, followers, latency, ready), daemon=True)
    server.start()
    ready.wait(600)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        try:
            httpx.get(base_url + "/cgi-bin/tags/get", timeout=5)
            return server, base_url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_async(base_url: str, folder: Path, concurrency: int) -> float:
    store = SQLiteFollowerStore(folder / "async.sqlite3")

    async def main() -> None:
        async with AsyncClient(
            APPID, SECRET, base_url=base_url, concurrency=concurrency, mass_per_minute=None
        ) as client:
            await async_sync_followers(client, store)

    start = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def run_blocking(base_url: str, folder: Path) -> float:
    store = SQLiteFollowerStore(folder / "blocking.sqlite3")
    start = time.perf_counter()
    with Client(APPID, SECRET, base_url=base_url, mass_per_minute=None) as client:
        sync_followers(client, store)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def run_wechatpy(base_url: str, folder: Path) -> float:
    from wechatpy import WeChatClient

    with Client(APPID, SECRET, base_url=base_url) as ours:
        token = ours.access_token()
    client = WeChatClient(APPID, SECRET, access_token=token, timeout=60)
    client.API_BASE_URL = base_url + "/cgi-bin/"
    store = SQLiteFollowerStore(folder / "wechatpy.sqlite3")
    start = time.perf_counter()
    cursor = None
    while True:
        page = client.user.get_followers(cursor)
        openids = page.get("data", {}).get("openid", [])
        if not openids:
            break
        followers = []
        for index in range(0, len(openids), 100):
            for item in client.user.get_batch(openids[index : index + 100]):
                followers.append(follower_from_user(User.from_wechat(item), {}))
        store.upsert(followers)
        store.set_next_openid(page.get("next_openid") or None)
        if not page.get("next_openid") or page.get("next_openid") == cursor:
            break
        cursor = page["next_openid"]
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def scenario(followers: int, latency: float, concurrency: int, wechatpy: bool) -> None:
    server, base_url = _start(followers, latency)
    print(f"\n== {followers:,} followers, {latency * 1000:.0f} ms per call")
    print(f"{'puller':44} {'seconds':>9} {'followers/s':>12}")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            rows = [
                (
                    f"async_sync_followers ({concurrency} in flight)",
                    run_async(base_url, folder, concurrency),
                )
            ]
            if wechatpy:
                rows.append(("sync_followers (blocking Client)", run_blocking(base_url, folder)))
                rows.append(
                    ("wechatpy 1.8.18, same pull and store", run_wechatpy(base_url, folder))
                )
            for name, seconds in rows:
                print(f"{name:44} {seconds:9.2f} {followers / seconds:12,.0f}")
            if wechatpy:
                print(f"async_sync_followers vs wechatpy: {rows[-1][1] / rows[0][1]:.1f}x faster")
    finally:
        server.terminate()
        server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--wechatpy-followers", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    scenario(args.wechatpy_followers, latency, args.concurrency, wechatpy=True)
    scenario(args.followers, latency, args.concurrency, wechatpy=False)


if __name__ == "__main__":
    main()
