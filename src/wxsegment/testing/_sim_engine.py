"""The simulation's engine: one seed's world, its runs, its months and its checks.

The main thread owns the world (clock, fake, faults, console sends) and picks which run takes
the next step; each run is a thread parked between steps (see `_sim_scheduler`).
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs
import httpx

from wxsegment._clock import SHANGHAI, FixedClock, month_key
from wxsegment.api import AsyncClient, Client, RetryPolicy, Text
from wxsegment.delivery import Campaign
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing._fake import FakeWeChat
from wxsegment.testing._sim_checks import ConsoleSend, Violation, check_deliveries, check_settled
from wxsegment.testing._sim_config import SimulationConfig, SimulationResult
from wxsegment.testing._sim_scheduler import Scheduler, SimulatedCrash, Task
from wxsegment.testing._sim_system import LedgerFactory, RunEnv, SystemUnderTest
from wxsegment.testing._sim_wrappers import (
    AsyncGatedTransport,
    CrashPlan,
    CrashPoint,
    Gate,
    GatedLedger,
    GatedProxy,
    GatedTransport,
    gated_sleep,
)

__all__ = ["Simulation"]

_SECRET: Final = "sim-secret"
_MASS_SEND: Final = "/cgi-bin/message/mass/send"
_TOKEN_FAULTS: Final = frozenset({"token_expired", "token_invalid"})
#: Faults whose answer says nothing of whether the request took effect, so they may stand for
#: a lost answer; an errcode that refuses (45009, 45011, 40001...) is only ever a real refusal.
_AMBIGUOUS: Final = frozenset({"busy", "http_500", "http_502", "timeout"})
#: Seconds the fake clock moves between two steps, drawn uniformly.
_TICKS: Final = (0, 0, 0, 1, 2, 5, 15, 60)
_CRASH_POINTS: Final[tuple[CrashPoint, ...]] = ("before", "after", "partial")
#: The first month boundary crossed; one more per simulated month.
_FIRST_BOUNDARY: Final = datetime(2026, 12, 1, tzinfo=SHANGHAI)


@attrs.frozen
class _RunSpec:
    name: str
    campaign: Campaign
    audience: tuple[str, ...]
    batch_size: int
    mode: Literal["sync", "async"]
    start: int
    crash: CrashPlan | None
    resume: bool
    settle: bool = False


class Simulation:
    """One seed's simulation; `run` plays it and returns the result."""

    def __init__(
        self,
        seed: int,
        config: SimulationConfig,
        ledgers: LedgerFactory,
        system: SystemUnderTest,
        account: str,
    ) -> None:
        self.seed = seed
        self.config = config
        self.ledgers = ledgers
        self.system = system
        self.account = account
        self.rng = random.Random(seed)
        start = _FIRST_BOUNDARY - timedelta(seconds=self.rng.randint(*config.before_boundary))
        self.clock = FixedClock(start)
        fake_config = attrs.evolve(config.fake, seed=seed, record_calls=False)
        self.fake = FakeWeChat(appid=account, secret=_SECRET, clock=self.clock, config=fake_config)
        self.openids = [f"o{i:04d}" for i in range(config.followers)]
        self.fake.add_followers(self.openids)
        self.keys = [f"k{i}" for i in range(config.content_keys)]
        self.trace: list[str] = []
        self.tick = 0
        self.months: dict[str, datetime] = {month_key(start): start}
        self.campaign_of: dict[str, str] = {}
        self.content_of: dict[str, str | None] = {}
        self.console: list[ConsoleSend] = []
        self.violations: list[Violation] = []
        self.runs = self.crashes = self.faults = 0
        self.scheduler = Scheduler()
        self.specs: dict[Task, _RunSpec] = {}

    # ------------------------------------------------------------------ trace and world

    def note(self, text: str) -> None:
        now = self.clock.now().astimezone(SHANGHAI)
        # Runs move the clock too (the client's waits), so every line may be in a new month.
        self.months.setdefault(month_key(now), now)
        self.trace.append(f"#{self.tick:04d} {now:%m-%d %H:%M:%S} {text}")

    def _move_clock(self, seconds: int) -> None:
        if seconds:
            now = self.clock.advance(timedelta(seconds=seconds))
            key = month_key(now)
            if key not in self.months:
                self.months[key] = now
                self.note(f"clock enters month {key}")

    def _world(self) -> None:
        config, rng = self.config, self.rng
        self._move_clock(rng.choice(_TICKS))
        if config.fault_kinds and rng.random() < config.fault_rate:
            kind = rng.choice(config.fault_kinds)
            after = kind in _AMBIGUOUS and rng.random() < config.lost_answer_rate
            path = None if kind in _TOKEN_FAULTS else _MASS_SEND
            self.fake.inject(kind, path=path, after_processing=after)
            self.faults += 1
            self.note(f"inject {kind}{' after processing' if after else ''}")
        if rng.random() < config.token_expiry_rate:
            self.fake.expire_tokens()
            self.note("tokens expire")
        if rng.random() < config.console_rate:
            self._console_send()

    def _console_send(self) -> None:
        now = self.clock.now()
        ledger = self.ledgers(self.account)
        try:
            limit = self.fake.config.monthly_mass_limit
            free = [
                o
                for o in self.openids
                if ledger.usage(o, at=now).remaining > 0 and self.fake.mass_received(o) < limit
            ]
            if not free:
                return
            chosen = tuple(sorted(self.rng.sample(free, min(len(free), self.rng.randint(1, 3)))))
            external_id = f"console-{len(self.console)}"
            ledger.record_external(external_id, chosen, at=now)
            for openid in chosen:
                self.fake.record_mass_push(openid, at=now)
            self.console.append(ConsoleSend(external_id, chosen, now, None))
            self.note(f"console push {external_id} to {list(chosen)}")
        finally:
            ledger.close()

    # ------------------------------------------------------------------ runs

    def _on_send(self, campaign: str) -> Callable[[str | None, Sequence[str]], None]:
        def record(clientmsgid: str | None, _openids: Sequence[str]) -> None:
            self.campaign_of.setdefault(clientmsgid or "", campaign)

        return record

    def _spawn(self, spec: _RunSpec) -> Task:
        gate = Gate(self.scheduler, spec.name, self.note, spec.crash)
        self.runs += 1
        crash = "" if spec.crash is None else f", crash at step {spec.crash.step}"
        self.note(
            f"start {spec.name} ({spec.mode}, {len(spec.audience)} followers, batch "
            f"{spec.batch_size}{crash})"
        )
        task = self.scheduler.spawn(spec.name, lambda: self._run(spec, gate))
        self.specs[task] = spec
        return task

    def _env(
        self, spec: _RunSpec, gate: Gate, ledger: QuotaLedger, client: Client | AsyncClient
    ) -> RunEnv:
        def wrap(store: Any, label: str) -> Any:
            return GatedProxy(store, gate, label)

        return RunEnv(
            name=spec.name,
            campaign=spec.campaign,
            audience=spec.audience,
            batch_size=spec.batch_size,
            ledger=ledger,
            clock=self.clock,
            client=client,
            settle=spec.settle,
            wrap=wrap,
            note=gate.note,
            lookup_send=self._lookup_send,
        )

    def _lookup_send(self, clientmsgid: str) -> tuple[str, ...] | None:
        for job in self.fake.jobs.values():
            if job.clientmsgid == clientmsgid:
                return job.delivered
        return None

    def _call(self, spec: _RunSpec, env: RunEnv) -> object:
        return self.system.resume(env) if spec.resume else self.system.execute(env)

    def _run(self, spec: _RunSpec, gate: Gate) -> None:
        ledger = GatedLedger(self.ledgers(self.account), gate)
        on_send = self._on_send(spec.campaign.id)
        retry = RetryPolicy(jitter=0.0)
        try:
            if spec.mode == "sync":
                http = httpx.Client(transport=GatedTransport(self.fake, gate, on_send))
                sleep = gated_sleep(gate, self.clock)
                with (
                    http,
                    Client(
                        self.account,
                        _SECRET,
                        http_client=http,
                        clock=self.clock,
                        sleep=sleep,
                        retry=retry,
                        mass_per_minute=self.config.client_mass_per_minute,
                    ) as client,
                ):
                    outcome = self._call(spec, self._env(spec, gate, ledger, client))
                    if inspect.isawaitable(outcome):
                        _discard(outcome)
                        raise TypeError(f"{spec.name}: a sync run returned an awaitable")
            else:
                asyncio.run(self._run_async(spec, gate, ledger, on_send, retry))
        finally:
            ledger.close()

    async def _run_async(
        self,
        spec: _RunSpec,
        gate: Gate,
        ledger: QuotaLedger,
        on_send: Callable[[str | None, Sequence[str]], None],
        retry: RetryPolicy,
    ) -> None:
        sync_sleep = gated_sleep(gate, self.clock)

        async def sleep(seconds: float) -> None:
            sync_sleep(seconds)

        http = httpx.AsyncClient(transport=AsyncGatedTransport(self.fake, gate, on_send))
        async with http:
            client = AsyncClient(
                self.account,
                _SECRET,
                http_client=http,
                clock=self.clock,
                sleep=sleep,
                retry=retry,
                mass_per_minute=self.config.client_mass_per_minute,
            )
            try:
                outcome = self._call(spec, self._env(spec, gate, ledger, client))
                if inspect.isawaitable(outcome):
                    await outcome
            finally:
                await client.aclose()

    def _finished(self, task: Task) -> None:
        spec = self.specs[task]
        error = task.error
        if error is None:
            self.note(f"end {spec.name}: done")
        elif isinstance(error, SimulatedCrash):
            self.crashes += 1
            self.note(f"end {spec.name}: crashed")
        elif isinstance(error, self.config.tolerated_errors):
            self.note(f"end {spec.name}: refused with {type(error).__name__}: {error}")
        else:
            self.note(f"end {spec.name}: {type(error).__name__}: {error}")
            self.violations.append(
                Violation("run_error", f"{spec.name} raised {type(error).__name__}: {error}")
            )

    # ------------------------------------------------------------------ months

    def _campaigns(self, month: int) -> list[Campaign]:
        campaigns = []
        for index in range(self.config.campaigns):
            key = self.rng.choice([None, *self.keys])
            campaign = Campaign(
                id=f"m{month}c{index}",
                segment=EVERYONE,
                message=Text(f"push {index} of month {month}"),
                content_key=key,
            )
            self.content_of[campaign.id] = key
            campaigns.append(campaign)
        return campaigns

    def _crash_plan(self) -> CrashPlan | None:
        if self.rng.random() >= self.config.crash_rate:
            return None
        return CrashPlan(
            self.rng.randint(1, self.config.crash_within), self.rng.choice(_CRASH_POINTS)
        )

    def _mode(self) -> Literal["sync", "async"]:
        return "async" if self.rng.random() < self.config.async_rate else "sync"

    def _plan_runs(
        self, campaigns: Sequence[Campaign]
    ) -> tuple[list[_RunSpec], dict[str, tuple[tuple[str, ...], int]]]:
        rng, config = self.rng, self.config
        specs: list[_RunSpec] = []
        layouts: dict[str, tuple[tuple[str, ...], int]] = {}
        for campaign in campaigns:
            audience = sorted(rng.sample(self.openids, rng.randint(2, len(self.openids))))
            batch = rng.choice(config.batch_sizes)
            start = rng.randint(0, 40)
            seen = set(audience)
            name = f"{campaign.id}/r0"
            specs.append(
                _RunSpec(
                    name,
                    campaign,
                    tuple(audience),
                    batch,
                    self._mode(),
                    start,
                    self._crash_plan(),
                    resume=False,
                )
            )
            for number in range(1, rng.randint(0, config.resumes) + 1):
                start += rng.randint(0, 60)
                audience = self._reshape(audience)
                seen.update(audience)
                if rng.random() < config.batch_change_rate:
                    batch = rng.choice(config.batch_sizes)
                specs.append(
                    _RunSpec(
                        f"{campaign.id}/r{number}",
                        campaign,
                        tuple(audience),
                        batch,
                        self._mode(),
                        start,
                        self._crash_plan(),
                        resume=True,
                    )
                )
            layouts[campaign.id] = (tuple(sorted(seen)), batch)
        specs.sort(key=lambda spec: spec.start)
        return specs, layouts

    def _reshape(self, audience: list[str]) -> list[str]:
        if self.rng.random() >= self.config.audience_change_rate:
            return audience
        change = self.rng.choice(("grow", "shrink"))
        if change == "grow":
            others = [o for o in self.openids if o not in audience]
            if others:
                extra = self.rng.sample(others, self.rng.randint(1, len(others)))
                return sorted([*audience, *extra])
        if change == "shrink" and len(audience) > 2:
            return sorted(self.rng.sample(audience, self.rng.randint(2, len(audience) - 1)))
        return audience

    def _chaos(self, specs: list[_RunSpec]) -> None:
        waiting = list(specs)
        started = self.tick
        while True:
            while waiting and waiting[0].start + started <= self.tick:
                self._spawn(waiting.pop(0))
            runnable = self.scheduler.runnable()
            if not runnable:
                if not waiting:
                    return
                self.tick = waiting[0].start + started
                continue
            if self.tick - started >= self.config.max_steps:
                self.note("step budget spent: every run still going crashes")
                self.scheduler.cancel()
                for task in runnable:
                    self._finished(task)
                return
            self._world()
            task = runnable[self.rng.randrange(len(runnable))]
            self.scheduler.advance(task)
            if task.done:
                self._finished(task)
            self.tick += 1

    def _settle(
        self, campaigns: Sequence[Campaign], layouts: dict[str, tuple[tuple[str, ...], int]]
    ) -> None:
        self.fake.clear_faults()
        self._move_clock(self.config.settle_delay)
        self.note("faults stop; every campaign is resumed in turn")
        for round_number in range(self.config.settle_rounds):
            ledger = self.ledgers(self.account)
            try:
                open_campaigns = {entry.campaign for entry in ledger.pending()}
            finally:
                ledger.close()
            for campaign in campaigns:
                if round_number and campaign.id not in open_campaigns:
                    continue
                audience, batch = layouts[campaign.id]
                spec = _RunSpec(
                    f"{campaign.id}/settle{round_number}",
                    campaign,
                    audience,
                    batch,
                    "sync",
                    0,
                    None,
                    resume=True,
                    settle=True,
                )
                task = self._spawn(spec)
                while not task.done:
                    self._move_clock(self.rng.choice((0, 1, 5)))
                    self.scheduler.advance(task)
                    self.tick += 1
                self._finished(task)

    def _check(self, phase: str, *, settled: bool) -> None:
        ledger = self.ledgers(self.account)
        try:
            months = [self.months[key] for key in sorted(self.months)]
            found = check_deliveries(
                self.fake,
                ledger,
                self.openids,
                months,
                self.campaign_of,
                self.content_of,
                self.console,
            )
            if settled:
                found += check_settled(self.fake, ledger, self.openids, months)
        finally:
            ledger.close()
        for violation in found:
            self.violations.append(Violation(violation.invariant, f"{phase}: {violation.detail}"))

    def run(self) -> SimulationResult:
        for month in range(self.config.months):
            if month:
                boundary = _next_month(_FIRST_BOUNDARY, month)
                jump = boundary - timedelta(seconds=self.rng.randint(*self.config.before_boundary))
                self.clock.set(max(jump, self.clock.now()))
                self.months.setdefault(month_key(self.clock.now()), self.clock.now())
                self.note(f"month {month} starts")
            campaigns = self._campaigns(month)
            specs, layouts = self._plan_runs(campaigns)
            self._chaos(specs)
            self._check(f"month {month} under faults", settled=False)
            if self.violations:
                break
            self._settle(campaigns, layouts)
            self._check(f"month {month} settled", settled=True)
            if self.violations:
                break
        jobs = self.fake.jobs
        return SimulationResult(
            seed=self.seed,
            steps=self.tick,
            runs=self.runs,
            crashes=self.crashes,
            faults=self.faults,
            console_sends=len(self.console),
            jobs=len(jobs),
            pushes=sum(len(job.delivered) for job in jobs.values()),
            violations=tuple(self.violations),
            trace=tuple(self.trace),
        )


def _next_month(first: datetime, months: int) -> datetime:
    index = first.year * 12 + first.month - 1 + months
    return first.replace(year=index // 12, month=index % 12 + 1)


def _discard(awaitable: Awaitable[object]) -> None:
    if inspect.iscoroutine(awaitable):
        awaitable.close()
