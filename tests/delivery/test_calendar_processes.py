"""run_due from two processes every simulated minute: every campaign goes out exactly once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.delivery._calendar_procs import APPID, SECRET, START, calendar, minute_loop
from wxsegment import FixedClock
from wxsegment.testing import FakeWeChat


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """FakeWeChat (clock fixed on Nov 11) with 150 followers under uvicorn on loopback."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=FixedClock(START))
    fake.add_followers([f"o{i:04d}" for i in range(150)])
    server = uvicorn.Server(
        uvicorn.Config(fake.asgi, host="127.0.0.1", port=0, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_two_processes_send_every_campaign_exactly_once(
    served: tuple[FakeWeChat, str], tmp_path: Path
) -> None:
    """Both processes tick through the same minutes; each follower gets each wave once."""
    fake, base = served
    openids = sorted(fake.followers)
    ledger = str(tmp_path / "ledger.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        results = [
            pool.apply_async(minute_loop, (base, ledger, openids, 16, barrier)) for _ in range(2)
        ]
        sent = [r.get(timeout=240) for r in results]
    assert sum(sent) == 3 * len(openids)
    waves = Counter()
    for job in fake.jobs.values():
        assert job.clientmsgid is not None
        wave = job.clientmsgid.split(".")[0]
        for openid in job.delivered:
            waves[(wave, openid)] += 1
    assert len(waves) == 3 * len(openids)
    assert set(waves.values()) == {1}
    assert all(fake.mass_received(o) == 3 for o in openids)
    assert len(calendar().campaigns) == 3
