"""The customer-service window: per-kind allowances, boundaries, overlap, stores, processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import wxsegment.quota
from tests.quota import _window_procs
from wxsegment.quota import (
    Allowance,
    Interaction,
    Overlap,
    ServiceWindow,
    SQLiteLedger,
    SQLiteWindowStore,
    WindowPolicy,
    WindowRefusal,
    WindowRule,
    WindowStore,
)

T = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)
SHANGHAI = timezone(timedelta(hours=8))
US = timedelta(microseconds=1)
H48 = timedelta(hours=48)
MINUTE = timedelta(minutes=1)
STORES = _window_procs.STORES


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WindowStore]:
    """A fresh window store of each backend."""
    cluster = _window_procs.cluster_for(request.param, request)
    with _window_procs.store_spec(request.param, tmp_path, cluster) as spec:
        made = _window_procs.open_store(spec)
        try:
            yield made
        finally:
            made.close()


def sends_granted(window: ServiceWindow, openid: str, now: datetime, attempts: int) -> int:
    return sum(window.consume(openid, now=now).granted for _ in range(attempts))


def test_message_allows_five_within_48_hours(store: WindowStore) -> None:
    """A message opens 5 sends; the sixth is refused as exhausted; the window says so."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    assert sends_granted(window, "a", T + timedelta(hours=47), 5) == 5
    refused = window.consume("a", now=T + timedelta(hours=47))
    assert not refused.granted
    assert refused.refused is WindowRefusal.EXHAUSTED
    assert refused.allowance == Allowance(
        "a", False, 0, T + H48, Interaction.MESSAGE, T, WindowRefusal.EXHAUSTED
    )


def test_message_window_ends_exactly_at_48_hours(store: WindowStore) -> None:
    """One microsecond before 48 h all 5 are open; at exactly 48 h the window is closed."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    assert window.allowance("a", now=T) == Allowance(
        "a", True, 5, T + H48, Interaction.MESSAGE, T, None
    )
    assert window.window_open("a", now=T + H48 - US)
    assert not window.window_open("a", now=T + H48)
    closed = window.consume("a", now=T + H48)
    assert (closed.granted, closed.refused) == (False, WindowRefusal.CLOSED)
    assert window.allowance("a", now=T + H48 - US).remaining == 5


@pytest.mark.parametrize("kind", [Interaction.CLICK, Interaction.SUBSCRIBE, Interaction.SCAN])
def test_click_subscribe_scan_allow_three_within_a_minute(
    store: WindowStore, kind: Interaction
) -> None:
    """Click, subscribe and scan open 3 sends for exactly one minute."""
    window = ServiceWindow(store)
    window.record("a", kind, at=T)
    assert window.allowance("a", now=T + MINUTE - US).remaining == 3
    assert not window.window_open("a", now=T + MINUTE)
    assert sends_granted(window, "a", T + timedelta(seconds=59), 4) == 3
    assert window.consume("a", now=T + timedelta(seconds=59)).refused is WindowRefusal.EXHAUSTED
    assert window.consume("a", now=T + MINUTE).refused is WindowRefusal.CLOSED


def test_payment_is_unlimited_within_48_hours(store: WindowStore) -> None:
    """A payment opens unlimited sends for 48 h, then closes."""
    window = ServiceWindow(store)
    window.record("a", Interaction.PAYMENT, at=T)
    assert sends_granted(window, "a", T + timedelta(hours=1), 40) == 40
    allowance = window.allowance("a", now=T + H48 - US)
    assert allowance.unlimited
    assert allowance.remaining is None
    assert allowance.opened_by is Interaction.PAYMENT
    assert window.consume("a", now=T + H48).refused is WindowRefusal.CLOSED


def test_nothing_recorded_means_closed(store: WindowStore) -> None:
    """A follower who never interacted has no window."""
    window = ServiceWindow(store)
    assert window.allowance("z", now=T) == Allowance(
        "z", False, 0, None, None, None, WindowRefusal.CLOSED
    )
    assert window.consume("z", now=T).refused is WindowRefusal.CLOSED


def test_a_new_message_resets_the_count(store: WindowStore) -> None:
    """After 5 sends, a new message opens 5 more and a fresh 48 h."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    assert sends_granted(window, "a", T, 5) == 5
    later = T + timedelta(hours=30)
    window.record("a", Interaction.MESSAGE, at=later)
    assert window.allowance("a", now=later).remaining == 5
    assert window.window_open("a", now=later + H48 - US)


