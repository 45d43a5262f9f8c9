"""execute and plan against FakeWeChat (over httpx.MockTransport) with SQLite and memory ledgers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wxsegment import FixedClock
from wxsegment.api import (
    Client,
    MinuteQuotaError,
    RetryPolicy,
    Text,
    WeChatError,
    WeChatTransportError,
    error_for,
)
from wxsegment.delivery import (
    BatchOutcome,
    BatchResult,
    Campaign,
    DeliveryError,
    batch_clientmsgid,
    execute,
    is_definite_refusal,
    plan,
)
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import pushes_of

MASS_SEND = "/cgi-bin/message/mass/send"
#: Attempts the client makes per call before giving up (its default retry policy).
ATTEMPTS = RetryPolicy().attempts


def campaign(cid: str, key: str | None = None, priority: int = 0) -> Campaign:
    """A text campaign to everyone."""
    return Campaign(cid, EVERYONE, Text(f"{cid} says hello"), content_key=key, priority=priority)


def test_happy_path_sends_every_batch_once_and_commits(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Every follower gets exactly one push, batches have the documented ids, nothing pends."""
    openids = fake.add_followers(23)
    seen: list[BatchResult] = []
    report = execute(
        client,
        ledger,
        campaign("c1"),
        openids,
        now=clock.now(),
        batch_size=5,
        on_progress=seen.append,
    )
    assert report.sent == 23
    assert report.complete
    assert report.matched == 23
    assert [b.clientmsgid for b in report.batches] == [f"c1.{i}" for i in range(5)]
    assert [b.outcome for b in seen] == [BatchOutcome.SENT] * 5
    assert sorted(o for b in report.batches for o in b.openids) == sorted(openids)
    assert pushes_of(fake, "c1.") == dict.fromkeys(openids, 1)
    assert list(ledger.pending("c1")) == []
    assert all(ledger.usage(o, at=clock.now()).committed == 1 for o in openids)


