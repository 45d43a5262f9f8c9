"""A/B by metric: samples, WeChat's article statistics or the application's numbers, the winner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment._clock import SHANGHAI
from wxsegment.api import Client, MpNews
from wxsegment.delivery import (
    Campaign,
    DeliveryError,
    article_read_rates,
    pick_winner,
    run_ab_test,
    send_winner_by_metric,
)
from wxsegment.quota import MemoryLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

MORNING = datetime(2026, 11, 1, 9, 30, tzinfo=SHANGHAI)


@pytest.fixture
def world() -> Iterator[tuple[FakeWeChat, Client, list[Campaign], list[str]]]:
    """A fake with 400 followers, two article drafts with different titles, a client."""
    clock = FixedClock(MORNING)
    fake = FakeWeChat(clock=clock)
    openids = fake.add_followers(400)
    drafts = [fake.content.add_draft(title) for title in ("今晚8点开抢", "爆款提前看")]
    variants = [
        Campaign(f"nov1-{name}", EVERYONE, MpNews(media_id), "nov1-article")
        for name, media_id in zip("ab", drafts, strict=True)
    ]
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(
        fake.appid,
        fake.secret,
        http_client=http,
        clock=clock,
        sleep=lambda s: None,
        mass_per_minute=None,
    ) as client:
        yield fake, client, variants, openids


def _read(fake: FakeWeChat, test_reports: dict[str, object], variant: str, share: float) -> None:
    report = test_reports[variant]
    for batch in report.batches:  # type: ignore[attr-defined]
        readers = batch.openids[: int(len(batch.openids) * share)]
        for openid in readers:
            fake.read_article(openid, batch.msg_id)


def test_statistics_pick_the_winner_the_next_morning(
    world: tuple[FakeWeChat, Client, list[Campaign], list[str]],
) -> None:
    """B is read by 60 % of its sample against 20 % for A; B goes to everyone else once."""
    fake, client, variants, openids = world
    ledger = MemoryLedger(account=fake.appid)
    test = run_ab_test(
        client, ledger, "nov1-ab", variants, openids, fractions=(0.1, 0.1), clock=fake.clock
    )
    _read(fake, dict(test.reports), "nov1-a", 0.2)
    _read(fake, dict(test.reports), "nov1-b", 0.6)
    fake.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    rates = article_read_rates(client, test, sent_on=date(2026, 11, 1))
    assert rates["nov1-b"] > rates["nov1-a"] > 0
    assert pick_winner(test, rates) == "nov1-b"
    report = send_winner_by_metric(client, ledger, test, variants, rates, clock=fake.clock)
    assert report.campaign == "nov1-ab-winner"
    assert report.sent == len(test.rest)
    for openid in openids:
        assert fake.mass_received(openid, "2026-11") == 1


def test_application_metric_the_same_day(
    world: tuple[FakeWeChat, Client, list[Campaign], list[str]],
) -> None:
    """Samples at T-30 min, the application's click counts at T, the winner right away."""
    fake, client, variants, openids = world
    ledger = MemoryLedger(account=fake.appid)
    test = run_ab_test(
        client, ledger, "nov1-ab", variants, openids, fractions=(0.05, 0.05), clock=fake.clock
    )
    fake.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    clicks = {"nov1-a": 31, "nov1-b": 12}
    report = send_winner_by_metric(client, ledger, test, variants, clicks, clock=fake.clock)
    assert report.sent == len(test.rest)
    winner_jobs = [
        j for j in fake.jobs.values() if (j.clientmsgid or "").startswith("nov1-ab-winner")
    ]
    assert winner_jobs
    assert {j.msgtype for j in winner_jobs} == {"mpnews"}


def test_bad_scores_are_refused(
    world: tuple[FakeWeChat, Client, list[Campaign], list[str]],
) -> None:
    """A missing, unknown or non-finite score is a DeliveryError; ties go to the first variant."""
    fake, client, variants, openids = world
    test = run_ab_test(
        client,
        MemoryLedger(account=fake.appid),
        "t",
        variants,
        openids[:40],
        fractions=(0.25, 0.25),
        clock=fake.clock,
    )
    with pytest.raises(DeliveryError, match="no score"):
        pick_winner(test, {"nov1-a": 1.0})
    with pytest.raises(DeliveryError, match="not in the test"):
        pick_winner(test, {"nov1-a": 1.0, "nov1-b": 2.0, "nov1-c": 3.0})
    with pytest.raises(DeliveryError, match="finite"):
        pick_winner(test, {"nov1-a": float("nan"), "nov1-b": 2.0})
    assert pick_winner(test, {"nov1-a": 2, "nov1-b": 2}) == "nov1-a"
    with pytest.raises(ValueError, match="figure"):
        article_read_rates(client, test, sent_on=date(2026, 10, 31), field="stat_date")
