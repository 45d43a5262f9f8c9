"""A child process that calls run_due every simulated minute (importable under spawn)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wxsegment import FixedClock
from wxsegment._clock import SHANGHAI
from wxsegment.api import Client, Text
from wxsegment.delivery import Calendar, Campaign, run_due
from wxsegment.quota import SQLiteLedger
from wxsegment.segment import EVERYONE

START = datetime(2026, 11, 11, 9, 58, tzinfo=SHANGHAI)
APPID = "wxcalendar0000001"
SECRET = "calendar-secret"


def calendar() -> Calendar:
    """Three pushes five minutes apart on Nov 11, each with its own content."""
    return Calendar(
        Campaign(
            f"nov11-{n}",
            EVERYONE,
            Text(f"第{n}波"),
            f"wave-{n}",
            send_at=START + timedelta(minutes=2 + 5 * n),
        )
        for n in range(3)
    )


def minute_loop(
    base_url: str, ledger_path: str, openids: list[str], minutes: int, barrier: Any
) -> int:
    """Call run_due once per simulated minute; returns the followers this process sent to.

    Both processes pass ``barrier`` before each minute, as hosts share the time of day: a
    process left minutes behind by a busy machine would otherwise find its campaign lease
    expired by the other's clock (correctly: `LeaseLostError`) and the test would measure
    the machine's load instead of `run_due`.
    """
    clock = FixedClock(START)
    ledger = SQLiteLedger(ledger_path, account=APPID)
    sent = 0
    everyone = {c.id: openids for c in calendar().campaigns}
    with Client(APPID, SECRET, base_url=base_url, clock=clock, mass_per_minute=None) as client:
        for _ in range(minutes):
            barrier.wait(timeout=120)
            for report in run_due(
                client, ledger, calendar(), everyone, now=clock.now(), clock=clock
            ):
                sent += report.sent
            clock.advance(timedelta(minutes=1))
    ledger.close()
    return sent
