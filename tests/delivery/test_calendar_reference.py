"""`plan_calendar` against a deliberately simple planner, on every assignment and read path.

The reference below walks follower by follower and campaign by campaign with obvious loops and
its own record of prior pushes and held keys; the library's numpy and plain-Python assigners,
each with whole-account scans and with per-follower bulk reads, must give exactly its plan.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wxsegment._clock import month_key
from wxsegment.api import Text
from wxsegment.delivery import Calendar, CalendarPlan, Campaign, _calendar, plan_calendar
from wxsegment.quota import MemoryLedger, QuotaLedger, ScanningLedger, SQLiteLedger
from wxsegment.segment import EVERYONE

FOLLOWERS = tuple(f"o{i}" for i in range(9))
KEYS = (None, "k1", "k2")
# Two Shanghai months, with sends on both sides of the boundary (2026-06-30 16:00 UTC).
_EDGE = datetime(2026, 6, 30, 16, tzinfo=timezone.utc)
INSTANTS = (
    _EDGE - timedelta(days=20),
    _EDGE - timedelta(days=3),
    _EDGE - timedelta(seconds=1),
    _EDGE,
    _EDGE + timedelta(days=9),
)
MONTHS = tuple(dict.fromkeys(month_key(at) for at in INSTANTS))
BEFORE = _EDGE - timedelta(days=90)

#: (numpy assigner, whole-account scans)
PATHS = [(True, True), (True, False), (False, True), (False, False)]


@dataclass(frozen=True)
class Prior:
    """What the ledger holds before planning, in the reference's own terms."""

    # (openid, month) -> pushes recorded outside the library (may exceed the limit)
    external: Mapping[tuple[str, str], int]
    # (openid, month) pairs with one pending reservation (only where a slot was left)
    pending: frozenset[tuple[str, str]]
    # openid -> content keys held from an earlier month
    keys: Mapping[str, frozenset[str]]

    def used(self, openid: str, month: str) -> int:
        return self.external.get((openid, month), 0) + ((openid, month) in self.pending)


def reference(
    calendar: Calendar, audiences: Mapping[str, list[str]], prior: Prior, limit: int
) -> dict[str, Any]:
    """The plan, follower by follower: the obvious reading of the rules."""
    held = {o: set(prior.keys.get(o, ())) for o in FOLLOWERS}
    campaigns: dict[str, tuple[int, tuple[str, ...], int, int]] = {}
    months: dict[str, tuple[int, ...]] = {}
    for month in calendar.months:
        mine = [c for c in calendar.campaigns if month_key(c.send_at) == month]  # type: ignore[arg-type]
        crowd: list[str] = []
        for campaign in mine:
            for openid in audiences.get(campaign.id, []):
                if openid not in crowd:
                    crowd.append(openid)
        used = {o: prior.used(o, month) for o in crowd}
        for campaign in sorted(mine, key=lambda c: (-c.priority, c.send_at, c.id)):
            members: list[str] = []
            for openid in audiences.get(campaign.id, []):
                if openid not in members:
                    members.append(openid)
            chosen: list[str] = []
            quota = duplicate = 0
            for openid in members:
                if campaign.content_key is not None and campaign.content_key in held[openid]:
                    duplicate += 1
                elif used[openid] >= limit:
                    quota += 1
                else:
                    chosen.append(openid)
                    used[openid] += 1
                    if campaign.content_key is not None:
                        held[openid].add(campaign.content_key)
            campaigns[campaign.id] = (len(members), tuple(sorted(chosen)), quota, duplicate)
        slots = [0] * (limit + 1)
        for openid in crowd:
            slots[min(used[openid], limit)] += 1
        months[month] = tuple(slots)
    return {"campaigns": campaigns, "months": months}


def summary(plan: CalendarPlan) -> dict[str, Any]:
    return {
        "campaigns": {
            c: (p.matched, p.audience, p.dropped_quota, p.dropped_duplicate)
            for c, p in plan.campaigns.items()
        },
        "months": {m: p.slots for m, p in plan.months.items()},
    }


