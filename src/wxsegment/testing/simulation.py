"""A seeded, deterministic simulation of the whole delivery system, in the manner of VOPR.

One seed fixes everything: followers, overlapping campaigns with content keys, sync and async
runs and their interleaving (one thread per run, one moving at a time, picked by the seeded
RNG), faults injected at FakeWeChat (lost answers after acceptance, timeouts, 5xx, -1, 45009,
45011, 45066, token expiry), crashes between any two steps (the ledger, the HTTP transport and
the sleep are wrapped; the code under test is not patched), resumes with grown or shrunk
audiences and another batch size, a month boundary crossed mid-campaign, and console sends.

After each month's runs it checks, against FakeWeChat's record of deliveries:

- ``fifth_push`` / ``silent_filter``: nobody gets more than 4 pushes in a Shanghai month, and
  WeChat's silent filter (the 5th) never fires;
- ``ledger_under_count``: ledger committed + pending >= delivered, per follower and month;
- ``duplicate_content`` / ``pushed_twice``: no content key, no campaign, twice to one follower;
- ``unsettled`` / ``committed_undelivered``: once faults stop and every campaign is resumed,
  nothing is pending and the ledger's committed pushes are exactly WeChat's deliveries;
- ``run_error``: a run ended with an error other than a crash or a tolerated refusal.

A failure raises `SimulationFailure` with the seed and the last steps; ``simulate(seed, config)``
replays it exactly. Plug in another composition with a `SystemUnderTest`.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

import attrs
import httpx

from wxsegment._clock import SHANGHAI, FixedClock, month_key
from wxsegment.api import AsyncClient, Client, RetryPolicy, Text, WeChatError
from wxsegment.delivery import (
    BatchOutcome,
    Campaign,
    CampaignBusyError,
    DeliveryJournal,
    LeaseLostError,
    MemoryJournal,
    Report,
    async_execute,
    execute,
)
from wxsegment.quota import MemoryLedger, MemoryStore, QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing._fake import FakeWeChat
from wxsegment.testing._fake_types import FakeConfig, FaultKind
from wxsegment.testing._sim_checks import ConsoleSend, Violation, check_deliveries, check_settled
from wxsegment.testing._sim_scheduler import Scheduler, SimulatedCrash, Task
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

__all__ = [
    "DeliverySystem",
    "JournalFactory",
    "LedgerFactory",
    "RunEnv",
    "SimulatedCrash",
    "SimulationConfig",
    "SimulationFailure",
    "SimulationResult",
    "SystemUnderTest",
    "Violation",
    "memory_ledgers",
    "simulate",
]

#: Opens a ledger handle for an account; every call for one account reaches the same state.
LedgerFactory = Callable[[str], QuotaLedger]

_SECRET: Final = "sim-secret"
_MASS_SEND: Final = "/cgi-bin/message/mass/send"
_TOKEN_FAULTS: Final = frozenset({"token_expired", "token_invalid"})
#: Faults whose answer says nothing of whether the request took effect, so they may stand for
#: a lost answer; an errcode that refuses (45009, 45011, 40001...) is only ever a real refusal.
_AMBIGUOUS: Final = frozenset({"busy", "http_500", "http_502", "timeout"})
_DEFAULT_FAULTS: Final[tuple[FaultKind, ...]] = (
    "busy",
    "http_500",
    "http_502",
    "timeout",
    "rate_limited",
    "mass_rate",
    "clientmsgid_too_fast",
    "token_expired",
    "token_invalid",
)
#: Seconds the fake clock moves between two steps, drawn uniformly.
_TICKS: Final = (0, 0, 0, 1, 2, 5, 15, 60)
_CRASH_POINTS: Final[tuple[CrashPoint, ...]] = ("before", "after", "partial")
_TRACE_TAIL: Final = 60
#: The first month boundary crossed; one more per simulated month.
_FIRST_BOUNDARY: Final = datetime(2026, 12, 1, tzinfo=SHANGHAI)

_rate = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))
_positive = attrs.validators.ge(1)


def _batch_sizes(value: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(value)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 3 for s in sizes):
        raise ValueError(f"batch_sizes must be a non-empty sequence of ints >= 3, got {value!r}")
    return sizes


def _pace(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"client_mass_per_minute must be None or an int >= 1, got {value!r}")
    return value


def _span(value: Sequence[int]) -> tuple[int, int]:
    low, high = value
    if isinstance(low, bool) or isinstance(high, bool) or not 0 <= low <= high:
        raise ValueError(
            f"before_boundary must be (low, high) with 0 <= low <= high, got {value!r}"
        )
    return int(low), int(high)


def _fault_kinds(value: Sequence[FaultKind]) -> tuple[FaultKind, ...]:
    from wxsegment.testing._fake_types import FAULT_KINDS

    kinds = tuple(value)
    unknown = sorted(set(kinds) - FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}")
    return kinds


@attrs.frozen(kw_only=True)
class SimulationConfig:
    """The shape of one simulation; every random choice within it comes from the seed.

    Rates are chances per scheduler step (faults, token expiry, console sends) or per run
    (crashes, async). ``months`` is how many month boundaries the runs cross, one per month.
    """

    followers: int = attrs.field(default=10, validator=attrs.validators.ge(2))
    campaigns: int = attrs.field(default=4, validator=_positive)
    #: At most this many extra runs per campaign while faults are on (resumes, overlaps).
    resumes: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    #: Chance a resume grows or shrinks the audience, and that it uses another batch size.
    audience_change_rate: float = attrs.field(default=0.5, validator=_rate)
    batch_change_rate: float = attrs.field(default=0.3, validator=_rate)
    #: Content keys shared between campaigns (a campaign has one of them or none).
    content_keys: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    batch_sizes: tuple[int, ...] = attrs.field(default=(3, 4, 5), converter=_batch_sizes)
    months: int = attrs.field(default=2, validator=_positive)
    #: Each month's runs start this many seconds (drawn between the two) before its end.
    before_boundary: tuple[int, int] = attrs.field(default=(30, 900), converter=_span)
    fault_rate: float = attrs.field(default=0.1, validator=_rate)
    #: Share of ambiguous faults (timeout, 5xx, -1) that replace the answer of a request that
    #: took effect: a lost answer after WeChat accepted the send.
    lost_answer_rate: float = attrs.field(default=0.5, validator=_rate)
    fault_kinds: tuple[FaultKind, ...] = attrs.field(
        default=_DEFAULT_FAULTS, converter=_fault_kinds
    )
    token_expiry_rate: float = attrs.field(default=0.01, validator=_rate)
    crash_rate: float = attrs.field(default=0.25, validator=_rate)
    #: A crashing run dies at a step drawn from its first ``crash_within`` steps.
    crash_within: int = attrs.field(default=16, validator=_positive)
    console_rate: float = attrs.field(default=0.02, validator=_rate)
    async_rate: float = attrs.field(default=0.3, validator=_rate)
    #: The client's own pacing of mass sends (None: none); its waits move the fake clock.
    client_mass_per_minute: int | None = attrs.field(default=30, converter=_pace)
    #: Steps per month before every run still going is crashed.
    max_steps: int = attrs.field(default=2000, validator=_positive)
    #: Seconds that pass before the fault-free resumes (longer than a crashed run's lease).
    settle_delay: int = attrs.field(default=900, validator=attrs.validators.ge(0))
    #: Sequential fault-free resumes of every campaign at the end of each month.
    settle_rounds: int = attrs.field(default=2, validator=_positive)
    #: The fake's knobs (its seed is replaced by the simulation's).
    fake: FakeConfig = attrs.field(factory=FakeConfig)
    #: Errors a run may end with without it being a violation (refusals of bad input).
    tolerated_errors: tuple[type[BaseException], ...] = (ValueError, WeChatError)


@attrs.frozen(kw_only=True)
class RunEnv:
    """Everything one simulated run (one process) is given; all I/O goes through it.

    ``client`` is a `wxsegment.api.Client` or, for an async run, an `AsyncClient`. ``settle``
    marks the fault-free resumes at the end of a month, where an operator may also settle by
    hand what the composition cannot (``lookup_send``). Time is ``clock.now()``. Route any
    other store through ``wrap(store, label)`` so crashes can strike there too; ``note`` adds
    a line to the trace.
    """

    name: str
    campaign: Campaign
    audience: tuple[str, ...]
    batch_size: int
    ledger: QuotaLedger
    clock: FixedClock
    client: Client | AsyncClient
    settle: bool
    wrap: Callable[[Any, str], Any] = attrs.field(repr=False, eq=False)
    note: Callable[[str], None] = attrs.field(repr=False, eq=False)
    #: What WeChat's send history (the web console) shows for a clientmsgid: the openids the
    #: job reached, or None when there is no such job. For the operator's checks by hand.
    lookup_send: Callable[[str], tuple[str, ...] | None] = attrs.field(repr=False, eq=False)


class SystemUnderTest(Protocol):
    """A composition to simulate: how it starts a campaign and how it resumes one.

    Each hook does its I/O only through ``env``; for an async run (``env.client`` is an
    `AsyncClient`) it may return an awaitable, which the simulation awaits.
    """

    def execute(self, env: RunEnv) -> object:
        """Start delivering ``env.campaign`` to ``env.audience``."""
        ...

    def resume(self, env: RunEnv) -> object:
        """Continue ``env.campaign`` after an earlier run (crashed, failed or finished)."""
        ...


#: Opens a delivery journal handle for an account; every call for one account shares state.
JournalFactory = Callable[[str], DeliveryJournal]


class DeliverySystem:
    """The library's composition: `execute` (`async_execute`) with a journal; rerun to resume.

    ``journal_factory(account)`` opens the journal of each simulated process on the backend
    paired with the ledger (default: one `MemoryJournal` per account, for `memory_ledgers`).
    A run that finds the campaign leased by another (`CampaignBusyError`) or loses its lease
    (`LeaseLostError`) ends there, as a job runner would retry it later. With
    ``operator_settles``, the fault-free resumes also do what docs/delivery.md asks of an
    operator for a batch attempted in an ended month with an unknown outcome: look the send up
    and commit or release it by hand.
    """

    def __init__(
        self, journal_factory: JournalFactory | None = None, *, operator_settles: bool = False
    ) -> None:
        self._factory = journal_factory
        self._operator = operator_settles
        self._memory: dict[str, MemoryJournal] = {}

    def __repr__(self) -> str:
        return "DeliverySystem()"

    def _journal(self, account: str) -> DeliveryJournal:
        if self._factory is not None:
            return self._factory(account)
        journal = self._memory.get(account)
        if journal is None:
            journal = self._memory[account] = MemoryJournal(account=account)
        return journal

    def execute(self, env: RunEnv) -> object:
        """Run `execute` (or `async_execute` for an `AsyncClient`) once."""
        journal = self._journal(env.ledger.account)
        gated: DeliveryJournal = env.wrap(journal, "journal")
        client = env.client
        if isinstance(client, AsyncClient):
            return self._async(env, client, journal, gated)
        try:
            report = execute(
                client,
                env.ledger,
                env.campaign,
                env.audience,
                journal=gated,
                clock=env.clock,
                batch_size=env.batch_size,
            )
            self._by_hand(env, report)
        except (CampaignBusyError, LeaseLostError) as error:
            env.note(f"{type(error).__name__}: {error}")
        finally:
            journal.close()
        return None

    async def _async(
        self,
        env: RunEnv,
        client: AsyncClient,
        journal: DeliveryJournal,
        gated: DeliveryJournal,
    ) -> None:
        try:
            report = await async_execute(
                client,
                env.ledger,
                env.campaign,
                env.audience,
                journal=gated,
                clock=env.clock,
                batch_size=env.batch_size,
            )
            self._by_hand(env, report)
        except (CampaignBusyError, LeaseLostError) as error:
            env.note(f"{type(error).__name__}: {error}")
        finally:
            journal.close()

    def _by_hand(self, env: RunEnv, report: Report) -> None:
        if not (self._operator and env.settle):
            return
        month = month_key(env.clock.now())
        for batch in report.batches:
            if batch.outcome is not BatchOutcome.PENDING or batch.month in (None, month):
                continue
            reached = env.lookup_send(batch.clientmsgid)
            if reached is None:
                env.ledger.release(env.campaign.id, batch.openids)
            else:
                env.ledger.commit(env.campaign.id, batch.openids)
            verdict = "released" if reached is None else "committed"
            env.note(f"operator {verdict} {batch.clientmsgid} ({batch.month}) by hand")

    def resume(self, env: RunEnv) -> object:
        """Resume is another run of the same campaign."""
        return self.execute(env)


@attrs.frozen
class SimulationResult:
    """What one seed did: counts, every step of the trace, and the violations found."""

    seed: int
    steps: int
    runs: int
    crashes: int
    faults: int
    console_sends: int
    jobs: int
    pushes: int
    violations: tuple[Violation, ...]
    trace: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no invariant was broken."""
        return not self.violations