def test_latest_interaction_governs_by_default(store: WindowStore) -> None:
    """Fail safe: a click after a message leaves only the click's minute and 3 sends."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    window.record("a", Interaction.CLICK, at=T + timedelta(hours=1))
    assert window.allowance("a", now=T + timedelta(hours=1)).remaining == 3
    assert not window.window_open("a", now=T + timedelta(hours=1) + MINUTE)


def test_most_generous_keeps_the_message_window_and_charges_every_send(
    store: WindowStore,
) -> None:
    """With Overlap.MOST_GENEROUS the message window outlives a click; sends count for both."""
    window = ServiceWindow(store, policy=WindowPolicy(overlap=Overlap.MOST_GENEROUS))
    window.record("a", Interaction.MESSAGE, at=T)
    assert sends_granted(window, "a", T, 3) == 3
    click = T + timedelta(hours=1)
    window.record("a", Interaction.CLICK, at=click)
    assert window.allowance("a", now=click).opened_by is Interaction.CLICK
    assert sends_granted(window, "a", click, 3) == 3
    later = click + MINUTE
    assert window.allowance("a", now=later) == Allowance(
        "a", False, 0, T + H48, Interaction.MESSAGE, T, WindowRefusal.EXHAUSTED
    )


def test_interactions_at_the_same_instant_take_the_least_generous(store: WindowStore) -> None:
    """A message and a click at one instant: LATEST allows the click's 3, MOST_GENEROUS 5."""
    for overlap, remaining in ((Overlap.LATEST, 3), (Overlap.MOST_GENEROUS, 5)):
        window = ServiceWindow(store, policy=WindowPolicy(overlap=overlap), account=overlap.value)
        window.record("a", Interaction.MESSAGE, at=T)
        window.record("a", Interaction.CLICK, at=T)
        assert window.allowance("a", now=T).remaining == remaining


def test_future_interactions_are_ignored_and_late_ones_count(store: WindowStore) -> None:
    """An interaction after `now` opens nothing yet; one recorded late still opens its window."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T + timedelta(seconds=1))
    assert not window.window_open("a", now=T)
    window.record("b", Interaction.MESSAGE, at=T - timedelta(hours=47))
    assert window.allowance("b", now=T).until == T + timedelta(hours=1)


def test_record_send_counts_messages_sent_elsewhere(store: WindowStore) -> None:
    """Messages sent outside consume (e.g. by an agent) reduce what remains."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    window.record_send("a", at=T + timedelta(minutes=5))
    window.record_send("a", at=T + timedelta(minutes=6))
    assert window.allowance("a", now=T + timedelta(minutes=7)).remaining == 3
    # A send before the window opened is not charged to it.
    window.record_send("a", at=T - US)
    assert window.allowance("a", now=T + timedelta(minutes=7)).remaining == 3


def test_recording_twice_is_harmless(store: WindowStore) -> None:
    """A callback retried by WeChat records one interaction."""
    window = ServiceWindow(store)
    window.record("a", Interaction.SCAN, at=T)
    window.record("a", Interaction.SCAN, at=T.astimezone(SHANGHAI))
    assert store.history(window.account, "a").interactions == ((T, Interaction.SCAN),)


def test_policy_is_configuration(store: WindowStore) -> None:
    """Changed numbers take effect; a kind set to None opens no window."""
    policy = attrs.evolve(WindowPolicy(), message=WindowRule(timedelta(hours=48), 20), payment=None)
    window = ServiceWindow(store, policy=policy)
    window.record("a", Interaction.MESSAGE, at=T)
    window.record("b", Interaction.PAYMENT, at=T)
    assert window.allowance("a", now=T).remaining == 20
    assert not window.window_open("b", now=T)


def test_accounts_do_not_share_windows(store: WindowStore) -> None:
    """Two accounts on one store keep separate windows for the same openid."""
    first = ServiceWindow(store, account="wx1")
    second = ServiceWindow(store, account="wx2")
    first.record("a", Interaction.MESSAGE, at=T)
    assert first.window_open("a", now=T)
    assert not second.window_open("a", now=T)


