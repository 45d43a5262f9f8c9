"""The demo behind ``python -m wxsegment``: one month of pushes, end to end, on embedded defaults.

Everything runs in process, with no network and no server: the built-in `FakeWeChat` stands in
for WeChat (reached by the real `wxsegment.api.Client` through ``httpx.MockTransport``) and the
quota ledger is a `SQLiteLedger` file. The story an operator would live through:

1. the CRM's followers are on WeChat; their CRM segments become WeChat tags (``tags.tag_users``);
2. an audience is described as a segment, parsed from the DSL, and explained;
3. campaigns go out through `wxsegment.delivery.execute`; the ledger refuses the fifth push of
   the month to anyone, and refuses a follower content they already had;
4. one send's answer is lost on the way back: the client retries it with the same ``clientmsgid``
   and WeChat reports it as already sent, so nobody gets it twice;
5. WeChat stops answering after taking a job: the outcome is unknown, so the reservations stay
   pending; the next run re-sends under the same ids, learns they were sent, and commits them;
6. finally WeChat's own counts are checked against the ledger: nobody received a fifth push.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from wxsegment._clock import SHANGHAI, FixedClock, month_key
from wxsegment._model import AttributeValue, Follower
from wxsegment.api import Client, RetryPolicy, Text
from wxsegment.delivery import Campaign, Report, execute, resolve_audience
from wxsegment.quota import SQLiteLedger
from wxsegment.segment import EVERYONE, explain, parse, render
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


def _sync_tags(client: Client, followers: Sequence[Follower]) -> dict[str, int]:
    """Create one WeChat tag per CRM tag and tag its members; returns name -> tag id."""
    ids: dict[str, int] = {}
    for name in _TAGS:
        tag = client.tags.create(name)
        ids[name] = tag.id
        client.tags.tag_users(tag.id, [f.openid for f in followers if name in f.tags])
    return ids


def _line(report: Report) -> str:
    parts = [f"sent {report.sent:>5}"]
    if report.already_sent:
        parts.append(f"already sent {report.already_sent} (answer lost, same clientmsgid)")
    if report.refused_duplicate:
        parts.append(f"refused {report.refused_duplicate} duplicate_content")
    if report.refused_quota:
        parts.append(f"refused {report.refused_quota} quota_exhausted")
    if report.pending:
        parts.append(f"{len(report.pending)} pending (outcome unknown)")
    return ", ".join(parts)


def main(argv: Sequence[str] = ()) -> int:
    """Run the demo; returns the process exit code (non-zero if an invariant was broken)."""
    parser = argparse.ArgumentParser(prog="python -m wxsegment", description=__doc__)
    parser.add_argument("--followers", type=int, default=20_000, help="how many to generate")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger", type=Path, help="SQLite ledger file (default: a temp file)")
    args = parser.parse_args(list(argv))

    with tempfile.TemporaryDirectory(prefix="wxsegment-demo-") as scratch:
        path = args.ledger or Path(scratch) / "ledger.sqlite3"
        return _run(args.followers, args.seed, path)


def _run(count: int, seed: int, ledger_path: Path) -> int:
    clock = FixedClock(datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    now = clock.now()
    fake = FakeWeChat(appid=_APPID, secret=_SECRET, clock=clock)
    followers = list(synthetic_followers(count, seed=seed, now=now))
    for follower in followers:
        fake.add_follower(follower.openid, subscribe_time=follower.subscribe_time)

    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    client = Client(_APPID, _SECRET, http_client=http, clock=clock, sleep=lambda _s: None)
    ledger = SQLiteLedger(ledger_path, account=_APPID)
    try:
        on_wechat = sum(1 for _ in client.users.iter_openids())
        tag_ids = _sync_tags(client, followers)
        print(f"followers on WeChat : {on_wechat}, CRM tags synced as WeChat tags {tag_ids}")

        segment = parse(_AUDIENCE)
        audience = resolve_audience(segment, followers, now=now)
        print(f"segment             : {render(segment)}")
        print(f"audience            : {len(audience)} of {len(followers)} followers")
        print("why this size:")
        print(explain(segment, followers, now=now))
        print()

        plan = [
            ("2026-11-w1", "double-11-preview"),
            ("2026-11-w2", "double-11-day"),
            ("2026-11-w2-again", "double-11-day"),  # the same content: refused as duplicate
            ("2026-11-w3", "member-week"),
            ("2026-11-w4", "black-friday"),
            ("2026-11-w5", "year-end-teaser"),  # a fifth push: refused, quota exhausted
        ]
        for index, (campaign_id, content) in enumerate(plan):
            clock.advance(timedelta(days=4))
            campaign = Campaign(campaign_id, segment, Text(f"{content}: 本周会员专享"), content)
            if index == 1:
                # The answer to this send is lost on the way back; WeChat did queue the job.
                fake.inject("timeout", path="/cgi-bin/message/mass/send", after_processing=True)
            report = execute(client, ledger, campaign, audience, clock=clock)
            print(f"{campaign_id:<21} {_line(report)}")

        # WeChat stops answering for a while after taking the job: the outcome is unknown, so
        # the reservations stay pending; the next run re-sends under the same clientmsgid.
        clock.advance(timedelta(days=1))
        late = [f.openid for f in followers if f.openid not in set(audience)][:50]
        flash = Campaign("2026-11-flash", EVERYONE, Text("限时闪购"), "flash")
        fake.inject(
            "timeout",
            path="/cgi-bin/message/mass/send",
            after_processing=True,
            times=RetryPolicy().attempts,
        )
        first = execute(client, ledger, flash, late, clock=clock)
        print(f"{flash.id:<21} {_line(first)}")
        resumed = execute(client, ledger, flash, late, clock=clock)
        print(f"{flash.id + ' resumed':<21} {_line(resumed)}")

        return _verify(fake, ledger, followers, clock.now())
    finally:
        ledger.close()
        client.close()
        http.close()


def _verify(
    fake: FakeWeChat, ledger: SQLiteLedger, followers: Sequence[Follower], now: datetime
) -> int:
    month = month_key(now)
    delivered = {f.openid: fake.mass_received(f.openid, month) for f in followers}
    most = max(delivered.values(), default=0)
    mismatched = [
        openid
        for openid, count in delivered.items()
        if count != ledger.usage(openid, at=now).committed
    ]
    filtered = sum(len(job.filtered) for job in fake.jobs.values())
    print()
    print(
        f"WeChat's view of {month}: at most {most} pushes per follower; "
        f"{filtered} filtered by WeChat's own limit; "
        f"ledger and WeChat disagree on {len(mismatched)} followers"
    )
    return 0 if most <= 4 and not mismatched and filtered == 0 else 1
