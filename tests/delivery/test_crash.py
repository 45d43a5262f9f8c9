"""Crash simulation: a run dies (or hangs and is taken over) between any two writes, then resumes.

Every ledger write, journal write and send is a step; a run dies before or after the step of
a chosen number, or, at that step, hangs past its lease while another run takes the campaign
over. Checked against FakeWeChat's own record: one push per follower and campaign, and for every
follower and month the ledger counts at least what WeChat delivered (D5), exactly once settled.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.quota.servers import postgres_ledger_maker, redis_ledger_maker
from wxsegment import SHANGHAI, FixedClock
from wxsegment.api import Client, Text
from wxsegment.delivery import (
    LEASE_TTL,
    BatchOutcome,
    BatchRecord,
    BatchState,
    Campaign,
    DeliveryJournal,
    Lease,
    LeaseLostError,
    execute,
    journal_for,
)
from wxsegment.quota import PendingEntry, QuotaLedger, Reservation, Transition, Usage
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import APPID, SECRET, START, make_ledger, pushes_of

_T = TypeVar("_T")


class Crash(BaseException):
    """The simulated death of the sending process (not an Exception: nothing may catch it)."""


class Steps:
    """Counts steps; at step ``at`` it crashes (before or after the step) or runs ``hang``."""

    def __init__(self, at: int | None, *, after: bool, hang: Callable[[], None] | None) -> None:
        self.at = at
        self.after = after
        self.hang = hang
        self.count = 0
        self.fired = False
        self.crashed = False

    def step(self, work: Callable[[], _T]) -> _T:
        """Do one step, crashing or hanging around it when its number comes up."""
        self.count += 1
        due = self.count == self.at and not self.fired
        if due:
            self.fired = True
            if self.hang is not None:
                self.hang()
            elif not self.after:
                self.crashed = True
                raise Crash(self.count)
        result = work()
        if due and self.hang is None and self.after:
            self.crashed = True
            raise Crash(self.count)
        return result


class StepLedger:
    """A ledger whose writes are steps."""

    def __init__(self, inner: QuotaLedger, steps: Steps) -> None:
        self.inner = inner
        self.steps = steps
        self.account = inner.account
        self.limit = inner.limit

    def reserve(self, campaign: str, openids: Iterable[str], **kw: Any) -> Reservation:
        """A step."""
        return self.steps.step(lambda: self.inner.reserve(campaign, openids, **kw))

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """A step."""
        return self.steps.step(lambda: self.inner.commit(campaign, openids))

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """A step."""
        return self.steps.step(lambda: self.inner.release(campaign, openids))

    def record_external(self, external_id: str, openids: Iterable[str], **kw: Any) -> Transition:
        """A step."""
        return self.steps.step(lambda: self.inner.record_external(external_id, openids, **kw))

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Not a step."""
        return self.inner.usage(openid, at=at)

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """Not a step."""
        return self.inner.usage_many(openids, at=at)

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Not a step."""
        return self.inner.held_content(openids, content_keys)

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Not a step."""
        return self.inner.remaining(openid, at=at)

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Not a step."""
        return self.inner.pending(campaign)

    def close(self) -> None:
        """The inner ledger is closed by the test."""


class StepJournal:
    """A journal whose batch writes are steps."""

    def __init__(self, inner: DeliveryJournal, steps: Steps) -> None:
        self.inner = inner
        self.steps = steps
        self.account = inner.account

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Not a step."""
        return self.inner.acquire(campaign, now=now, ttl=ttl)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Not a step."""
        return self.inner.renew(lease, now=now, ttl=ttl)

    def release_lease(self, lease: Lease) -> None:
        """A killed process cannot give its lease up: it only expires."""
        if not self.steps.crashed:
            self.inner.release_lease(lease)

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Not a step."""
        return self.inner.batches(campaign)

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """A step."""
        self.steps.step(lambda: self.inner.add_batches(lease, records))

    def update(self, lease: Lease, campaign: str, index: int, **kw: Any) -> None:
        """A step."""
        self.steps.step(lambda: self.inner.update(lease, campaign, index, **kw))

    def forget(self, lease: Lease) -> int:
        """Not a step (delivery never forgets a campaign it runs)."""
        return self.inner.forget(lease)

    def close(self) -> None:
        """The inner journal is closed with its ledger."""


