"""The Double-11 calendar: planned over two months, run on schedule against FakeWeChat."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from wxsegment import FixedClock, Follower
from wxsegment._clock import SHANGHAI, month_key
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import (
    Calendar,
    Campaign,
    journal_for,
    plan_calendar,
    resolve_audience,
    run_due,
)
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE, attr, tag
from wxsegment.testing import FakeWeChat


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An instant in Shanghai in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


ACTIVE = attr("last_active_days") <= 30
PAID = tag("已付定金")
DOUBLE_11 = Calendar(
    [
        Campaign("oct21-presale", EVERYONE, Text("预售开启"), "presale", 5, send_at=at(10, 21)),
        Campaign(
            "oct23-lottery", ACTIVE & PAID, Text("定金抽奖"), "lottery", 3, send_at=at(10, 23)
        ),
        Campaign("oct23-nudge", ACTIVE & ~PAID, Text("快来付定金"), "nudge", 3, send_at=at(10, 23)),
        Campaign("oct29-full", EVERYONE, Text("预售第二波"), "presale-2", 5, send_at=at(10, 29)),
        Campaign(
            "oct31-lottery", ACTIVE & PAID, Text("定金抽奖"), "lottery", 3, send_at=at(10, 31)
        ),
        Campaign("oct31-nudge", ACTIVE & ~PAID, Text("快来付定金"), "nudge", 3, send_at=at(10, 31)),
        Campaign("nov01-full", EVERYONE, Text("十一月狂欢"), "nov01", 5, send_at=at(11, 1)),
        Campaign("nov10-full", EVERYONE, Text("明天见"), "nov10", 5, send_at=at(11, 10)),
        Campaign(
            "nov11-balance",
            PAID & ~tag("已付尾款"),
            Text("尾款开付"),
            "balance",
            9,
            send_at=at(11, 11, 10),
        ),
    ]
)


def crowd(n: int = 240, seed: int = 11) -> list[Follower]:
    """Followers: a third paid a deposit, some of those the balance too, most active."""
    rng = random.Random(seed)
    out = []
    for index in range(n):
        tags = set()
        if rng.random() < 0.35:
            tags.add("已付定金")
            if rng.random() < 0.4:
                tags.add("已付尾款")
        out.append(
            Follower(
                f"o{index:04d}",
                at(1, 1),
                tags=tags,
                attributes={"last_active_days": rng.randint(0, 60)},
            )
        )
    return out


def audiences(followers: list[Follower], now: datetime) -> dict[str, list[str]]:
    """Each campaign's matching openids."""
    return {c.id: resolve_audience(c.segment, followers, now=now) for c in DOUBLE_11.campaigns}


@pytest.fixture
def world() -> Iterator[tuple[FakeWeChat, Client, MemoryLedger, list[Follower]]]:
    """A fake with the crowd, a client on its clock, a memory ledger with console sends."""
    clock = FixedClock(at(10, 20, 9))
    fake = FakeWeChat(clock=clock)
    followers = crowd()
    fake.add_followers([f.openid for f in followers])
    ledger = MemoryLedger(account=fake.appid)
    # Two console pushes earlier in October to the first 30 followers: only two slots left.
    console = [f.openid for f in followers[:30]]
    for n in range(2):
        ledger.record_external(f"console-{n}", console, at=at(10, 5 + n))
        for openid in console:
            fake.record_mass_push(openid, at=at(10, 5 + n))
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(
        fake.appid,
        fake.secret,
        http_client=http,
        clock=clock,
        sleep=lambda s: None,
        retry=RetryPolicy(attempts=2),
        mass_per_minute=None,
    ) as client:
        yield fake, client, ledger, followers


