"""Choosing an A/B test's winner by a metric, and sending it to the rest.

The metric is either the application's own (clicks on a tracked link, orders: anything it
counts per variant, which is the only kind available half an hour after the samples went out)
or WeChat's article statistics (`article_read_rates`: reads per follower sent, from
``datacube/getarticletotal``). WeChat publishes a day's article figures the next morning, so a
statistics-based winner is picked the day after the samples, never within the same day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import attrs

from wxsegment.api import ArticleTotal, AsyncClient, Client
from wxsegment.delivery._ab import ABTest, async_send_winner, send_winner
from wxsegment.delivery._campaign import (
    Campaign,
    DeliveryError,
    Report,
    check_client,
)
from wxsegment.quota import QuotaLedger

__all__ = [
    "article_read_rates",
    "async_article_read_rates",
    "async_send_winner_by_metric",
    "pick_winner",
    "send_winner_by_metric",
    "winner_campaign",
]


def pick_winner(test: ABTest, scores: Mapping[str, float]) -> str:
    """The variant id with the highest score; ties go to the variant listed first.

    ``scores`` must score every variant of ``test`` with a finite number.
    """
    if not isinstance(test, ABTest):
        raise TypeError(f"test must be an ABTest, not {type(test).__name__}")
    variants = list(test.samples)
    missing = [v for v in variants if v not in scores]
    if missing:
        raise DeliveryError(f"no score for variants {missing}")
    extra = sorted(set(scores) - set(variants))
    if extra:
        raise DeliveryError(f"scores name variants not in the test: {extra}")
    for variant in variants:
        value = scores[variant]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise DeliveryError(f"score of {variant!r} must be a finite number, got {value!r}")
    best = max(scores[v] for v in variants)
    return next(v for v in variants if scores[v] == best)


def winner_campaign(
    test: ABTest,
    variants: Sequence[Campaign],
    scores: Mapping[str, float],
    *,
    winner_id: str | None = None,
) -> Campaign:
    """The winning variant as a new campaign for the rest (id ``<test id>-winner`` by default)."""
    best = pick_winner(test, scores)
    chosen = next((v for v in variants if v.id == best), None)
    if chosen is None:
        raise DeliveryError(f"the winning variant {best!r} is not among the given campaigns")
    return attrs.evolve(chosen, id=winner_id or f"{test.test_id}-winner")


def _rates(test: ABTest, totals: Sequence[ArticleTotal], field: str) -> dict[str, float]:
    by_data_id = {total.msg_data_id: total for total in totals}
    rates: dict[str, float] = {}
    for variant, report in test.reports.items():
        value = 0
        sent = 0
        for batch in report.batches:
            if batch.msg_data_id is None:
                continue
            sent += len(batch.openids)
            total = by_data_id.get(batch.msg_data_id)
            latest = total.latest if total is not None else None
            if latest is not None:
                value += int(getattr(latest, field))
        rates[variant] = value / sent if sent else 0.0
    return rates


def _check_field(field: str) -> str:
    from wxsegment.api import ArticleTotalDetail

    if field not in attrs.fields_dict(ArticleTotalDetail) or field == "stat_date":
        raise ValueError(f"{field!r} is not a figure of ArticleTotalDetail")
    return field


def article_read_rates(
    client: Client, test: ABTest, *, sent_on: date, field: str = "int_page_read_user"
) -> dict[str, float]:
    """Per variant, ``field`` of its articles (``getarticletotal``) per follower it was sent to.

    Only batches this test's run sent and that WeChat answered with a ``msg_data_id`` (article
    sends) count. ``sent_on`` is the Shanghai day the samples went out; call it the next day.
    """
    check_client(client, Client)
    return _rates(test, client.datacube.article_total(sent_on), _check_field(field))


async def async_article_read_rates(
    client: AsyncClient, test: ABTest, *, sent_on: date, field: str = "int_page_read_user"
) -> dict[str, float]:
    """`article_read_rates` over `AsyncClient`."""
    check_client(client, AsyncClient)
    return _rates(test, await client.datacube.article_total(sent_on), _check_field(field))


def send_winner_by_metric(
    client: Client,
    ledger: QuotaLedger,
    test: ABTest,
    variants: Sequence[Campaign],
    scores: Mapping[str, float],
    *,
    winner_id: str | None = None,
    **options: Any,
) -> Report:
    """Send the best-scoring variant to the rest of the audience (see `send_winner`)."""
    winner = winner_campaign(test, variants, scores, winner_id=winner_id)
    return send_winner(client, ledger, test, winner, **options)


async def async_send_winner_by_metric(
    client: AsyncClient,
    ledger: QuotaLedger,
    test: ABTest,
    variants: Sequence[Campaign],
    scores: Mapping[str, float],
    *,
    winner_id: str | None = None,
    **options: Any,
) -> Report:
    """`send_winner_by_metric` over `AsyncClient`."""
    winner = winner_campaign(test, variants, scores, winner_id=winner_id)
    return await async_send_winner(client, ledger, test, winner, **options)
