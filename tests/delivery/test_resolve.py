"""resolve_batch: settling by hand a batch whose outcome execute may no longer find out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from wxsegment import SHANGHAI, FixedClock
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import (
    BatchOutcome,
    Campaign,
    JournalConflictError,
    execute,
    resolve_batch,
)
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
ATTEMPTS = RetryPolicy().attempts
NOVEMBER_END = datetime(2026, 11, 30, 23, 40, tzinfo=SHANGHAI)


def stuck_across_midnight(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock, *, taken: bool
) -> tuple[Campaign, list[str]]:
    """A batch attempted in November with its outcome unknown, resumed in December."""
    openids = sorted(fake.add_followers(4))
    campaign = Campaign("stuck", EVERYONE, Text("hi"), content_key="stuck")
    clock.set(NOVEMBER_END)
    fake.inject("timeout", path=MASS_SEND, after_processing=taken, times=ATTEMPTS)
    execute(client, ledger, campaign, openids, clock=clock)
    fake.clear_faults()
    clock.advance(timedelta(hours=1))
    resumed = execute(client, ledger, campaign, openids, clock=clock)
    assert [b.outcome for b in resumed.batches] == [BatchOutcome.PENDING]
    assert "2026-11" in (resumed.batches[0].error or "")
    return campaign, openids


def test_a_batch_found_delivered_is_committed_in_its_month(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """WeChat had the job: resolve commits it in November, and later runs see it committed."""
    campaign, openids = stuck_across_midnight(fake, client, ledger, clock, taken=True)
    settled = resolve_batch(ledger, campaign, 0, delivered=True, clock=clock)
    assert settled.batches[0].outcome is BatchOutcome.ALREADY_SENT
    assert all(ledger.usage(o, at=NOVEMBER_END).committed == 1 for o in openids)
    again = execute(client, ledger, campaign, openids, clock=clock)
    assert again.complete
    assert again.committed_before == 4
    assert pushes_of(fake, "stuck.") == dict.fromkeys(openids, 1)


def test_a_batch_found_unsent_is_released_and_sent_anew_in_the_new_month(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """WeChat had no job: resolve releases it; the next run sends in December, counted there."""
    campaign, openids = stuck_across_midnight(fake, client, ledger, clock, taken=False)
    resolve_batch(ledger, campaign, 0, delivered=False, clock=clock)
    assert all(ledger.usage(o, at=NOVEMBER_END).pending == 0 for o in openids)
    again = execute(client, ledger, campaign, openids, clock=clock)
    assert [(b.clientmsgid, b.outcome) for b in again.batches] == [("stuck.1", BatchOutcome.SENT)]
    assert all(ledger.usage(o, at=clock.now()).committed == 1 for o in openids)
    assert all(fake.mass_received(o, clock.now()) == 1 for o in openids)
    with pytest.raises(JournalConflictError):
        resolve_batch(ledger, campaign, 1, delivered=False, clock=clock)
    assert all(ledger.usage(o, at=clock.now()).committed == 1 for o in openids)
