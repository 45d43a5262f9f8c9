"""async_execute and the async A/B twins: the same flow as execute, over AsyncClient."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import AsyncClient, Client, RetryPolicy, Text
from wxsegment.delivery import (
    BatchOutcome,
    Campaign,
    async_execute,
    async_run_ab_test,
    async_send_winner,
    execute,
    journal_for,
    run_ab_test,
    send_winner,
)
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import APPID, SECRET, pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
ATTEMPTS = RetryPolicy().attempts
_T = TypeVar("_T")


def run_async(
    fake: FakeWeChat, clock: FixedClock, work: Callable[[AsyncClient], Awaitable[_T]]
) -> _T:
    """Run ``work`` with an AsyncClient over the fake that never sleeps."""

    async def main() -> _T:
        async def no_sleep(_seconds: float) -> None:
            return None

        http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
        async with AsyncClient(
            APPID, SECRET, http_client=http, clock=clock, sleep=no_sleep, mass_per_minute=None
        ) as client:
            result = await work(client)
        await http.aclose()
        return result

    return asyncio.run(main())


def test_async_execute_sends_resumes_and_settles_like_execute(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Lost answers leave a batch pending; the async resume commits it via 45065."""
    openids = sorted(fake.add_followers(9))
    campaign = Campaign("a", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    first = run_async(
        fake,
        clock,
        lambda c: async_execute(c, ledger, campaign, openids, clock=clock, batch_size=4),
    )
    assert [b.outcome for b in first.batches] == [
        BatchOutcome.PENDING,
        BatchOutcome.SENT,
        BatchOutcome.SENT,
    ]
    fake.clear_faults()
    clock.advance(timedelta(minutes=2))
    second = run_async(
        fake, clock, lambda c: async_execute(c, ledger, campaign, openids, clock=clock)
    )
    assert (second.already_sent, second.committed_before) == (4, 5)
    assert second.complete
    assert pushes_of(fake, "a.") == dict.fromkeys(openids, 1)
    assert all(ledger.usage(o, at=clock.now()).committed == 1 for o in openids)


def test_async_execute_refuses_a_blocking_client_before_any_write(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A Client given to async_execute raises TypeError; nothing is reserved or sent."""
    openids = fake.add_followers(4)
    campaign = Campaign("c", EVERYONE, Text("hi"))
    with pytest.raises(TypeError, match="use execute"):
        asyncio.run(async_execute(client, ledger, campaign, openids, clock=clock))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="QuotaLedger"):
        run_async(
            fake,
            clock,
            lambda c: async_execute(c, object(), campaign, openids, clock=clock),  # type: ignore[arg-type]
        )
    assert list(ledger.pending()) == []
    assert fake.jobs == {}


def test_async_ab_test_and_winner_match_the_blocking_ones(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Variants to samples, then the winner to the rest; one push per follower in total."""
    openids = sorted(fake.add_followers(40))
    variants = [
        Campaign("va", EVERYONE, Text("A"), content_key="launch"),
        Campaign("vb", EVERYONE, Text("B"), content_key="launch"),
    ]
    winner = Campaign("win", EVERYONE, Text("A"), content_key="launch")

    async def work(c: AsyncClient) -> tuple[int, int]:
        test = await async_run_ab_test(
            c, ledger, "t", variants, openids, fractions=[0.2, 0.2], clock=clock
        )
        report = await async_send_winner(c, ledger, test, winner, clock=clock)
        return sum(r.sent for r in test.reports.values()), report.sent

    sampled, rest = run_async(fake, clock, work)
    assert sampled + rest == 40
    assert all(fake.mass_received(o) == 1 for o in openids)


@pytest.mark.parametrize(
    ("blocking", "twin"),
    [(execute, async_execute), (run_ab_test, async_run_ab_test), (send_winner, async_send_winner)],
)
def test_the_async_twins_take_the_same_parameters(
    blocking: Callable[..., object], twin: Callable[..., object]
) -> None:
    """Each async twin has its blocking function's parameters, names, kinds and defaults."""
    assert inspect.iscoroutinefunction(twin)
    ours = inspect.signature(blocking).parameters
    theirs = inspect.signature(twin).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


class _SlowReserve:
    """A ledger whose ``reserve`` waits for a signal that only another task on the loop sends."""

    def __init__(self, inner: QuotaLedger) -> None:
        self._inner = inner
        self.signal = threading.Event()
        self.reserve_finished = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def reserve(self, *args: object, **kwargs: object) -> object:
        # On the loop thread this wait could never end early: the task that sets it needs
        # the loop. The timeout keeps a regression from hanging the suite.
        self.signal.wait(timeout=5)
        try:
            return self._inner.reserve(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            self.reserve_finished.set()


async def _slow_run(
    client: AsyncClient,
    slow: _SlowReserve,
    ledger: QuotaLedger,
    campaign_id: str,
    openids: list[str],
    clock: FixedClock,
) -> object:
    """`async_execute` of a one-text campaign whose reserve blocks until ``slow.signal``."""
    return await async_execute(
        client,
        slow,  # type: ignore[arg-type]
        Campaign(campaign_id, EVERYONE, Text("hi")),
        openids,
        clock=clock,
        journal=journal_for(ledger),
    )


def test_async_execute_keeps_the_event_loop_free_during_ledger_calls(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """While the ledger blocks, other tasks on the loop run (the call is in a worker thread)."""
    openids = fake.add_followers(6)
    slow = _SlowReserve(ledger)
    seen_while_blocked: list[bool] = []

    async def work(client: AsyncClient) -> object:
        async def other_task() -> None:
            await asyncio.sleep(0.05)
            seen_while_blocked.append(not slow.reserve_finished.is_set())
            slow.signal.set()

        helper = asyncio.create_task(other_task())
        report = await _slow_run(client, slow, ledger, "free-loop", openids, clock)
        await helper
        return report

    report = run_async(fake, clock, work)
    assert seen_while_blocked == [True]
    assert report.sent == 6  # type: ignore[attr-defined]


def test_a_cancelled_async_execute_waits_for_the_store_call_in_flight(
    fake: FakeWeChat, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Cancelling mid-reserve: the reserve completes before the run gives its lease up."""
    openids = fake.add_followers(6)
    slow = _SlowReserve(ledger)

    async def work(client: AsyncClient) -> bool:
        run = asyncio.create_task(_slow_run(client, slow, ledger, "cancelled", openids, clock))
        await asyncio.sleep(0.05)
        run.cancel()
        await asyncio.sleep(0.05)
        still_waiting = not run.done()
        slow.signal.set()
        with pytest.raises(asyncio.CancelledError):
            await run
        return still_waiting and slow.reserve_finished.is_set()

    assert run_async(fake, clock, work)
    # Nothing was sent; what was reserved stays pending, as after a crash, for a resume.
    assert fake.jobs == {}
    assert {entry.openid for entry in ledger.pending("cancelled")} == set(openids)