def test_quota_and_duplicate_refusals_are_counted_and_not_sent(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A fifth push is refused by quota, repeated content as duplicate; WeChat never sees them."""
    openids = fake.add_followers(6)
    for week in range(4):
        execute(client, ledger, campaign(f"w{week}", f"k{week}"), openids[:3], now=clock.now())
    repeat = execute(client, ledger, campaign("again", "k0"), openids[3:], now=clock.now())
    assert repeat.sent == 3
    fifth = execute(client, ledger, campaign("fifth", "k0"), openids, now=clock.now())
    assert fifth.refused_duplicate == 6
    assert fifth.refused_quota == 0
    assert fifth.batches == ()
    sixth = execute(client, ledger, campaign("sixth", "k9"), openids, now=clock.now())
    assert sixth.refused_quota == 3
    assert sixth.sent == 3
    assert all(fake.mass_received(o) <= 4 for o in openids)
    assert [fake.mass_received(o) for o in openids] == [4, 4, 4, 2, 2, 2]


def test_lost_answer_is_resolved_by_the_clients_retry(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A timeout after WeChat queued the job: the retry gets 45065 and the batch is committed."""
    openids = fake.add_followers(8)
    fake.inject("timeout", path=MASS_SEND, after_processing=True)
    report = execute(client, ledger, campaign("lost"), openids, now=clock.now(), batch_size=4)
    assert [b.outcome for b in report.batches] == [BatchOutcome.ALREADY_SENT, BatchOutcome.SENT]
    assert report.already_sent == 4
    assert report.complete
    assert pushes_of(fake, "lost.") == dict.fromkeys(openids, 1)


def test_unknown_outcome_stays_pending_and_resume_does_not_double_send(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Timeouts outlasting the retries leave the batch pending; a rerun commits it via 45065."""
    openids = fake.add_followers(9)
    # Every attempt of the first batch times out after WeChat took the job.
    fake.inject("timeout", path=MASS_SEND, after_processing=True, times=2 * ATTEMPTS)
    first = execute(client, ledger, campaign("u"), openids, now=clock.now(), batch_size=4)
    outcomes = [BatchOutcome.PENDING, BatchOutcome.PENDING, BatchOutcome.SENT]
    assert [b.outcome for b in first.batches] == outcomes
    assert set(first.pending) == {e.openid for e in ledger.pending("u")}
    assert len(first.pending) == 7
    assert all(ledger.usage(o, at=clock.now()).pending == 1 for o in first.pending)
    fake.clear_faults()
    clock.advance(timedelta(minutes=5))
    second = execute(client, ledger, campaign("u"), openids, now=clock.now(), batch_size=4)
    assert second.complete
    assert list(ledger.pending("u")) == []
    assert (second.already_sent, second.committed_before, second.sent) == (7, 2, 0)
    assert pushes_of(fake, "u.") == dict.fromkeys(openids, 1)


def test_5xx_after_retries_is_pending_then_sent_on_resume(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """HTTP 500 on every attempt (job not created): pending, then really sent on the rerun."""
    openids = fake.add_followers(4)
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    first = execute(client, ledger, campaign("h"), openids, now=clock.now())
    assert first.batches[0].outcome is BatchOutcome.PENDING
    assert len(first.pending) == 4
    assert first.batches[0].error is not None
    assert "500" in first.batches[0].error
    fake.clear_faults()
    second = execute(client, ledger, campaign("h"), openids, now=clock.now())
    assert second.sent == 4
    assert pushes_of(fake, "h.") == dict.fromkeys(openids, 1)


def test_definite_refusal_is_released(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """45011 proves no job was made: the batch is released and its followers' slots are free."""
    openids = fake.add_followers(6)
    fake.inject("mass_rate", path=MASS_SEND)
    report = execute(client, ledger, campaign("r"), openids, now=clock.now(), batch_size=3)
    assert [b.outcome for b in report.batches] == [BatchOutcome.RELEASED, BatchOutcome.SENT]
    refused = report.batches[0].openids
    assert report.released == 3
    assert report.complete
    assert all(ledger.usage(o, at=clock.now()).remaining == 4 for o in refused)
    assert all(fake.mass_received(o) == 0 for o in refused)
    again = execute(client, ledger, campaign("r"), openids, now=clock.now(), batch_size=3)
    assert again.sent == 3
    assert again.committed_before == 3
    assert pushes_of(fake, "r.") == dict.fromkeys(openids, 1)


def test_a_single_follower_is_released_as_unsendable(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """mass/send needs two openids: a one-follower campaign releases them and sends nothing."""
    (only,) = fake.add_followers(1)
    report = execute(client, ledger, campaign("solo"), [only], now=clock.now())
    assert [b.outcome for b in report.batches] == [BatchOutcome.UNSENDABLE]
    assert report.released == 1
    assert fake.jobs == {}
    assert ledger.usage(only, at=clock.now()).remaining == 4


def test_batches_never_end_with_a_single_follower(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Eleven followers in batches of five become 5, 4, 2: every call has at least two openids."""
    openids = fake.add_followers(11)
    report = execute(client, ledger, campaign("odd"), openids, now=clock.now(), batch_size=5)
    assert [len(b.openids) for b in report.batches] == [5, 4, 2]
    assert report.sent == 11


def test_a_resume_sends_the_stored_batches_whatever_the_audience_now(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Resumed with a shifted audience: stored batches go out as stored, newcomers get new ids."""
    openids = sorted(fake.add_followers(12))
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    first = execute(client, ledger, campaign("m"), openids[:8], now=clock.now(), batch_size=4)
    assert len(first.pending) == 4
    assert first.sent == 4
    fake.clear_faults()
    second = execute(client, ledger, campaign("m"), openids[4:], now=clock.now(), batch_size=4)
    sent = {b.clientmsgid: b.openids for b in second.batches if b.outcome is BatchOutcome.SENT}
    assert sent == {"m.0": tuple(openids[:4]), "m.2": tuple(openids[8:])}
    assert pushes_of(fake, "m.") == dict.fromkeys(openids, 1)
    assert list(ledger.pending("m")) == []


def test_a_follower_granted_on_a_rerun_gets_a_new_batch(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """A follower refused at first and granted on a rerun joins a new batch under a new id."""
    openids = sorted(fake.add_followers(6))
    late = openids[0]
    for week in range(3):
        execute(client, ledger, campaign(f"w{week}", f"k{week}"), openids[:2], now=clock.now())
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    execute(client, ledger, campaign("held", "kh"), openids[:2], now=clock.now())
    fake.clear_faults()
    first = execute(client, ledger, campaign("n", "kn"), openids, now=clock.now(), batch_size=4)
    assert first.refused_quota == 2
    assert first.sent == 4
    # The unknown send is found to have failed; the slot it held comes back.
    ledger.release("held")
    second = execute(client, ledger, campaign("n", "kn"), openids, now=clock.now(), batch_size=4)
    outcomes = {(b.index, b.outcome): b.openids for b in second.batches}
    assert outcomes == {
        (0, BatchOutcome.COMMITTED_BEFORE): tuple(openids[2:]),
        (1, BatchOutcome.SENT): tuple(openids[:2]),
    }
    assert ledger.usage(late, at=clock.now()).remaining == 0
    assert pushes_of(fake, "n.") == dict.fromkeys(openids, 1)


def test_a_resume_with_another_batch_size_keeps_the_stored_batches(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Resumed with another batch_size, the pending batch is resent with its stored members."""
    openids = sorted(fake.add_followers(8))
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    first = execute(client, ledger, campaign("s"), openids, now=clock.now(), batch_size=4)
    assert first.pending == tuple(openids[:4])
    fake.clear_faults()
    second = execute(client, ledger, campaign("s"), openids, now=clock.now(), batch_size=3)
    assert [(b.clientmsgid, b.outcome) for b in second.batches] == [
        ("s.0", BatchOutcome.SENT),
        ("s.1", BatchOutcome.COMMITTED_BEFORE),
    ]
    assert pushes_of(fake, "s.") == dict.fromkeys(openids, 1)
    assert list(ledger.pending("s")) == []


def test_plan_changes_nothing_and_predicts_execute(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """plan writes nothing; its counts equal what the following execute does."""
    openids = fake.add_followers(10)
    for week in range(4):
        execute(client, ledger, campaign(f"p{week}", f"k{week}"), openids[:3], now=clock.now())
    fake.inject("http_500", path=MASS_SEND, times=ATTEMPTS)
    execute(client, ledger, campaign("held", "dup"), openids[3:5], now=clock.now())
    fake.clear_faults()
    before = [ledger.usage(o, at=clock.now()) for o in openids]
    pending_before = list(ledger.pending())
    target = campaign("next", "dup")
    predicted = plan(target, openids, ledger, now=clock.now(), batch_size=4)
    assert [ledger.usage(o, at=clock.now()) for o in openids] == before
    assert list(ledger.pending()) == pending_before
    assert (predicted.matched, predicted.refused_quota, predicted.refused_duplicate) == (10, 3, 2)
    assert (predicted.granted, predicted.batches, predicted.unsendable) == (5, 2, 0)
    assert plan(target, openids, ledger, now=clock.now(), batch_size=3).unsendable == 1
    report = execute(client, ledger, target, openids, now=clock.now(), batch_size=4)
    assert (report.refused_quota, report.refused_duplicate) == (3, 2)
    assert report.sent == predicted.granted
    assert len(report.batches) == predicted.batches


def test_batch_ids_are_unique_deterministic_and_short() -> None:
    """Readable ids keep the campaign id; long or non-ASCII ones are hashed; all ≤ 32 bytes."""
    assert batch_clientmsgid("spring-sale", 3) == "spring-sale.3"
    long_ids = ["双十一预热活动", "x" * 128, "x" * 127 + "y", "a b", "a~b"]
    ids = {batch_clientmsgid(c, i) for c in long_ids for i in (0, 1, 9_999_999)}
    assert len(ids) == 15
    assert all(len(i.encode("ascii")) <= 32 and "~" in i for i in ids)
    assert batch_clientmsgid("双十一预热活动", 2) == batch_clientmsgid("双十一预热活动", 2)
    with pytest.raises(DeliveryError):
        batch_clientmsgid("c", 10_000_000)


def test_bad_input_is_refused_and_changes_nothing(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Bad ids, messages, batch sizes, naive times and openids raise typed errors; no writes."""
    openids = fake.add_followers(3)
    with pytest.raises(DeliveryError):
        campaign("")
    with pytest.raises(TypeError):
        Campaign("c", EVERYONE, "hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Campaign("c", "tag:x", Text("hi"))  # type: ignore[arg-type]
    with pytest.raises(DeliveryError):
        execute(client, ledger, campaign("c"), openids, now=clock.now(), batch_size=10_001)
    with pytest.raises(ValueError, match="aware"):
        execute(client, ledger, campaign("c"), openids, now=clock.now().replace(tzinfo=None))
    with pytest.raises(TypeError):
        execute(client, ledger, campaign("c"), "o1", now=clock.now())
    with pytest.raises(DeliveryError):
        execute(client, ledger, campaign("c"), [*openids, ""], now=clock.now())
    with pytest.raises(DeliveryError):
        execute(client, ledger, campaign("c"), [*openids, " o1"], now=clock.now())
    for unstorable in ("o\x00x", "o\ud800x"):
        with pytest.raises(DeliveryError, match=r"NUL|surrogate"):
            execute(client, ledger, campaign("c"), [*openids, unstorable], now=clock.now())
    assert list(ledger.pending()) == []
    assert fake.jobs == {}


def test_definite_refusal_rule() -> None:
    """Known errcodes are definite; transport, busy, 45065/45066 and unknown codes are not."""
    assert is_definite_refusal(error_for(45011, "slow", MASS_SEND))
    assert isinstance(error_for(45011, "slow", MASS_SEND), MinuteQuotaError)
    assert is_definite_refusal(error_for(40003, "bad openid", MASS_SEND))
    assert is_definite_refusal(error_for(48003, "agreement", MASS_SEND))
    for code in (-1, 9500002, 45065, 45066, 12345678):
        assert not is_definite_refusal(error_for(code, "x", MASS_SEND))
    assert not is_definite_refusal(WeChatTransportError("timed out", MASS_SEND, kind="timeout"))
    assert not is_definite_refusal(WeChatError(None, "?", MASS_SEND))


def test_a_reports_repr_counts_and_never_lists_openids(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """repr(Report) and repr(BatchResult) show counts, not the followers' openids."""
    openids = fake.add_followers(12)
    report = execute(client, ledger, campaign("quiet"), openids, now=clock.now(), batch_size=5)
    shown = repr(report) + repr(report.batches[0])
    assert "sent=12" in shown
    assert "<5 openids>" in shown
    assert not any(openid in shown for openid in openids)


def test_a_reports_table_has_one_line_per_count_and_no_openids(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Report.table() lists every count of to_dict() with its value, never an openid."""
    openids = fake.add_followers(12)
    report = execute(client, ledger, campaign("table"), openids, now=clock.now(), batch_size=5)
    table = report.table()
    lines = table.splitlines()
    assert lines[0] == f"campaign table ({report.month})"
    rows = dict(line.rsplit(None, 1) for line in lines[2:])
    counts = {k: v for k, v in report.to_dict().items() if isinstance(v, int)}
    assert {k.strip(): int(v.replace(",", "")) for k, v in rows.items()} == counts
    assert not any(openid in table for openid in openids)
