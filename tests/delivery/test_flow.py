"""The I/O-free delivery flow, driven by hand: the order of its writes is the crash-safety proof."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

from wxsegment.api import SendResult, Text, error_for
from wxsegment.delivery import (
    BatchOutcome,
    BatchState,
    Campaign,
    MemoryJournal,
    Report,
    is_definite_refusal,
)
from wxsegment.delivery._flow import (
    Acquire,
    Action,
    AddBatches,
    Commit,
    ListPending,
    LoadBatches,
    Now,
    Progress,
    Release,
    Renew,
    Reserve,
    Send,
    Settings,
    Update,
    delivery_flow,
)
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE

from .conftest import START

SETTINGS = Settings(
    batch_size=3,
    definite=is_definite_refusal,
    dedup_window=timedelta(hours=24),
    lease_ttl=timedelta(minutes=10),
    month_end_margin=timedelta(minutes=10),
)


def drive(flow: Generator[Action, Any, Report], answer: Any) -> tuple[Report, list[str]]:
    """Run the flow over an in-memory ledger and journal; ``answer(send)`` plays WeChat."""
    ledger, journal = MemoryLedger(), MemoryJournal()
    trace: list[str] = []
    result: Any = None
    action = next(flow)
    while True:
        if not isinstance(action, (Now, Renew, Progress, LoadBatches, ListPending)):
            name = type(action).__name__
            trace.append(f"{name}:{action.state.value}" if isinstance(action, Update) else name)
        try:
            match action:
                case Now():
                    result = START
                case Acquire(campaign=c, now=now, ttl=ttl):
                    result = journal.acquire(c, now=now, ttl=ttl)
                case Renew(lease=lease, now=now, ttl=ttl):
                    result = journal.renew(lease, now=now, ttl=ttl)
                case LoadBatches(campaign=c):
                    result = journal.batches(c)
                case AddBatches(lease=lease, records=records):
                    result = journal.add_batches(lease, records)
                case Update(lease=lease, index=i, expect=expect, state=state):
                    result = journal.update(
                        lease, lease.campaign, i, expect=expect, state=state, msg_id=action.msg_id
                    )
                case Reserve(campaign=c, openids=o, at=at, content_key=key):
                    result = ledger.reserve(c, o, at=at, content_key=key)
                case Commit(campaign=c, openids=o):
                    result = ledger.commit(c, o)
                case Release(campaign=c, openids=o):
                    result = ledger.release(c, o)
                case ListPending(campaign=c):
                    result = list(ledger.pending(c))
                case Send():
                    result = answer(action)
                case Progress():
                    result = None
            action = flow.send(result)
        except StopIteration as stop:
            return stop.value, trace
        except Exception as error:  # a send's WeChatError goes back into the flow
            if not isinstance(action, Send):
                raise
            action = flow.throw(error)


def test_every_batch_is_stored_and_marked_before_it_is_sent() -> None:
    """reserve -> store layout -> ATTEMPTING -> send -> ACCEPTED -> commit -> COMMITTED."""
    campaign = Campaign("f", EVERYONE, Text("hi"))
    audience = ["o1", "o2", "o3", "o4", "o5"]

    def accept(send: Send) -> list[SendResult]:
        return [SendResult(7, None, False, send.clientmsgid)]

    report, trace = drive(delivery_flow(campaign, audience, SETTINGS), accept)
    assert [b.outcome for b in report.batches] == [BatchOutcome.SENT] * 2
    per_batch = ["Update:attempting", "Send", "Update:accepted", "Commit", "Update:committed"]
    assert trace == ["Acquire", "Reserve", "Reserve", "AddBatches", *per_batch, *per_batch]


def test_a_definite_refusal_is_recorded_before_the_release() -> None:
    """The REFUSED state is stored before the ledger gives the slots back."""
    campaign = Campaign("g", EVERYONE, Text("hi"))

    def refuse(send: Send) -> list[SendResult]:
        raise error_for(45011, "slow down", "/cgi-bin/message/mass/send")

    report, trace = drive(delivery_flow(campaign, ["o1", "o2"], SETTINGS), refuse)
    assert [b.outcome for b in report.batches] == [BatchOutcome.RELEASED]
    assert trace[-4:] == [
        "Update:attempting",
        "Send",
        f"Update:{BatchState.REFUSED.value}",
        "Release",
    ]
