"""Fixtures for the delivery tests: a fixed clock, FakeWeChat, a client over it, both ledgers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from wxsegment import SHANGHAI, FixedClock
from wxsegment.api import Client
from wxsegment.quota import MemoryLedger, QuotaLedger, SQLiteLedger
from wxsegment.testing import FakeWeChat

APPID = "wxdelivery000001"
SECRET = "delivery-secret"
START = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)


def make_client(fake: FakeWeChat, clock: FixedClock) -> Client:
    """The real client over the fake; never sleeps, no pacing."""
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    return Client(
        APPID, SECRET, http_client=http, clock=clock, sleep=lambda _s: None, mass_per_minute=None
    )


def make_ledger(kind: str, directory: Path) -> QuotaLedger:
    """A fresh ledger of the given backend."""
    if kind == "sqlite":
        return SQLiteLedger(directory / "ledger.sqlite3", account=APPID)
    return MemoryLedger(account=APPID)


def pushes_of(fake: FakeWeChat, clientmsgid_prefix: str) -> Counter[str]:
    """How many pushes of one campaign (jobs whose clientmsgid has the prefix) each openid got."""
    counts: Counter[str] = Counter()
    for job in fake.jobs.values():
        if job.clientmsgid is not None and job.clientmsgid.startswith(clientmsgid_prefix):
            counts.update(job.delivered)
    return counts


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed early in November 2026 (Shanghai)."""
    return FixedClock(START)


@pytest.fixture
def fake(clock: FixedClock) -> FakeWeChat:
    """An empty FakeWeChat on the fixed clock."""
    return FakeWeChat(appid=APPID, secret=SECRET, clock=clock)


@pytest.fixture
def client(fake: FakeWeChat, clock: FixedClock) -> Iterator[Client]:
    """The real client talking to the fake."""
    with make_client(fake, clock) as client:
        yield client


@pytest.fixture(params=["sqlite", "memory"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QuotaLedger]:
    """Each ledger backend that runs without a server."""
    ledger = make_ledger(request.param, tmp_path)
    yield ledger
    ledger.close()
