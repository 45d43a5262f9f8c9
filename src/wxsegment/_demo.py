"""The demo behind ``python -m wxsegment``: synthetic followers, one audience, its explanation.

It needs nothing but the core install and prints what an operator would look at before a push.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from wxsegment._clock import SHANGHAI
from wxsegment._model import AttributeValue, Follower
from wxsegment.segment import attr, explain, matches, render, tag

__all__ = ["main", "synthetic_followers"]

_CITIES = ("杭州", "上海", "北京", "深圳", "成都", "南京")
_TAGS = ("90后", "00后", "已购", "门店扫码", "活动A", "会员")


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


def main(argv: Sequence[str] = ()) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m wxsegment", description=__doc__)
    parser.add_argument("--followers", type=int, default=20_000, help="how many to generate")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(list(argv))

    now = datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI)
    audience = (
        tag("90后")
        & attr("city").isin(["杭州", "上海"])
        & ~tag("已购")
        & attr("subscribe_time").within(timedelta(days=180))
        & (attr("spend") >= 100)
    )
    followers = list(synthetic_followers(args.followers, seed=args.seed, now=now))
    chosen = [f.openid for f in followers if matches(audience, f, now=now)]
    print(f"segment : {render(audience)}")
    print(f"matched : {len(chosen)} of {len(followers)} followers")
    print(f"sample  : {', '.join(chosen[:5])}")
    print("why this size:")
    print(explain(audience, followers, now=now))
    return 0
