"""The delivery journal's contract, one suite over every backend (real PostgreSQL and Redis)."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests._services import PG_DSN, REDIS_URL, unreachable
from tests.quota.servers import (
    delete_prefix,
    drop_schema,
    fresh_name,
    postgres_ledger_maker,
    redis_ledger_maker,
)
from wxsegment import FixedClock
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import (
    BatchRecord,
    BatchState,
    Campaign,
    CampaignBusyError,
    DeliveryJournal,
    JournalConflictError,
    LeaseLostError,
    MemoryJournal,
    PostgresJournal,
    RedisJournal,
    SQLiteJournal,
    execute,
    journal_for,
)
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import APPID, pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
ATTEMPTS = RetryPolicy().attempts
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
TTL = timedelta(minutes=1)
#: (backend, where): enough to open another journal on the same store, in another process.
Spec = tuple[str, str]


def open_journal(spec: Spec) -> DeliveryJournal:
    """A journal on the store the spec names."""
    kind, where = spec
    if kind == "sqlite":
        return SQLiteJournal(where, account="acct")
    if kind == "postgres":
        return PostgresJournal(PG_DSN, account="acct", schema=where)
    if kind == "redis":
        return RedisJournal(REDIS_URL, account="acct", prefix=where)
    raise AssertionError(kind)


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def opener(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], DeliveryJournal]]:
    """Opens journals sharing one fresh store of the backend (cleaned up afterwards)."""
    kind: str = request.param
    opened: list[DeliveryJournal] = []
    if kind == "memory":
        shared = MemoryJournal(account="acct")
        yield lambda: shared
        return
    if kind == "postgres" and (reason := unreachable(PG_DSN)):
        pytest.skip(f"PostgreSQL: {reason}")
    if kind == "redis" and (reason := unreachable(REDIS_URL)):
        pytest.skip(f"Redis: {reason}")
    where = str(tmp_path / "journal.sqlite3") if kind == "sqlite" else fresh_name("dj")

    def make() -> DeliveryJournal:
        journal = open_journal((kind, where))
        opened.append(journal)
        return journal

    try:
        yield make
    finally:
        for journal in opened:
            journal.close()
        if kind == "postgres":
            drop_schema(where)
        elif kind == "redis":
            delete_prefix(where)


def record(index: int, members: tuple[str, ...] = ("o1", "o2")) -> BatchRecord:
    """A freshly formed batch of campaign "c"."""
    return BatchRecord("c", index, f"c.{index}", members, "2026-11", BatchState.FORMED, T0)


def test_a_held_lease_refuses_others_until_it_expires(
    opener: Callable[[], DeliveryJournal],
) -> None:
    """acquire is exclusive while the lease lives; after expiry another run takes it over."""
    one, two = opener(), opener()
    lease = one.acquire("c", now=T0, ttl=TTL)
    with pytest.raises(CampaignBusyError):
        two.acquire("c", now=T0 + TTL / 2, ttl=TTL)
    other = two.acquire("d", now=T0, ttl=TTL)
    assert other.campaign == "d"
    taken = two.acquire("c", now=T0 + TTL, ttl=TTL)
    assert taken.token != lease.token
    with pytest.raises(LeaseLostError):
        one.renew(lease, now=T0 + TTL, ttl=TTL)


def test_every_write_of_a_lost_lease_fails_and_changes_nothing(
    opener: Callable[[], DeliveryJournal],
) -> None:
    """Once another run holds the lease, add_batches and update raise LeaseLostError."""
    one, two = opener(), opener()
    lease = one.acquire("c", now=T0, ttl=TTL)
    one.add_batches(lease, [record(0)])
    two.acquire("c", now=T0 + 2 * TTL, ttl=TTL)
    with pytest.raises(LeaseLostError):
        one.add_batches(lease, [record(1)])
    with pytest.raises(LeaseLostError):
        one.update(lease, "c", 0, expect=BatchState.FORMED, state=BatchState.ATTEMPTING)
    assert [(r.index, r.state) for r in two.batches("c")] == [(0, BatchState.FORMED)]


def test_an_expired_lease_nobody_took_can_be_renewed(opener: Callable[[], DeliveryJournal]) -> None:
    """Fencing is by token: a late renewal succeeds while no other run has acquired."""
    journal = opener()
    lease = journal.acquire("c", now=T0, ttl=TTL)
    renewed = journal.renew(lease, now=T0 + 5 * TTL, ttl=TTL)
    assert renewed.expires_at == T0 + 6 * TTL
    journal.add_batches(renewed, [record(0)])
    journal.release_lease(renewed)
    assert journal.acquire("c", now=T0 + 5 * TTL, ttl=TTL).token != lease.token


def test_batches_round_trip_and_move_only_along_the_allowed_arrows(
    opener: Callable[[], DeliveryJournal],
) -> None:
    """Stored layouts come back unchanged; updates are compare-and-set on the state."""
    journal = opener()
    lease = journal.acquire("c", now=T0, ttl=TTL)
    members = ("o-甲", "o2", "o3")
    journal.add_batches(lease, [record(1, members), record(0)])
    with pytest.raises(JournalConflictError):
        journal.add_batches(lease, [record(1)])
    first = T0 + timedelta(seconds=5)
    journal.update(
        lease, "c", 1, expect=BatchState.FORMED, state=BatchState.ATTEMPTING, attempted_at=first
    )
    journal.update(
        lease,
        "c",
        1,
        expect=BatchState.ATTEMPTING,
        state=BatchState.ATTEMPTING,
        attempted_at=first + TTL,
    )
    with pytest.raises(JournalConflictError):
        journal.update(lease, "c", 1, expect=BatchState.FORMED, state=BatchState.ATTEMPTING)
    with pytest.raises(JournalConflictError):
        journal.update(lease, "c", 0, expect=BatchState.FORMED, state=BatchState.COMMITTED)
    big = 2**62 + 12345
    journal.update(
        lease, "c", 1, expect=BatchState.ATTEMPTING, state=BatchState.ACCEPTED, msg_id=big
    )
    journal.update(lease, "c", 1, expect=BatchState.ACCEPTED, state=BatchState.COMMITTED)
    zero, one = journal.batches("c")
    assert zero == record(0)
    assert (one.index, one.clientmsgid, one.members, one.month) == (1, "c.1", members, "2026-11")
    assert (one.state, one.attempted_at, one.msg_id) == (BatchState.COMMITTED, first, big)
    assert journal.batches("other") == []


def test_a_journal_is_per_account(opener: Callable[[], DeliveryJournal]) -> None:
    """Every journal reports the account it belongs to."""
    assert opener().account == "acct"


def _contend(spec: Spec, rounds: int, seen: multiprocessing.Queue[tuple[str, int]]) -> None:
    """One process: ``rounds`` times, take the lease when free, read, append one batch, let go."""
    journal = open_journal(spec)
    ttl = timedelta(milliseconds=150)
    taken = 0
    # Leases taken, not attempts, are counted, so a slow machine changes the timing but not
    # how much work is tried; the deadline only stops a process that never gets a turn.
    deadline = time.monotonic() + 60
    try:
        while taken < rounds and time.monotonic() < deadline:
            now = datetime.now(timezone.utc)
            try:
                lease = journal.acquire("c", now=now, ttl=ttl)
            except CampaignBusyError:
                time.sleep(0.01)
                continue
            taken += 1
            index = len(journal.batches("c"))
            # Every third lease a process takes stalls past its end, so another process takes
            # over mid-work. Stalling by the process's own count rather than by the batch index
            # lets the holders that do not stall make progress at every index.
            time.sleep(0.2 if taken % 3 == 0 else 0.0)
            try:
                journal.add_batches(lease, [record(index)])
                seen.put(("added", index))
                journal.release_lease(lease)
            except LeaseLostError:
                seen.put(("lost", index))
            except JournalConflictError:
                seen.put(("conflict", index))
    finally:
        journal.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "redis"])
def test_processes_contending_for_one_lease_never_write_over_each_other(
    kind: str, tmp_path: Path
) -> None:
    """Four processes: stalled holders are fenced off (LeaseLostError), never in conflict."""
    if kind == "postgres" and (reason := unreachable(PG_DSN)):
        pytest.skip(f"PostgreSQL: {reason}")
    if kind == "redis" and (reason := unreachable(REDIS_URL)):
        pytest.skip(f"Redis: {reason}")
    where = str(tmp_path / "journal.sqlite3") if kind == "sqlite" else fresh_name("djmp")
    spec = (kind, where)
    open_journal(spec).close()  # create the tables before the race
    context = multiprocessing.get_context("spawn")
    seen: multiprocessing.Queue[tuple[str, int]] = context.Queue()
    workers = [context.Process(target=_contend, args=(spec, 9, seen)) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        events = []
        while any(w.is_alive() for w in workers) or not seen.empty():
            with contextlib.suppress(queue.Empty):
                events.append(seen.get(timeout=0.5))
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        journal = open_journal(spec)
        stored = [r.index for r in journal.batches("c")]
        journal.close()
        added = sorted(i for what, i in events if what == "added")
        assert [what for what, _ in events if what == "conflict"] == []
        assert stored == added == list(range(len(added)))
        assert len(added) >= 2
        # The stalls were taken over and fenced off, so the race above was really run.
        assert "lost" in {what for what, _ in events}
    finally:
        if kind == "postgres":
            drop_schema(where)
        elif kind == "redis":
            delete_prefix(where)


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_execute_resumes_over_server_ledgers_with_their_default_journal(
    kind: str, fake: FakeWeChat, client: Client, clock: FixedClock
) -> None:
    """journal_for a PostgresLedger or RedisLedger keeps the layout in that server."""
    maker = postgres_ledger_maker() if kind == "postgres" else redis_ledger_maker()
    with maker as make:
        ledger = make(account=APPID)
        openids = sorted(fake.add_followers(7))
        campaign = Campaign("srv", EVERYONE, Text("hi"))
        fake.inject("timeout", path=MASS_SEND, after_processing=True, times=ATTEMPTS)
        first = execute(client, ledger, campaign, openids, clock=clock, batch_size=4)
        assert len(first.pending) == 4
        assert [r.state for r in journal_for(ledger).batches("srv")] == [
            BatchState.ATTEMPTING,
            BatchState.COMMITTED,
        ]
        fake.clear_faults()
        clock.advance(timedelta(minutes=2))
        again = make(account=APPID)
        second = execute(client, again, campaign, openids, clock=clock, batch_size=3)
        assert (second.already_sent, second.committed_before) == (4, 3)
        assert pushes_of(fake, "srv.") == dict.fromkeys(openids, 1)
        assert list(again.pending("srv")) == []


def test_journal_for_keeps_one_journal_per_ledger_on_its_backend(tmp_path: Path) -> None:
    """The same ledger gives the same journal; SQLite shares the file; other ledgers raise."""
    from wxsegment.quota import MemoryLedger, SQLiteLedger

    memory = MemoryLedger(account="acct")
    assert journal_for(memory) is journal_for(memory)
    assert isinstance(journal_for(memory), MemoryJournal)
    assert journal_for(memory) is not journal_for(MemoryLedger(account="acct"))
    path = tmp_path / "ledger.sqlite3"
    first, second = SQLiteLedger(path, account="acct"), SQLiteLedger(path, account="acct")
    lease = journal_for(first).acquire("c", now=T0, ttl=TTL)
    journal_for(first).add_batches(lease, [record(0)])
    assert journal_for(second).batches("c") == [record(0)]
    assert journal_for(second).account == "acct"
    with pytest.raises(TypeError, match="journal="):
        journal_for(object())  # type: ignore[arg-type]
    first.close()
    second.close()
