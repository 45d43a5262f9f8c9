"""CalendarPlan.svg(): a well-formed SVG whose bars carry the plan's own counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from wxsegment._clock import SHANGHAI
from wxsegment.api import Text
from wxsegment.delivery import Calendar, Campaign, plan_calendar
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE

SVG = "{http://www.w3.org/2000/svg}"


def test_chart_shows_each_campaign_and_month() -> None:
    """One titled bar per campaign (planned of matched) and one segment per slot count."""
    at = datetime(2026, 10, 21, 10, tzinfo=SHANGHAI)
    calendar = Calendar(
        [
            Campaign("a<&>", EVERYONE, Text("a"), "k1", send_at=at),
            Campaign("b", EVERYONE, Text("b"), "k1", send_at=at.replace(day=23)),
            Campaign("c", EVERYONE, Text("c"), "k2", send_at=at.replace(month=11, day=1)),
        ]
    )
    crowd = [f"o{i}" for i in range(10)]
    plan = plan_calendar(calendar, {c.id: crowd for c in calendar.campaigns}, MemoryLedger())
    root = ET.fromstring(plan.svg())
    assert root.tag == f"{SVG}svg"
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "a<&>: 10 of 10" in titles
    assert "b: 0 of 10" in titles
    assert "1 pushes: 10 followers" in titles
    assert sum(1 for t in titles if "pushes:" in t) == 2 * 5
