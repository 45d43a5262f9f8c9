"""Messages inside the 48-hour customer-service window: follow-ups and flash-sale reminders.

None of these touch the monthly mass-push quota: a customer-service message goes out only
while `wxsegment.quota.ServiceWindow` grants one (it is consumed right before the send), and a
template message is the optional fallback when the window is closed. Each (rule, follower,
occasion) is *claimed* in a claim store before anything is sent, so a retried or concurrent run
never sends it twice; a crash between the claim and the send loses that one message (it is
never sent twice instead).

The decisions are made by `_Decider`, which does no I/O; `follow_up`/`send_reminders` and their
async twins only send.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Protocol

import attrs

from wxsegment._clock import ensure_aware
from wxsegment.api import (
    AsyncClient,
    Client,
    CustomMessage,
    ServiceWindowClosedError,
    Text,
    WeChatError,
)
from wxsegment.api._messages import CUSTOM_TYPES
from wxsegment.api._messaging import TemplateValue
from wxsegment.delivery._campaign import check_client
from wxsegment.delivery._table import count_table
from wxsegment.quota import MemoryWindowStore, ServiceWindow

__all__ = [
    "CLAIM_TTL",
    "ClaimStore",
    "FollowUp",
    "MemoryClaimStore",
    "Reminder",
    "TemplateFallback",
    "WindowOutcome",
    "WindowSendReport",
    "async_follow_up",
    "async_send_reminders",
    "follow_up",
    "send_reminders",
]

#: How long a claim is kept: well past the 48-hour window, so no late retry sends twice.
CLAIM_TTL: Final = timedelta(days=7)


class ClaimStore(Protocol):
    """Where sends are claimed; `wxsegment.api.callback`'s dedup stores fit (SQLite, Redis)."""

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Claim ``key`` until ``now + ttl``; True if nobody held it."""
        ...


class MemoryClaimStore:
    """Claims in this process only, never evicted before they expire."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryClaimStore(claims={len(self._until)})"

    def add(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """Claim ``key``; True if it was free (or its claim had expired)."""
        with self._lock:
            held = self._until.get(key)
            if held is not None and held > now:
                return False
            self._until[key] = now + ttl
            return True


class WindowOutcome(enum.Enum):
    """What happened to one follower's message."""

    #: A customer-service message went out inside the window.
    CUSTOMER_SERVICE = "customer_service"
    #: The window was closed; the template fallback went out.
    TEMPLATE = "template"
    #: The window was closed (or exhausted) and there is no fallback: nothing was sent.
    CLOSED = "closed"
    #: Already claimed by an earlier or concurrent run: nothing was sent now.
    DUPLICATE = "duplicate"
    #: Its time has not come: nothing was claimed or sent.
    NOT_DUE = "not_due"
    #: Too late to be worth sending (or the sale started): nothing was claimed or sent.
    EXPIRED = "expired"
    #: WeChat refused the send for another reason; the claim stays, so it is not retried.
    FAILED = "failed"


@attrs.frozen(repr=False)
class WindowSendReport:
    """Per follower, what happened; ``errors`` holds the error class of each failure."""

    outcomes: Mapping[str, WindowOutcome]
    errors: Mapping[str, str] = attrs.field(factory=dict)

    def count(self, outcome: WindowOutcome) -> int:
        """How many followers had ``outcome``."""
        return sum(1 for value in self.outcomes.values() if value is outcome)

    @property
    def sent(self) -> int:
        """Messages that went out (customer-service or template)."""
        return self.count(WindowOutcome.CUSTOMER_SERVICE) + self.count(WindowOutcome.TEMPLATE)

    def to_dict(self) -> dict[str, int]:
        """Counts per outcome, for JSON."""
        counts = Counter(value.value for value in self.outcomes.values())
        return {outcome.value: counts.get(outcome.value, 0) for outcome in WindowOutcome}

    def table(self) -> str:
        """A text table for a terminal: one line per outcome."""
        return count_table("follow-up sends", self.to_dict().items())

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.to_dict().items() if v)
        return f"WindowSendReport({shown or 'nothing'})"


def _check_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or "\x1f" in value:
        raise ValueError(f"id must be 1-64 characters without U+001F, got {value!r}")
    return value


def _check_message(_: object, __: object, value: Any) -> None:
    if not isinstance(value, CUSTOM_TYPES):
        raise TypeError(f"{type(value).__name__} is not a customer-service message")


def _frozen_data(data: Mapping[str, TemplateValue]) -> Mapping[str, TemplateValue]:
    return MappingProxyType(dict(data))


@attrs.frozen(kw_only=True)
class TemplateFallback:
    """A template message sent when the window is closed (templates need no window)."""

    template_id: str
    data: Mapping[str, TemplateValue] = attrs.field(converter=_frozen_data)
    url: str | None = None
    miniprogram: tuple[str, str] | None = None