def step_client(
    fake: FakeWeChat,
    clock: FixedClock,
    steps: Steps,
    faults: list[tuple[str, bool] | None] | None = None,
) -> Client:
    """The real client over the fake, each mass send a step (WeChat acts, then we may die).

    ``faults`` plans the mass sends' answers in order (None: WeChat's own answer); it is
    consumed across every client sharing the list.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/mass/send"):
            if faults:
                planned = faults.pop(0)
                if planned is not None:
                    kind, after = planned
                    fake.inject(kind, path="/cgi-bin/message/mass/send", after_processing=after)  # type: ignore[arg-type]
            return steps.step(lambda: fake.handler(request))
        return fake.handler(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client(
        APPID, SECRET, http_client=http, clock=clock, sleep=lambda _s: None, mass_per_minute=None
    )


FOLLOWERS = 16


def check_promise(
    fake: FakeWeChat,
    ledger: QuotaLedger,
    journal: DeliveryJournal,
    openids: Sequence[str],
    months: Sequence[datetime],
    campaigns: int,
) -> None:
    """One push per campaign and follower; D5 every month; only unresolvable batches pend."""
    for number in range(campaigns):
        assert max(pushes_of(fake, f"c{number}.").values(), default=0) <= 1
    stuck: set[tuple[str, str]] = set()
    for number in range(campaigns):
        for record in journal.batches(f"c{number}"):
            if record.state is BatchState.ATTEMPTING:
                # Attempted with an unknown outcome in a month that has ended: never resent.
                assert record.month != months[-1].astimezone(SHANGHAI).strftime("%Y-%m")
                stuck.update((record.campaign, o) for o in record.members)
    assert {(e.campaign, e.openid) for e in ledger.pending()} == stuck
    for month in months:
        for openid in openids:
            usage = ledger.usage(openid, at=month)
            received = fake.mass_received(openid, month)
            assert usage.committed + usage.pending >= received
            if not stuck:
                assert usage.committed == received


def run_scenario(
    kind: str,
    start: datetime,
    audiences: list[tuple[set[int], set[int]]],
    sizes: list[tuple[int, int]],
    crash_at: int,
    mode: str,
    faults: Sequence[tuple[str, bool] | None] = (),
    ledger_factory: Callable[[], QuotaLedger] | None = None,
) -> None:
    """Campaigns one after another; the step ``crash_at`` kills or hangs a run; resume each.

    ``faults`` plans WeChat's answers to the scenario's mass sends, in order: a fault (kind,
    whether it hits after the request took effect) or None for a true answer.
    """
    clock = FixedClock(start)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = sorted(fake.add_followers(FOLLOWERS))
    months = [start]
    with tempfile.TemporaryDirectory() as scratch:
        inner = make_ledger(kind, Path(scratch)) if ledger_factory is None else ledger_factory()
        journal = journal_for(inner)
        takeover: list[Campaign] = []
        resumes: list[tuple[Campaign, list[str], int]] = []

        def hang() -> None:
            # The run stalls past its lease; an operator starts the campaign again.
            campaign, audience, size = resumes[-1]
            clock.advance(LEASE_TTL + timedelta(minutes=1))
            execute(plain, inner, campaign, audience, clock=clock, batch_size=size, journal=journal)
            takeover.append(campaign)

        steps = Steps(crash_at, after=mode == "after", hang=hang if mode == "hang" else None)
        ledger = StepLedger(inner, steps)
        wrapped = StepJournal(journal, steps)
        planned = list(faults)
        plain = step_client(fake, clock, Steps(None, after=False, hang=None), planned)
        client = step_client(fake, clock, steps, planned)
        try:
            for number, ((first, later), (size, resize)) in enumerate(
                zip(audiences, sizes, strict=False)
            ):
                campaign = Campaign(f"c{number}", EVERYONE, Text(f"news {number}"), f"k{number}")
                audience = [openids[i] for i in sorted(first)]
                resumed = [openids[i] for i in sorted(later)]
                resumes.append((campaign, resumed, resize))
                clock.advance(timedelta(minutes=3))
                months.append(clock.now())
                with contextlib.suppress(Crash, LeaseLostError):
                    execute(
                        client,
                        ledger,
                        campaign,
                        audience,
                        clock=clock,
                        batch_size=size,
                        journal=wrapped,
                    )
                # Every campaign is run again (a resume, or a no-op) until nothing is left;
                # the planned faults go on hitting the resumes until they run out. A refusal
                # costs a resume on its own, so there are enough resumes to outlast every fault.
                for attempt in range(8 + len(faults)):
                    clock.advance(LEASE_TTL + timedelta(minutes=1))
                    months.append(clock.now())
                    report = execute(
                        plain,
                        inner,
                        campaign,
                        resumed,
                        clock=clock,
                        batch_size=resize,
                        journal=journal,
                    )
                    if report.complete and attempt >= 1:
                        break
                assert not report.errors
                assert all(b.outcome is not BatchOutcome.DEFERRED for b in report.batches)
            assert steps.fired == (crash_at <= steps.count)
            check_promise(fake, inner, journal, openids, months, len(audiences))
        finally:
            client.close()
            plain.close()
            inner.close()


members = st.sets(st.integers(0, FOLLOWERS - 1))
#: (first run's audience, the resumes' audience): grown by some followers, shrunk by others.
audience_pairs = st.tuples(members, members, members).map(lambda t: (t[0], (t[0] | t[1]) - t[2]))


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    audiences=st.lists(audience_pairs, min_size=3, max_size=5),
    sizes=st.lists(st.tuples(st.integers(3, 7), st.integers(3, 7)), min_size=5, max_size=5),
    crash_at=st.integers(1, 40),
    mode=st.sampled_from(["before", "after", "hang"]),
)
def test_a_crash_or_takeover_at_any_step_then_resumes_keep_the_promise(
    kind: str,
    audiences: list[tuple[set[int], set[int]]],
    sizes: list[tuple[int, int]],
    crash_at: int,
    mode: str,
) -> None:
    """Any step, any resumed audience and batch size: one push each, every push counted once."""
    run_scenario(kind, START, audiences, sizes, crash_at, mode)


#: WeChat faults: ambiguous ones may hit after the job was made; refusals only before.
#: Runs of one fault, up to the client's four attempts, so whole sends fail often.
wechat_faults = st.lists(
    st.tuples(
        st.one_of(
            st.none(),
            st.tuples(st.sampled_from(["timeout", "http_500", "busy"]), st.booleans()),
            st.tuples(
                st.sampled_from(["mass_rate", "rate_limited", "token_invalid"]), st.just(False)
            ),
        ),
        st.integers(1, 4),
    ),
    max_size=6,
).map(lambda runs: [fault for fault, times in runs for _ in range(times)])


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    audiences=st.lists(audience_pairs, min_size=2, max_size=4),
    sizes=st.lists(st.tuples(st.integers(3, 7), st.integers(3, 7)), min_size=4, max_size=4),
    crash_at=st.integers(1, 40),
    mode=st.sampled_from(["before", "after", "hang"]),
    faults=wechat_faults,
)
@example(
    kind="memory",
    audiences=[({0, 1, 2, 3}, {0, 1, 2, 3})],
    sizes=[(4, 4)] * 4,
    crash_at=40,
    mode="before",
    faults=[("timeout", True)] * 4 + [("mass_rate", False)],
)
def test_wechat_faults_crashes_and_takeovers_together_keep_the_promise(
    kind: str,
    audiences: list[tuple[set[int], set[int]]],
    sizes: list[tuple[int, int]],
    crash_at: int,
    mode: str,
    faults: list[tuple[str, bool] | None],
) -> None:
    """Lost answers, 5xx, busy and refusals on top of a crash or takeover: D2, D3 and D5 hold."""
    run_scenario(kind, START, audiences, sizes, crash_at, mode, faults)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    audiences=st.lists(audience_pairs, min_size=2, max_size=3),
    sizes=st.lists(st.tuples(st.integers(3, 7), st.integers(3, 7)), min_size=3, max_size=3),
    crash_at=st.integers(1, 30),
    mode=st.sampled_from(["before", "after", "hang"]),
    minutes=st.integers(0, 25),
)
def test_crashes_across_a_month_end_count_each_push_in_its_month(
    kind: str,
    audiences: list[tuple[set[int], set[int]]],
    sizes: list[tuple[int, int]],
    crash_at: int,
    mode: str,
    minutes: int,
) -> None:
    """Runs and resumes straddling midnight of a month's last day keep D1 and D5."""
    start = datetime(2026, 11, 30, 23, 59, tzinfo=SHANGHAI) - timedelta(minutes=minutes)
    run_scenario(kind, start, audiences, sizes, crash_at, mode)


