"""async_execute and the async A/B twins: the same flow as execute, over AsyncClient."""

from __future__ import annotations

import asyncio
import inspect
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