class SimulationFailure(AssertionError):
    """A seed broke an invariant; the message shows the seed, the violations and last steps."""

    def __init__(self, result: SimulationResult) -> None:
        self.result = result
        shown = "\n".join(f"  - {v}" for v in result.violations[:12])
        more = len(result.violations) - 12
        if more > 0:
            shown += f"\n  ... and {more} more"
        tail = "\n".join(f"  {line}" for line in result.trace[-_TRACE_TAIL:])
        super().__init__(
            f"simulation seed {result.seed} broke {len(result.violations)} invariant(s):\n"
            f"{shown}\nlast {min(_TRACE_TAIL, len(result.trace))} of {len(result.trace)} "
            f"steps:\n{tail}\nreplay: simulate({result.seed}, config) with the same config"
        )


def memory_ledgers() -> LedgerFactory:
    """A factory of `MemoryLedger` handles over one fresh shared store."""
    store = MemoryStore()

    def make(account: str) -> QuotaLedger:
        return MemoryLedger(account=account, store=store)

    return make


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


class _Simulation:
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


def simulate(
    seed: int,
    config: SimulationConfig | None = None,
    ledger_factory: LedgerFactory | None = None,
    *,
    system: SystemUnderTest | None = None,
    account: str | None = None,
    check: bool = True,
) -> SimulationResult:
    """Simulate one seed; raise `SimulationFailure` if an invariant broke (unless not ``check``).

    ``ledger_factory(account)`` opens a handle on the backend under test (default: one fresh
    in-memory store); ``system`` defaults to `DeliverySystem`; ``account`` (default
    ``"wxsim-<seed>"``) names the fake's appid and the ledger account, so seeds can share a store.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    chosen = SimulationConfig() if config is None else config
    if not isinstance(chosen, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig, not {type(chosen).__name__}")
    simulation = _Simulation(
        seed,
        chosen,
        ledger_factory if ledger_factory is not None else memory_ledgers(),
        system if system is not None else DeliverySystem(),
        account if account is not None else f"wxsim-{seed}",
    )
    result = simulation.run()
    if check and result.violations:
        raise SimulationFailure(result)
    return result
