"""`forget_campaign`: drop a finished campaign's batches from the delivery journal.

The journal keeps every batch's members, so a campaign to ten million followers leaves ten
million openids behind. Once nothing can need them (no run holds the lease, no batch is live,
and every batch's month and WeChat's memory of its ``clientmsgid`` are over), they can go: the
ledger still holds every count the quota depends on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wxsegment._clock import ensure_aware
from wxsegment.delivery._execute import DEDUP_WINDOW
from wxsegment.delivery._flow import _month_end
from wxsegment.delivery._journal import (
    LIVE_STATES,
    DeliveryJournal,
    JournalConflictError,
)

__all__ = ["forget_campaign"]

#: How long `forget_campaign` holds the campaign's lease while it checks and drops.
_LEASE: timedelta = timedelta(minutes=5)


def forget_campaign(
    journal: DeliveryJournal,
    campaign: str,
    *,
    now: datetime,
    dedup_window: timedelta = DEDUP_WINDOW,
) -> int:
    """Drop ``campaign``'s batches from ``journal``; returns how many were dropped.

    Takes the campaign's lease first (`CampaignBusyError` while a run holds it), then refuses
    with `JournalConflictError`, dropping nothing, while any batch is live (formed, attempting
    or accepted: a resume still needs its layout and ``clientmsgid``) or before ``dedup_window``
    (WeChat's 24-hour memory of a ``clientmsgid``) has passed since the end of the last batch's
    month: a later run under the same campaign id numbers its batches from 0 again, and a reused
    ``clientmsgid`` must not meet WeChat's memory of the old one.
    """
    if not isinstance(journal, DeliveryJournal):
        raise TypeError(f"journal must be a DeliveryJournal, not {type(journal).__name__}")
    if not isinstance(campaign, str) or not campaign:
        raise ValueError("campaign must be a non-empty string")
    ensure_aware(now, "now")
    if not isinstance(dedup_window, timedelta) or dedup_window < timedelta(0):
        raise ValueError(f"dedup_window must be a timedelta >= 0, got {dedup_window!r}")
    lease = journal.acquire(campaign, now=now, ttl=_LEASE)
    try:
        stored = journal.batches(campaign)
        live = [record for record in stored if record.state in LIVE_STATES]
        if live:
            first = live[0]
            raise JournalConflictError(
                f"batch {first.index} of {campaign!r} is {first.state.value} "
                f"({len(live)} live in all): settle the campaign before forgetting it"
            )
        if stored:
            free_at = max(_month_end(record.month) for record in stored) + dedup_window
            if now < free_at:
                raise JournalConflictError(
                    f"campaign {campaign!r} can be forgotten from {free_at.isoformat()} on: its "
                    "last batch's month and WeChat's memory of its clientmsgid run until then"
                )
        return journal.forget(lease)
    except BaseException:
        journal.release_lease(lease)
        raise