def test_plan_respects_slots_content_and_priority(
    world: tuple[FakeWeChat, Client, MemoryLedger, list[Follower]],
) -> None:
    """Nobody over 4 a month, Oct 31 never repeats Oct 23's content, Nov 11 gets its slots."""
    _, _, ledger, followers = world
    plan = plan_calendar(DOUBLE_11, audiences(followers, at(10, 20)), ledger)
    per_month: dict[tuple[str, str], int] = defaultdict(int)
    for campaign_plan in plan.campaigns.values():
        for openid in campaign_plan.audience:
            per_month[(openid, campaign_plan.month)] += 1
    console = {f.openid for f in followers[:30]}
    for (openid, month), count in per_month.items():
        assert count + (2 if month == "2026-10" and openid in console else 0) <= 4
    for kind in ("lottery", "nudge"):
        first = set(plan.audience(f"oct23-{kind}"))
        assert not first & set(plan.audience(f"oct31-{kind}"))
        assert plan.campaigns[f"oct31-{kind}"].dropped_duplicate == len(first)
    owed = {f.openid for f in followers if "已付定金" in f.tags and "已付尾款" not in f.tags}
    assert set(plan.audience("nov11-balance")) == owed
    october = plan.months["2026-10"]
    assert sum(october.slots) == len(followers)
    assert "CalendarPlan(campaigns=9" in repr(plan)
    assert "o0001" not in repr(plan.campaigns["oct21-presale"])
    assert "nov11-balance" in plan.table()
    assert plan.to_dict()["months"]["2026-11"][0] == 0


def test_run_due_every_hour_sends_each_campaign_once(
    world: tuple[FakeWeChat, Client, MemoryLedger, list[Follower]],
) -> None:
    """Stepping the clock hourly through both months: each campaign runs once, as planned."""
    fake, client, ledger, followers = world
    clock = fake.clock
    assert isinstance(clock, FixedClock)
    wanted = audiences(followers, at(10, 20))
    plan = plan_calendar(DOUBLE_11, wanted, ledger)
    ran: dict[str, int] = defaultdict(int)
    while clock.now() < at(11, 11, 12):
        for report in run_due(client, ledger, DOUBLE_11, wanted, now=clock.now(), clock=clock):
            if report.sent:
                ran[report.campaign] += 1
        clock.advance(timedelta(minutes=30))
    assert set(ran) == {c.id for c in DOUBLE_11.campaigns if plan.campaigns[c.id].planned}
    assert all(count == 1 for count in ran.values())
    journal = journal_for(ledger)
    for campaign in DOUBLE_11.campaigns:
        sent = {o for r in journal.batches(campaign.id) for o in r.members}
        assert sent == set(plan.audience(campaign.id)), campaign.id
    filtered = [job for job in fake.jobs.values() if job.filtered]
    assert filtered == []
    for follower in followers:
        for month in ("2026-10", "2026-11"):
            assert fake.mass_received(follower.openid, month) <= 4
    assert list(ledger.pending()) == []
    again = run_due(client, ledger, DOUBLE_11, wanted, now=at(11, 11, 10, 5), clock=clock)
    assert again == []


def test_a_missed_month_is_not_sent_late(
    world: tuple[FakeWeChat, Client, MemoryLedger, list[Follower]],
) -> None:
    """A campaign whose time passed more than max_delay ago, or in an earlier month, is skipped."""
    fake, client, ledger, followers = world
    wanted = audiences(followers, at(10, 20))
    reports = run_due(client, ledger, DOUBLE_11, wanted, now=at(11, 1, 9))
    assert reports == []
    assert fake.jobs == {}
    assert month_key(at(11, 1, 9)) == "2026-11"


def test_calendar_refuses_bad_input() -> None:
    """No send_at, duplicate ids, a naive send_at, or unknown audiences are typed errors."""
    with pytest.raises(ValueError, match="send_at"):
        Calendar([Campaign("x", EVERYONE, Text("x"))])
    one = Campaign("x", EVERYONE, Text("x"), send_at=at(10, 1))
    with pytest.raises(ValueError, match="twice"):
        Calendar([one, one])
    with pytest.raises(ValueError, match="timezone-aware"):
        Campaign("y", EVERYONE, Text("y"), send_at=datetime(2026, 10, 1))
    with pytest.raises(ValueError, match="not in the calendar"):
        plan_calendar(Calendar([one]), {"nope": []}, MemoryLedger())