def test_pruning_drops_only_what_can_no_longer_matter(store: WindowStore) -> None:
    """prune() and consume drop rows older than the longest window; answers do not change."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    window.consume("a", now=T)
    window.record("b", Interaction.CLICK, at=T + timedelta(hours=40))
    later = T + H48 + timedelta(hours=1)
    assert window.prune(now=later) == 2
    assert store.history(window.account, "a") == store.history(window.account, "nobody")
    assert window.allowance("b", now=later).refused is WindowRefusal.CLOSED
    again = T + timedelta(hours=40) + H48 + US
    window.record("b", Interaction.MESSAGE, at=again)
    assert window.consume("b", now=again).granted
    history = store.history(window.account, "b")
    assert history.interactions == ((again, Interaction.MESSAGE),)
    assert history.sends == (again,)


def test_a_clock_running_ahead_prunes_nothing(store: WindowStore) -> None:
    """A future `at` prunes nothing that matters at `now`; a future-dated send still counts."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    window.record("a", Interaction.CLICK, at=T + timedelta(hours=100))
    window.record_send("a", at=T + timedelta(hours=100))
    now = T + timedelta(hours=47)
    assert window.allowance("a", now=now).remaining == 4
    assert window.consume("a", now=now).allowance.remaining == 3


def test_defaults_follow_wechat_published_rules() -> None:
    """The default policy is WeChat's service-account table, combined by LATEST."""
    policy = WindowPolicy()
    assert policy.rules == {
        Interaction.MESSAGE: WindowRule(H48, 5),
        Interaction.CLICK: WindowRule(MINUTE, 3),
        Interaction.SUBSCRIBE: WindowRule(MINUTE, 3),
        Interaction.SCAN: WindowRule(MINUTE, 3),
        Interaction.PAYMENT: WindowRule(H48, None),
    }
    assert policy.overlap is Overlap.LATEST
    assert policy.horizon == H48


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: WindowRule(timedelta(0), 3), ValueError),
        (lambda: WindowRule(60, 3), TypeError),
        (lambda: WindowRule(MINUTE, 0), ValueError),
        (lambda: WindowRule(MINUTE, True), TypeError),
        (lambda: WindowPolicy(message=(MINUTE, 3)), TypeError),
        (lambda: WindowPolicy(overlap="latest"), TypeError),
        (lambda: ServiceWindow(policy={}), TypeError),
        (lambda: ServiceWindow(store=object()), TypeError),
        (lambda: ServiceWindow(account=""), ValueError),
    ],
)
def test_bad_configuration_raises(make: Callable[[], object], error: type[Exception]) -> None:
    """Invalid rules, policies, stores and accounts raise a typed error."""
    with pytest.raises(error):
        make()


def test_bad_input_raises_and_changes_nothing(store: WindowStore) -> None:
    """Naive or unconvertible datetimes, bad openids and kinds raise; nothing changes."""
    window = ServiceWindow(store)
    window.record("a", Interaction.MESSAGE, at=T)
    before = store.history(window.account, "a")
    naive = datetime(2026, 5, 10, 12)
    # Aware, but with no UTC equivalent inside datetime's range.
    edge = datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=5)))
    assert window.allowance("o" * 64, now=T).refused is WindowRefusal.CLOSED
    calls: list[tuple[Callable[[], object], type[Exception]]] = [
        (lambda: window.record("a", Interaction.MESSAGE, at=naive), ValueError),
        (lambda: window.record("a", "message", at=T), TypeError),  # type: ignore[arg-type]
        (lambda: window.record(7, Interaction.MESSAGE, at=T), TypeError),  # type: ignore[arg-type]
        (lambda: window.record("", Interaction.MESSAGE, at=T), ValueError),
        (lambda: window.record_send("a", at=naive), ValueError),
        (lambda: window.consume("a", now=naive), ValueError),
        (lambda: window.consume(None, now=T), TypeError),  # type: ignore[arg-type]
        (lambda: window.allowance("a", now=naive), ValueError),
        (lambda: window.window_open("a", now="2026-05-10"), TypeError),  # type: ignore[arg-type]
        (lambda: window.prune(now=naive), ValueError),
        (lambda: window.record("a\x00b", Interaction.MESSAGE, at=T), ValueError),
        (lambda: window.record("\ud800", Interaction.MESSAGE, at=T), ValueError),
        (lambda: window.record("o" * 65, Interaction.MESSAGE, at=T), ValueError),
        (lambda: window.record_send("a\x00", at=T), ValueError),
        (lambda: window.consume("o" * 65, now=T), ValueError),
        (lambda: window.record(b"a", Interaction.MESSAGE, at=T), TypeError),  # type: ignore[arg-type]
        (lambda: window.record_send("a", at=T.timestamp()), TypeError),  # type: ignore[arg-type]
        (lambda: window.record("a", Interaction.MESSAGE, at=edge), ValueError),
        (lambda: window.consume("a", now=edge), ValueError),
    ]
    for call, error in calls:
        with pytest.raises(error):
            call()
    assert store.history(window.account, "a") == before


