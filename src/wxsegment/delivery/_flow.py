"""The I/O-free core of `execute`: a generator that yields actions and is told their results.

`delivery_flow` decides everything (what to reserve, which batches to form, when a batch may be
sent, what an answer means for the ledger); the sync and async drivers in ``_execute`` only
perform the actions it yields, one at a time, and send back each result (or throw the
`wxsegment.api.WeChatError` a send raised). The order of writes makes every crash point safe:

reserve -> store the layout -> mark ATTEMPTING -> send -> mark ACCEPTED -> commit -> COMMITTED

A crash before the layout is stored leaves reservations in no batch: never sent, so a resume
batches them anew. A crash after ATTEMPTING leaves a batch whose outcome is unknown: it is only
ever resent under its own id (45065 settles it) and never released (D3).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from wxsegment._clock import month_key
from wxsegment.api import MassMessage, SendResult, WeChatError, WeChatValidationError
from wxsegment.delivery._campaign import (
    BatchOutcome,
    BatchResult,
    Campaign,
    DeliveryError,
    Report,
    ResumeMismatchError,
    batch_clientmsgid,
    form_batches,
)
from wxsegment.delivery._journal import LIVE_STATES, BatchRecord, BatchState, Lease
from wxsegment.quota import PendingEntry, RefusalReason, Reservation, Transition

__all__ = [
    "Acquire",
    "Action",
    "AddBatches",
    "Commit",
    "ListPending",
    "LoadBatches",
    "Now",
    "Progress",
    "RecordExternal",
    "Release",
    "Renew",
    "Reserve",
    "Send",
    "Settings",
    "Update",
    "delivery_flow",
]


@attrs.frozen
class Now:
    """Read the clock; the result is an aware datetime."""


@attrs.frozen
class Acquire:
    """Take the campaign's lease (result: `Lease`; `CampaignBusyError` propagates)."""

    campaign: str
    now: datetime
    ttl: timedelta


@attrs.frozen
class Renew:
    """Extend the lease before a write (result: `Lease`; `LeaseLostError` propagates)."""

    lease: Lease
    now: datetime
    ttl: timedelta


@attrs.frozen
class LoadBatches:
    """Read the campaign's stored batches (result: list of `BatchRecord`)."""

    campaign: str


@attrs.frozen
class AddBatches:
    """Store new batches, fenced by the lease (result: None)."""

    lease: Lease
    records: tuple[BatchRecord, ...]


@attrs.frozen
class Update:
    """Move one stored batch from ``expect`` to ``state``, fenced by the lease (result: None)."""

    lease: Lease
    index: int
    expect: BatchState
    state: BatchState
    attempted_at: datetime | None = None
    msg_id: int | None = None


@attrs.frozen
class Reserve:
    """``ledger.reserve`` (result: `wxsegment.quota.Reservation`)."""

    campaign: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")
    at: datetime
    content_key: str | None


@attrs.frozen
class Commit:
    """``ledger.commit`` (result: `wxsegment.quota.Transition`)."""

    campaign: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")


@attrs.frozen
class Release:
    """``ledger.release`` (result: `wxsegment.quota.Transition`)."""

    campaign: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")


@attrs.frozen
class RecordExternal:
    """``ledger.record_external`` (result: `wxsegment.quota.Transition`)."""

    external_id: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")
    at: datetime
    content_key: str | None


@attrs.frozen
class ListPending:
    """``ledger.pending(campaign)`` (result: list of `wxsegment.quota.PendingEntry`)."""

    campaign: str


@attrs.frozen
class Send:
    """``client.mass.send_to_openids`` (result: list of `SendResult`, or a thrown WeChatError)."""

    clientmsgid: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")
    message: MassMessage


@attrs.frozen
class Progress:
    """Tell the caller's ``on_progress`` about a settled batch (result: None)."""

    result: BatchResult


Action = (
    Now
    | Acquire
    | Renew
    | LoadBatches
    | AddBatches
    | Update
    | Reserve
    | Commit
    | Release
    | RecordExternal
    | ListPending
    | Send
    | Progress
)


@attrs.frozen
class Settings:
    """The knobs of one run, checked by the drivers before the flow starts."""

    batch_size: int
    definite: Callable[[WeChatError], bool]
    dedup_window: timedelta
    lease_ttl: timedelta
    month_end_margin: timedelta


