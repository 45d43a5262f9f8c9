"""Regressions: five paths by which execute let a follower get an uncounted or a second push."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from wxsegment import SHANGHAI, FixedClock
from wxsegment.api import AsyncClient, Client, RetryPolicy, Text
from wxsegment.delivery import Campaign, CampaignBusyError, execute, journal_for
from wxsegment.quota import PendingEntry, QuotaLedger, Reservation, Transition, Usage
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import APPID, SECRET, make_client, pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
ATTEMPTS = RetryPolicy().attempts


def assert_counted(
    fake: FakeWeChat, ledger: QuotaLedger, openids: Iterable[str], months: Iterable[datetime]
) -> None:
    """D5: for every follower and month, committed + pending >= pushes WeChat delivered."""
    for at in months:
        for openid in openids:
            usage = ledger.usage(openid, at=at)
            assert usage.committed + usage.pending >= fake.mass_received(openid, at), (openid, at)


def test_a_refusal_after_an_earlier_runs_lost_answer_keeps_the_batch_pending(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Run 1 loses WeChat's acceptance; run 2's resend gets 45011: still pending, still counted."""
    openids = fake.add_followers(4)
    campaign = Campaign("lost", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    first = execute(client, ledger, campaign, openids, now=clock.now())
    assert len(first.pending) == 4
    assert all(fake.mass_received(o) == 1 for o in openids)
    fake.clear_faults()
    clock.advance(timedelta(minutes=2))
    fake.inject("mass_rate", path=MASS_SEND)
    second = execute(client, ledger, campaign, openids, now=clock.now())
    assert len(second.pending) == 4
    assert second.released == 0
    assert_counted(fake, ledger, openids, [clock.now()])
    clock.advance(timedelta(minutes=2))
    third = execute(client, ledger, campaign, openids, now=clock.now())
    assert third.already_sent == 4
    assert pushes_of(fake, "lost.") == dict.fromkeys(openids, 1)


def test_a_batch_resumed_after_midnight_is_counted_in_the_month_it_is_sent(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Reserved at 23:59:59 on a month's last day, sent after midnight: counted in the new month."""
    openids = fake.add_followers(4)
    campaign = Campaign("midnight", EVERYONE, Text("hi"))
    last_second = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)
    clock.set(last_second)
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    execute(client, ledger, campaign, openids, now=clock.now())
    fake.clear_faults()
    clock.set(last_second + timedelta(minutes=1))
    execute(client, ledger, campaign, openids, now=clock.now())
    months = [last_second, clock.now()]
    assert sum(fake.mass_received(o, clock.now()) for o in openids) == 4
    assert_counted(fake, ledger, openids, months)
    assert all(ledger.usage(o, at=last_second).pending == 0 for o in openids)


def test_a_paced_send_that_crosses_midnight_is_counted_in_its_month(
    fake: FakeWeChat, ledger: QuotaLedger
) -> None:
    """One run whose pacer sleeps past midnight between batches: each batch counted where sent."""
    clock = FixedClock(datetime(2026, 11, 30, 23, 58, 30, tzinfo=SHANGHAI))
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = fake.add_followers(12)

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(APPID, SECRET, http_client=http, clock=clock, sleep=sleep, mass_per_minute=1) as c:
        campaign = Campaign("paced", EVERYONE, Text("hi"))
        first = execute(c, ledger, campaign, openids, clock=clock, batch_size=4)
        assert first.deferred > 0
        clock.advance(timedelta(minutes=20))
        second = execute(c, ledger, campaign, openids, clock=clock, batch_size=4)
        assert second.complete
    months = [datetime(2026, 11, 30, tzinfo=SHANGHAI), clock.now()]
    assert_counted(fake, ledger, openids, months)
    assert max(pushes_of(fake, "paced.").values()) == 1


def test_resuming_with_another_batch_size_never_pushes_twice(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Batch 0 accepted with its answer lost, batch 1 failed; resumed in batches of 2: one push."""
    openids = sorted(fake.add_followers(6))
    campaign = Campaign("resize", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    first = execute(client, ledger, campaign, openids, now=clock.now(), batch_size=4)
    assert len(first.pending) == 6
    fake.clear_faults()
    clock.advance(timedelta(minutes=2))
    execute(client, ledger, campaign, openids, now=clock.now(), batch_size=3)
    assert max(pushes_of(fake, "resize.").values()) == 1
    assert_counted(fake, ledger, openids, [clock.now()])


def test_resuming_with_a_grown_audience_sends_newcomers_in_new_batches(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Followers sorting before the first run's audience join later: nobody is pushed twice."""
    late = fake.add_followers(["a-late-1", "a-late-2"])
    openids = sorted(fake.add_followers(6))
    campaign = Campaign("grow", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    execute(client, ledger, campaign, openids, now=clock.now(), batch_size=4)
    fake.clear_faults()
    clock.advance(timedelta(minutes=2))
    report = execute(client, ledger, campaign, [*late, *openids], now=clock.now(), batch_size=4)
    assert pushes_of(fake, "grow.") == dict.fromkeys([*late, *openids], 1)
    assert report.complete
    assert_counted(fake, ledger, [*late, *openids], [clock.now()])


class _Hooked:
    """A ledger that runs ``hook`` once, the first time ``pending`` lists something."""

    def __init__(self, inner: QuotaLedger, hook: object) -> None:
        self.inner = inner
        self.hook = hook
        self.account = inner.account
        self.limit = inner.limit

    def reserve(self, campaign: str, openids: Iterable[str], **kw: object) -> Reservation:
        """Delegate."""
        return self.inner.reserve(campaign, openids, **kw)  # type: ignore[arg-type]

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Delegate."""
        return self.inner.commit(campaign, openids)

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Delegate."""
        return self.inner.release(campaign, openids)

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Delegate."""
        return self.inner.usage(openid, at=at)

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Delegate."""
        return self.inner.remaining(openid, at=at)

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Delegate, then run the hook once if anything is pending."""
        entries = list(self.inner.pending(campaign))
        if entries and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()  # type: ignore[operator]
        return iter(entries)

    def record_external(self, external_id: str, openids: Iterable[str], **kw: object) -> Transition:
        """Delegate."""
        return self.inner.record_external(external_id, openids, **kw)  # type: ignore[arg-type]

    def close(self) -> None:
        """Nothing: the inner ledger is closed by its fixture."""


def test_an_overlapping_run_never_sends_what_another_released(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Run B read the pending set; run A releases after a 45011; B must not push them uncounted."""
    openids = sorted(fake.add_followers(6))
    campaign = Campaign("twice", EVERYONE, Text("hi"))
    outcome: list[object] = []

    def run_a() -> None:
        fake.inject("mass_rate", path=MASS_SEND)
        try:
            outcome.append(
                execute(client, ledger, campaign, openids, now=clock.now(), batch_size=3)
            )
        except Exception as error:  # the fixed code refuses the overlapping run
            outcome.append(error)
        fake.clear_faults()

    hooked = _Hooked(ledger, run_a)
    journal = journal_for(ledger)
    b = execute(client, hooked, campaign, openids, now=clock.now(), batch_size=3, journal=journal)
    assert isinstance(outcome[0], CampaignBusyError)
    assert b.complete
    assert_counted(fake, ledger, openids, [clock.now()])
    assert pushes_of(fake, "twice.") == dict.fromkeys(openids, 1)


def test_execute_refuses_an_async_client_before_any_write(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """An AsyncClient given to execute raises TypeError; nothing is reserved or sent."""
    openids = fake.add_followers(4)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    async_client = AsyncClient(APPID, SECRET, http_client=http, clock=clock, mass_per_minute=None)
    campaign = Campaign("c", EVERYONE, Text("hi"))
    with pytest.raises(TypeError, match="async"):
        execute(async_client, ledger, campaign, openids, now=clock.now())  # type: ignore[arg-type]
    assert list(ledger.pending()) == []
    assert fake.jobs == {}
    asyncio.run(http.aclose())


def test_concurrent_runs_of_one_campaign_push_each_follower_once(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Four threads run one campaign at once: the others are refused while one holds the lease."""
    openids = sorted(fake.add_followers(30))
    campaign = Campaign("rush", EVERYONE, Text("hi"))
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        with make_client(fake, clock) as own:
            barrier.wait()
            try:
                outcomes.append(execute(own, ledger, campaign, openids, clock=clock, batch_size=4))
            except CampaignBusyError as error:
                outcomes.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    reports = [o for o in outcomes if not isinstance(o, CampaignBusyError)]
    assert len(outcomes) == 4
    assert reports
    assert pushes_of(fake, "rush.") == dict.fromkeys(openids, 1)
    assert_counted(fake, ledger, openids, [clock.now()])
    assert list(ledger.pending("rush")) == []


def test_a_rule_judging_only_the_last_answer_cannot_release_after_a_lost_one(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A definite rule blind to retries still keeps a batch whose first try's answer was lost."""
    openids = fake.add_followers(4)
    fake.inject("timeout", path=MASS_SEND, after_processing=True)
    fake.inject("mass_rate", path=MASS_SEND, times=ATTEMPTS)
    campaign = Campaign("lenient", EVERYONE, Text("hi"))
    report = execute(
        client, ledger, campaign, openids, now=clock.now(), definite=lambda e: e.errcode is not None
    )
    assert len(report.pending) == 4
    assert_counted(fake, ledger, openids, [clock.now()])
