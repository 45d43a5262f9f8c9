"""The demo behind ``wxsegment demo``: one month of pushes, end to end, on embedded defaults.

Everything runs in process, with no network and no server: the built-in `FakeWeChat` stands in
for WeChat (reached by the real `wxsegment.api.Client` through ``httpx.MockTransport``), the
followers live in a `SQLiteFollowerStore` and the quota ledger is a `SQLiteLedger`. The story
an operator would live through:

1. the account's followers are pulled from WeChat into the store (``sync_followers``), and the
   CRM's data (city, spend, CRM tags) is imported on top, all or nothing;
2. the CRM tags are pushed to WeChat as WeChat tags with the fewest calls (``TagSync``);
3. an audience is written in the DSL and counted in the store, with the funnel that explains
   its size;
4. campaigns go out through `wxsegment.delivery.execute`: the ledger refuses a follower the
   fifth push of the month and content they already had;
5. one send's answer is lost on the way back: the client retries it with the same
   ``clientmsgid`` and WeChat confirms the earlier send, so nobody gets it twice;
6. WeChat stops answering after taking a job: the outcome is unknown, so the reservations stay
   pending; the next run re-sends under the same ids, learns they were delivered, and counts them;
7. finally WeChat's own counts are checked against the ledger: nobody received a fifth push.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from wxsegment._clock import SHANGHAI, FixedClock, month_key
from wxsegment._model import AttributeValue, Follower
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import Campaign, Report, execute
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.quota import SQLiteLedger
from wxsegment.segment import EVERYONE, funnel, parse, render
from wxsegment.tagging import FollowerTagStore, SyncProgress, TagChanges, TagSync, sync_followers
from wxsegment.testing import FakeWeChat

__all__ = ["main", "synthetic_followers"]

_CITIES = ("杭州", "上海", "北京", "深圳", "成都", "南京")
_TAGS = ("90后", "00后", "已购", "门店扫码", "活动A", "会员")
_AUDIENCE = (
    'tag:90后 and city in ["杭州", "上海"] and not tag:已购 '
    "and subscribe_time within 180d and spend >= 100"
)
_APPID = "wxdemo0000000001"
_SECRET = "demo-secret-not-real"


def synthetic_followers(count: int, *, seed: int, now: datetime) -> Iterator[Follower]:
    """A deterministic stream of plausible followers (tags, city, spend, follow time)."""
    rng = random.Random(seed)
    for index in range(count):
        attributes: dict[str, AttributeValue] = {"spend": round(rng.lognormvariate(4, 1), 2)}
        if rng.random() < 0.9:
            attributes["city"] = rng.choice(_CITIES)
        yield Follower(
            openid=f"o{index:07d}",
            subscribe_time=now - timedelta(days=rng.uniform(0, 3 * 365)),
            tags=frozenset(t for t in _TAGS if rng.random() < 0.3),
            attributes=attributes,
        )


def _line(report: Report, content: str) -> str:
    """What happened to one campaign, in words."""
    parts = [f"delivered {report.sent + report.already_sent + report.committed_before}"]
    if report.already_sent:
        parts.append(
            f"{report.already_sent} of them confirmed by WeChat as an earlier send with the "
            "same clientmsgid (not sent twice)"
        )
    if report.committed_before:
        parts.append(f"{report.committed_before} already delivered by an earlier run")
    if report.refused_duplicate:
        parts.append(f"{report.refused_duplicate} skipped: they already had {content!r}")
    if report.refused_quota:
        parts.append(f"{report.refused_quota} skipped: their 4 pushes this month are used")
    if report.pending:
        parts = [f"delivered {report.sent}"]
        parts.append(
            f"{len(report.pending)} waiting: WeChat took the job but its answer was lost; "
            "their slots stay reserved until a later run learns the outcome"
        )
    return "; ".join(parts)


def main(argv: Sequence[str] = ()) -> int:
    """Run the demo; returns the process exit code (non-zero if an invariant was broken)."""
    parser = argparse.ArgumentParser(
        prog="wxsegment demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--followers", type=int, default=20_000, help="how many to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger", type=Path, help="SQLite ledger file (default: a temp file)")
    parser.add_argument("--store", type=Path, help="SQLite follower store (default: a temp file)")
    args = parser.parse_args(list(argv))

    with tempfile.TemporaryDirectory(prefix="wxsegment-demo-") as scratch:
        ledger = args.ledger or Path(scratch) / "ledger.sqlite3"
        store = args.store or Path(scratch) / "followers.sqlite3"
        return _run(args.followers, args.seed, ledger, store)


def _progress(total_hint: int) -> Callable[[SyncProgress], None]:
    def show(progress: SyncProgress) -> None:
        print(f"  pulled {progress.done:>7,} of {max(progress.total, total_hint):,} followers")

    return show


def _run(count: int, seed: int, ledger_path: Path, store_path: Path) -> int:
    clock = FixedClock(datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    now = clock.now()
    fake = FakeWeChat(appid=_APPID, secret=_SECRET, clock=clock)
    crm = list(synthetic_followers(count, seed=seed, now=now))
    for follower in crm:
        fake.add_follower(follower.openid, subscribe_time=follower.subscribe_time)

    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    client = Client(_APPID, _SECRET, http_client=http, clock=clock, sleep=lambda _s: None)
    ledger = SQLiteLedger(ledger_path, account=_APPID)
    store = SQLiteFollowerStore(store_path, attributes={"city": "str", "spend": "float"})
    try:
        print("1. followers from WeChat into the follower store")
        pulled = sync_followers(client, store, on_progress=_progress(count), clock=clock)
        print(f"   {pulled.pulled:,} followers stored in {pulled.pages} pages")

        imported = store.import_rows(
            {"openid": f.openid, "tags": sorted(f.tags), **f.attributes} for f in crm
        )
        print(
            f"2. CRM data imported: {imported.updated:,} followers updated with city, spend "
            "and CRM tags"
        )
        sync = TagSync(client, store=FollowerTagStore(store))
        pushed = sync.apply(TagChanges(openid=f.openid, add=f.tags) for f in crm if f.tags)
        print(
            f"   CRM tags pushed to WeChat: {len(pushed.created)} tags created, "
            f"{pushed.tagged:,} memberships added"
        )

        segment = parse(_AUDIENCE)
        audience = store.select(segment, now=now)
        print(f"3. audience: {render(segment)}")
        print(f"   {len(audience):,} of {count:,} followers match (counted in the store)")
        print("   how it narrows, condition by condition:")
        for line in funnel(segment, (f for f in _followers(store, crm)), now=now).lines():
            print(f"     {line}")

        print("4. one month of campaigns")
        plan = [
            ("2026-11-w1", "double-11-preview"),
            ("2026-11-w2", "double-11-day"),
            ("2026-11-w2-again", "double-11-day"),  # the same content: refused as duplicate
            ("2026-11-w3", "member-week"),
            ("2026-11-w4", "black-friday"),
            ("2026-11-w5", "year-end-teaser"),  # a fifth push: refused, no slot left
        ]
        for index, (campaign_id, content) in enumerate(plan):
            clock.advance(timedelta(days=4))
            campaign = Campaign(campaign_id, segment, Text(f"{content}: 本周会员专享"), content)
            if index == 1:
                # The answer to this send is lost on the way back; WeChat did queue the job.
                fake.inject("timeout", path="/cgi-bin/message/mass/send", after_processing=True)
            report = execute(client, ledger, campaign, audience, clock=clock)
            print(f"   {campaign_id:<18} {_line(report, content)}")

        # WeChat stops answering for a while after taking the job: the outcome is unknown, so
        # the reservations stay pending; the next run re-sends under the same clientmsgid.
        clock.advance(timedelta(days=1))
        chosen = set(audience)
        late = [f.openid for f in crm if f.openid not in chosen][:50]
        flash = Campaign("2026-11-flash", EVERYONE, Text("限时闪购"), "flash")
        fake.inject(
            "timeout",
            path="/cgi-bin/message/mass/send",
            after_processing=True,
            times=RetryPolicy().attempts,
        )
        first = execute(client, ledger, flash, late, clock=clock)
        print(f"   {flash.id:<18} {_line(first, 'flash')}")
        resumed = execute(client, ledger, flash, late, clock=clock)
        print(f"   {'  ...run again':<18} {_line(resumed, 'flash')}")

        return _verify(fake, ledger, [f.openid for f in crm], clock.now())
    finally:
        store.close()
        ledger.close()
        client.close()
        http.close()


def _followers(store: SQLiteFollowerStore, crm: Sequence[Follower]) -> Iterator[Follower]:
    """The stored followers, in CRM order (the funnel runs over them in memory)."""
    stored = store.followers([f.openid for f in crm])
    for follower in crm:
        found = stored.get(follower.openid)
        if found is not None:
            yield found


def _verify(fake: FakeWeChat, ledger: SQLiteLedger, openids: Sequence[str], now: datetime) -> int:
    month = month_key(now)
    delivered = {openid: fake.mass_received(openid, month) for openid in openids}
    most = max(delivered.values(), default=0)
    usage = ledger.usage_many(openids, at=now)
    mismatched = [o for o, n in delivered.items() if n != usage[o].committed]
    filtered = sum(len(job.filtered) for job in fake.jobs.values())
    print()
    print(f"WeChat's own view of {month}:")
    print(f"  the most pushes any follower received: {most} (the limit is 4)")
    print(f"  followers WeChat had to filter for a fifth push: {filtered}")
    print(f"  followers on whom the ledger and WeChat disagree: {len(mismatched)}")
    ok = most <= 4 and not mismatched and filtered == 0
    print("promise kept: no fifth push, every push counted" if ok else "PROMISE BROKEN")
    return 0 if ok else 1
