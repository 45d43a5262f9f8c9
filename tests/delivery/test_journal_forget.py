"""`DeliveryJournal.forget` and `forget_campaign`: a finished campaign's batches can go."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tests.delivery.test_journal import TTL, opener, record
from wxsegment.delivery import (
    BatchState,
    CampaignBusyError,
    DeliveryJournal,
    JournalConflictError,
    LeaseLostError,
    forget_campaign,
)

__all__ = ["opener"]

#: Inside November 2026 (Shanghai), when the batches of `record` are formed.
DURING = datetime(2026, 11, 20, 4, tzinfo=timezone.utc)
#: November's end in Shanghai, then WeChat's 24 hours of clientmsgid memory.
FREE_AT = datetime(2026, 11, 30, 16, tzinfo=timezone.utc) + timedelta(hours=24)


def _settle(journal: DeliveryJournal, *states: BatchState) -> None:
    """Store one batch per state, each moved there along the journal's arrows."""
    lease = journal.acquire("c", now=DURING, ttl=TTL)
    journal.add_batches(lease, [record(i) for i in range(len(states))])
    paths = {
        BatchState.COMMITTED: [BatchState.ATTEMPTING, BatchState.ACCEPTED, BatchState.COMMITTED],
        BatchState.REFUSED: [BatchState.ATTEMPTING, BatchState.REFUSED],
        BatchState.VOID: [BatchState.VOID],
        BatchState.ATTEMPTING: [BatchState.ATTEMPTING],
        BatchState.FORMED: [],
    }
    for index, state in enumerate(states):
        before = BatchState.FORMED
        for after in paths[state]:
            journal.update(lease, "c", index, expect=before, state=after, attempted_at=DURING)
            before = after
    journal.release_lease(lease)


def test_forget_drops_the_batches_and_the_lease(opener: Callable[[], DeliveryJournal]) -> None:
    journal = opener()
    _settle(journal, BatchState.COMMITTED, BatchState.REFUSED, BatchState.VOID)
    lease = journal.acquire("c", now=FREE_AT, ttl=TTL)
    assert journal.forget(lease) == 3
    assert journal.batches("c") == []
    # The lease went with them: another run takes the campaign at once.
    journal.acquire("c", now=FREE_AT, ttl=TTL)


def test_forget_with_a_lost_lease_drops_nothing(opener: Callable[[], DeliveryJournal]) -> None:
    journal = opener()
    _settle(journal, BatchState.COMMITTED)
    stale = journal.acquire("c", now=FREE_AT, ttl=TTL)
    journal.acquire("c", now=FREE_AT + 2 * TTL, ttl=TTL)  # another run took over
    with pytest.raises(LeaseLostError):
        journal.forget(stale)
    assert [r.state for r in journal.batches("c")] == [BatchState.COMMITTED]


def test_forget_campaign_once_nothing_can_need_the_batches(
    opener: Callable[[], DeliveryJournal],
) -> None:
    journal = opener()
    _settle(journal, BatchState.COMMITTED, BatchState.REFUSED)
    with pytest.raises(JournalConflictError, match="can be forgotten from"):
        forget_campaign(journal, "c", now=FREE_AT - timedelta(seconds=1))
    assert len(journal.batches("c")) == 2
    assert forget_campaign(journal, "c", now=FREE_AT) == 2
    assert journal.batches("c") == []


@pytest.mark.parametrize("live", [BatchState.FORMED, BatchState.ATTEMPTING, BatchState.ACCEPTED])
def test_forget_campaign_refuses_a_live_batch(
    opener: Callable[[], DeliveryJournal], live: BatchState
) -> None:
    journal = opener()
    if live is BatchState.ACCEPTED:
        _settle(journal, BatchState.COMMITTED, BatchState.ATTEMPTING)
        lease = journal.acquire("c", now=DURING, ttl=TTL)
        journal.update(lease, "c", 1, expect=BatchState.ATTEMPTING, state=BatchState.ACCEPTED)
        journal.release_lease(lease)
    else:
        _settle(journal, BatchState.COMMITTED, live)
    with pytest.raises(JournalConflictError, match=f"batch 1 of 'c' is {live.value}"):
        forget_campaign(journal, "c", now=FREE_AT + timedelta(days=90))
    assert len(journal.batches("c")) == 2
    # The refusal gave the lease back: a resume can take the campaign at once.
    journal.acquire("c", now=FREE_AT + timedelta(days=90), ttl=TTL)


def test_forget_campaign_waits_for_a_run_holding_the_lease(
    opener: Callable[[], DeliveryJournal],
) -> None:
    journal = opener()
    _settle(journal, BatchState.COMMITTED)
    journal.acquire("c", now=FREE_AT, ttl=TTL)
    with pytest.raises(CampaignBusyError):
        forget_campaign(journal, "c", now=FREE_AT)
    assert len(journal.batches("c")) == 1


def test_forget_campaign_refuses_bad_input_before_touching_the_journal(
    opener: Callable[[], DeliveryJournal],
) -> None:
    journal = opener()
    _settle(journal, BatchState.COMMITTED)
    with pytest.raises(TypeError, match="DeliveryJournal"):
        forget_campaign(object(), "c", now=FREE_AT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="campaign"):
        forget_campaign(journal, "", now=FREE_AT)
    with pytest.raises(ValueError, match="aware"):
        forget_campaign(journal, "c", now=datetime(2026, 12, 5))
    with pytest.raises(ValueError, match="dedup_window"):
        forget_campaign(journal, "c", now=FREE_AT, dedup_window=timedelta(hours=-1))
    assert len(journal.batches("c")) == 1
    journal.acquire("c", now=FREE_AT, ttl=TTL)  # and no lease was left behind
