"""Plan a two-month calendar of 8 campaigns for N followers on each ledger; compare with a loop.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.calendar_plan --followers 1000000

Before planning, 30% of the followers already had 1 to 3 pushes in the first month (10% each
of 1, 2 and 3: two campaigns committed, the third still pending) and 10% hold the content key
of the first calendar campaign, all written through the ledger's batch path. The calendar has
four campaigns in each of July and August 2026, each matching a different 60% of the
followers, two of them sharing a content key across the months. For each backend the script
times `plan_calendar` (from 100,000 followers on, one whole-account `month_usage` scan per
month and one `content_holders` scan; below that, `usage_many` per month and one
`held_content`; then the assignment), and, on a smaller crowd with the same shape, the loop
a user would otherwise write: one ``ledger.usage(openid)`` per follower and month plus one
``held_content([openid])`` per follower, checked to give exactly the plan `plan_calendar`
gives. PostgreSQL and Redis are skipped when unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from wxsegment.api import Text
from wxsegment.delivery import Calendar, Campaign, plan_calendar
from wxsegment.quota import (
    MemoryLedger,
    PostgresLedger,
    QuotaLedger,
    RedisLedger,
    SQLiteLedger,
)
from wxsegment.segment import EVERYONE

PG_DSN = os.environ.get("WXSEGMENT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WXSEGMENT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ACCOUNT = "bench"
PRIOR_AT = datetime(2026, 7, 2, 4, tzinfo=timezone.utc)
SHARE = 0.6


def _at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 2, tzinfo=timezone.utc)


#: (id, content key, priority, send_at): four campaigns a month, two months.
CAMPAIGNS = (
    ("jul03-launch", "summer-launch", 5, _at(7, 3)),
    ("jul10-members", None, 3, _at(7, 10)),
    ("jul17-sale", "summer-sale", 4, _at(7, 17)),
    ("jul24-news", None, 1, _at(7, 24)),
    ("aug01-launch-2", "summer-launch", 5, _at(8, 1)),
    ("aug08-members", None, 3, _at(8, 8)),
    ("aug15-sale-2", "summer-sale-2", 4, _at(8, 15)),
    ("aug22-news", None, 1, _at(8, 22)),
)


def calendar() -> Calendar:
    """The benchmark's calendar."""
    return Calendar(
        Campaign(name, EVERYONE, Text("summer"), key, priority, send_at=at)
        for name, key, priority, at in CAMPAIGNS
    )


def audiences(openids: list[str]) -> dict[str, list[str]]:
    """Each campaign matches a different rotating 60% window of the followers."""
    n = len(openids)
    width = int(n * SHARE)
    out: dict[str, list[str]] = {}
    for index, (name, *_) in enumerate(CAMPAIGNS):
        start = (index * n) // len(CAMPAIGNS)
        window = openids[start : start + width]
        out[name] = window + openids[: width - len(window)]
    return out


def prepopulate(ledger: QuotaLedger, openids: list[str]) -> None:
    """30% with 1-3 pushes this month (the third pending), 10% holding ``summer-launch``."""
    ledger.reserve("prior-1", openids[0::10] + openids[1::10] + openids[2::10], at=PRIOR_AT)
    ledger.commit("prior-1")
    ledger.reserve("prior-2", openids[1::10] + openids[2::10], at=PRIOR_AT)
    ledger.commit("prior-2")
    ledger.reserve("prior-3", openids[2::10], at=PRIOR_AT)
    ledger.record_external("prior-key", openids[5::10], at=PRIOR_AT, content_key="summer-launch")


def looped_plan(
    plan: Calendar, matched: Mapping[str, list[str]], ledger: QuotaLedger
) -> dict[str, tuple[str, ...]]:
    """The same assignment, read one follower at a time: what a user would otherwise write."""
    keys = sorted({c.content_key for c in plan.campaigns if c.content_key is not None})
    everyone = dict.fromkeys(o for listed in matched.values() for o in listed)
    held = {o: set(ledger.held_content([o], keys).get(o, ())) for o in everyone}
    chosen: dict[str, tuple[str, ...]] = {}
    for month in plan.months:
        campaigns = plan.in_month(month)
        at = campaigns[0].send_at
        assert at is not None
        crowd = dict.fromkeys(o for c in campaigns for o in matched[c.id])
        used = {}
        for o in crowd:
            usage = ledger.usage(o, at=at)
            used[o] = usage.committed + usage.pending
        for campaign in sorted(campaigns, key=lambda c: (-c.priority, c.send_at, c.id)):
            mine: list[str] = []
            for o in matched[campaign.id]:
                if campaign.content_key in held[o] or used[o] >= ledger.limit:
                    continue
                mine.append(o)
                used[o] += 1
                if campaign.content_key is not None:
                    held[o].add(campaign.content_key)
            chosen[campaign.id] = tuple(sorted(mine))
    return chosen


