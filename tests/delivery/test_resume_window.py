"""Review regression: resuming after WeChat's 24 h clientmsgid window must not push twice."""

from __future__ import annotations

from datetime import timedelta

from wxsegment import FixedClock
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import BatchOutcome, Campaign, execute
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
ATTEMPTS = RetryPolicy().attempts


def test_resume_after_the_dedup_window_does_not_resend(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A pending batch whose job WeChat took is not resent once 45065 can no longer protect it."""
    openids = fake.add_followers(4)
    campaign = Campaign("late", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    first = execute(client, ledger, campaign, openids, now=clock.now())
    assert [b.outcome for b in first.batches] == [BatchOutcome.PENDING]
    clock.advance(timedelta(hours=25))
    second = execute(client, ledger, campaign, openids, now=clock.now())
    assert [b.outcome for b in second.batches] == [BatchOutcome.PENDING]
    assert "24" in (second.batches[0].error or "")
    assert all(n == 1 for n in pushes_of(fake, "late.").values())
    assert all(ledger.usage(o, at=clock.now()).pending == 1 for o in openids)


def test_resume_inside_the_dedup_window_still_resolves(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Within 24 h the resend is answered 45065 and the batch is committed."""
    openids = fake.add_followers(4)
    campaign = Campaign("soon", EVERYONE, Text("hi"))
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
    execute(client, ledger, campaign, openids, now=clock.now())
    clock.advance(timedelta(hours=23))
    second = execute(client, ledger, campaign, openids, now=clock.now())
    assert [b.outcome for b in second.batches] == [BatchOutcome.ALREADY_SENT]
    assert pushes_of(fake, "soon.") == dict.fromkeys(openids, 1)
