"""The seams where a simulated run meets the world: ledger, HTTP transport and sleep.

Each wrapper asks the run's `Gate` for its turn before doing anything, so the scheduler can
interleave runs there, and may be told to crash: before the operation (it never happened),
after it (it happened, but the process died before it could act on the answer), or part way
(a batch operation applied to its first half). The code under test is never patched: it is
handed these objects where it expects a ledger, an ``httpx`` transport and a sleep function.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import attrs
import httpx

from wxsegment._clock import FixedClock, month_key
from wxsegment.quota import PendingEntry, QuotaLedger, Reservation, Transition, Usage
from wxsegment.testing._fake import FakeWeChat
from wxsegment.testing._sim_scheduler import Scheduler, SimulatedCrash

__all__ = [
    "AsyncGatedTransport",
    "CrashPlan",
    "CrashPoint",
    "Gate",
    "GatedLedger",
    "GatedProxy",
    "GatedTransport",
    "SendRecorder",
    "gated_sleep",
]

_R = TypeVar("_R")

#: Where a crash strikes relative to the operation at the chosen step.
CrashPoint = Literal["before", "after", "partial"]

#: Told of every mass send before it reaches the fake: (clientmsgid, openids).
SendRecorder = Callable[[str | None, Sequence[str]], None]

_MASS_PATHS = frozenset({"/cgi-bin/message/mass/send", "/cgi-bin/message/mass/sendall"})


@attrs.frozen
class CrashPlan:
    """Crash a run at its ``step``-th step (1-based), at ``point`` of that step's operation."""

    step: int
    point: CrashPoint


class Gate:
    """One run's turnstile: waits for the scheduler, traces the step, says when to crash."""

    def __init__(
        self,
        scheduler: Scheduler,
        name: str,
        trace: Callable[[str], None],
        plan: CrashPlan | None,
    ) -> None:
        self.name = name
        self._scheduler = scheduler
        self._trace = trace
        self._plan = plan
        self._dead = False

    def step(self, what: str) -> CrashPoint | None:
        """Wait for this run's turn, then record ``what``; the crash point if it dies here.

        After its crash a run is a dead process: its ``finally`` blocks and ``except
        BaseException`` handlers get another `SimulatedCrash` for any I/O they attempt.
        """
        if self._dead:
            raise SimulatedCrash(f"{self.name} is dead; it cannot {what}")
        task = self._scheduler.pause()
        plan = self._plan
        if plan is not None and task.steps == plan.step:
            self._dead = True
            self._trace(f"{self.name}: {what} -- CRASH {plan.point}")
            return plan.point
        self._trace(f"{self.name}: {what}")
        return None

    def note(self, what: str) -> None:
        """Record something that happened within the current step."""
        self._trace(f"{self.name}:   {what}")


def _crash(gate: Gate, point: CrashPoint) -> SimulatedCrash:
    return SimulatedCrash(f"{gate.name} crashed {point} its step")