#: A journal write stores batches until they hold this many members (five full batches).
_MEMBERS_PER_WRITE = 50_000


def _proves_no_job(
    error: WeChatError | WeChatValidationError, definite: Callable[[WeChatError], bool]
) -> bool:
    """Whether every attempt of one send was definitely refused, by ``definite``'s rule.

    The client's retries of one send are the error's ``__cause__`` chain.
    """
    if isinstance(error, WeChatValidationError):
        return error.__cause__ is None
    seen: BaseException | None = error
    while seen is not None:
        if not isinstance(seen, WeChatError) or not definite(seen):
            return False
        seen = seen.__cause__
    return True


def _near_month_end(now: datetime, margin: timedelta) -> bool:
    return month_key(now + margin) != month_key(now)


def _external_id(clientmsgid: str) -> str:
    return f"uncounted:{clientmsgid}"


class _Run:
    """The mutable state of one run of the flow (the flow's locals, shared by its helpers)."""

    def __init__(self, campaign: Campaign, audience: Sequence[str], settings: Settings) -> None:
        self.campaign = campaign
        self.audience = audience
        self.settings = settings
        self.results: list[BatchResult] = []
        self.errors: list[str] = []
        self.refused_quota = 0
        self.refused_duplicate = 0
        self.next_index = 0
        self.lease: Lease | None = None

    def tally(self, reservation: Reservation) -> tuple[str, ...]:
        for reason in reservation.refused.values():
            if reason is RefusalReason.DUPLICATE_CONTENT:
                self.refused_duplicate += 1
            else:
                self.refused_quota += 1
        return reservation.granted

    def current_lease(self) -> Lease:
        assert self.lease is not None
        return self.lease


def delivery_flow(
    campaign: Campaign, audience: Sequence[str], settings: Settings
) -> Generator[Action, Any, Report]:
    """The whole of one `execute` run as actions; returns the run's `Report`.

    ``audience`` holds unique, checked openids. The first action is `Now`, the second
    `Acquire`; nothing is written before the lease is held.
    """
    run = _Run(campaign, audience, settings)
    start: datetime = yield Now()
    run.lease = yield Acquire(campaign.id, start, settings.lease_ttl)
    stored: list[BatchRecord] = yield LoadBatches(campaign.id)
    _check_stored(campaign, stored)
    run.next_index = max((r.index for r in stored), default=-1) + 1
    queue = [r for r in stored if r.state in LIVE_STATES or r.state is BatchState.COMMITTED]
    in_batches = {o for r in queue if r.state in LIVE_STATES for o in r.members}

    for offset in range(0, len(audience), settings.batch_size):
        chunk = tuple(audience[offset : offset + settings.batch_size])
        reservation = yield from _write(
            run, Reserve(campaign.id, chunk, start, campaign.content_key)
        )
        run.tally(reservation)

    entries: list[PendingEntry] = yield ListPending(campaign.id)
    queue.extend((yield from _batch_orphans(run, entries, in_batches)))

    position = 0
    while position < len(queue):
        record = queue[position]
        position += 1
        queue.extend((yield from _settle(run, record)))
    return Report(
        campaign=campaign.id,
        month=month_key(start),
        matched=len(audience),
        refused_quota=run.refused_quota,
        refused_duplicate=run.refused_duplicate,
        batches=tuple(run.results),
        errors=tuple(run.errors),
    )


def _check_stored(campaign: Campaign, stored: Sequence[BatchRecord]) -> None:
    for record in stored:
        if record.clientmsgid != batch_clientmsgid(campaign.id, record.index):
            raise ResumeMismatchError(
                f"the journal's batch {record.index} of {campaign.id!r} has another clientmsgid; "
                "the journal does not belong to this campaign"
            )


def _renew(run: _Run) -> Generator[Action, Any, datetime]:
    now: datetime = yield Now()
    run.lease = yield Renew(run.current_lease(), now, run.settings.lease_ttl)
    return now


def _write(
    run: _Run, action: Reserve | Commit | Release | RecordExternal
) -> Generator[Action, Any, Any]:
    """A ledger write, made only while the lease is still ours (D4); releases are checked."""
    yield from _renew(run)
    result = yield action
    if isinstance(action, Release) and result.refused:
        run.errors.append(
            f"{len(result.refused)} followers of {action.campaign!r} could not be released "
            "because they are committed"
        )
    return result


