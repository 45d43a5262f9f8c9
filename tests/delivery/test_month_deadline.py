"""D1 under retries: no attempt of a batch starts after its month ends (seed 1442's path)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment._clock import SHANGHAI
from wxsegment.api import Client, RetryPolicy, SendDeadlineError, Text, WeChatTransportError
from wxsegment.delivery import BatchOutcome, Campaign, execute, is_definite_refusal
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

LATE = datetime(2026, 11, 30, 23, 49, 55, tzinfo=SHANGHAI)


@pytest.mark.parametrize("fault", ["busy", "http_500", "timeout"])
def test_a_retry_that_would_cross_midnight_is_not_sent(fault: str) -> None:
    """The first attempt fails, the retry's wait ends in December: the retry never goes out."""
    clock = FixedClock(LATE)
    fake = FakeWeChat(clock=clock)
    openids = fake.add_followers(["oA", "oB", "oC"])
    fake.inject(fault, path="/cgi-bin/message/mass/send")  # type: ignore[arg-type]

    def slow_sleep(seconds: float) -> None:
        clock.advance(timedelta(minutes=11) + timedelta(seconds=seconds))

    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    ledger = MemoryLedger(account=fake.appid)
    with Client(
        fake.appid,
        fake.secret,
        http_client=http,
        clock=clock,
        sleep=slow_sleep,
        retry=RetryPolicy(attempts=3),
        mass_per_minute=None,
    ) as client:
        report = execute(
            client, ledger, Campaign("nov-last", EVERYONE, Text("月底")), openids, clock=clock
        )
    for openid in openids:
        assert fake.mass_received(openid, "2026-12") == 0
    sends = [c for c in fake.calls if c.path == "/cgi-bin/message/mass/send"]
    assert all(c.at < LATE + timedelta(seconds=5) for c in sends), [c.at for c in sends]
    assert report.batches[0].outcome in {BatchOutcome.RELEASED, BatchOutcome.PENDING}
    december = ledger.usage_many(openids, at=LATE + timedelta(days=1))
    assert all(u.committed + u.pending == 0 for u in december.values())


def test_a_deadline_alone_is_definite_but_not_after_an_ambiguous_attempt() -> None:
    """Nothing left the process on a deadline; after a timeout, the chain stays ambiguous."""
    alone = SendDeadlineError("/cgi-bin/message/mass/send", "2026-11-30T23:50:00+08:00")
    assert is_definite_refusal(alone)
    chained = SendDeadlineError("/cgi-bin/message/mass/send", "2026-11-30T23:50:00+08:00")
    chained.__cause__ = WeChatTransportError("timed out", "/cgi-bin/message/mass/send")
    assert not is_definite_refusal(chained)


def test_send_to_openids_refuses_to_start_after_not_after() -> None:
    """The client itself: an attempt at or after not_after raises and sends nothing."""
    clock = FixedClock(LATE)
    fake = FakeWeChat(clock=clock)
    fake.add_followers(["oA", "oB"])
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    client = Client(fake.appid, fake.secret, http_client=http, clock=clock, sleep=lambda s: None)
    with client, pytest.raises(SendDeadlineError, match="not sent"):
        client.mass.send_to_openids(["oA", "oB"], Text("x"), clientmsgid="late", not_after=LATE)
    assert fake.jobs == {}
