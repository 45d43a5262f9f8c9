"""Benchmark: customer-service follow-ups fanned out with AsyncClient against a loopback WeChat.

FakeWeChat serves N followers, each with an open 48-hour window, under uvicorn in its own
process with a per-call latency (20 ms by default). `async_follow_up` sends one
customer-service message to each through a `ServiceWindow` (memory store) and a memory claim
store, at several concurrency levels; a blocking `follow_up` over `Client` is the baseline.

    PYTHONPATH=src python benchmarks/followup_fanout.py [--messages 100000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import time
from datetime import datetime, timezone
from typing import Any

import httpx

from wxsegment.api import AsyncClient, Client, Text
from wxsegment.delivery import FollowUp, async_follow_up, follow_up
from wxsegment.quota import Interaction, ServiceWindow

APPID = "wxbench000000001"
SECRET = "bench-secret"


def _serve(port: int, openids: list[str], latency: float, ready: Any) -> None:
    import uvicorn

    from wxsegment.testing import FakeConfig, FakeWeChat

    fake = FakeWeChat(appid=APPID, secret=SECRET, config=FakeConfig(latency=latency))
    fake.add_followers(openids)
    for openid in openids:
        fake.open_window(openid, "message")
    config = uvicorn.Config(
        fake.asgi, host="127.0.0.1", port=port, log_level="error", lifespan="off", backlog=4096
    )
    ready.set()
    uvicorn.Server(config).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process (Linux ``/proc``), or None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _window(openids: list[str], at: datetime) -> ServiceWindow:
    window = ServiceWindow()
    for openid in openids:
        window.record(openid, Interaction.MESSAGE, at=at)
    return window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--blocking", type=int, default=2_000, help="messages for the baseline")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[32, 64, 128],
        help="comma-separated numbers of requests in flight, one run each (default 32,64,128)",
    )
    args = parser.parse_args()
    openids = [f"o{index:08d}" for index in range(args.messages)]
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    ready = ctx.Event()
    server = ctx.Process(
        target=_serve, args=(port, openids, args.latency_ms / 1000, ready), daemon=True
    )
    server.start()
    ready.wait(600)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(base_url + "/cgi-bin/tags/get", timeout=5)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    now = datetime.now(timezone.utc)
    print(f"== {args.messages:,} customer-service messages, {args.latency_ms:.0f} ms per call")
    print(f"{'sender':40} {'messages':>9} {'seconds':>9} {'msg/s':>8}")
    try:
        chunk = openids[: args.blocking]
        rule = FollowUp(id="bench-blocking", message=Text("您的订单已发货"))
        with Client(APPID, SECRET, base_url=base_url) as client:
            start = time.perf_counter()
            report = follow_up(
                client, _window(chunk, now), rule, [(o, now) for o in chunk], now=now
            )
            elapsed = time.perf_counter() - start
        assert report.sent == len(chunk), report
        baseline = len(chunk) / elapsed
        print(f"{'follow_up (blocking Client)':40} {len(chunk):9,} {elapsed:9.2f} {baseline:8.0f}")
        for concurrency in args.concurrency:
            rule = FollowUp(id=f"bench-{concurrency}", message=Text("您的订单已发货"))
            window = _window(openids, now)

            async def run(
                c: int = concurrency, r: FollowUp = rule, w: ServiceWindow = window
            ) -> int:
                async with AsyncClient(
                    APPID, SECRET, base_url=base_url, concurrency=c, pools=max(4, c // 8)
                ) as client:
                    done = await async_follow_up(
                        client, w, r, [(o, now) for o in openids], now=now, concurrency=c
                    )
                return done.sent

            server_before = _cpu_seconds(server.pid or 0)
            cpu_before = time.process_time()
            start = time.perf_counter()
            sent = asyncio.run(run())
            elapsed = time.perf_counter() - start
            client_cpu = time.process_time() - cpu_before
            server_after = _cpu_seconds(server.pid or 0)
            assert sent == len(openids), sent
            rate = sent / elapsed
            server_cpu = (
                "?"
                if server_before is None or server_after is None
                else f"{server_after - server_before:.1f}"
            )
            print(
                f"{f'async_follow_up ({concurrency} in flight)':40} {sent:9,} {elapsed:9.2f} "
                f"{rate:8.0f}  {rate / baseline:.1f}x blocking  "
                f"(CPU s: client {client_cpu:.1f}, fake server {server_cpu}; "
                f"load {os.getloadavg()[0]:.1f})"
            )
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