def _batch_orphans(
    run: _Run, entries: Sequence[PendingEntry], in_batches: set[str]
) -> Generator[Action, Any, list[BatchRecord]]:
    """Pending reservations in no live batch were never sent: release or batch them."""
    campaign = run.campaign
    wanted = set(run.audience)
    orphans = [e for e in entries if e.openid not in in_batches]
    outside = tuple(sorted(e.openid for e in orphans if e.openid not in wanted))
    now = yield from _renew(run)
    month = month_key(now)
    stale = tuple(sorted(e.openid for e in orphans if e.openid in wanted and e.month != month))
    fresh = sorted(e.openid for e in orphans if e.openid in wanted and e.month == month)
    if outside:
        yield from _write(run, Release(campaign.id, outside))
    if stale:
        # Reserved for a month that has ended and never sent: move them to this month.
        yield from _write(run, Release(campaign.id, stale))
        reservation = yield from _write(run, Reserve(campaign.id, stale, now, campaign.content_key))
        fresh = sorted({*fresh, *run.tally(reservation)})
    return (yield from _form(run, fresh, now))


def _form(
    run: _Run, openids: Sequence[str], now: datetime
) -> Generator[Action, Any, list[BatchRecord]]:
    """Cut reserved, never-sent followers into new batches and store them before any send."""
    campaign = run.campaign
    if len(openids) == 1:
        yield from _write(run, Release(campaign.id, tuple(openids)))
        result = BatchResult(
            run.next_index,
            batch_clientmsgid(campaign.id, run.next_index),
            tuple(openids),
            BatchOutcome.UNSENDABLE,
            month=month_key(now),
        )
        yield from _report(run, result)
        return []
    if not openids:
        return []
    cuts = form_batches(openids, run.settings.batch_size)
    if run.next_index + len(cuts) > 10_000_000:
        raise DeliveryError(f"campaign {campaign.id!r} has used all its batch indexes")
    records = tuple(
        BatchRecord(
            campaign=campaign.id,
            index=run.next_index + offset,
            clientmsgid=batch_clientmsgid(campaign.id, run.next_index + offset),
            members=members,
            month=month_key(now),
            state=BatchState.FORMED,
            formed_at=now,
        )
        for offset, members in enumerate(cuts)
    )
    run.next_index += len(records)
    # Stored a few batches per write, so one write stays small; a crash between two writes
    # leaves the rest unbatched, which a resume batches anew.
    group: list[BatchRecord] = []
    for record in records:
        group.append(record)
        if sum(len(r.members) for r in group) >= _MEMBERS_PER_WRITE:
            yield AddBatches(run.current_lease(), tuple(group))
            group = []
    if group:
        yield AddBatches(run.current_lease(), tuple(group))
    return list(records)


def _report(run: _Run, result: BatchResult) -> Generator[Action, Any, None]:
    run.results.append(result)
    yield Progress(result)


def _result(record: BatchRecord, outcome: BatchOutcome, **extra: Any) -> BatchResult:
    return BatchResult(
        record.index, record.clientmsgid, record.members, outcome, month=record.month, **extra
    )


def _settle(run: _Run, record: BatchRecord) -> Generator[Action, Any, list[BatchRecord]]:
    """Drive one stored batch as far as it can go now; returns batches formed to replace it."""
    if record.state is BatchState.COMMITTED:
        yield from _report(
            run, _result(record, BatchOutcome.COMMITTED_BEFORE, msg_id=record.msg_id)
        )
        return []
    if record.state is BatchState.ACCEPTED:
        yield from _renew(run)
        yield from _commit(run, record, record.msg_id, BatchOutcome.ALREADY_SENT)
        return []
    now: datetime = yield Now()
    month = month_key(now)
    if record.state is BatchState.FORMED and month != record.month:
        return (yield from _move(run, record))
    if record.state is BatchState.ATTEMPTING:
        reason = _why_not_resend(run, record, now)
        if reason is not None:
            yield from _report(run, _result(record, BatchOutcome.PENDING, error=reason))
            return []
    if _near_month_end(now, run.settings.month_end_margin):
        error = (
            "not sent: the Shanghai month ends within "
            f"{run.settings.month_end_margin}; a later run sends it in the new month"
        )
        outcome = (
            BatchOutcome.DEFERRED if record.state is BatchState.FORMED else BatchOutcome.PENDING
        )
        yield from _report(run, _result(record, outcome, error=error))
        return []
    yield from _send(run, record, now)
    return []