class GatedLedger:
    """A `QuotaLedger` that takes a scheduler step before each call and may crash around it."""

    def __init__(self, inner: QuotaLedger, gate: Gate) -> None:
        self._inner = inner
        self._gate = gate

    def __repr__(self) -> str:
        return f"GatedLedger({self._inner!r})"

    @property
    def account(self) -> str:
        """The wrapped ledger's account."""
        return self._inner.account

    @property
    def limit(self) -> int:
        """The wrapped ledger's limit."""
        return self._inner.limit

    def _mutate(
        self,
        point: CrashPoint | None,
        operation: Callable[[Sequence[str] | None], _R],
        openids: Sequence[str] | None,
    ) -> _R:
        if point == "before":
            raise _crash(self._gate, point)
        if point == "partial" and openids is not None and len(openids) > 1:
            operation(openids[: len(openids) // 2])
            raise _crash(self._gate, point)
        result = operation(openids)
        if point is not None:
            raise _crash(self._gate, point)
        return result

    def _read(self, what: str) -> None:
        point = self._gate.step(what)
        if point is not None:
            raise _crash(self._gate, point)

    def reserve(
        self,
        campaign: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Reservation:
        """Reserve through the wrapped ledger (see `QuotaLedger.reserve`)."""
        ids = list(openids)
        point = self._gate.step(f"reserve {campaign} x{len(ids)} in {month_key(at)}")

        def operation(part: Sequence[str] | None) -> Reservation:
            return self._inner.reserve(campaign, part or (), at=at, content_key=content_key)

        result = self._mutate(point, operation, ids)
        self._gate.note(f"granted {len(result.granted)}, refused {len(result.refused)}")
        return result

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Commit through the wrapped ledger (see `QuotaLedger.commit`)."""
        ids = None if openids is None else list(openids)
        size = "all" if ids is None else f"x{len(ids)}"
        point = self._gate.step(f"commit {campaign} {size}")
        return self._mutate(point, lambda part: self._inner.commit(campaign, part), ids)

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Release through the wrapped ledger (see `QuotaLedger.release`)."""
        ids = None if openids is None else list(openids)
        size = "all" if ids is None else f"x{len(ids)}"
        point = self._gate.step(f"release {campaign} {size}")
        return self._mutate(point, lambda part: self._inner.release(campaign, part), ids)

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Usage from the wrapped ledger."""
        self._read(f"usage {openid}")
        return self._inner.usage(openid, at=at)

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """Bulk usage from the wrapped ledger."""
        listed = list(openids)
        self._read(f"usage_many {len(listed)}")
        return self._inner.usage_many(listed, at=at)

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Held content keys from the wrapped ledger."""
        listed = list(openids)
        self._read(f"held_content {len(listed)}")
        return self._inner.held_content(listed, content_keys)

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Remaining slots from the wrapped ledger."""
        self._read(f"remaining {openid}")
        return self._inner.remaining(openid, at=at)

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations from the wrapped ledger, read in one step."""
        self._read(f"pending {campaign or '*'}")
        return iter(list(self._inner.pending(campaign)))

    def record_external(
        self,
        external_id: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Transition:
        """Record an external send through the wrapped ledger."""
        ids = list(openids)
        point = self._gate.step(f"record_external {external_id} x{len(ids)}")

        def operation(part: Sequence[str] | None) -> Transition:
            return self._inner.record_external(
                external_id, part or (), at=at, content_key=content_key
            )

        return self._mutate(point, operation, ids)

    def close(self) -> None:
        """Close the wrapped ledger (not a step: a dying process closes nothing cleanly)."""
        self._inner.close()


class GatedProxy:
    """Any store a composition keeps beside the ledger (a journal, a lease table), gated.

    Each public method call is one step that may crash before or after it; attributes that are
    not methods, and the methods named in ``free`` (``close`` by default), pass through.
    """

    def __init__(
        self, inner: object, gate: Gate, label: str, free: frozenset[str] = frozenset({"close"})
    ) -> None:
        self._inner = inner
        self._gate = gate
        self._label = label
        self._free = free

    def __repr__(self) -> str:
        return f"GatedProxy({self._inner!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name.startswith("_") or name in self._free or not callable(value):
            return value
        gate, label = self._gate, self._label

        def call(*args: Any, **kwargs: Any) -> Any:
            point = gate.step(f"{label}.{name}")
            if point == "before":
                raise _crash(gate, point)
            result = value(*args, **kwargs)
            if point is not None:
                raise _crash(gate, point)
            return result

        return call


def _describe(request: httpx.Request) -> tuple[str, str | None, list[str]]:
    path = request.url.path
    clientmsgid: str | None = None
    openids: list[str] = []
    if path in _MASS_PATHS and request.content:
        try:
            body = json.loads(request.content.decode("utf-8"))
        except ValueError:
            body = None
        if isinstance(body, dict):
            raw_id = body.get("clientmsgid")
            clientmsgid = raw_id if isinstance(raw_id, str) else None
            touser = body.get("touser")
            if isinstance(touser, list):
                openids = [o for o in touser if isinstance(o, str)]
    return path.removeprefix("/cgi-bin/"), clientmsgid, openids


def _answer_summary(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        body = json.loads(response.content.decode("utf-8"))
    except ValueError:
        return "non-JSON answer"
    if isinstance(body, dict):
        return f"errcode {body.get('errcode', 0)}"
    return "answer"


class _GatedSend:
    """What the sync and async transports share: the step, the crash and the fake's answer."""

    def __init__(self, fake: FakeWeChat, gate: Gate, on_send: SendRecorder) -> None:
        self._fake = fake
        self._gate = gate
        self._on_send = on_send

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, clientmsgid, openids = _describe(request)
        detail = f" {clientmsgid} x{len(openids)}" if openids else ""
        point = self._gate.step(f"{request.method} {path}{detail}")
        if point == "before":
            raise _crash(self._gate, point)
        if openids:
            self._on_send(clientmsgid, openids)
        try:
            response = self._fake.handler(request)
        except httpx.TimeoutException:
            self._gate.note("timed out")
            if point is not None:
                raise _crash(self._gate, point) from None
            raise
        self._gate.note(_answer_summary(response))
        if point is not None:
            raise _crash(self._gate, point)
        return response


class GatedTransport(httpx.BaseTransport):
    """An ``httpx`` transport to the fake that takes a step per request and may crash."""

    def __init__(self, fake: FakeWeChat, gate: Gate, on_send: SendRecorder) -> None:
        self._send = _GatedSend(fake, gate, on_send)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the fake, in this run's turn."""
        request.read()
        return self._send(request)


class AsyncGatedTransport(httpx.AsyncBaseTransport):
    """The async twin of `GatedTransport` (the step blocks the run's own event loop)."""

    def __init__(self, fake: FakeWeChat, gate: Gate, on_send: SendRecorder) -> None:
        self._send = _GatedSend(fake, gate, on_send)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the fake, in this run's turn."""
        await request.aread()
        return self._send(request)


def gated_sleep(gate: Gate, clock: FixedClock) -> Callable[[float], None]:
    """A ``sleep`` for the client: a step, then the fake clock moves on by that much."""

    def sleep(seconds: float) -> None:
        point = gate.step(f"sleep {seconds:g}s")
        if point is not None:
            raise _crash(gate, point)
        clock.advance(timedelta(seconds=seconds))

    return sleep
