"""Benchmark: uploading images (``media/upload``) with AsyncClient, Client and wechatpy.

Uploads N files of 1 MiB each (100 by default) from disk to a loopback WeChat, and prints
uploads per second, MiB per second and the ratio against wechatpy 1.8.18's
``client.media.upload`` doing the same uploads one after another. The clients take turns for
``--rounds`` rounds and each keeps its best round, which damps the noise of a shared machine.
It runs twice: with no added latency, and with ``--latency-ms`` (20 by default, about a round
trip to WeChat) added by the fake to every call.

    PYTHONPATH=src python benchmarks/media_upload.py [--files 100] [--size-mib 1] [--in-flight 4]

The server is `wxsegment.testing.FakeWeChat` (its ASGI app) under uvicorn in its own process,
so that it does not compete with the clients for the GIL; it parses every multipart body and
keeps every file, as WeChat would.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from wxsegment.api import AsyncClient, Client

APPID = "wxbench000000001"
SECRET = "bench-secret"


def _serve(port: int, latency: float, ready: Any) -> None:
    import uvicorn

    from wxsegment.testing import FakeConfig, FakeWeChat

    fake = FakeWeChat(
        appid=APPID, secret=SECRET, config=FakeConfig(record_calls=False, latency=latency)
    )
    config = uvicorn.Config(
        fake.asgi, host="127.0.0.1", port=port, log_level="error", lifespan="off", backlog=4096
    )
    ready.set()
    uvicorn.Server(config).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_client(base_url: str, files: list[Path]) -> float:
    with Client(APPID, SECRET, base_url=base_url, timeout=60) as client:
        client.access_token()
        start = time.perf_counter()
        ids = [client.media.upload("image", path).media_id for path in files]
        elapsed = time.perf_counter() - start
    assert len(set(ids)) == len(files)
    return elapsed


def run_async(base_url: str, files: list[Path], in_flight: int) -> float:
    async def main() -> float:
        async with AsyncClient(APPID, SECRET, base_url=base_url, timeout=60) as client:
            await client.access_token()
            gate = asyncio.Semaphore(in_flight)

            async def one(path: Path) -> str:
                async with gate:
                    return (await client.media.upload("image", path)).media_id

            start = time.perf_counter()
            ids = await asyncio.gather(*(one(path) for path in files))
            elapsed = time.perf_counter() - start
        assert len(set(ids)) == len(files)
        return elapsed

    return asyncio.run(main())


def run_wechatpy(base_url: str, files: list[Path]) -> float:
    from wechatpy import WeChatClient

    with Client(APPID, SECRET, base_url=base_url) as ours:
        token = ours.access_token()
    client = WeChatClient(APPID, SECRET, access_token=token, timeout=60)
    client.API_BASE_URL = base_url + "/cgi-bin/"
    start = time.perf_counter()
    ids = []
    for path in files:
        with path.open("rb") as stream:
            ids.append(client.media.upload("image", stream)["media_id"])
    elapsed = time.perf_counter() - start
    assert len(set(ids)) == len(files)
    return elapsed


def _wait_until_up(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base_url + "/cgi-bin/tags/get", timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def scenario(count: int, size: int, in_flight: int, rounds: int, latency: float) -> None:
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(port, latency, ready), daemon=True)
    server.start()
    ready.wait(60)
    base_url = f"http://127.0.0.1:{port}"
    _wait_until_up(base_url)
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index in range(count):
            path = Path(folder) / f"image-{index:03d}.jpg"
            path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(size - 4))
            files.append(path)
        runs: list[tuple[str, Callable[[], float]]] = [
            ("wechatpy WeChatClient (sequential)", lambda: run_wechatpy(base_url, files)),
            ("Client (sequential)", lambda: run_client(base_url, files)),
            ("AsyncClient (1 in flight)", lambda: run_async(base_url, files, 1)),
            (f"AsyncClient ({in_flight} in flight)", lambda: run_async(base_url, files, in_flight)),
        ]
        mib = count * size / (1024 * 1024)
        print(
            f"\n== {count} uploads of {size / (1024 * 1024):g} MiB ({mib:g} MiB), "
            f"best of {rounds} rounds, latency {latency * 1000:g} ms per call"
        )
        print(f"{'client':40} {'seconds':>8} {'uploads/s':>10} {'MiB/s':>8} {'vs wechatpy':>11}")
        try:
            best = {name: run() for name, run in runs}
            for _ in range(rounds - 1):
                for name, run in runs:
                    best[name] = min(best[name], run())
            baseline = best[runs[0][0]]
            for name, _run in runs:
                elapsed = best[name]
                print(
                    f"{name:40} {elapsed:8.2f} {count / elapsed:10.1f} {mib / elapsed:8.1f} "
                    f"{baseline / elapsed:10.2f}x"
                )
        finally:
            server.terminate()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size-mib", type=float, default=1.0)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    size = int(args.size_mib * 1024 * 1024)
    scenario(args.files, size, args.in_flight, args.rounds, 0.0)
    scenario(args.files, size, args.in_flight, args.rounds, args.latency_ms / 1000)


if __name__ == "__main__":
    main()