def _why_not_resend(run: _Run, record: BatchRecord, now: datetime) -> str | None:
    if record.month != month_key(now):
        return (
            f"attempted in {record.month} with an unknown outcome; resending in "
            f"{month_key(now)} could push in a month the ledger does not count it in: check "
            "the send (mass/get) and commit or release by hand"
        )
    first = record.attempted_at or record.formed_at
    if now - first >= run.settings.dedup_window:
        return (
            "attempted longer ago than WeChat remembers a clientmsgid (24 h): a resend could "
            "push twice; check the send (mass/get) and commit or release by hand"
        )
    return None


def _move(run: _Run, record: BatchRecord) -> Generator[Action, Any, list[BatchRecord]]:
    """Re-reserve a never-sent batch in the current month (D1); a crash only under-sends."""
    campaign = run.campaign
    now = yield from _renew(run)
    yield Update(run.current_lease(), record.index, BatchState.FORMED, BatchState.VOID)
    yield from _write(run, Release(campaign.id, record.members))
    reservation: Reservation = yield from _write(
        run, Reserve(campaign.id, record.members, now, campaign.content_key)
    )
    granted = sorted(run.tally(reservation))
    return (yield from _form(run, granted, now))


def _send(run: _Run, record: BatchRecord, now: datetime) -> Generator[Action, Any, None]:
    first_attempt = record.state is BatchState.FORMED
    yield from _renew(run)
    yield Update(
        run.current_lease(),
        record.index,
        record.state,
        BatchState.ATTEMPTING,
        attempted_at=now,
    )
    try:
        answers: list[SendResult] = yield Send(
            record.clientmsgid, record.members, run.campaign.message
        )
    except (WeChatError, WeChatValidationError) as error:
        # A local validation error means nothing left this process; any other refusal proves
        # nothing about an earlier attempt, so only a first attempt may be released (D3).
        if first_attempt and _proves_no_job(error, run.settings.definite):
            yield from _renew(run)
            yield Update(
                run.current_lease(), record.index, BatchState.ATTEMPTING, BatchState.REFUSED
            )
            yield from _write(run, Release(run.campaign.id, record.members))
            yield from _report(run, _result(record, BatchOutcome.RELEASED, error=repr(error)))
        else:
            yield from _report(run, _result(record, BatchOutcome.PENDING, error=repr(error)))
        return
    # A batch never exceeds MASS_BATCH_MAX, so it is exactly one call with exactly this id.
    (answer,) = answers
    yield from _renew(run)
    yield Update(
        run.current_lease(),
        record.index,
        BatchState.ATTEMPTING,
        BatchState.ACCEPTED,
        msg_id=answer.msg_id,
    )
    outcome = BatchOutcome.ALREADY_SENT if answer.already_sent else BatchOutcome.SENT
    record = attrs.evolve(record, attempted_at=record.attempted_at or now)
    yield from _commit(run, record, answer.msg_id, outcome)


def _commit(
    run: _Run, record: BatchRecord, msg_id: int | None, outcome: BatchOutcome
) -> Generator[Action, Any, None]:
    campaign = run.campaign
    transition: Transition = yield from _write(run, Commit(campaign.id, record.members))
    error = None
    if transition.missing:
        # WeChat pushed them but the ledger holds no reservation: count them anyway (D5) and
        # say so; this is the trace of another run having released what this one sent.
        at = record.attempted_at or record.formed_at
        # Not gated on the lease: counting a delivered push is right whoever holds it, and
        # idempotent per external id.
        yield RecordExternal(
            _external_id(record.clientmsgid), transition.missing, at, campaign.content_key
        )
        error = (
            f"batch {record.index}: {len(transition.missing)} followers were pushed without a "
            f"reservation; recorded as external send {_external_id(record.clientmsgid)!r}"
        )
        run.errors.append(error)
    yield Update(run.current_lease(), record.index, BatchState.ACCEPTED, BatchState.COMMITTED)
    yield from _report(run, _result(record, outcome, msg_id=msg_id, error=error))
