"""MemoryFollowerUpdates and MassSendReconciler on their own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wxsegment.events as events
from wxsegment.api.callback import MassSendJobFinishEvent, parse
from wxsegment.events import (
    Attribution,
    ExpectedSend,
    FindingKind,
    MassSendReconciler,
    MemoryFollowerUpdates,
)
from wxsegment.quota import MemoryLedger

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)

_times = st.integers(0, 10).map(lambda m: T0 + timedelta(minutes=m))
_tags = st.frozensets(st.sampled_from("abc"), max_size=2)
_ops = st.one_of(
    st.tuples(st.just("sub"), _times),
    st.tuples(st.just("unsub"), _times),
    st.tuples(st.just("touch"), _times),
    st.tuples(st.just("tags"), _tags, _tags),
    st.tuples(st.just("attr"), _times),
)


def _apply(store: MemoryFollowerUpdates, op: tuple[Any, ...]) -> None:
    """Run one operation on follower o1."""
    match op:
        case ("sub", at):
            store.mark_subscribed("o1", at=at)
        case ("unsub", at):
            store.mark_unsubscribed("o1", at=at)
        case ("touch", at):
            store.touch("o1", at=at)
        case ("tags", add, remove):
            store.apply_tags("o1", add=add - remove, remove=remove)
        case ("attr", at):
            store.set_attribution("o1", Attribution(scene=f"s{at.minute}", at=at))


@given(st.lists(_ops, max_size=12))
def test_every_update_is_idempotent(ops: list[tuple[Any, ...]]) -> None:
    """Applying each update twice in a row (a retried push) ends in the same state as once."""
    once, twice = MemoryFollowerUpdates(), MemoryFollowerUpdates()
    for op in ops:
        _apply(once, op)
        _apply(twice, op)
        _apply(twice, op)
    assert once.get("o1") == twice.get("o1")


def test_earliest_attribution_is_kept_and_subscription_follows_the_latest_event() -> None:
    """The first source wins; subscribed reflects the later of follow and unfollow."""
    store = MemoryFollowerUpdates()
    store.set_attribution("o1", Attribution(scene="late", at=T0 + timedelta(hours=1)))
    store.set_attribution("o1", Attribution(scene="early", at=T0))
    store.mark_subscribed("o1", at=T0 + timedelta(minutes=5))
    store.mark_unsubscribed("o1", at=T0)
    record = store.get("o1")
    assert record is not None
    assert record.attribution is not None
    assert record.attribution.scene == "early"
    assert record.subscribed
    with pytest.raises(ValueError, match="both"):
        store.apply_tags("o1", add=frozenset("a"), remove=frozenset("a"))
    with pytest.raises(ValueError, match=r"naive|aware|timezone"):
        store.touch("o1", at=datetime(2026, 1, 1))


def finish(msg_id: int, total: int, filtered_in: int, sent: int, errors: int = 0) -> Any:
    """A MASSSENDJOBFINISH push, parsed."""
    return parse(
        "<xml><ToUserName>gh_a</ToUserName><FromUserName>mass_helper</FromUserName>"
        f"<CreateTime>{int(T0.timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>MASSSENDJOBFINISH</Event><MsgID>{msg_id}</MsgID><Status>send success</Status>"
        f"<TotalCount>{total}</TotalCount><FilterCount>{filtered_in}</FilterCount>"
        f"<SentCount>{sent}</SentCount><ErrorCount>{errors}</ErrorCount></xml>"
    )


def test_reconciler_reports_in_precedence_order_and_records_once() -> None:
    """Unknown jobs, mismatches and unexplained filters are findings; the ledger sees it once."""
    ledger = MemoryLedger()
    sent = {7: ExpectedSend(openids={"o1", "o2", "o3"}, predicted_filtered=0)}
    found: list[object] = []
    reconciler = MassSendReconciler(
        sent.get, ledger=ledger, record_unexplained=True, on_finding=found.append
    )
    unknown = reconciler.reconcile(finish(8, 2, 2, 2))
    assert [f.kind for f in unknown.findings] == [FindingKind.UNKNOWN_JOB]
    event = finish(7, 3, 2, 1, errors=1)
    assert isinstance(event, MassSendJobFinishEvent)
    result = reconciler.reconcile(event)
    assert [f.kind for f in result.findings] == [
        FindingKind.UNEXPLAINED_FILTER,
        FindingKind.SEND_ERRORS,
    ]
    assert result.findings[0].count == 1
    assert result.recorded_external == 3
    reconciler.reconcile(event)
    assert ledger.usage("o1", at=T0).committed == 1
    assert len(found) == 3
    clean = MassSendReconciler(lambda msg_id: ExpectedSend(count=3)).reconcile(finish(9, 3, 3, 3))
    assert clean.clean


def test_bad_input_is_refused() -> None:
    """Impossible expectations and misconfiguration raise at once."""
    with pytest.raises(ValueError, match="openids or a count"):
        ExpectedSend()
    with pytest.raises(TypeError):
        ExpectedSend(openids="o1")
    with pytest.raises(ValueError, match="ledger"):
        MassSendReconciler(lambda msg_id: None, record_unexplained=True)


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name of wxsegment.events, sorted, each documented."""
    public = {name for name in dir(events) if not name.startswith("_")} - {"annotations"}
    assert set(events.__all__) == public
    assert list(events.__all__) == sorted(events.__all__)
    for name in events.__all__:
        assert getattr(events, name).__doc__, name


def test_unknown_events_change_nothing() -> None:
    """An event type the library does not model touches neither the store nor the window."""
    from wxsegment.events import EventHandlers
    from wxsegment.quota import ServiceWindow

    updates, window = MemoryFollowerUpdates(), ServiceWindow()
    chain = EventHandlers(window=window, updates=updates)
    chain(
        parse(
            "<xml><ToUserName>gh_a</ToUserName><FromUserName>o1</FromUserName>"
            f"<CreateTime>{int(T0.timestamp())}</CreateTime><MsgType>event</MsgType>"
            "<Event>SOME_FUTURE_EVENT</Event></xml>"
        )
    )
    assert updates.records == {}
    assert window.store.history(window.account, "o1").interactions == ()
