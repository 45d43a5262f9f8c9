"""`execute` and `async_execute`: thin drivers performing the actions of the delivery flow.

Both check everything they are given before the first write, then run `delivery_flow` and do
its I/O: the send goes through `Client` or, awaited, through `AsyncClient`. The ledger and the
journal are blocking stores; `execute` calls them directly and `async_execute` in a worker
thread, so a fsync or a database round trip never stalls the application's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from wxsegment._clock import Clock, FixedClock, SystemClock, ensure_aware
from wxsegment.api import AsyncClient, Client, WeChatError, WeChatValidationError
from wxsegment.delivery._campaign import (
    DEFAULT_BATCH_SIZE,
    BatchOutcome,
    BatchResult,
    Campaign,
    DeliveryError,
    Report,
    _check_batch_size,
    _check_storable,
    _unique_openids,
    check_client,
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
    RecordExternal,
    Release,
    Renew,
    Reserve,
    Send,
    Settings,
    Update,
    delivery_flow,
)
from wxsegment.delivery._journal import (
    BatchState,
    DeliveryJournal,
    JournalConflictError,
    Lease,
)
from wxsegment.delivery._journal_for import journal_for
from wxsegment.quota import QuotaLedger

__all__ = [
    "DEDUP_WINDOW",
    "LEASE_TTL",
    "MONTH_END_MARGIN",
    "async_execute",
    "execute",
    "resolve_batch",
]

#: WeChat answers 45065 for a clientmsgid it saw in the last 24 hours, and only then.
DEDUP_WINDOW: Final = timedelta(hours=24)
#: How long a run's lease lasts without renewal; it is renewed before every write.
LEASE_TTL: Final = timedelta(minutes=10)
#: No send starts this close to the end of a Shanghai month: the client's own pacing and
#: retries happen after the clock is read, and must not carry a send into the next month.
MONTH_END_MARGIN: Final = timedelta(minutes=10)


def _check_span(value: object, name: str, *, positive: bool) -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0) or (positive and value == timedelta(0)):
        raise DeliveryError(f"{name} must be {'positive' if positive else 'non-negative'}")
    return value


@attrs.frozen
class _Checked:
    ledger: QuotaLedger
    journal: DeliveryJournal
    clock: Clock
    flow: Generator[Action, Any, Report]
    on_progress: Callable[[BatchResult], None] | None


def _prepare(
    ledger: object,
    campaign: object,
    audience: Iterable[str],
    *,
    journal: object,
    clock: Clock | None,
    now: datetime | None,
    batch_size: int,
    on_progress: Callable[[BatchResult], None] | None,
    definite: Callable[[WeChatError], bool],
    dedup_window: object,
    lease_ttl: object,
    month_end_margin: object,
) -> _Checked:
    if not isinstance(ledger, QuotaLedger):
        raise TypeError(f"ledger must be a QuotaLedger, not {type(ledger).__name__}")
    if not isinstance(campaign, Campaign):
        raise TypeError(f"campaign must be a Campaign, not {type(campaign).__name__}")
    _check_batch_size(batch_size)
    if not callable(definite):
        raise TypeError("definite must be a callable taking a WeChatError")
    if on_progress is not None and not callable(on_progress):
        raise TypeError("on_progress must be a callable taking a BatchResult, or None")
    settings = Settings(
        batch_size=batch_size,
        definite=definite,
        dedup_window=_check_span(dedup_window, "dedup_window", positive=True),
        lease_ttl=_check_span(lease_ttl, "lease_ttl", positive=True),
        month_end_margin=_check_span(month_end_margin, "month_end_margin", positive=False),
    )
    if clock is not None and now is not None:
        raise TypeError("give a clock or now, not both")
    if clock is None:
        clock = SystemClock() if now is None else FixedClock(ensure_aware(now, "now"))
    elif not callable(getattr(clock, "now", None)):
        raise TypeError(f"clock must have a now() method, not {type(clock).__name__}")
    openids = _check_storable(_unique_openids(audience))
    if journal is None:
        journal = journal_for(ledger)
    elif not isinstance(journal, DeliveryJournal):
        raise TypeError(f"journal must be a DeliveryJournal, not {type(journal).__name__}")
    if journal.account != ledger.account:
        raise DeliveryError(
            f"the journal belongs to account {journal.account!r}, the ledger to {ledger.account!r}"
        )
    return _Checked(
        ledger=ledger,
        journal=journal,
        clock=clock,
        flow=delivery_flow(campaign, openids, settings),
        on_progress=on_progress,
    )


def _perform(run: _Checked, action: Action) -> Any:
    """Every action but `Send`: ledger, journal, clock and progress calls."""
    ledger, journal = run.ledger, run.journal
    match action:
        case Now():
            return ensure_aware(run.clock.now(), "clock.now()")
        case Acquire(campaign=campaign, now=now, ttl=ttl):
            return journal.acquire(campaign, now=now, ttl=ttl)
        case Renew(lease=lease, now=now, ttl=ttl):
            return journal.renew(lease, now=now, ttl=ttl)
        case LoadBatches(campaign=campaign):
            return journal.batches(campaign)
        case AddBatches(lease=lease, records=records):
            return journal.add_batches(lease, records)
        case Update():
            return journal.update(
                action.lease,
                action.lease.campaign,
                action.index,
                expect=action.expect,
                state=action.state,
                attempted_at=action.attempted_at,
                msg_id=action.msg_id,
            )
        case Reserve(campaign=campaign, openids=openids, at=at, content_key=key):
            return ledger.reserve(campaign, openids, at=at, content_key=key)
        case Commit(campaign=campaign, openids=openids):
            return ledger.commit(campaign, openids)
        case Release(campaign=campaign, openids=openids):
            return ledger.release(campaign, openids)
        case RecordExternal(external_id=external_id, openids=openids, at=at, content_key=key):
            return ledger.record_external(external_id, openids, at=at, content_key=key)
        case ListPending(campaign=campaign):
            return list(ledger.pending(campaign))
        case Progress(result=result):
            if run.on_progress is not None:
                run.on_progress(result)
            return None
        case Send():
            raise AssertionError("sends are performed by the driver")


async def _perform_off_loop(run: _Checked, action: Action) -> Any:
    """`_perform` in a worker thread; the clock and the progress callback stay on the loop.

    If the awaiting task is cancelled, the store call already running is waited for before
    the cancellation goes on: the run then gives its lease up only after its last write, never
    while a write made under that lease is still in flight.
    """
    if isinstance(action, (Now, Progress)):
        return _perform(run, action)
    call = asyncio.ensure_future(asyncio.to_thread(_perform, run, action))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await call
        raise


def _give_up(run: _Checked, lease: Lease | None) -> None:
    run.flow.close()
    if lease is not None:
        # Best effort: a run that stops says so; if it cannot, the lease simply expires.
        with contextlib.suppress(Exception):
            run.journal.release_lease(lease)


def execute(
    client: Client,
    ledger: QuotaLedger,
    campaign: Campaign,
    audience: Iterable[str],
    *,
    journal: DeliveryJournal | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[BatchResult], None] | None = None,
    definite: Callable[[WeChatError], bool] = is_definite_refusal,
    dedup_window: timedelta = DEDUP_WINDOW,
    lease_ttl: timedelta = LEASE_TTL,
    month_end_margin: timedelta = MONTH_END_MARGIN,
) -> Report:
    """Reserve, store batches, send, and commit / release / keep pending each; resumable.

    ``journal`` stores each batch's layout and state (default `journal_for(ledger)`). The
    ``clock`` is read before every send (give ``now`` only for a run at one fixed instant).
    Run again to resume: stored batches are resent as stored, new followers get new batches.
    Raises `CampaignBusyError` if another run holds the campaign, `LeaseLostError` if one took
    it over mid-run; everything is checked before the first write.
    """
    check_client(client, Client, twin="async_execute")
    run = _prepare(
        ledger,
        campaign,
        audience,
        journal=journal,
        clock=clock,
        now=now,
        batch_size=batch_size,
        on_progress=on_progress,
        definite=definite,
        dedup_window=dedup_window,
        lease_ttl=lease_ttl,
        month_end_margin=month_end_margin,
    )
    lease: Lease | None = None
    try:
        action = next(run.flow)
        while True:
            if isinstance(action, Send):
                try:
                    result: Any = client.mass.send_to_openids(
                        action.openids,
                        action.message,
                        clientmsgid=action.clientmsgid,
                        not_after=action.not_after,
                    )
                except (WeChatError, WeChatValidationError) as error:
                    action = run.flow.throw(error)
                    continue
            else:
                result = _perform(run, action)
                if isinstance(action, (Acquire, Renew)):
                    lease = result
            action = run.flow.send(result)
    except StopIteration as stop:
        report: Report = stop.value
        return report
    finally:
        _give_up(run, lease)


async def async_execute(
    client: AsyncClient,
    ledger: QuotaLedger,
    campaign: Campaign,
    audience: Iterable[str],
    *,
    journal: DeliveryJournal | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[BatchResult], None] | None = None,
    definite: Callable[[WeChatError], bool] = is_definite_refusal,
    dedup_window: timedelta = DEDUP_WINDOW,
    lease_ttl: timedelta = LEASE_TTL,
    month_end_margin: timedelta = MONTH_END_MARGIN,
) -> Report:
    """`execute` over an `AsyncClient`: the same flow, the sends awaited.

    The blocking ledger and journal calls run in a worker thread (one at a time, in the
    flow's order), so the event loop stays free while they wait on disk or a database.
    """
    check_client(client, AsyncClient, twin="execute")
    run = _prepare(
        ledger,
        campaign,
        audience,
        journal=journal,
        clock=clock,
        now=now,
        batch_size=batch_size,
        on_progress=on_progress,
        definite=definite,
        dedup_window=dedup_window,
        lease_ttl=lease_ttl,
        month_end_margin=month_end_margin,
    )
    lease: Lease | None = None
    try:
        action = next(run.flow)
        while True:
            if isinstance(action, Send):
                try:
                    result: Any = await client.mass.send_to_openids(
                        action.openids,
                        action.message,
                        clientmsgid=action.clientmsgid,
                        not_after=action.not_after,
                    )
                except (WeChatError, WeChatValidationError) as error:
                    action = run.flow.throw(error)
                    continue
            else:
                result = await _perform_off_loop(run, action)
                if isinstance(action, (Acquire, Renew)):
                    lease = result
            action = run.flow.send(result)
    except StopIteration as stop:
        report: Report = stop.value
        return report
    finally:
        _give_up(run, lease)


def resolve_batch(
    ledger: QuotaLedger,
    campaign: Campaign,
    index: int,
    *,
    delivered: bool,
    journal: DeliveryJournal | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    lease_ttl: timedelta = LEASE_TTL,
) -> Report:
    """Settle by hand a batch left `ATTEMPTING` (e.g. checked with ``mass.status``).

    ``delivered=True`` commits its members (counting any the ledger lost as an external send);
    ``delivered=False`` records that WeChat has no job for it and releases them. Takes the
    campaign's lease like `execute`; raises `JournalConflictError` unless the batch is attempting.
    """
    if not isinstance(delivered, bool):
        raise TypeError("delivered must be True or False")
    run = _prepare(
        ledger,
        campaign,
        (),
        journal=journal,
        clock=clock,
        now=now,
        batch_size=DEFAULT_BATCH_SIZE,
        on_progress=None,
        definite=is_definite_refusal,
        dedup_window=DEDUP_WINDOW,
        lease_ttl=lease_ttl,
        month_end_margin=MONTH_END_MARGIN,
    )
    run.flow.close()
    checked = run.ledger
    at = ensure_aware(run.clock.now(), "clock.now()")
    lease = run.journal.acquire(campaign.id, now=at, ttl=lease_ttl)
    try:
        record = next((r for r in run.journal.batches(campaign.id) if r.index == index), None)
        if record is None or record.state is not BatchState.ATTEMPTING:
            found = "missing" if record is None else record.state.value
            raise JournalConflictError(
                f"batch {index} of {campaign.id!r} is {found}, not attempting"
            )
        errors: list[str] = []
        if delivered:
            run.journal.update(
                lease, campaign.id, index, expect=BatchState.ATTEMPTING, state=BatchState.ACCEPTED
            )
            transition = checked.commit(campaign.id, record.members)
            if transition.missing:
                external = f"uncounted:{record.clientmsgid}"
                checked.record_external(
                    external,
                    transition.missing,
                    at=record.attempted_at or record.formed_at,
                    content_key=campaign.content_key,
                )
                errors.append(
                    f"batch {index}: {len(transition.missing)} followers had no reservation; "
                    f"recorded as external send {external!r}"
                )
            run.journal.update(
                lease, campaign.id, index, expect=BatchState.ACCEPTED, state=BatchState.COMMITTED
            )
            outcome = BatchOutcome.ALREADY_SENT
        else:
            run.journal.update(
                lease, campaign.id, index, expect=BatchState.ATTEMPTING, state=BatchState.REFUSED
            )
            checked.release(campaign.id, record.members)
            outcome = BatchOutcome.RELEASED
    finally:
        run.journal.release_lease(lease)
    result = BatchResult(index, record.clientmsgid, record.members, outcome, month=record.month)
    return Report(
        campaign=campaign.id,
        month=record.month,
        matched=0,
        refused_quota=0,
        refused_duplicate=0,
        batches=(result,),
        errors=tuple(errors),
    )
