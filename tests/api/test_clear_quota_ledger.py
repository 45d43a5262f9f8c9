"""MemoryClearQuotaLedger: never more bookings than the limit, per appid and month."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api import CLEAR_QUOTA_PER_MONTH, ClearQuotaLedger, MemoryClearQuotaLedger

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["take", "give_back", "exhaust"]),
        st.sampled_from(["wxA", "wxB"]),
        st.sampled_from(["2026-03", "2026-04"]),
    ),
    max_size=60,
)


@given(_OPS)
def test_bookings_follow_a_bounded_counter(ops: list[tuple[str, str, str]]) -> None:
    """take succeeds exactly while fewer than the limit are booked; counts stay in 0..limit."""
    ledger = MemoryClearQuotaLedger()
    model: dict[tuple[str, str], int] = {}
    for op, appid, month in ops:
        count = model.get((appid, month), 0)
        if op == "take":
            assert ledger.take(appid, month, CLEAR_QUOTA_PER_MONTH) == (
                count < CLEAR_QUOTA_PER_MONTH
            )
            model[(appid, month)] = min(count + 1, CLEAR_QUOTA_PER_MONTH)
        elif op == "give_back":
            ledger.give_back(appid, month)
            model[(appid, month)] = max(0, count - 1)
        else:
            ledger.exhaust(appid, month, CLEAR_QUOTA_PER_MONTH)
            model[(appid, month)] = CLEAR_QUOTA_PER_MONTH
        for (a, m), expected in model.items():
            assert ledger.used(a, m) == expected
            assert 0 <= expected <= CLEAR_QUOTA_PER_MONTH


def test_concurrent_takes_never_exceed_the_limit() -> None:
    """Eight threads taking 50 times each get exactly the limit's worth of bookings."""
    ledger = MemoryClearQuotaLedger()
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ok = ledger.take("wxA", "2026-03", CLEAR_QUOTA_PER_MONTH)
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == CLEAR_QUOTA_PER_MONTH
    assert ledger.used("wxA", "2026-03") == CLEAR_QUOTA_PER_MONTH


def test_memory_ledger_is_a_ledger() -> None:
    """The default ledger satisfies the runtime-checkable protocol."""
    assert isinstance(MemoryClearQuotaLedger(), ClearQuotaLedger)
