"""The customer-service (客服) message window: may a customer-service message go out now?

WeChat lets an account send customer-service messages to a follower only for a while after
the follower interacted, and only a few of them. The default allowances follow WeChat's
published rules for service accounts (客服消息), restated in ``docs/quota.md`` ("The
customer-service window"), from
https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html
and https://developers.weixin.qq.com/doc/service/en/guide/product/kf/intro.html. WeChat has
changed those numbers before, so they are configuration (`WindowPolicy`), not constants.

Invariant W1: `ServiceWindow.consume` never grants a message that the policy does not allow,
across threads and processes sharing one `WindowStore`. Where WeChat's rules are silent (how
overlapping windows combine), the default reading is the one that can only *under*-send.
Customer-service and template messages never touch the monthly mass-push quota.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from wxsegment._clock import ensure_aware
from wxsegment.quota._types import DEFAULT_ACCOUNT, MAX_OPENID_LENGTH
from wxsegment.quota._validate import check_account, check_id

__all__ = [
    "DEFAULT_WINDOW_POLICY",
    "Allowance",
    "Consumption",
    "Interaction",
    "Overlap",
    "ServiceWindow",
    "WindowHistory",
    "WindowPolicy",
    "WindowRefusal",
    "WindowRule",
    "WindowStore",
]

_MESSAGE_TYPES: Final = frozenset(
    {"text", "image", "voice", "video", "shortvideo", "location", "link"}
)
_CLICK_EVENTS: Final = frozenset({"click", "scancode_push", "scancode_waitmsg"})


class Interaction(enum.Enum):
    """What a follower did that can open a customer-service window."""

    #: The follower sent a message (text, image, voice, video, location, link...).
    MESSAGE = "message"
    #: The follower clicked a menu button of type ``click``, ``scancode_push`` or
    #: ``scancode_waitmsg`` (other button types open nothing).
    CLICK = "click"
    #: The follower followed the account.
    SUBSCRIBE = "subscribe"
    #: The follower scanned a parametric QR code.
    SCAN = "scan"
    #: The follower paid successfully.
    PAYMENT = "payment"

    @classmethod
    def from_callback(cls, msg_type: str, event: str | None = None) -> Interaction | None:
        """The interaction a callback push reports (its ``MsgType`` and ``Event``), if any.

        Event names are compared case-insensitively. A follow through a parametric QR code
        (``subscribe`` with ``EventKey`` ``qrscene_...``) is reported as `SUBSCRIBE`.
        Pushes that open no window (``VIEW``, ``LOCATION``, ``unsubscribe``...) give ``None``.
        """
        if not isinstance(msg_type, str) or not isinstance(event, (str, type(None))):
            raise TypeError("msg_type must be a string and event a string or None")
        kind = msg_type.lower()
        if kind in _MESSAGE_TYPES:
            return cls.MESSAGE
        if kind != "event" or event is None:
            return None
        name = event.lower()
        if name in _CLICK_EVENTS:
            return cls.CLICK
        if name == "subscribe":
            return cls.SUBSCRIBE
        if name == "scan":
            return cls.SCAN
        return None


class Overlap(enum.Enum):
    """How the windows of several interactions combine (WeChat's documents do not say)."""

    #: Only the most recent interaction counts: it replaces every earlier window, and the
    #: messages sent since it are charged to it. Never more generous than any other reading,
    #: so it can only under-send. The default.
    LATEST = "latest"
    #: The most generous window still open counts, where each kind's window starts at that
    #: kind's latest interaction and every message sent since then is charged to it.
    MOST_GENEROUS = "most_generous"


class WindowRefusal(enum.Enum):
    """Why no customer-service message may go out now, in precedence order."""

    #: No window is open (WeChat answers 45015 "response out of time limit").
    CLOSED = "closed"
    #: A window is open but its messages are used up (WeChat answers 45047).
    EXHAUSTED = "exhausted"


def _check_duration(_: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta):
        raise TypeError(f"{attribute.name} must be a timedelta, not {type(value).__name__}")
    if value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _check_messages(_: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be an int or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1 (or None: unlimited), got {value}")


@attrs.frozen
class WindowRule:
    """One interaction's allowance: ``messages`` within ``duration`` (``None``: unlimited)."""

    duration: timedelta = attrs.field(validator=_check_duration)
    messages: int | None = attrs.field(validator=_check_messages)


def _check_rule(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, WindowRule):
        raise TypeError(f"{attribute.name} must be a WindowRule or None, got {value!r}")


def _check_overlap(_: object, attribute: attrs.Attribute[Overlap], value: object) -> None:
    if not isinstance(value, Overlap):
        raise TypeError(f"{attribute.name} must be an Overlap, got {value!r}")


_48H: Final = timedelta(hours=48)
_1MIN: Final = timedelta(minutes=1)


@attrs.frozen
class WindowPolicy:
    """How long and how many customer-service messages each interaction allows.

    The defaults are WeChat's published rules for service accounts: a message allows 5 within
    48 hours; a menu click, a follow or a QR scan 3 within 1 minute; a payment unlimited
    within 48 hours. A rule of ``None`` opens no window (e.g. ``payment=None`` for a
    subscription account). Change them with ``attrs.evolve`` when WeChat changes its rules.
    """

    message: WindowRule | None = attrs.field(default=WindowRule(_48H, 5), validator=_check_rule)
    click: WindowRule | None = attrs.field(default=WindowRule(_1MIN, 3), validator=_check_rule)
    subscribe: WindowRule | None = attrs.field(default=WindowRule(_1MIN, 3), validator=_check_rule)
    scan: WindowRule | None = attrs.field(default=WindowRule(_1MIN, 3), validator=_check_rule)
    payment: WindowRule | None = attrs.field(default=WindowRule(_48H, None), validator=_check_rule)
    overlap: Overlap = attrs.field(default=Overlap.LATEST, validator=_check_overlap)

    def rule(self, kind: Interaction) -> WindowRule | None:
        """The rule for one kind of interaction (``None``: it opens no window)."""
        rule: WindowRule | None = getattr(self, kind.value)
        return rule

    @property
    def rules(self) -> Mapping[Interaction, WindowRule]:
        """Every kind that opens a window, with its rule."""
        found = {kind: self.rule(kind) for kind in Interaction}
        return MappingProxyType({k: r for k, r in found.items() if r is not None})

    @property
    def horizon(self) -> timedelta:
        """The longest window: older interactions and sends can never matter again."""
        return max((r.duration for r in self.rules.values()), default=timedelta(0))


#: WeChat's published rules for service accounts, combined by `Overlap.LATEST`.
DEFAULT_WINDOW_POLICY: Final = WindowPolicy()


@attrs.frozen
class WindowHistory:
    """What a `WindowStore` holds for one follower: interactions and sends, oldest first."""

    interactions: tuple[tuple[datetime, Interaction], ...] = ()
    sends: tuple[datetime, ...] = ()


@attrs.frozen
class Allowance:
    """Whether a customer-service message may go out to a follower at one instant, and why.

    ``remaining`` is ``None`` when unlimited, 0 when nothing may go out. ``until`` (exclusive)
    and ``opened_by``/``opened_at`` describe the window that governs, ``None`` when closed.
    """

    openid: str
    open: bool
    remaining: int | None
    until: datetime | None
    opened_by: Interaction | None
    opened_at: datetime | None
    refused: WindowRefusal | None

    @property
    def unlimited(self) -> bool:
        """True when the governing window has no message limit."""
        return self.open and self.remaining is None


@attrs.frozen
class Consumption:
    """What `ServiceWindow.consume` did: ``granted`` one message, or ``refused`` with a reason.

    ``allowance`` is the follower's allowance right after the call.
    """

    granted: bool
    refused: WindowRefusal | None
    allowance: Allowance


@runtime_checkable
class WindowStore(Protocol):
    """Storage for interactions and sends, shared by every `ServiceWindow` that uses it.

    `consume` must be atomic: ``decide`` sees the history and its verdict is written before
    any other writer sees the follower again. Its ``prune_before`` drops the follower's
    interactions *and* sends older than that instant in the same transaction; dropping both
    together can only close windows, never reopen one.
    """

    def add_interaction(self, account: str, openid: str, kind: Interaction, at: datetime) -> None:
        """Store an interaction (the same kind at the same instant is stored once)."""
        ...

    def add_send(self, account: str, openid: str, at: datetime) -> None:
        """Store one customer-service message sent at ``at``."""
        ...

    def history(self, account: str, openid: str) -> WindowHistory:
        """The follower's stored interactions and sends."""
        ...

    def consume(
        self,
        account: str,
        openid: str,
        at: datetime,
        decide: Callable[[WindowHistory], bool],
        *,
        prune_before: datetime,
    ) -> tuple[WindowHistory, bool]:
        """Atomically: read the history; if ``decide`` says so, store a send at ``at``.

        Returns the history as read (before the send) and ``decide``'s verdict.
        """
        ...

    def prune(self, account: str, before: datetime) -> int:
        """Drop every follower's interactions and sends older than ``before``; return how many."""
        ...

    def close(self) -> None:
        """Release connections and files held by the store."""
        ...


def _check_openid(openid: object) -> str:
    # Every store must be able to keep it: no NUL, no lone surrogate, the ledger's bound.
    checked = check_id(openid, "openid")
    if len(checked) > MAX_OPENID_LENGTH:
        raise ValueError(
            f"openid must be at most {MAX_OPENID_LENGTH} characters, got {len(checked)}"
        )
    return checked


def _check_instant(value: datetime, what: str) -> datetime:
    """An aware datetime that converts to UTC (stores keep instants in UTC)."""
    ensure_aware(value, what)
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{what} is out of the supported range: {value.isoformat()}") from None
    return value


def _closed(openid: str) -> Allowance:
    return Allowance(openid, False, 0, None, None, None, WindowRefusal.CLOSED)


def _window(
    openid: str, kind: Interaction, start: datetime, rule: WindowRule, sends: Iterable[datetime]
) -> Allowance:
    """The window ``kind`` opened at ``start``, with every send since ``start`` charged to it."""
    until = start + rule.duration
    if rule.messages is None:
        return Allowance(openid, True, None, until, kind, start, None)
    left = max(0, rule.messages - sum(1 for sent in sends if sent >= start))
    if left == 0:
        return Allowance(openid, False, 0, until, kind, start, WindowRefusal.EXHAUSTED)
    return Allowance(openid, True, left, until, kind, start, None)


def _generosity(allowance: Allowance) -> tuple[bool, float, datetime]:
    remaining = float("inf") if allowance.remaining is None else float(allowance.remaining)
    assert allowance.until is not None
    return (allowance.open, remaining, allowance.until)


def _assess(policy: WindowPolicy, openid: str, history: WindowHistory, now: datetime) -> Allowance:
    """The allowance at ``now`` under ``policy``: a pure function of the history.

    Interactions after ``now`` have not happened yet and are ignored; sends are counted
    whenever they happened after the window opened (a skewed clock can only under-send).
    A window is open from its interaction (inclusive) to ``duration`` later (exclusive).
    """
    seen = [
        (at, kind, rule)
        for at, kind in history.interactions
        if at <= now and (rule := policy.rule(kind)) is not None
    ]
    if policy.overlap is Overlap.LATEST:
        if not seen:
            return _closed(openid)
        last = max(at for at, _, _ in seen)
        # Several kinds at the very same instant: the least generous one governs.
        candidates = [
            _window(openid, kind, at, rule, history.sends) for at, kind, rule in seen if at == last
        ]
    else:
        latest: dict[Interaction, tuple[datetime, WindowRule]] = {}
        for at, kind, rule in seen:
            if kind not in latest or at > latest[kind][0]:
                latest[kind] = (at, rule)
        candidates = [
            _window(openid, kind, at, rule, history.sends) for kind, (at, rule) in latest.items()
        ]
    running = [c for c in candidates if c.until is not None and now < c.until]
    if not running:
        return _closed(openid)
    if policy.overlap is Overlap.LATEST and len(running) < len(candidates):
        # One of the tied windows has already ended: the least generous reading is closed.
        return _closed(openid)
    choose = min if policy.overlap is Overlap.LATEST else max
    return choose(running, key=_generosity)


class ServiceWindow:
    """Tracks each follower's customer-service window for one account.

    Record interactions as callbacks arrive (`record`), then call `consume` right before
    sending a customer-service message and send only if it was granted. Time is always
    passed in (``at``/``now``, timezone-aware); the wall clock is never read. Several
    processes share one allowance through a shared store (`SQLiteWindowStore` on one host,
    `PostgresWindowStore` or `RedisWindowStore` across hosts).
    """

    def __init__(
        self,
        store: WindowStore | None = None,
        *,
        policy: WindowPolicy = DEFAULT_WINDOW_POLICY,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        if not isinstance(policy, WindowPolicy):
            raise TypeError(f"policy must be a WindowPolicy, not {type(policy).__name__}")
        if store is None:
            # Imported here because the stores import this module.
            from wxsegment.quota._window_stores import MemoryWindowStore

            store = MemoryWindowStore()
        elif not isinstance(store, WindowStore):
            raise TypeError(f"store must be a WindowStore, not {type(store).__name__}")
        self._store = store
        self._policy = policy
        self._account = check_account(account)

    def __repr__(self) -> str:
        return f"ServiceWindow({self._store!r}, account={self._account!r})"

    @property
    def account(self) -> str:
        """The service account whose windows this tracks."""
        return self._account

    @property
    def policy(self) -> WindowPolicy:
        """The allowances in force."""
        return self._policy

    @property
    def store(self) -> WindowStore:
        """Where interactions and sends are kept."""
        return self._store

    def _cutoff(self, now: datetime) -> datetime:
        # Pruning is tied to ``now`` only: an ``at`` from a clock running ahead must not drop
        # rows that still matter.
        try:
            return now - self._policy.horizon
        except OverflowError:
            return datetime.min.replace(tzinfo=timezone.utc)

    def record(self, openid: str, kind: Interaction, *, at: datetime) -> None:
        """Record that ``openid`` interacted at ``at``; recording it twice is harmless."""
        _check_openid(openid)
        if not isinstance(kind, Interaction):
            raise TypeError(f"kind must be an Interaction, not {type(kind).__name__}")
        _check_instant(at, "at")
        self._store.add_interaction(self._account, openid, kind, at)

    def record_send(self, openid: str, *, at: datetime) -> None:
        """Count a customer-service message sent outside `consume` (e.g. by an agent)."""
        _check_openid(openid)
        _check_instant(at, "at")
        self._store.add_send(self._account, openid, at)

    def allowance(self, openid: str, *, now: datetime) -> Allowance:
        """Whether a message may go out to ``openid`` at ``now``, how many, until when."""
        _check_openid(openid)
        _check_instant(now, "now")
        return _assess(self._policy, openid, self._store.history(self._account, openid), now)

    def window_open(self, openid: str, *, now: datetime) -> bool:
        """True when a customer-service message may go out to ``openid`` at ``now``."""
        return self.allowance(openid, now=now).open

    def consume(self, openid: str, *, now: datetime) -> Consumption:
        """Atomically take one message from the allowance, or refuse with the reason.

        Call it right before sending; a granted message counts even if the send then fails.
        """
        _check_openid(openid)
        _check_instant(now, "now")
        policy = self._policy

        def decide(history: WindowHistory) -> bool:
            return _assess(policy, openid, history, now).open

        before, granted = self._store.consume(
            self._account, openid, now, decide, prune_before=self._cutoff(now)
        )
        if not granted:
            allowance = _assess(policy, openid, before, now)
            return Consumption(False, allowance.refused, allowance)
        after = attrs.evolve(before, sends=(*before.sends, now))
        return Consumption(True, None, _assess(policy, openid, after, now))

    def prune(self, *, now: datetime) -> int:
        """Drop interactions and sends that can no longer matter at ``now``; return how many."""
        _check_instant(now, "now")
        return self._store.prune(self._account, self._cutoff(now))
