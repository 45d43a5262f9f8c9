"""Follow-ups and reminders inside the 48-hour window, against FakeWeChat and a ServiceWindow."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import AsyncClient, Client, Text
from wxsegment.delivery import (
    FollowUp,
    MemoryClaimStore,
    Reminder,
    TemplateFallback,
    WindowOutcome,
    WindowSendReport,
    async_follow_up,
    async_send_reminders,
    follow_up,
    send_reminders,
)
from wxsegment.quota import Interaction, ServiceWindow, SQLiteWindowStore
from wxsegment.testing import FakeWeChat

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=timezone.utc)
RULE = FollowUp(
    id="paid-thanks",
    message=Text("感谢下单，点此查看物流"),
    after=timedelta(hours=2),
    fallback=TemplateFallback(template_id="tpl-ship", data={"first": "订单已发货"}),
)


@pytest.fixture
def fake() -> FakeWeChat:
    """A fake on a fixed clock with three followers."""
    fake = FakeWeChat(clock=FixedClock(T0))
    fake.add_followers(["oA", "oB", "oC"])
    return fake


@pytest.fixture
def client(fake: FakeWeChat) -> Iterator[Client]:
    """A blocking client over the fake."""
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(
        fake.appid, fake.secret, http_client=http, clock=fake.clock, sleep=lambda s: None
    ) as c:
        yield c


def _interact(fake: FakeWeChat, window: ServiceWindow, openid: str, at: datetime) -> None:
    """The follower messaged the account at ``at``: both WeChat and the window know."""
    fake.open_window(openid, "message", at=at)
    window.record(openid, Interaction.MESSAGE, at=at)


def _sent(fake: FakeWeChat, kind: str) -> list[str]:
    return [m.openid for m in fake.messages if m.kind == kind]


def test_follow_up_in_the_window_then_never_again(fake: FakeWeChat, client: Client) -> None:
    """A due follow-up goes out as customer service once; a second run claims nothing."""
    window = ServiceWindow()
    _interact(fake, window, "oA", T0)
    claims = MemoryClaimStore()
    later = T0 + timedelta(hours=2, minutes=1)
    report = follow_up(client, window, RULE, [("oA", T0)], now=later, claims=claims)
    assert report.outcomes == {"oA": WindowOutcome.CUSTOMER_SERVICE}
    assert _sent(fake, "custom") == ["oA"]
    again = follow_up(client, window, RULE, [("oA", T0)], now=later, claims=claims)
    assert again.outcomes == {"oA": WindowOutcome.DUPLICATE}
    assert _sent(fake, "custom") == ["oA"]
    assert fake.mass_received("oA") == 0


def test_closed_window_falls_back_to_the_template(fake: FakeWeChat, client: Client) -> None:
    """No interaction on record: the template goes out instead; without fallback, nothing."""
    window = ServiceWindow()
    now = T0 + timedelta(hours=3)
    report = follow_up(client, window, RULE, [("oB", T0)], now=now)
    assert report.outcomes == {"oB": WindowOutcome.TEMPLATE}
    assert _sent(fake, "template") == ["oB"]
    bare = FollowUp(id="bare", message=Text("hi"), after=timedelta(hours=2))
    report = follow_up(client, window, bare, [("oC", T0)], now=now)
    assert report.outcomes == {"oC": WindowOutcome.CLOSED}
    assert _sent(fake, "custom") == []


def test_wechat_saying_closed_wins(fake: FakeWeChat, client: Client) -> None:
    """The window thinks it is open but WeChat answers 45015: the fallback goes out."""
    window = ServiceWindow()
    window.record("oA", Interaction.MESSAGE, at=T0)  # WeChat never saw it
    report = follow_up(client, window, RULE, [("oA", T0)], now=T0 + timedelta(hours=2))
    assert report.outcomes == {"oA": WindowOutcome.TEMPLATE}


def test_not_due_and_expired_claim_nothing(fake: FakeWeChat, client: Client) -> None:
    """Before ``after`` nothing happens and nothing is claimed; long after, it expires."""
    window = ServiceWindow()
    _interact(fake, window, "oA", T0)
    claims = MemoryClaimStore()
    early = follow_up(
        client, window, RULE, [("oA", T0)], now=T0 + timedelta(hours=1), claims=claims
    )
    assert early.outcomes == {"oA": WindowOutcome.NOT_DUE}
    late = follow_up(
        client, window, RULE, [("oA", T0)], now=T0 + timedelta(hours=51), claims=claims
    )
    assert late.outcomes == {"oA": WindowOutcome.EXPIRED}
    assert fake.messages == ()
    on_time = follow_up(
        client, window, RULE, [("oA", T0)], now=T0 + timedelta(hours=2), claims=claims
    )
    assert on_time.outcomes == {"oA": WindowOutcome.CUSTOMER_SERVICE}


def test_an_exhausted_window_uses_the_fallback(fake: FakeWeChat, client: Client) -> None:
    """A message opens 5 sends; the sixth follow-up of that window goes as a template."""
    window = ServiceWindow()
    _interact(fake, window, "oA", T0)
    outcomes = []
    for n in range(6):
        rule = FollowUp(id=f"r{n}", message=Text(f"第{n}条"), fallback=RULE.fallback)
        outcomes.append(follow_up(client, window, rule, [("oA", T0)], now=T0).outcomes["oA"])
    assert outcomes == [WindowOutcome.CUSTOMER_SERVICE] * 5 + [WindowOutcome.TEMPLATE]


def test_reminder_carries_the_opt_out_line(fake: FakeWeChat, client: Client) -> None:
    """From 10 minutes before the sale, opted-in followers get the text and the opt-out line."""
    window = ServiceWindow()
    for openid in ("oA", "oB"):
        _interact(fake, window, openid, T0)
    sale = Reminder(id="flash-1", starts_at=T0 + timedelta(hours=12), text="闪购10分钟后开始")
    early = send_reminders(
        client, window, sale, ["oA", "oB"], now=sale.starts_at - timedelta(minutes=11)
    )
    assert early.count(WindowOutcome.NOT_DUE) == 2
    report = send_reminders(
        client, window, sale, ["oA", "oB"], now=sale.starts_at - timedelta(minutes=9)
    )
    assert report.sent == 2
    body = next(m.body for m in fake.messages if m.openid == "oA")
    assert body["text"]["content"] == "闪购10分钟后开始\n回复 TD 不再接收提醒"
    after = send_reminders(client, window, sale, ["oC"], now=sale.starts_at)
    assert after.outcomes == {"oC": WindowOutcome.EXPIRED}
    assert repr(report) == "WindowSendReport(customer_service=2)"
    table = dict(line.rsplit(None, 1) for line in report.table().splitlines()[2:])
    assert {k.strip(): int(v) for k, v in table.items()} == report.to_dict()


def test_bad_input_is_refused_before_any_send(fake: FakeWeChat, client: Client) -> None:
    """Wrong client type, naive now, bad ids and non-CS messages are typed errors."""
    window = ServiceWindow()
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    async_client = AsyncClient(fake.appid, fake.secret, http_client=http)
    with pytest.raises(TypeError, match="Client"):
        follow_up(async_client, window, RULE, [("oA", T0)], now=T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        follow_up(client, window, RULE, [("oA", T0)], now=datetime(2026, 11, 10))
    with pytest.raises(ValueError, match="id must be"):
        FollowUp(id="", message=Text("x"))
    with pytest.raises(TypeError, match="customer-service"):
        FollowUp(id="x", message="not a message")  # type: ignore[arg-type]
    assert fake.messages == ()
    asyncio.run(http.aclose())


async def _follow_up_at_t2(
    client: AsyncClient,
    window: ServiceWindow,
    openids: list[str],
    claims: MemoryClaimStore,
    *,
    concurrency: int,
) -> WindowSendReport:
    """`async_follow_up` of `RULE` for interactions at T0, two hours later."""
    return await async_follow_up(
        client,
        window,
        RULE,
        [(o, T0) for o in openids],
        now=T0 + timedelta(hours=2),
        claims=claims,
        concurrency=concurrency,
    )


def test_async_fan_out_sends_each_once(fake: FakeWeChat) -> None:
    """200 followers with open windows, 16 in flight: 200 customer-service messages, once each."""
    window = ServiceWindow()
    openids = fake.add_followers(200)
    for openid in openids:
        _interact(fake, window, openid, T0)
    claims = MemoryClaimStore()

    async def run() -> tuple[int, int]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
        async with AsyncClient(fake.appid, fake.secret, http_client=http, clock=fake.clock) as c:
            first = await _follow_up_at_t2(c, window, openids, claims, concurrency=16)
            sale = Reminder(id="s", starts_at=T0 + timedelta(hours=3), text="x")
            second = await async_send_reminders(
                c, window, sale, openids, now=T0 + timedelta(hours=2, minutes=55), claims=claims
            )
        return first.sent, second.sent

    assert asyncio.run(run()) == (200, 200)
    assert len(_sent(fake, "custom")) == 400


def test_async_fan_out_keeps_to_its_concurrency(fake: FakeWeChat) -> None:
    """120 follow-ups with 8 allowed in flight: never more than 8 requests open at once."""
    window = ServiceWindow()
    openids = fake.add_followers(120)
    for openid in openids:
        _interact(fake, window, openid, T0)
    open_now = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.001)
        open_now -= 1
        return fake.handler(request)

    async def run() -> int:
        http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
        async with AsyncClient(fake.appid, fake.secret, http_client=http, clock=fake.clock) as c:
            report = await async_follow_up(
                c,
                window,
                RULE,
                [(o, T0) for o in openids],
                now=T0 + timedelta(hours=2),
                concurrency=8,
            )
        return report.sent

    assert asyncio.run(run()) == 120
    assert 1 < peak <= 8


class _SlowClaims(MemoryClaimStore):
    """A claim store (not the in-memory kind, to the library) whose first ``add`` blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.first_done = threading.Event()

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        if not self.first_done.is_set():
            # Bounded, so code that blocks the loop fails the test instead of hanging it.
            self.release.wait(timeout=5)
            self.first_done.set()
        return super().add(key, now=now, ttl=ttl)


def test_async_fan_out_keeps_the_loop_free_while_a_store_call_blocks(
    fake: FakeWeChat, tmp_path: Path
) -> None:
    """A claim or window store round trip runs off the loop: other tasks move meanwhile."""
    window = ServiceWindow(SQLiteWindowStore(tmp_path / "window.sqlite3"))
    openids = fake.add_followers(20)
    for openid in openids:
        _interact(fake, window, openid, T0)
    claims = _SlowClaims()
    moved_while_blocked: list[bool] = []

    async def run() -> int:
        async def other() -> None:
            await asyncio.sleep(0.05)
            moved_while_blocked.append(not claims.first_done.is_set())
            claims.release.set()

        http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
        async with AsyncClient(fake.appid, fake.secret, http_client=http, clock=fake.clock) as c:
            helper = asyncio.create_task(other())
            report = await _follow_up_at_t2(c, window, openids, claims, concurrency=4)
            await helper
        return report.sent

    assert asyncio.run(run()) == 20
    assert moved_while_blocked == [True]
    # Each follower's window was consumed exactly once, though consumes ran in threads.
    assert sorted(_sent(fake, "custom")) == sorted(openids)
