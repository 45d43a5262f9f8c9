"""Crash simulation: a process dies between WeChat's acceptance and the ledger's commit."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wxsegment import FixedClock
from wxsegment.api import Text
from wxsegment.delivery import BatchOutcome, Campaign, execute
from wxsegment.quota import QuotaLedger, Transition
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import APPID, SECRET, START, make_client, make_ledger, pushes_of


class Crash(Exception):
    """The simulated death of the sending process."""


class CrashingLedger:
    """A ledger that dies on its ``crash_at``-th commit, before anything is committed."""

    def __init__(self, inner: QuotaLedger, crash_at: int | None) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.commits = 0

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Count the commit; raise `Crash` instead of committing when its turn comes."""
        self.commits += 1
        if self.commits == self.crash_at:
            raise Crash(campaign)
        return self.inner.commit(campaign, openids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


FOLLOWERS = 24


@settings(max_examples=40)
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    audiences=st.lists(st.sets(st.integers(0, FOLLOWERS - 1), min_size=2), min_size=5, max_size=6),
    batch_size=st.integers(3, 7),
    crash_at=st.integers(1, 25),
)
def test_crash_between_send_and_commit_then_resume_never_double_sends(
    kind: str, audiences: list[set[int]], batch_size: int, crash_at: int
) -> None:
    """After a crash at any commit and a resume: one push per campaign, ≤ 4 a month, all settled."""
    clock = FixedClock(START)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = fake.add_followers(FOLLOWERS)
    with tempfile.TemporaryDirectory() as scratch, make_client(fake, clock) as client:
        inner = make_ledger(kind, Path(scratch))
        ledger = CrashingLedger(inner, crash_at)
        try:
            crashed = False
            for number, members in enumerate(audiences):
                campaign = Campaign(f"c{number}", EVERYONE, Text(f"news {number}"), f"k{number}")
                audience = [openids[i] for i in sorted(members)]
                clock.advance(timedelta(days=1))
                try:
                    execute(
                        client, ledger, campaign, audience, now=clock.now(), batch_size=batch_size
                    )
                except Crash:
                    crashed = True
                    assert list(inner.pending(campaign.id))
                    clock.advance(timedelta(minutes=2))
                    # The restarted process runs the same campaign again.
                    report = execute(
                        client, inner, campaign, audience, now=clock.now(), batch_size=batch_size
                    )
                    assert report.already_sent >= 2
                    assert report.complete
            assert crashed == (crash_at <= ledger.commits)
            assert list(inner.pending()) == []
            for number in range(len(audiences)):
                assert max(pushes_of(fake, f"c{number}.").values(), default=0) <= 1
            month = clock.now()
            for openid in openids:
                received = fake.mass_received(openid, month)
                assert received <= 4
                assert received == inner.usage(openid, at=month).committed
        finally:
            inner.close()


def test_a_slot_freed_between_crash_and_resume_shifts_no_batch(tmp_path: Path) -> None:
    """A follower granted only on the resume neither moves others to new ids nor gets a push."""
    clock = FixedClock(START)
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)
    openids = sorted(fake.add_followers(8))
    blocked = openids[1]
    inner = make_ledger("sqlite", tmp_path)
    with make_client(fake, clock) as client:
        for week in range(3):
            news = Campaign(f"w{week}", EVERYONE, Text("news"), f"k{week}")
            execute(client, inner, news, [blocked, openids[7]], now=clock.now())
        inner.reserve("unsure", [blocked], at=clock.now())
        campaign = Campaign("main", EVERYONE, Text("main"), "main")
        crashing = CrashingLedger(inner, 1)
        with pytest.raises(Crash):
            execute(client, crashing, campaign, openids, now=clock.now(), batch_size=4)
        assert len(list(inner.pending("main"))) == 7
        inner.release("unsure")
        clock.advance(timedelta(minutes=2))
        report = execute(client, inner, campaign, openids, now=clock.now(), batch_size=4)
    outcomes = [(b.index, b.outcome) for b in report.batches]
    assert outcomes == [
        (0, BatchOutcome.LATE),
        (0, BatchOutcome.ALREADY_SENT),
        (1, BatchOutcome.SENT),
    ]
    received = pushes_of(fake, "main.")
    assert received == dict.fromkeys([o for o in openids if o != blocked], 1)
    for openid in openids:
        assert fake.mass_received(openid) == inner.usage(openid, at=clock.now()).committed
    inner.close()
