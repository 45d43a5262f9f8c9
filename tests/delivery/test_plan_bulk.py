"""plan() reads the ledger in bulk and sees committed content keys; reports serialize as counts."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from wxsegment.api import Text
from wxsegment.delivery import Campaign, plan
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE

AT = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)


def test_plan_refuses_followers_holding_the_key_committed() -> None:
    """A committed content key counts as a duplicate (it used to be seen only when pending)."""
    ledger = MemoryLedger()
    ledger.reserve("c1", ["oA", "oB"], at=AT, content_key="spring")
    ledger.commit("c1", ["oA"])
    for n in range(4):
        ledger.reserve(f"full{n}", ["oC"], at=AT)
    result = plan(
        Campaign("c2", EVERYONE, Text("again"), "spring"), ["oA", "oB", "oC", "oD"], ledger, now=AT
    )
    assert (result.refused_duplicate, result.refused_quota, result.granted) == (2, 1, 1)
    assert json.loads(json.dumps(result.to_dict()))["granted"] == 1


def test_a_plans_table_lists_each_count() -> None:
    ledger = MemoryLedger()
    for n in range(4):
        ledger.reserve(f"full{n}", ["oC"], at=AT)
    result = plan(Campaign("c3", EVERYONE, Text("hi")), ["oA", "oB", "oC"], ledger, now=AT)
    lines = result.table().splitlines()
    assert lines[0] == "plan of campaign c3 (2026-05)"
    rows = {label: int(count) for label, count in (line.split() for line in lines[2:])}
    assert (rows["granted"], rows["refused_quota"], rows["matched"]) == (2, 1, 3)
