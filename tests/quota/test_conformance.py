"""The ledger contract, checked identically on every backend through `make_ledger`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.quota.conftest import LedgerFactory
from wxsegment.quota import (
    MAX_ID_LENGTH,
    MAX_LIMIT,
    MAX_OPENID_LENGTH,
    QuotaLedger,
    RefusalReason,
    ScanningLedger,
    Transition,
)

AT = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)
# Instants whose UTC or Shanghai time falls outside what datetime can represent.
TOO_LATE = datetime.max.replace(tzinfo=timezone.utc)
TOO_EARLY = datetime.min.replace(tzinfo=timezone(timedelta(hours=8)))
# 2026-05-31 23:59:59 in Asia/Shanghai, and the first second of June there.
LAST_SECOND_OF_MAY = datetime(2026, 5, 31, 15, 59, 59, tzinfo=timezone.utc)
FIRST_SECOND_OF_JUNE = LAST_SECOND_OF_MAY + timedelta(seconds=1)
TOO_LONG = "o" * (MAX_OPENID_LENGTH + 1)


def counts(ledger: QuotaLedger, openid: str, at: datetime = AT) -> tuple[int, int]:
    usage = ledger.usage(openid, at=at)
    return usage.committed, usage.pending


def test_reserve_grants_then_reports_already(make_ledger: LedgerFactory) -> None:
    """A first reserve grants; repeating it changes nothing and reports 'already'."""
    ledger = make_ledger()
    first = ledger.reserve("c1", ["a", "b", "a"], at=AT)
    assert first.granted == ("a", "b")
    assert first.month == "2026-05"
    again = ledger.reserve("c1", ["b", "c"], at=AT)
    assert again.granted == ("c",)
    assert again.already == ("b",)
    assert counts(ledger, "b") == (0, 1)
    assert ledger.remaining("b", at=AT) == 3


def test_fifth_push_is_refused(make_ledger: LedgerFactory) -> None:
    """With four pushes pending or committed, a fifth campaign is refused as exhausted."""
    ledger = make_ledger()
    for index in range(4):
        assert ledger.reserve(f"c{index}", ["a"], at=AT).granted == ("a",)
    ledger.commit("c0")
    refused = ledger.reserve("c4", ["a", "b"], at=AT)
    assert refused.refused == {"a": RefusalReason.QUOTA_EXHAUSTED}
    assert refused.granted == ("b",)
    assert counts(ledger, "a") == (1, 3)
    assert ledger.remaining("a", at=AT) == 0


def test_limit_is_configurable(make_ledger: LedgerFactory) -> None:
    """A ledger with limit 2 refuses the third push."""
    ledger = make_ledger(limit=2)
    assert ledger.limit == 2
    ledger.reserve("c1", ["a"], at=AT)
    ledger.reserve("c2", ["a"], at=AT)
    assert ledger.reserve("c3", ["a"], at=AT).refused == {"a": RefusalReason.QUOTA_EXHAUSTED}


def test_months_are_natural_months_in_shanghai(make_ledger: LedgerFactory) -> None:
    """23:59:59 and 00:00:00 Asia/Shanghai fall in different quota months."""
    ledger = make_ledger(limit=1)
    assert ledger.reserve("may", ["a"], at=LAST_SECOND_OF_MAY).month == "2026-05"
    june = ledger.reserve("june", ["a"], at=FIRST_SECOND_OF_JUNE)
    assert june.month == "2026-06"
    assert june.granted == ("a",)
    assert counts(ledger, "a", LAST_SECOND_OF_MAY) == (0, 1)
    assert counts(ledger, "a", FIRST_SECOND_OF_JUNE) == (0, 1)


def test_duplicate_content_is_refused_in_any_month_and_precedes_exhaustion(
    make_ledger: LedgerFactory,
) -> None:
    """A content key pending or committed blocks it forever, and that reason wins."""
    ledger = make_ledger(limit=1)
    ledger.reserve("c1", ["a"], at=AT, content_key="article-9")
    later = AT + timedelta(days=60)
    assert ledger.reserve("c2", ["a"], at=later, content_key="article-9").refused == {
        "a": RefusalReason.DUPLICATE_CONTENT
    }
    # In May "a" is both exhausted and a duplicate: duplicate content is reported.
    assert ledger.reserve("c3", ["a"], at=AT, content_key="article-9").refused == {
        "a": RefusalReason.DUPLICATE_CONTENT
    }
    assert ledger.reserve("c4", ["a"], at=later, content_key="article-10").granted == ("a",)


def test_release_frees_the_slot_and_the_content_key(make_ledger: LedgerFactory) -> None:
    """Releasing a pending reservation gives back its slot and its content key."""
    ledger = make_ledger(limit=1)
    ledger.reserve("c1", ["a", "b"], at=AT, content_key="k")
    assert ledger.release("c1", ["a", "zz"]) == Transition(done=("a",), missing=("zz",))
    assert counts(ledger, "a") == (0, 0)
    assert ledger.reserve("c2", ["a"], at=AT, content_key="k").granted == ("a",)
    assert ledger.release("c1", ["a"]) == Transition(missing=("a",))


def test_commit_is_idempotent_and_release_of_committed_is_refused(
    make_ledger: LedgerFactory,
) -> None:
    """commit twice reports 'already'; a committed push cannot be released."""
    ledger = make_ledger()
    ledger.reserve("c1", ["a", "b"], at=AT)
    assert ledger.commit("c1", ["a", "x"]) == Transition(done=("a",), missing=("x",))
    assert ledger.commit("c1", ["a"]) == Transition(already=("a",))
    assert ledger.release("c1", ["a", "b"]) == Transition(done=("b",), refused=("a",))
    assert counts(ledger, "a") == (1, 0)
    assert counts(ledger, "b") == (0, 0)


def test_commit_and_release_without_openids_settle_all_pending(
    make_ledger: LedgerFactory,
) -> None:
    """openids=None commits (or releases) every pending reservation of the campaign."""
    ledger = make_ledger()
    ledger.reserve("c1", ["b", "a", "c"], at=AT)
    ledger.commit("c1", ["c"])
    assert ledger.commit("c1") == Transition(done=("a", "b"))
    ledger.reserve("c2", ["a", "b"], at=AT)
    assert ledger.release("c2") == Transition(done=("a", "b"))
    assert ledger.release("c2") == Transition()
    assert counts(ledger, "a") == (1, 0)


def test_pending_lists_unsettled_reservations(make_ledger: LedgerFactory) -> None:
    """pending() lists what is still pending, by campaign then openid, with its month."""
    ledger = make_ledger()
    ledger.reserve("c2", ["b", "a"], at=AT, content_key="k")
    ledger.reserve("c1", ["z"], at=AT)
    ledger.commit("c2", ["b"])
    entries = list(ledger.pending())
    assert [(e.campaign, e.openid) for e in entries] == [("c1", "z"), ("c2", "a")]
    assert entries[1].content_key == "k"
    assert entries[1].month == "2026-05"
    assert entries[1].reserved_at == AT
    assert [e.openid for e in ledger.pending("c2")] == ["a"]
    assert list(ledger.pending("nope")) == []


def test_external_sends_count_in_full_and_are_idempotent(make_ledger: LedgerFactory) -> None:
    """Recorded external pushes count as committed, even past the limit, once per id."""
    ledger = make_ledger(limit=1)
    ledger.reserve("c1", ["a"], at=AT)
    assert ledger.record_external("console-1", ["a", "b"], at=AT) == Transition(done=("a", "b"))
    assert ledger.record_external("console-1", ["a"], at=AT) == Transition(already=("a",))
    assert counts(ledger, "a") == (1, 1)
    assert ledger.remaining("a", at=AT) == 0
    ledger.record_external("console-2", ["c"], at=AT, content_key="k")
    assert ledger.reserve("c2", ["c"], at=AT + timedelta(days=40), content_key="k").refused == {
        "c": RefusalReason.DUPLICATE_CONTENT
    }
    assert list(ledger.pending("console-1")) == []


def test_accounts_do_not_share_quotas(make_ledger: LedgerFactory) -> None:
    """Two accounts in one store count separately; two handles on one account agree."""
    first = make_ledger(account="wx-a", limit=1)
    second = make_ledger(account="wx-b", limit=1)
    first.reserve("c1", ["a"], at=AT)
    assert second.reserve("c1", ["a"], at=AT).granted == ("a",)
    again = make_ledger(account="wx-a", limit=1)
    assert again.account == "wx-a"
    assert again.reserve("c2", ["a"], at=AT).refused == {"a": RefusalReason.QUOTA_EXHAUSTED}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda ledger: ledger.reserve("c9", ["x", "y"], at=datetime(2026, 5, 1)), ValueError),
        (lambda ledger: ledger.reserve("", ["x"], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x", 7], at=AT), TypeError),
        (lambda ledger: ledger.reserve("c9", ["x", ""], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", "xy", at=AT), TypeError),
        (lambda ledger: ledger.reserve("c9", ["x"], at=AT, content_key=""), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x", "y\x00"], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x", "y\ud800"], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c\x00", ["x"], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x"], at=AT, content_key="k\udc00"), ValueError),
        (lambda ledger: ledger.record_external("e", ["x", "\x00"], at=AT), ValueError),
        (lambda ledger: ledger.commit("c1", ["a", "b\ud800"]), ValueError),
        (lambda ledger: ledger.commit("c1", ["a", None]), TypeError),
        (lambda ledger: ledger.release("", ["a"]), ValueError),
        (lambda ledger: ledger.record_external("", ["x"], at=AT), ValueError),
        (lambda ledger: ledger.record_external("e", ["x"], at=datetime(2026, 5, 1)), ValueError),
        (lambda ledger: ledger.usage("a", at=datetime(2026, 5, 1)), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x"], at=TOO_LATE), ValueError),
        (lambda ledger: ledger.record_external("e", ["x"], at=TOO_EARLY), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x", "o" * 3000], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x", TOO_LONG], at=AT), ValueError),
        (lambda ledger: ledger.record_external("e", ["x", "o" * 3000], at=AT), ValueError),
        (lambda ledger: ledger.commit("c1", ["a", "o" * 3000]), ValueError),
        (lambda ledger: ledger.release("c1", ["a", "o" * 3000]), ValueError),
        (lambda ledger: ledger.usage("o" * 3000, at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", None, at=AT), TypeError),
        (lambda ledger: ledger.record_external("e", None, at=AT), TypeError),
        (lambda ledger: ledger.reserve("c" * (MAX_ID_LENGTH + 1), ["x"], at=AT), ValueError),
        (lambda ledger: ledger.reserve("c9", ["x"], at=AT, content_key="k" * 3000), ValueError),
        (lambda ledger: ledger.pending("c" * 3000), ValueError),
    ],
)
def test_bad_input_raises_and_writes_nothing(
    make_ledger: LedgerFactory, call: object, error: type[Exception]
) -> None:
    """Bad input raises a clear error and leaves the ledger exactly as it was."""
    ledger = make_ledger()
    ledger.reserve("c1", ["a"], at=AT)
    before = (counts(ledger, "a"), counts(ledger, "x"), list(ledger.pending()))
    with pytest.raises(error):
        call(ledger)  # type: ignore[operator]
    assert (counts(ledger, "a"), counts(ledger, "x"), list(ledger.pending())) == before


def test_bad_limits_and_accounts_are_refused(make_ledger: LedgerFactory) -> None:
    """A limit below 1 or an empty account is a ValueError."""
    with pytest.raises(ValueError, match="limit"):
        make_ledger(limit=0)
    with pytest.raises(ValueError, match="account"):
        make_ledger(account="")
    with pytest.raises(ValueError, match="limit"):
        make_ledger(limit=2**70)
    with pytest.raises(ValueError, match="limit"):
        make_ledger(limit=MAX_LIMIT + 1)
    assert make_ledger(limit=MAX_LIMIT).limit == MAX_LIMIT


def test_longest_allowed_ids_are_stored(make_ledger: LedgerFactory) -> None:
    """An openid, campaign, content key and account of the maximum length work end to end."""
    ledger = make_ledger(account="账" * MAX_ID_LENGTH, limit=1)
    openid = "开" * MAX_OPENID_LENGTH
    campaign, key = "活" * MAX_ID_LENGTH, "键" * MAX_ID_LENGTH
    assert ledger.reserve(campaign, [openid], at=AT, content_key=key).granted == (openid,)
    assert ledger.commit(campaign) == Transition(done=(openid,))
    assert counts(ledger, openid) == (1, 0)
    assert ledger.record_external("外" * MAX_ID_LENGTH, [openid], at=AT).done == (openid,)


def test_large_batches_span_chunks(make_ledger: LedgerFactory) -> None:
    """A batch bigger than a backend chunk is decided in full and in input order."""
    ledger = make_ledger(limit=1)
    openids = [f"o{i:06d}" for i in range(45_000)]
    ledger.reserve("warm", openids[::3], at=AT)
    result = ledger.reserve("big", list(reversed(openids)), at=AT)
    assert len(result.granted) + len(result.refused) == len(openids)
    assert set(result.refused) == set(openids[::3])
    assert list(result.granted) == [o for o in reversed(openids) if o not in result.refused]
    assert ledger.commit("big").done == tuple(sorted(result.granted))


def test_usage_many_agrees_with_usage(make_ledger: LedgerFactory) -> None:
    """usage_many answers what usage answers, for every openid asked (unknown ones at zero)."""
    ledger = make_ledger()
    ledger.reserve("c1", ["a", "b"], at=AT)
    ledger.reserve("c2", ["a"], at=AT)
    ledger.commit("c1", ["a"])
    ledger.record_external("console-1", ["c"], at=AT)
    asked = ["a", "b", "c", "nobody", "a"]
    many = ledger.usage_many(asked, at=AT)
    assert list(many) == ["a", "b", "c", "nobody"]
    for openid in many:
        assert many[openid] == ledger.usage(openid, at=AT)
    assert (many["a"].committed, many["a"].pending) == (1, 1)
    june = ledger.usage_many(["a"], at=FIRST_SECOND_OF_JUNE)
    assert (june["a"].month, june["a"].committed, june["a"].pending) == ("2026-06", 0, 0)


def test_usage_many_over_many_chunks(make_ledger: LedgerFactory) -> None:
    """A bulk read larger than any chunk size still answers every follower."""
    ledger = make_ledger()
    crowd = [f"o{i:05d}" for i in range(2_500)]
    ledger.reserve("big", crowd[::2], at=AT)
    many = ledger.usage_many(crowd, at=AT)
    assert sum(u.pending for u in many.values()) == 1_250
    assert many["o00001"].pending == 0
    assert many["o00002"].pending == 1


def test_held_content_lists_live_keys_only(make_ledger: LedgerFactory) -> None:
    """Pending and committed keys are held; a released one is not; others are not asked."""
    ledger = make_ledger()
    ledger.reserve("c1", ["a", "b"], at=AT, content_key="k1")
    ledger.reserve("c2", ["a"], at=AT, content_key="k2")
    ledger.reserve("c3", ["b"], at=AT, content_key="k3")
    ledger.commit("c1", ["a"])
    ledger.release("c1", ["b"])
    held = ledger.held_content(["a", "b", "z"], ["k1", "k2", "k3", "k9"])
    assert held == {"a": frozenset({"k1", "k2"}), "b": frozenset({"k3"})}
    assert ledger.held_content(["a"], ["k2"]) == {"a": frozenset({"k2"})}
    assert ledger.held_content(["a"], []) == {}


def test_bulk_reads_check_their_input(make_ledger: LedgerFactory) -> None:
    """None, a bare string, a naive instant or a bad key is a typed error."""
    ledger = make_ledger()
    with pytest.raises(TypeError, match="None"):
        ledger.usage_many(None, at=AT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="single string"):
        ledger.usage_many("abc", at=AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.usage_many(["a"], at=datetime(2026, 5, 1))
    with pytest.raises(ValueError, match="content key"):
        ledger.held_content(["a"], [""])
    with pytest.raises(ValueError, match="openid"):
        ledger.held_content([TOO_LONG], ["k"])


def scanning(ledger: QuotaLedger) -> ScanningLedger:
    assert isinstance(ledger, ScanningLedger)
    return ledger


def test_month_usage_lists_every_follower_with_pushes_that_month(
    make_ledger: LedgerFactory,
) -> None:
    """Committed, pending and external pushes count; released ones and other months do not."""
    ledger = scanning(make_ledger())
    other = make_ledger(account="other")
    ledger.reserve("c1", ["a", "b", "d"], at=AT)
    ledger.reserve("c2", ["a"], at=AT)
    ledger.commit("c1", ["a"])
    ledger.release("c1", ["d"])
    ledger.record_external("console-1", ["c"], at=AT)
    ledger.reserve("june", ["e"], at=FIRST_SECOND_OF_JUNE)
    other.reserve("c1", ["z"], at=AT)
    scanned = ledger.month_usage(at=AT)
    assert sorted(scanned) == ["a", "b", "c"]
    for openid, usage in scanned.items():
        assert usage == ledger.usage(openid, at=AT)
    assert (scanned["a"].committed, scanned["a"].pending) == (1, 1)
    assert (scanned["c"].committed, scanned["c"].pending) == (1, 0)
    assert dict(ledger.month_usage(at=FIRST_SECOND_OF_JUNE)) == {
        "e": ledger.usage("e", at=FIRST_SECOND_OF_JUNE)
    }
    assert dict(ledger.month_usage(at=AT + timedelta(days=90))) == {}


def test_month_usage_agrees_with_usage_many_over_many_chunks(make_ledger: LedgerFactory) -> None:
    """A scan of a large account answers what `usage_many` answers for its followers."""
    ledger = scanning(make_ledger())
    crowd = [f"o{i:05d}" for i in range(2_500)]
    ledger.reserve("big", crowd[::2], at=AT)
    ledger.reserve("more", crowd[::3], at=AT)
    ledger.commit("more")
    scanned = ledger.month_usage(at=AT)
    many = ledger.usage_many(crowd, at=AT)
    assert dict(scanned) == {o: u for o, u in many.items() if u.committed + u.pending}
    assert len(scanned) == len(set(crowd[::2]) | set(crowd[::3]))


def test_content_holders_lists_live_holders_of_each_key(make_ledger: LedgerFactory) -> None:
    """Pending, committed and external keys are held, released ones not; every key answers."""
    ledger = scanning(make_ledger())
    other = make_ledger(account="other")
    ledger.reserve("c1", ["a", "b"], at=AT, content_key="k1")
    ledger.reserve("c2", ["a"], at=AT, content_key="k2")
    ledger.reserve("c3", ["b"], at=AT + timedelta(days=40), content_key="k3")
    ledger.record_external("console-1", ["c"], at=AT, content_key="k1")
    ledger.commit("c1", ["a"])
    ledger.release("c1", ["b"])
    other.reserve("c1", ["z"], at=AT, content_key="k1")
    holders = ledger.content_holders(["k1", "k2", "k3", "k9", "k1"])
    assert dict(holders) == {
        "k1": frozenset({"a", "c"}),
        "k2": frozenset({"a"}),
        "k3": frozenset({"b"}),
        "k9": frozenset(),
    }
    assert ledger.content_holders([]) == {}


def test_content_holders_agrees_with_held_content(make_ledger: LedgerFactory) -> None:
    """The scan and the per-follower read are two views of the same keys."""
    ledger = scanning(make_ledger())
    crowd = [f"o{i:05d}" for i in range(2_500)]
    ledger.reserve("c1", crowd[::2], at=AT, content_key="k1")
    ledger.reserve("c2", crowd[::5], at=AT, content_key="k2")
    ledger.release("c2", crowd[::10])
    held = ledger.held_content(crowd, ["k1", "k2"])
    holders = ledger.content_holders(["k1", "k2"])
    for key in ("k1", "k2"):
        assert holders[key] == {o for o, keys in held.items() if key in keys}


def test_scans_check_their_input(make_ledger: LedgerFactory) -> None:
    """A naive instant, a bare string or a bad key is a typed error."""
    ledger = scanning(make_ledger())
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.month_usage(at=datetime(2026, 5, 1))
    with pytest.raises(TypeError, match="content_keys"):
        ledger.content_holders("k1")
    with pytest.raises(TypeError, match="content_keys"):
        ledger.content_holders(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="content key"):
        ledger.content_holders(["k1", ""])