@pytest.mark.parametrize(
    ("msg_type", "event", "expected"),
    [
        ("text", None, Interaction.MESSAGE),
        ("image", None, Interaction.MESSAGE),
        ("location", None, Interaction.MESSAGE),
        ("link", None, Interaction.MESSAGE),
        ("event", "CLICK", Interaction.CLICK),
        ("event", "scancode_push", Interaction.CLICK),
        ("event", "scancode_waitmsg", Interaction.CLICK),
        ("event", "subscribe", Interaction.SUBSCRIBE),
        ("event", "SCAN", Interaction.SCAN),
        ("event", "VIEW", None),
        ("event", "LOCATION", None),
        ("event", "pic_weixin", None),
        ("event", "unsubscribe", None),
        ("event", "MASSSENDJOBFINISH", None),
        ("event", None, None),
    ],
)
def test_from_callback_maps_pushes(
    msg_type: str, event: str | None, expected: Interaction | None
) -> None:
    """Callback MsgType/Event pairs map to the interactions WeChat's rules name, or None."""
    assert Interaction.from_callback(msg_type, event) is expected


def test_from_callback_rejects_non_strings() -> None:
    """A MsgType or Event that is not a string raises TypeError."""
    with pytest.raises(TypeError):
        Interaction.from_callback(b"text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Interaction.from_callback("event", 1)  # type: ignore[arg-type]


def test_window_never_touches_the_monthly_quota(tmp_path: Path) -> None:
    """Window and ledger may share one SQLite file; consuming leaves the quota untouched."""
    path = tmp_path / "shared.sqlite3"
    ledger = SQLiteLedger(path)
    store = SQLiteWindowStore(path)
    try:
        ledger.reserve("c1", ["a"], at=T)
        window = ServiceWindow(store)
        window.record("a", Interaction.PAYMENT, at=T)
        assert sends_granted(window, "a", T, 10) == 10
        usage = ledger.usage("a", at=T)
        assert (usage.committed, usage.pending) == (0, 1)
    finally:
        store.close()
        ledger.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis", "redis_cluster"])
def test_processes_never_exceed_the_allowance(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Four processes consuming against one shared store get exactly the allowance in total."""
    cluster = _window_procs.cluster_for(backend, request)
    with _window_procs.store_spec(backend, tmp_path, cluster) as spec:
        store = _window_procs.open_store(spec)
        try:
            window = ServiceWindow(store, account="acct")
            start = _window_procs.NOW - timedelta(seconds=30)
            kinds = {"m": Interaction.MESSAGE, "c": Interaction.CLICK, "p": Interaction.PAYMENT}
            for openid, kind in kinds.items():
                window.record(openid, kind, at=start)
            attempts = 8
            context = multiprocessing.get_context("spawn")
            with context.Pool(4) as pool:
                jobs = [
                    pool.apply_async(_window_procs.consume_many, (spec, list(kinds), attempts))
                    for _ in range(4)
                ]
                results = [job.get(timeout=120) for job in jobs]
            totals = {openid: sum(r[openid] for r in results) for openid in kinds}
            assert totals == {"m": 5, "c": 3, "p": 4 * attempts}
            assert len(store.history("acct", "m").sends) == 5
            assert window.consume("m", now=_window_procs.NOW).refused is WindowRefusal.EXHAUSTED
        finally:
            store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis", "redis_cluster"])
def test_a_consumer_killed_mid_decision_stores_nothing_and_blocks_nobody(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILL between reading and writing: no send is stored and the next consume proceeds."""
    cluster = _window_procs.cluster_for(backend, request)
    with _window_procs.store_spec(backend, tmp_path, cluster) as spec:
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        child = context.Process(target=_window_procs.consume_and_hang, args=(spec, ready))
        child.start()
        store = _window_procs.open_store(spec)
        try:
            assert ready.wait(60)
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(30)
            window = ServiceWindow(store, account="acct")
            assert store.history("acct", "o").sends == ()
            granted = [window.consume("o", now=_window_procs.NOW).granted for _ in range(6)]
            assert granted == [True] * 5 + [False]
        finally:
            if child.is_alive():
                child.kill()
            store.close()


def test_public_names() -> None:
    """`wxsegment.quota.__all__` is sorted (constants first) and lists exactly the public names."""
    names = wxsegment.quota.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    public = {n for n in vars(wxsegment.quota) if not n.startswith("_")}
    assert set(names) == public - {"annotations"}


# --- state machine -------------------------------------------------------------------------

SMALL = WindowPolicy(
    message=WindowRule(H48, 2),
    click=WindowRule(MINUTE, 1),
    subscribe=WindowRule(MINUTE, 2),
    scan=None,
    payment=WindowRule(H48, None),
)
STEPS = (
    timedelta(0),
    timedelta(seconds=1),
    timedelta(seconds=59),
    MINUTE,
    timedelta(hours=1),
    H48 - timedelta(seconds=1),
    H48,
)
# Mostly now; sometimes a callback handled late, or a clock running a second ahead.
SKEWS = (timedelta(0), timedelta(0), timedelta(0), -MINUTE, -timedelta(seconds=1), US)
FOLLOWERS = ("a", "b")


class Model:
    """Every event in order, never pruned; answers computed from the whole log."""

    def __init__(self, policy: WindowPolicy) -> None:
        self.policy = policy
        # (openid, seq, at, kind or None for a send, granted send?)
        self.log: list[tuple[str, int, datetime, Interaction | None, bool]] = []

    def add(self, openid: str, at: datetime, kind: Interaction | None, granted: bool) -> None:
        self.log.append((openid, len(self.log), at, kind, granted))

    def windows(
        self, openid: str, now: datetime, before: int
    ) -> list[tuple[datetime, Interaction, WindowRule]]:
        return [
            (at, kind, wrule)
            for o, seq, at, kind, _ in self.log
            if o == openid and seq < before and kind is not None and at <= now
            if (wrule := self.policy.rule(kind)) is not None
        ]

    def sends_since(self, openid: str, start: datetime, before: int) -> int:
        return sum(
            1
            for o, seq, at, kind, _ in self.log
            if o == openid and seq < before and kind is None and at >= start
        )

    def remaining(self, openid: str, now: datetime) -> tuple[bool, int | None]:
        """(time still running, messages left or None) for the governing window."""
        before = len(self.log)
        seen = self.windows(openid, now, before)
        if not seen:
            return False, 0
        options: list[tuple[bool, int | None]] = []
        if self.policy.overlap is Overlap.LATEST:
            last = max(at for at, _, _ in seen)
            tied = [(at, kind, wrule) for at, kind, wrule in seen if at == last]
            if any(now >= at + wrule.duration for at, _, wrule in tied):
                return False, 0
            chosen = tied
        else:
            chosen = [
                (at, kind, wrule)
                for at, kind, wrule in seen
                if at == max(a for a, k, _ in seen if k is kind) and now < at + wrule.duration
            ]
            if not chosen:
                return False, 0
        for at, _, chosen_rule in chosen:
            used = self.sends_since(openid, at, before)
            limit = chosen_rule.messages
            options.append((True, None if limit is None else max(0, limit - used)))
        ranked = sorted(options, key=lambda o: float("inf") if o[1] is None else o[1])
        return ranked[0] if self.policy.overlap is Overlap.LATEST else ranked[-1]


class WindowMachine(RuleBasedStateMachine):
    """Random records, sends and consumes over time, against the model."""

    make_store: Callable[[], WindowStore]
    policy: WindowPolicy

    def __init__(self) -> None:
        super().__init__()
        self.window = ServiceWindow(
            self.make_store(), policy=self.policy, account=f"acct-{uuid.uuid4().hex[:12]}"
        )
        self.model = Model(self.policy)
        self.now = T

    @rule(step=st.sampled_from(STEPS))
    def wait(self, step: timedelta) -> None:
        self.now += step

    @rule(
        openid=st.sampled_from(FOLLOWERS),
        kind=st.sampled_from(list(Interaction)),
        skew=st.sampled_from(SKEWS),
    )
    def record(self, openid: str, kind: Interaction, skew: timedelta) -> None:
        self.window.record(openid, kind, at=self.now + skew)
        self.model.add(openid, self.now + skew, kind, False)

    @rule(openid=st.sampled_from(FOLLOWERS), skew=st.sampled_from(SKEWS))
    def record_send(self, openid: str, skew: timedelta) -> None:
        self.window.record_send(openid, at=self.now + skew)
        self.model.add(openid, self.now + skew, None, False)

    @rule()
    def prune(self) -> None:
        self.window.prune(now=self.now)

    @rule(openid=st.sampled_from(FOLLOWERS))
    def consume(self, openid: str) -> None:
        running, left = self.model.remaining(openid, self.now)
        expected = running and left != 0
        got = self.window.consume(openid, now=self.now)
        assert got.granted == expected
        if expected:
            self.model.add(openid, self.now, None, True)
            assert got.refused is None
        else:
            assert got.refused is (WindowRefusal.EXHAUSTED if running else WindowRefusal.CLOSED)

    @invariant()
    def allowance_matches_model(self) -> None:
        for openid in FOLLOWERS:
            running, left = self.model.remaining(openid, self.now)
            allowance = self.window.allowance(openid, now=self.now)
            assert allowance.open == (running and left != 0)
            assert allowance.remaining == (left if running else 0)

    @invariant()
    def no_window_lets_out_more_than_its_rule(self) -> None:
        """Each grant lies inside a window whose earlier sends left room for it."""
        for openid, seq, at, _, granted in self.model.log:
            if not granted:
                continue
            seen = self.model.windows(openid, at, seq)
            assert seen, "a send was granted with no interaction before it"
            fits = [
                now_ok and (wrule.messages is None or used < wrule.messages)
                for start, _, wrule in seen
                for now_ok in [at < start + wrule.duration]
                for used in [self.model.sends_since(openid, start, seq)]
            ]
            if self.policy.overlap is Overlap.LATEST:
                last = max(start for start, _, _ in seen)
                fits = [f for f, (start, _, _) in zip(fits, seen, strict=True) if start == last]
                assert all(fits)
            else:
                assert any(fits)


@pytest.mark.parametrize("overlap", list(Overlap))
@pytest.mark.parametrize("backend", STORES)
def test_window_state_machine(
    backend: str, overlap: Overlap, request: pytest.FixtureRequest
) -> None:
    """Random call sequences agree with the model and never exceed a window's allowance."""
    cluster = _window_procs.cluster_for(backend, request)
    with (
        tempfile.TemporaryDirectory() as directory,
        _window_procs.store_spec(backend, Path(directory), cluster) as spec,
    ):
        stores: list[WindowStore] = []

        def make_store() -> WindowStore:
            # Each example runs under a fresh account, so examples sharing a store never meet.
            made = _window_procs.open_store(spec)
            stores.append(made)
            return made

        machine = type(
            f"WindowMachine_{backend}_{overlap.value}",
            (WindowMachine,),
            {
                "make_store": staticmethod(make_store),
                "policy": attrs.evolve(SMALL, overlap=overlap),
            },
        )
        # Server round trips make an example costlier; the in-process stores explore more.
        examples = 60 if backend in ("memory", "sqlite") else 20
        machine.TestCase.settings = settings(
            max_examples=examples, stateful_step_count=40, deadline=None
        )
        try:
            machine.TestCase().runTest()
        finally:
            for made in stores:
                made.close()


def test_sqlite_window_store_syncs_every_commit_by_default(tmp_path: Path) -> None:
    """The window store is durable like the ledger (synchronous=FULL) unless told otherwise."""
    from wxsegment.quota import SQLiteWindowStore

    for durable, expected in ((True, 2), (False, 1)):
        store = SQLiteWindowStore(tmp_path / f"w{durable}.sqlite3", durable=durable)
        try:
            assert store._db.execute("PRAGMA synchronous").fetchone()[0] == expected
        finally:
            store.close()