def test_a_crash_after_wechat_accepted_is_settled_by_45065(tmp_path: Path) -> None:
    """Dying right after WeChat took batch 0: the resume resends it, gets 45065 and commits."""
    clock = FixedClock(START)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = sorted(fake.add_followers(8))
    inner = make_ledger("sqlite", tmp_path)
    journal = journal_for(inner)
    steps = Steps(None, after=True, hang=None)
    campaign = Campaign("main", EVERYONE, Text("main"), "main")
    with step_client(fake, clock, steps) as client:
        # Steps: reserve 1, reserve 2, add_batches, update ATTEMPTING, send (5).
        steps.at = 5
        with pytest.raises(Crash):
            execute(
                client,
                StepLedger(inner, steps),
                campaign,
                openids,
                clock=clock,
                batch_size=4,
                journal=StepJournal(journal, steps),
            )
        assert [b.state for b in journal.batches("main")] == [
            BatchState.ATTEMPTING,
            BatchState.FORMED,
        ]
        clock.advance(LEASE_TTL + timedelta(minutes=1))
        report = execute(client, inner, campaign, openids, clock=clock, batch_size=4)
    assert [(b.index, b.outcome) for b in report.batches] == [
        (0, BatchOutcome.ALREADY_SENT),
        (1, BatchOutcome.SENT),
    ]
    assert pushes_of(fake, "main.") == dict.fromkeys(openids, 1)
    for openid in openids:
        assert fake.mass_received(openid) == inner.usage(openid, at=clock.now()).committed
    inner.close()


