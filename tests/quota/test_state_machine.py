"""A hypothesis state machine drives random ledger calls against a pure-Python model.

Instants cross a month boundary in Asia/Shanghai (23:59:59 -> 00:00:00); after every step the
ledger's answers must equal the model's, and invariant Q1 must hold: the ledger never grants a
slot beyond the limit, so committed + pending <= limit + externally recorded pushes.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.quota.conftest import BACKENDS, LedgerFactory, cluster_for, ledger_maker
from wxsegment import month_key
from wxsegment.quota import QuotaLedger, RefusalReason, ScanningLedger, Transition

FOLLOWERS = ("a", "b", "c")
CAMPAIGNS = ("c1", "c2", "c3", "c4", "c5", "c6")
KEYS = (None, "k1", "k2")
_EDGE = datetime(2026, 5, 31, 15, 59, 59, tzinfo=timezone.utc)
INSTANTS = (
    _EDGE - timedelta(days=3),
    _EDGE,
    _EDGE + timedelta(seconds=1),
    _EDGE + timedelta(days=2),
)
LIMIT = 2


class Model:
    """The contract in its simplest form: a dict of reservations."""

    def __init__(self) -> None:
        # (campaign, openid) -> (month, content_key, committed, external)
        self.rows: dict[tuple[str, str], tuple[str, str | None, bool, bool]] = {}

    def load(self, openid: str, month: str) -> tuple[int, int]:
        mine = [r for (_, o), r in self.rows.items() if o == openid and r[0] == month]
        return sum(1 for r in mine if r[2]), sum(1 for r in mine if not r[2])

    def externals(self, openid: str, month: str) -> int:
        return sum(1 for (_, o), r in self.rows.items() if o == openid and r[0] == month and r[3])

    def has_key(self, openid: str, key: str) -> bool:
        return any(o == openid and r[1] == key for (_, o), r in self.rows.items())


class LedgerMachine(RuleBasedStateMachine):
    """Random reserve/commit/release/record_external against the model."""

    make: Callable[..., QuotaLedger]

    def __init__(self) -> None:
        super().__init__()
        self.ledger = self.make(account=f"acct-{uuid.uuid4().hex[:12]}", limit=LIMIT)
        self.model = Model()

    @rule(
        campaign=st.sampled_from(CAMPAIGNS),
        openids=st.lists(st.sampled_from(FOLLOWERS), max_size=4),
        at=st.sampled_from(INSTANTS),
        key=st.sampled_from(KEYS),
    )
    def reserve(self, campaign: str, openids: list[str], at: datetime, key: str | None) -> None:
        result = self.ledger.reserve(campaign, openids, at=at, content_key=key)
        month = month_key(at)
        granted, already, refused = [], [], {}
        for openid in dict.fromkeys(openids):
            if (campaign, openid) in self.model.rows:
                already.append(openid)
            elif key is not None and self.model.has_key(openid, key):
                refused[openid] = RefusalReason.DUPLICATE_CONTENT
            elif sum(self.model.load(openid, month)) >= LIMIT:
                refused[openid] = RefusalReason.QUOTA_EXHAUSTED
            else:
                self.model.rows[(campaign, openid)] = (month, key, False, False)
                granted.append(openid)
        assert (result.granted, result.already, dict(result.refused)) == (
            tuple(granted),
            tuple(already),
            refused,
        )

    @rule(
        campaign=st.sampled_from(CAMPAIGNS),
        openids=st.none() | st.lists(st.sampled_from(FOLLOWERS), max_size=3),
        commit=st.booleans(),
    )
    def settle(self, campaign: str, openids: list[str] | None, commit: bool) -> None:
        if openids is None:
            targets = sorted(
                o for (c, o), r in self.model.rows.items() if c == campaign and not r[2]
            )
        else:
            targets = list(dict.fromkeys(openids))
        done, already, missing, refused = [], [], [], []
        for openid in targets:
            row = self.model.rows.get((campaign, openid))
            if row is None:
                missing.append(openid)
            elif row[2]:
                (already if commit else refused).append(openid)
            else:
                done.append(openid)
                if commit:
                    self.model.rows[(campaign, openid)] = (row[0], row[1], True, row[3])
                else:
                    del self.model.rows[(campaign, openid)]
        if commit:
            got = self.ledger.commit(campaign, openids)
            assert got == Transition(tuple(done), tuple(already), tuple(missing))
        else:
            got = self.ledger.release(campaign, openids)
            assert got == Transition(
                done=tuple(done), missing=tuple(missing), refused=tuple(refused)
            )

    @rule(
        external=st.sampled_from(("ext1", "ext2")),
        openids=st.lists(st.sampled_from(FOLLOWERS), max_size=3),
        at=st.sampled_from(INSTANTS),
        key=st.sampled_from(KEYS),
    )
    def record_external(
        self, external: str, openids: list[str], at: datetime, key: str | None
    ) -> None:
        done, already = [], []
        for openid in dict.fromkeys(openids):
            if (external, openid) in self.model.rows:
                already.append(openid)
            else:
                self.model.rows[(external, openid)] = (month_key(at), key, True, True)
                done.append(openid)
        got = self.ledger.record_external(external, openids, at=at, content_key=key)
        assert got == Transition(done=tuple(done), already=tuple(already))

    @invariant()
    def usage_matches_and_q1_holds(self) -> None:
        for openid in FOLLOWERS:
            for at in INSTANTS:
                month = month_key(at)
                usage = self.ledger.usage(openid, at=at)
                assert (usage.committed, usage.pending) == self.model.load(openid, month)
                assert usage.committed + usage.pending <= LIMIT + self.model.externals(
                    openid, month
                )

    @invariant()
    def scans_match(self) -> None:
        ledger = self.ledger
        assert isinstance(ledger, ScanningLedger)
        for at in INSTANTS:
            month = month_key(at)
            expected = {}
            for openid in FOLLOWERS:
                counts = self.model.load(openid, month)
                if sum(counts):
                    expected[openid] = counts
            scanned = ledger.month_usage(at=at)
            assert {o: (u.committed, u.pending) for o, u in scanned.items()} == expected
            assert all(u.month == month and u.limit == LIMIT for u in scanned.values())
        keys = [k for k in KEYS if k is not None]
        assert dict(ledger.content_holders(keys)) == {
            key: frozenset(o for o in FOLLOWERS if self.model.has_key(o, key)) for key in keys
        }

    @invariant()
    def pending_matches(self) -> None:
        expected = sorted((c, o) for (c, o), r in self.model.rows.items() if not r[2])
        assert [(e.campaign, e.openid) for e in self.ledger.pending()] == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_ledger_state_machine(backend: str, request: pytest.FixtureRequest) -> None:
    """Random call sequences agree with the model and keep Q1, on every backend."""
    examples = 60 if backend in ("memory", "sqlite") else 25
    cluster = cluster_for(backend, request)
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        make: LedgerFactory = stack.enter_context(ledger_maker(backend, directory, cluster))
        machine = type(f"LedgerMachine_{backend}", (LedgerMachine,), {"make": staticmethod(make)})
        machine.TestCase.settings = settings(
            max_examples=examples, stateful_step_count=25, deadline=None
        )
        machine.TestCase().runTest()
