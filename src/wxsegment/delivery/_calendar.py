"""A campaign calendar: dated campaigns across months, planned together, run on schedule.

`plan_calendar` decides, before anything is sent, who gets which campaign: month by month
(of each campaign's ``send_at`` in Asia/Shanghai), highest priority first, never a content key
twice to one follower (across the whole calendar and what the ledger already holds), and
never more than the ledger's limit per follower and month, counting the slots already used
(committed, pending and external sends). `run_due` executes the campaigns whose time has come,
each with its planned audience; it is idempotent and safe to call every minute from several
hosts at once, because `execute`'s campaign lease lets one run at a time work on a campaign
and a campaign that has started is only ever resumed, never re-planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import attrs

from wxsegment._clock import SHANGHAI, ensure_aware, month_key
from wxsegment.api import AsyncClient, Client
from wxsegment.delivery._calendar_reads import SCAN_FROM, Assignment, MonthWork
from wxsegment.delivery._calendar_sets import assign_with_sets
from wxsegment.delivery._campaign import (
    Campaign,
    Report,
    check_client,
)
from wxsegment.delivery._execute import async_execute, execute
from wxsegment.delivery._journal import LIVE_STATES, CampaignBusyError, DeliveryJournal
from wxsegment.delivery._journal_for import journal_for
from wxsegment.quota import QuotaLedger

__all__ = [
    "DEFAULT_MAX_DELAY",
    "Calendar",
    "CalendarPlan",
    "CampaignPlan",
    "MonthPlan",
    "async_run_due",
    "plan_calendar",
    "run_due",
]

#: An assignment of a calendar's months: (months, audiences, ledger, stored audiences of the
#: started campaigns, scan_from=...) -> the decisions.
Assigner = Callable[..., Assignment]

#: How late a due campaign may still start; later than that it is reported missed, not sent.
DEFAULT_MAX_DELAY: Final = timedelta(hours=12)


def _check_campaigns(values: Iterable[Campaign]) -> tuple[Campaign, ...]:
    if isinstance(values, Campaign):
        raise TypeError("Calendar takes an iterable of campaigns, not one campaign")
    listed = list(values)
    seen: set[str] = set()
    for campaign in listed:
        if not isinstance(campaign, Campaign):
            raise TypeError(f"expected a Campaign, got {type(campaign).__name__}")
        if campaign.send_at is None:
            raise ValueError(f"campaign {campaign.id!r} has no send_at: a calendar needs one")
        if campaign.id in seen:
            raise ValueError(f"campaign id {campaign.id!r} appears twice in the calendar")
        seen.add(campaign.id)
    return tuple(sorted(listed, key=lambda c: (c.send_at, -c.priority, c.id)))


def _send_at(campaign: Campaign) -> datetime:
    assert campaign.send_at is not None  # checked by Calendar
    return campaign.send_at


@attrs.frozen
class Calendar:
    """Dated campaigns, in send order; ids unique, each with a ``send_at``."""

    campaigns: tuple[Campaign, ...] = attrs.field(converter=_check_campaigns)

    @property
    def months(self) -> tuple[str, ...]:
        """The Shanghai months the campaigns go out in, in order."""
        return tuple(dict.fromkeys(month_key(_send_at(c)) for c in self.campaigns))

    def in_month(self, month: str) -> tuple[Campaign, ...]:
        """The campaigns going out in ``month`` (``YYYY-MM``)."""
        return tuple(c for c in self.campaigns if month_key(_send_at(c)) == month)

    def get(self, campaign_id: str) -> Campaign:
        """The campaign with this id (``KeyError`` if none)."""
        for campaign in self.campaigns:
            if campaign.id == campaign_id:
                return campaign
        raise KeyError(campaign_id)

    def due(
        self, now: datetime, *, max_delay: timedelta = DEFAULT_MAX_DELAY
    ) -> tuple[Campaign, ...]:
        """Campaigns whose ``send_at`` is in ``[now - max_delay, now]``, in send order."""
        ensure_aware(now, "now")
        return tuple(c for c in self.campaigns if now - max_delay <= _send_at(c) <= now)


@attrs.frozen(repr=False)
class CampaignPlan:
    """Who one campaign goes to, and why the others do not (counts; ``audience`` is sorted)."""

    campaign: str
    month: str
    send_at: datetime
    priority: int
    matched: int
    audience: tuple[str, ...]
    dropped_quota: int
    dropped_duplicate: int
    #: True when the campaign had started: its audience is what it stored, not a new plan.
    started: bool = False

    @property
    def planned(self) -> int:
        """Followers the campaign goes to."""
        return len(self.audience)

    def to_dict(self) -> dict[str, Any]:
        """Counts and times, for JSON (no openids)."""
        return {
            "campaign": self.campaign,
            "month": self.month,
            "send_at": self.send_at.isoformat(),
            "priority": self.priority,
            "matched": self.matched,
            "planned": self.planned,
            "dropped_quota": self.dropped_quota,
            "dropped_duplicate": self.dropped_duplicate,
            "started": self.started,
        }

    def __repr__(self) -> str:
        return (
            f"CampaignPlan({self.campaign!r}, {self.month}, matched={self.matched}, "
            f"planned={self.planned}, dropped_quota={self.dropped_quota}, "
            f"dropped_duplicate={self.dropped_duplicate})"
        )


@attrs.frozen
class MonthPlan:
    """A month once the plan is sent: ``slots[n]`` followers with ``n`` pushes (0..limit)."""

    month: str
    slots: tuple[int, ...]

    @property
    def followers(self) -> int:
        """Followers counted (those in any of the month's audiences)."""
        return sum(self.slots)


@attrs.frozen(repr=False)
class CalendarPlan:
    """A plan for every campaign of a calendar and every month it spans."""

    campaigns: Mapping[str, CampaignPlan]
    months: Mapping[str, MonthPlan]

    def audience(self, campaign_id: str) -> tuple[str, ...]:
        """The planned openids of one campaign."""
        return self.campaigns[campaign_id].audience

    def to_dict(self) -> dict[str, Any]:
        """The whole plan as counts, for JSON."""
        return {
            "campaigns": [plan.to_dict() for plan in self.campaigns.values()],
            "months": {m.month: list(m.slots) for m in self.months.values()},
        }

    def svg(self) -> str:
        """The plan as an SVG chart: campaigns on a time line, then each month's slots used."""
        from wxsegment.delivery._chart import plan_svg

        return plan_svg(self)

    def table(self) -> str:
        """A text table: one line per campaign, then each month's distribution of slots."""
        head = f"{'send at (Shanghai)':19} {'campaign':24} {'prio':>4} {'matched':>9} "
        head += f"{'planned':>9} {'no slot':>9} {'had it':>9}"
        lines = [head, "-" * len(head)]
        for plan in self.campaigns.values():
            stamp = plan.send_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"{stamp:19} {plan.campaign[:24]:24} {plan.priority:>4} {plan.matched:>9,} "
                f"{plan.planned:>9,} {plan.dropped_quota:>9,} {plan.dropped_duplicate:>9,}"
            )
        for month in self.months.values():
            shares = "  ".join(f"{n}: {count:,}" for n, count in enumerate(month.slots))
            lines.append(f"{month.month} pushes per follower  {shares}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        planned = sum(p.planned for p in self.campaigns.values())
        return (
            f"CalendarPlan(campaigns={len(self.campaigns)}, months={list(self.months)}, "
            f"planned={planned})"
        )


def _started(
    journal: DeliveryJournal | None, ledger: QuotaLedger, campaign: str
) -> list[str] | None:
    """The stored audience of a campaign that has started (batches or pending), else None."""
    members: dict[str, None] = {}
    if journal is not None:
        for record in journal.batches(campaign):
            members.update(dict.fromkeys(record.members))
    for entry in ledger.pending(campaign):
        members[entry.openid] = None
    return sorted(members) if members else None


def _array_assigner() -> Assigner | None:
    """The numpy assignment when numpy is installed (the ``bitmap`` extra), else None."""
    try:
        from wxsegment.delivery._calendar_arrays import assign_with_arrays
    except ImportError:
        return None
    return assign_with_arrays


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, restoring its previous state afterwards.

    A plan for millions of followers allocates tens of millions of strings, tuples and dict
    entries, none of them in reference cycles; every full collection would walk them all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def plan_calendar(
    calendar: Calendar,
    audiences: Mapping[str, Iterable[str]],
    ledger: QuotaLedger,
    *,
    journal: DeliveryJournal | None = None,
) -> CalendarPlan:
    """Assign followers to the calendar's campaigns; no write is made.

    ``audiences`` maps each campaign id to the openids its segment matches (a campaign
    missing from it matches nobody). Reads the ledger in bulk: for audiences of at least
    100,000 distinct followers on a `ScanningLedger`, one `ScanningLedger.month_usage` per
    month and one `ScanningLedger.content_holders`; otherwise `QuotaLedger.usage_many` once
    per month and `QuotaLedger.held_content` once. With ``journal``, a campaign that has
    started keeps the audience it stored (plus its pending reservations).
    """
    if not isinstance(calendar, Calendar):
        raise TypeError(f"calendar must be a Calendar, not {type(calendar).__name__}")
    if not isinstance(ledger, QuotaLedger):
        raise TypeError(f"ledger must be a QuotaLedger, not {type(ledger).__name__}")
    unknown = set(audiences) - {c.id for c in calendar.campaigns}
    if unknown:
        raise ValueError(f"audiences name campaigns not in the calendar: {sorted(unknown)}")
    months = [
        MonthWork(
            month,
            _send_at(calendar.in_month(month)[0]),
            tuple(sorted(calendar.in_month(month), key=lambda c: (-c.priority, _send_at(c), c.id))),
        )
        for month in calendar.months
    ]
    stored: dict[str, list[str]] = {}
    if journal is not None:
        for campaign in calendar.campaigns:
            members = _started(journal, ledger, campaign.id)
            if members is not None:
                stored[campaign.id] = members
    assign = _array_assigner() or assign_with_sets
    with _collector_paused():
        result = assign(months, audiences, ledger, stored, scan_from=SCAN_FROM)
    plans: dict[str, CampaignPlan] = {}
    for work in months:
        for campaign in work.campaigns:
            decision = result.campaigns[campaign.id]
            plans[campaign.id] = CampaignPlan(
                campaign.id,
                work.month,
                _send_at(campaign),
                campaign.priority,
                decision.matched,
                decision.audience,
                decision.dropped_quota,
                decision.dropped_duplicate,
                started=decision.started,
            )
    ordered = {c.id: plans[c.id] for c in calendar.campaigns}
    months_planned = {m: MonthPlan(m, slots) for m, slots in result.months.items()}
    return CalendarPlan(MappingProxyType(ordered), MappingProxyType(months_planned))


@attrs.frozen
class _Due:
    campaign: Campaign
    audience: tuple[str, ...]


def _due_work(
    calendar: Calendar,
    audiences: Mapping[str, Iterable[str]],
    ledger: QuotaLedger,
    journal: DeliveryJournal,
    now: datetime,
    max_delay: timedelta,
) -> list[_Due]:
    """The due campaigns that still have work, each with the audience to run it with."""
    work: list[_Due] = []
    fresh: list[Campaign] = []
    for campaign in calendar.due(now, max_delay=max_delay):
        if month_key(_send_at(campaign)) != month_key(now):
            continue  # its month is over: its plan no longer holds (reported as missed)
        records = journal.batches(campaign.id)
        pending = [e.openid for e in ledger.pending(campaign.id)]
        if records or pending:
            if pending or any(r.state in LIVE_STATES for r in records):
                stored = {o: None for r in records for o in r.members}
                stored.update(dict.fromkeys(pending))
                work.append(_Due(campaign, tuple(sorted(stored))))
            continue
        fresh.append(campaign)
    if fresh:
        plan = plan_calendar(calendar, audiences, ledger, journal=journal)
        # A campaign planned for nobody has nothing to send (and nothing to store).
        work.extend(_Due(c, plan.audience(c.id)) for c in fresh if plan.audience(c.id))
    return sorted(work, key=lambda d: (_send_at(d.campaign), -d.campaign.priority))


def run_due(
    client: Client,
    ledger: QuotaLedger,
    calendar: Calendar,
    audiences: Mapping[str, Iterable[str]],
    *,
    now: datetime,
    journal: DeliveryJournal | None = None,
    max_delay: timedelta = DEFAULT_MAX_DELAY,
    **options: Any,
) -> list[Report]:
    """Execute every due campaign that still has work; returns the reports of those run.

    Idempotent: call it every minute (cron, APScheduler, Celery beat), from several hosts at
    once. A campaign another run holds is skipped (`CampaignBusyError`); a started one is
    resumed with exactly what it stored; a finished one is left alone. ``options`` go to
    `execute` (``batch_size``, ``clock``, ``on_progress``, ...).
    """
    check_client(client, Client)
    ensure_aware(now, "now")
    journal = journal if journal is not None else journal_for(ledger)
    reports: list[Report] = []
    for due in _due_work(calendar, audiences, ledger, journal, now, max_delay):
        try:
            reports.append(
                execute(
                    client, ledger, due.campaign, due.audience, journal=journal, **_at(now, options)
                )
            )
        except CampaignBusyError:
            continue
    return reports


async def async_run_due(
    client: AsyncClient,
    ledger: QuotaLedger,
    calendar: Calendar,
    audiences: Mapping[str, Iterable[str]],
    *,
    now: datetime,
    journal: DeliveryJournal | None = None,
    max_delay: timedelta = DEFAULT_MAX_DELAY,
    **options: Any,
) -> list[Report]:
    """`run_due` over `AsyncClient` and `async_execute`.

    The plan and the ledger and journal reads run in a worker thread, as `async_execute`'s
    store calls do, so a large plan never stalls the event loop.
    """
    check_client(client, AsyncClient)
    ensure_aware(now, "now")
    journal = journal if journal is not None else journal_for(ledger)
    reports: list[Report] = []
    # Planning reads the blocking ledger and journal and, for a large audience, takes seconds
    # of CPU: a worker thread keeps the event loop free meanwhile.
    work = await asyncio.to_thread(_due_work, calendar, audiences, ledger, journal, now, max_delay)
    for due in work:
        try:
            reports.append(
                await async_execute(
                    client, ledger, due.campaign, due.audience, journal=journal, **_at(now, options)
                )
            )
        except CampaignBusyError:
            continue
    return reports


def _at(now: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
    """``execute`` options, with ``now`` unless a clock is given (a clock is read per send)."""
    merged = dict(options)
    if "clock" not in merged:
        merged.setdefault("now", now)
    return merged