def test_a_crash_between_two_layout_writes_batches_the_rest_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Layouts stored a few batches per write: dying after the first write loses no follower."""
    monkeypatch.setattr("wxsegment.delivery._flow._MEMBERS_PER_WRITE", 6)
    clock = FixedClock(START)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = sorted(fake.add_followers(15))
    inner = make_ledger("sqlite", tmp_path)
    journal = journal_for(inner)
    # Steps: five reserves of three, then the first layout write (6), the second (7).
    steps = Steps(7, after=False, hang=None)
    campaign = Campaign("split", EVERYONE, Text("hi"))
    with step_client(fake, clock, steps) as client:
        with pytest.raises(Crash):
            execute(
                client,
                StepLedger(inner, steps),
                campaign,
                openids,
                clock=clock,
                batch_size=3,
                journal=StepJournal(journal, steps),
            )
        assert [len(r.members) for r in journal.batches("split")] == [3, 3]
        clock.advance(LEASE_TTL + timedelta(minutes=1))
        report = execute(client, inner, campaign, openids, clock=clock, batch_size=4)
    assert report.complete
    assert [len(r.members) for r in journal.batches("split")] == [3, 3, 4, 3, 2]
    assert pushes_of(fake, "split.") == dict.fromkeys(openids, 1)
    inner.close()


def test_a_run_whose_lease_was_taken_stops_before_its_next_write(tmp_path: Path) -> None:
    """A run stalls past its lease mid-reserve; the new run finishes; the old one writes no more."""
    clock = FixedClock(START)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = sorted(fake.add_followers(12))
    inner = make_ledger("memory", tmp_path)
    journal = journal_for(inner)
    campaign = Campaign("stall", EVERYONE, Text("hi"))
    taken: list[object] = []

    def take_over() -> None:
        clock.advance(LEASE_TTL + timedelta(minutes=1))
        with step_client(fake, clock, Steps(None, after=False, hang=None)) as other:
            taken.append(execute(other, inner, campaign, openids, clock=clock, batch_size=3))

    steps = Steps(2, after=False, hang=take_over)
    with step_client(fake, clock, steps) as client, pytest.raises(LeaseLostError):
        execute(
            client,
            StepLedger(inner, steps),
            campaign,
            openids,
            clock=clock,
            batch_size=3,
            journal=StepJournal(journal, steps),
        )
    assert steps.count == 2  # the stalled reserve itself, then nothing
    assert len(taken) == 1
    assert pushes_of(fake, "stall.") == dict.fromkeys(openids, 1)
    assert list(inner.pending("stall")) == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_every_crash_point_keeps_the_promise_on_server_ledgers(kind: str) -> None:
    """Every step of a two-campaign scenario, killed before or after, on PostgreSQL and Redis."""
    audiences = [({0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8}), ({3, 4, 5, 6}, {4, 5, 6})]
    sizes = [(3, 4), (3, 3)]
    for crash_at in range(1, 24):
        for mode in ("before", "after"):
            maker = postgres_ledger_maker() if kind == "postgres" else redis_ledger_maker()
            with maker as make:
                run_scenario(
                    "server",
                    START,
                    audiences,
                    sizes,
                    crash_at,
                    mode,
                    faults=[("timeout", True)],
                    ledger_factory=lambda: make(account=APPID),
                )