def write_prior(ledger: QuotaLedger, prior: Prior) -> None:
    """Put ``prior`` into the ledger through its ordinary writes."""
    for month in MONTHS:
        at = next(i for i in INSTANTS if month_key(i) == month)
        most = max([n for (_, m), n in prior.external.items() if m == month], default=0)
        for j in range(most):
            crowd = [o for (o, m), n in prior.external.items() if m == month and n > j]
            ledger.record_external(f"prior-{month}-{j}", crowd, at=at)
        waiting = sorted(o for o, m in prior.pending if m == month)
        granted = ledger.reserve(f"pending-{month}", waiting, at=at)
        assert sorted(granted.granted) == waiting
    for key in ("k1", "k2"):
        holders = sorted(o for o, keys in prior.keys.items() if key in keys)
        ledger.record_external(f"held-{key}", holders, at=BEFORE, content_key=key)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Calendar, dict[str, list[str]], Prior, int]:
    limit = draw(st.sampled_from((1, 2, 4)))
    count = draw(st.integers(1, 6))
    campaigns = [
        Campaign(
            f"c{i}",
            EVERYONE,
            Text("hi"),
            draw(st.sampled_from(KEYS)),
            draw(st.integers(0, 2)),
            send_at=draw(st.sampled_from(INSTANTS)),
        )
        for i in range(count)
    ]
    audiences = {
        c.id: draw(st.lists(st.sampled_from(FOLLOWERS), max_size=12))
        for c in campaigns
        if draw(st.booleans()) or c.id == "c0"
    }
    pairs = st.tuples(st.sampled_from(FOLLOWERS), st.sampled_from(MONTHS))
    external = draw(st.dictionaries(pairs, st.integers(1, limit + 1), max_size=10))
    pending = frozenset(
        pair for pair in draw(st.sets(pairs, max_size=8)) if external.get(pair, 0) < limit
    )
    keys = draw(
        st.dictionaries(
            st.sampled_from(FOLLOWERS), st.frozensets(st.sampled_from(("k1", "k2")), min_size=1)
        )
    )
    return Calendar(campaigns), audiences, Prior(external, pending, keys), limit


@contextlib.contextmanager
def path(numpy: bool, scan: bool) -> Iterator[None]:
    """Plan with the numpy or the plain-Python assigner, with or without scans."""
    with pytest.MonkeyPatch.context() as patch:
        if not numpy:
            patch.setattr(_calendar, "_array_assigner", lambda: None)
        patch.setattr(_calendar, "SCAN_FROM", 0 if scan else 10**9)
        yield


@pytest.mark.parametrize(("numpy", "scan"), PATHS)
@settings(max_examples=150, deadline=None)
@given(case=cases())
def test_plan_equals_the_reference_on_memory(
    numpy: bool, scan: bool, case: tuple[Calendar, dict[str, list[str]], Prior, int]
) -> None:
    """Every path gives the reference's plan: audiences, refusals and month slots."""
    calendar, audiences, prior, limit = case
    ledger = MemoryLedger(limit=limit)
    write_prior(ledger, prior)
    with path(numpy, scan):
        plan = plan_calendar(calendar, audiences, ledger)
    assert summary(plan) == reference(calendar, audiences, prior, limit)


@pytest.mark.parametrize(("numpy", "scan"), PATHS)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_plan_equals_the_reference_on_sqlite(
    numpy: bool,
    scan: bool,
    case: tuple[Calendar, dict[str, list[str]], Prior, int],
    tmp_path: Path,
) -> None:
    """The SQLite ledger's scans and bulk reads lead to the same plan."""
    calendar, audiences, prior, limit = case
    account = f"a{uuid.uuid4().hex}"
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3", account=account, limit=limit)
    try:
        write_prior(ledger, prior)
        with path(numpy, scan):
            plan = plan_calendar(calendar, audiences, ledger)
    finally:
        ledger.close()
    assert summary(plan) == reference(calendar, audiences, prior, limit)


class PlainLedger:
    """A `QuotaLedger` without the scanning methods: only per-follower reads."""

    def __init__(self, inner: MemoryLedger) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in {"month_usage", "content_holders"}:
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize("numpy", [True, False])
def test_a_ledger_that_cannot_scan_is_read_per_follower(numpy: bool) -> None:
    """Above the scan threshold, a plain `QuotaLedger` still plans, through usage_many."""
    inner = MemoryLedger()
    ledger: Any = PlainLedger(inner)
    assert isinstance(ledger, QuotaLedger)
    assert not isinstance(ledger, ScanningLedger)
    calendar = Calendar([Campaign("c0", EVERYONE, Text("hi"), "k1", send_at=INSTANTS[0])])
    inner.record_external("held", ["o1"], at=BEFORE, content_key="k1")
    with path(numpy, scan=True):
        plan = plan_calendar(calendar, {"c0": ["o2", "o1", "o0"]}, ledger)
    assert plan.audience("c0") == ("o0", "o2")
    assert plan.campaigns["c0"].dropped_duplicate == 1


@pytest.mark.parametrize(("numpy", "scan"), PATHS)
def test_bad_openids_are_typed_errors(numpy: bool, scan: bool) -> None:
    """A non-string or empty openid in an audience is refused, whichever path plans."""
    calendar = Calendar([Campaign("c0", EVERYONE, Text("hi"), send_at=INSTANTS[0])])
    ledger = MemoryLedger()
    with path(numpy, scan):
        with pytest.raises(TypeError, match="openid strings"):
            plan_calendar(calendar, {"c0": ["o1", 7]}, ledger)  # type: ignore[list-item]
        with pytest.raises(ValueError, match="empty openids"):
            plan_calendar(calendar, {"c0": ["o1", ""]}, ledger)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_state_is_restored(enabled: bool) -> None:
    """Planning pauses the cyclic collector and leaves it as it found it."""
    calendar = Calendar([Campaign("c0", EVERYONE, Text("hi"), send_at=INSTANTS[0])])
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        plan_calendar(calendar, {"c0": ["o1"]}, MemoryLedger())
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