@attrs.frozen(kw_only=True)
class FollowUp:
    """``after`` an interaction, if the window still allows, send ``message``, else ``fallback``."

    A follower's occasion is the instant of the interaction. It is due from ``occasion + after``
    and expires ``give_up_after`` later (default: when the 48-hour window of that interaction
    closes), so a late run does not send stale follow-ups.
    """

    id: str = attrs.field(converter=_check_id)
    message: CustomMessage = attrs.field(validator=_check_message)
    after: timedelta = timedelta(0)
    give_up_after: timedelta = timedelta(hours=48)
    fallback: TemplateFallback | None = None

    def __attrs_post_init__(self) -> None:
        if self.after < timedelta(0) or self.give_up_after <= timedelta(0):
            raise ValueError("after must be >= 0 and give_up_after > 0")


#: The default opt-out line of a reminder.
DEFAULT_OPT_OUT: Final = "回复 TD 不再接收提醒"


@attrs.frozen(kw_only=True)
class Reminder:
    """A reminder ``lead`` before ``starts_at`` to followers who opted in (e.g. a flash sale).

    ``text`` gets ``opt_out`` appended on its own line. Due from ``starts_at - lead``; expired
    once ``starts_at`` has passed.
    """

    id: str = attrs.field(converter=_check_id)
    starts_at: datetime = attrs.field(validator=lambda _, __, v: ensure_aware(v, "starts_at"))
    text: str
    lead: timedelta = timedelta(minutes=10)
    opt_out: str = DEFAULT_OPT_OUT
    fallback: TemplateFallback | None = None

    @property
    def message(self) -> Text:
        """The customer-service message, opt-out line included."""
        return Text(f"{self.text}\n{self.opt_out}" if self.opt_out else self.text)


@attrs.frozen
class _Target:
    openid: str
    key: str
    due: datetime
    expires: datetime


class _Decider:
    """The I/O-free part: which targets to claim, and what a send's outcome means."""

    def __init__(self, window: ServiceWindow, claims: ClaimStore, now: datetime) -> None:
        if not isinstance(window, ServiceWindow):
            raise TypeError(f"window must be a ServiceWindow, not {type(window).__name__}")
        self.window = window
        self.claims = claims
        self.now = ensure_aware(now, "now")
        self.outcomes: dict[str, WindowOutcome] = {}
        self.errors: dict[str, str] = {}
        # A database or Redis round trip per target would stall an event loop; memory is instant.
        self.blocking = not (
            isinstance(window.store, MemoryWindowStore) and isinstance(claims, MemoryClaimStore)
        )

    def start(self, target: _Target) -> str | None:
        """``"cs"``, ``"template"`` or None (the outcome is already recorded)."""
        if self.now < target.due:
            self.outcomes[target.openid] = WindowOutcome.NOT_DUE
            return None
        if self.now >= target.expires:
            self.outcomes[target.openid] = WindowOutcome.EXPIRED
            return None
        if not self.claims.add(target.key, now=self.now, ttl=CLAIM_TTL):
            self.outcomes[target.openid] = WindowOutcome.DUPLICATE
            return None
        if self.window.consume(target.openid, now=self.now).granted:
            return "cs"
        return "template"

    def closed(self, openid: str, fallback: TemplateFallback | None) -> bool:
        """The window is closed: whether to send the fallback (else the outcome is CLOSED)."""
        if fallback is None:
            self.outcomes[openid] = WindowOutcome.CLOSED
            return False
        return True

    def done(self, openid: str, outcome: WindowOutcome, error: Exception | None = None) -> None:
        self.outcomes[openid] = outcome
        if error is not None:
            self.errors[openid] = type(error).__name__

    def report(self) -> WindowSendReport:
        return WindowSendReport(MappingProxyType(self.outcomes), MappingProxyType(self.errors))


def _occasions(rule: FollowUp, events: Iterable[tuple[str, datetime]]) -> list[_Target]:
    targets: dict[str, _Target] = {}
    for openid, at in events:
        if not isinstance(openid, str) or not openid:
            raise ValueError(f"openid must be a non-empty str, got {openid!r}")
        ensure_aware(at, "event time")
        key = f"followup\x1f{rule.id}\x1f{openid}\x1f{int(at.timestamp() * 1_000_000)}"
        due = at + rule.after
        target = _Target(openid, key, due, due + rule.give_up_after)
        # One message per follower per run: the latest occasion counts.
        if openid not in targets or targets[openid].due < due:
            targets[openid] = target
    return list(targets.values())


def _reminder_targets(reminder: Reminder, openids: Iterable[str]) -> list[_Target]:
    due = reminder.starts_at - reminder.lead
    out: dict[str, _Target] = {}
    for openid in openids:
        if not isinstance(openid, str) or not openid:
            raise ValueError(f"openid must be a non-empty str, got {openid!r}")
        out[openid] = _Target(
            openid, f"reminder\x1f{reminder.id}\x1f{openid}", due, reminder.starts_at
        )
    return list(out.values())


