"""Backend-independent concurrency and crash checks, run against real stores."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from tests.quota import _procs
from wxsegment.quota import RefusalReason

LIMIT = 4


def check_no_overbooking(spec: _procs.Spec, account: str, workers: int = 4) -> None:
    """Processes reserve overlapping audiences; nobody ends above the limit; grants add up."""
    audience = [f"o{i:05d}" for i in range(3000)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        jobs = [
            pool.apply_async(
                _procs.reserve_many,
                (spec, account, worker, audience[worker * 500 : worker * 500 + 1500], 3),
            )
            for worker in range(workers)
        ]
        granted = sum(job.get(timeout=240) for job in jobs)
    ledger = _procs.open_ledger(spec, account)
    try:
        total = 0
        for openid in audience:
            usage = ledger.usage(openid, at=_procs.AT)
            assert usage.committed + usage.pending <= LIMIT
            total += usage.committed + usage.pending
        assert total == granted
        # Every follower wanted by more than four campaigns got exactly four.
        wanted = dict.fromkeys(audience, 0)
        for worker in range(workers):
            for openid in audience[worker * 500 : worker * 500 + 1500]:
                wanted[openid] += 3
        for openid, count in wanted.items():
            usage = ledger.usage(openid, at=_procs.AT)
            assert usage.committed + usage.pending == min(count, LIMIT)
    finally:
        ledger.close()


#: Fresh accounts tried when the kill lands only after the whole reserve has finished.
CRASH_ATTEMPTS = 3


def check_crash_consistency(spec: _procs.Spec, account: str, size: int = 400_000) -> None:
    """SIGKILL a process mid-reserve; each follower is then fully reserved or not at all.

    On a loaded machine the parent may be scheduled only after the child's reserve is done; that
    run proves nothing, so it is tried again on a fresh account (never on the same data).
    """
    for attempt in range(CRASH_ATTEMPTS):
        if _crash_once(spec, f"{account}-{attempt}", size):
            return
    raise AssertionError(f"the kill came too late to interrupt the reserve {CRASH_ATTEMPTS} times")


def _crash_once(spec: _procs.Spec, account: str, size: int) -> bool:
    """One kill; False when it came after the reserve had finished (nothing to check)."""
    audience = [f"x{i:07d}" for i in range(size)]
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_procs.reserve_until_killed, args=(spec, account, audience))
    child.start()
    ledger = _procs.open_ledger(spec, account)
    try:
        deadline = time.monotonic() + 120
        while ledger.usage(audience[0], at=_procs.AT).pending == 0:
            assert child.is_alive() or child.exitcode is None, "the child ended before reserving"
            assert time.monotonic() < deadline, "the child never started reserving"
            time.sleep(0.01)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        pending = {entry.openid for entry in ledger.pending("doomed")}
        assert pending, "nothing was reserved before the kill"
        if len(pending) == size:
            return False
        for openid in audience[:: max(1, size // 20_000)]:
            usage = ledger.usage(openid, at=_procs.AT)
            assert usage.pending == (1 if openid in pending else 0)
        # The content key is held exactly by the reserved followers.
        probe = audience[:: max(1, size // 2_000)]
        again = ledger.reserve("probe", probe, at=_procs.AT, content_key="doomed-key")
        assert set(again.refused) == {o for o in probe if o in pending}
        assert set(again.refused.values()) <= {RefusalReason.DUPLICATE_CONTENT}
        # Resuming completes the batch: the survivors report "already", the rest are granted.
        rest = ledger.reserve("doomed", audience, at=_procs.AT, content_key="doomed-key")
        assert set(rest.already) == pending
        assert len(rest.granted) + len(rest.already) + len(rest.refused) == size
    finally:
        ledger.close()
    return True