@contextlib.contextmanager
def memory() -> Iterator[QuotaLedger]:
    yield MemoryLedger(account=ACCOUNT)


@contextlib.contextmanager
def sqlite() -> Iterator[QuotaLedger]:
    with tempfile.TemporaryDirectory() as directory:
        ledger = SQLiteLedger(os.path.join(directory, "bench.sqlite3"), account=ACCOUNT)
        try:
            yield ledger
        finally:
            ledger.close()


@contextlib.contextmanager
def postgres() -> Iterator[QuotaLedger]:
    import psycopg

    schema = f"wxs_bench_{uuid.uuid4().hex[:10]}"
    ledger = PostgresLedger(PG_DSN, account=ACCOUNT, schema=schema)
    try:
        yield ledger
    finally:
        ledger.close()
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def redis_backend() -> Iterator[QuotaLedger]:
    import redis

    prefix = f"wxs_bench_{uuid.uuid4().hex[:10]}"
    # Measured on whatever server it is pointed at, often a scratch one without persistence.
    ledger = RedisLedger(REDIS_URL, account=ACCOUNT, prefix=prefix, require_durable=False)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield ledger
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=10_000))
        for start in range(0, len(keys), 10_000):
            client.delete(*keys[start : start + 10_000])
        client.close()
        ledger.close()


BACKENDS = {"memory": memory, "sqlite": sqlite, "postgres": postgres, "redis": redis_backend}


def reachable(name: str) -> bool:
    """Whether the backend's server accepts a connection (always, for the embedded ones)."""
    import socket
    from urllib.parse import urlsplit

    url = {"postgres": PG_DSN, "redis": REDIS_URL}.get(name)
    if url is None:
        return True
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 2):
            return True
    except OSError:
        return False


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def run(name: str, followers: int, loop_followers: int, repeat: int) -> None:
    people = [f"o{i:08d}" for i in range(followers)]
    few = [f"l{i:08d}" for i in range(loop_followers)]
    plan_of = calendar()
    matched, few_matched = audiences(people), audiences(few)
    with BACKENDS[name]() as ledger:

        def populate() -> None:
            for group in (people, few):
                prepopulate(ledger, group)

        _, setup = timed(populate)
        best = float("inf")
        for _ in range(repeat):
            plan, seconds = timed(lambda: plan_calendar(plan_of, matched, ledger))
            best = min(best, seconds)
        small, small_s = timed(lambda: plan_calendar(plan_of, few_matched, ledger))
        looped, loop_s = timed(lambda: looped_plan(plan_of, few_matched, ledger))
    # The loop must decide exactly like plan_calendar on the same crowd.
    assert looped == {c: p.audience for c, p in small.campaigns.items()}
    planned = sum(p.planned for p in plan.campaigns.values())
    rate = followers / best
    loop_rate = loop_followers / loop_s
    print(
        f"{name:9s} plan {best:7.2f}s {rate:>11,.0f} followers/s  "
        f"(planned {planned:,} sends)  loop on {loop_followers:,}: {loop_s:6.2f}s "
        f"{loop_rate:>9,.0f}/s, plan_calendar {small_s:.2f}s there; "
        f"ratio {rate / loop_rate:6.1f}x; loop at {followers:,} ~{followers / loop_rate:,.0f}s "
        f"(extrapolated); set-up {setup:.1f}s; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--loop-followers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="plans timed; the best is shown")
    parser.add_argument("--backends", nargs="*", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    loop_followers = args.loop_followers or max(1_000, min(20_000, args.followers // 50))
    print(
        f"calendar plan: {args.followers:,} followers x {len(CAMPAIGNS)} campaigns over two "
        f"months, each matching {SHARE:.0%}; per-follower loop on {loop_followers:,}"
    )
    for name in args.backends:
        if not reachable(name):
            print(f"{name:9s} skipped: server unreachable")
            continue
        run(name, args.followers, loop_followers, args.repeat)


if __name__ == "__main__":
    main()