def _run(
    client: Client,
    decider: _Decider,
    targets: Sequence[_Target],
    message: CustomMessage,
    fallback: TemplateFallback | None,
) -> WindowSendReport:
    for target in targets:
        openid = target.openid
        step = decider.start(target)
        if step == "cs":
            try:
                client.messages.send(openid, message)
                decider.done(openid, WindowOutcome.CUSTOMER_SERVICE)
                continue
            except ServiceWindowClosedError:
                step = "template"  # WeChat's view wins over the ledger's
            except WeChatError as error:
                decider.done(openid, WindowOutcome.FAILED, error)
                continue
        if step == "template" and decider.closed(openid, fallback):
            assert fallback is not None
            try:
                client.messages.send_template(
                    openid,
                    fallback.template_id,
                    fallback.data,
                    url=fallback.url,
                    miniprogram=fallback.miniprogram,
                )
                decider.done(openid, WindowOutcome.TEMPLATE)
            except WeChatError as error:
                decider.done(openid, WindowOutcome.FAILED, error)
    return decider.report()


async def _run_async(
    client: AsyncClient,
    decider: _Decider,
    targets: Sequence[_Target],
    message: CustomMessage,
    fallback: TemplateFallback | None,
    concurrency: int,
) -> WindowSendReport:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")

    async def one(target: _Target) -> None:
        openid = target.openid
        if decider.blocking:
            step = await asyncio.to_thread(decider.start, target)
        else:
            step = decider.start(target)
        if step == "cs":
            try:
                await client.messages.send(openid, message)
                decider.done(openid, WindowOutcome.CUSTOMER_SERVICE)
                return
            except ServiceWindowClosedError:
                step = "template"
            except WeChatError as error:
                decider.done(openid, WindowOutcome.FAILED, error)
                return
        if step == "template" and decider.closed(openid, fallback):
            assert fallback is not None
            try:
                await client.messages.send_template(
                    openid,
                    fallback.template_id,
                    fallback.data,
                    url=fallback.url,
                    miniprogram=fallback.miniprogram,
                )
                decider.done(openid, WindowOutcome.TEMPLATE)
            except WeChatError as error:
                decider.done(openid, WindowOutcome.FAILED, error)

    # A fixed pool of workers, each sending one message at a time, bounds what is in flight
    # without a task (and a semaphore waiter) per target: 100,000 of those cost more CPU than
    # the sends themselves once the server answers in tens of milliseconds.
    queue = iter(targets)

    async def worker() -> None:
        for target in queue:
            await one(target)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(targets)))))
    return decider.report()


def follow_up(
    client: Client,
    window: ServiceWindow,
    rule: FollowUp,
    events: Iterable[tuple[str, datetime]],
    *,
    now: datetime,
    claims: ClaimStore | None = None,
) -> WindowSendReport:
    """Send ``rule``'s follow-up to each ``(openid, interaction time)`` that is due at ``now``.

    Safe to call repeatedly (e.g. every minute with the last 48 hours of events): a claimed
    follow-up is never sent again. Pass a shared ``claims`` store when several processes run it.
    """
    check_client(client, Client)
    targets = _occasions(rule, events)
    decider = _Decider(window, claims if claims is not None else MemoryClaimStore(), now)
    return _run(client, decider, targets, rule.message, rule.fallback)


async def async_follow_up(
    client: AsyncClient,
    window: ServiceWindow,
    rule: FollowUp,
    events: Iterable[tuple[str, datetime]],
    *,
    now: datetime,
    claims: ClaimStore | None = None,
    concurrency: int = 32,
) -> WindowSendReport:
    """`follow_up` over `AsyncClient`, at most ``concurrency`` sends in flight.

    With a window or claim store other than the in-memory ones, their calls run in worker
    threads (up to ``concurrency`` at once), so a database round trip never stalls the loop;
    a ``claims`` store of your own must then be safe to call from several threads.
    """
    check_client(client, AsyncClient)
    targets = _occasions(rule, events)
    decider = _Decider(window, claims if claims is not None else MemoryClaimStore(), now)
    return await _run_async(client, decider, targets, rule.message, rule.fallback, concurrency)


def send_reminders(
    client: Client,
    window: ServiceWindow,
    reminder: Reminder,
    openids: Iterable[str],
    *,
    now: datetime,
    claims: ClaimStore | None = None,
) -> WindowSendReport:
    """Remind each of ``openids`` (the opted-in followers) once, from ``lead`` before the start."""
    check_client(client, Client)
    targets = _reminder_targets(reminder, openids)
    decider = _Decider(window, claims if claims is not None else MemoryClaimStore(), now)
    return _run(client, decider, targets, reminder.message, reminder.fallback)


async def async_send_reminders(
    client: AsyncClient,
    window: ServiceWindow,
    reminder: Reminder,
    openids: Iterable[str],
    *,
    now: datetime,
    claims: ClaimStore | None = None,
    concurrency: int = 32,
) -> WindowSendReport:
    """`send_reminders` over `AsyncClient`, at most ``concurrency`` sends in flight.

    Window and claim stores are called as in `async_follow_up`.
    """
    check_client(client, AsyncClient)
    targets = _reminder_targets(reminder, openids)
    decider = _Decider(window, claims if claims is not None else MemoryClaimStore(), now)
    return await _run_async(
        client, decider, targets, reminder.message, reminder.fallback, concurrency
    )
