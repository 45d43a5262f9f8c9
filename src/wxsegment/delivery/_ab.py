"""A/B tests: a deterministic split of an audience; variants to samples, the winner to the rest.

Every variant and the winner's final send share one ``content_key``, so the ledger refuses the
winner's send to anyone who already had a variant; samples consume quota like any push.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from wxsegment.api import AsyncClient, Client
from wxsegment.delivery._campaign import (
    Campaign,
    DeliveryError,
    Report,
    _check_campaign_id,
    _unique_openids,
    check_client,
)
from wxsegment.delivery._execute import async_execute, execute
from wxsegment.quota import QuotaLedger

__all__ = [
    "ABTest",
    "async_run_ab_test",
    "async_send_winner",
    "run_ab_test",
    "send_winner",
    "split",
]

_SCALE = 2**64


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Iterable):
        raise TypeError("fractions must be a sequence of floats")
    checked = tuple(fractions)
    if not checked:
        raise DeliveryError("fractions must name at least one sample")
    for fraction in checked:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"fractions must be numbers, got {type(fraction).__name__}")
        if not (math.isfinite(fraction) and 0 < fraction <= 1):
            raise DeliveryError(f"each fraction must be in (0, 1], got {fraction!r}")
    if sum(checked) > 1 + 1e-9:
        raise DeliveryError(f"fractions must sum to at most 1, got {sum(checked)!r}")
    return checked


def _position(campaign_id: str, openid: str) -> int:
    # The id's length prefix keeps ("ab", "cx") and ("abc", "x") apart.
    data = f"{len(campaign_id)}:{campaign_id}\x00{openid}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def split(
    campaign_id: str, openids: Iterable[str], *, fractions: Sequence[float]
) -> tuple[tuple[str, ...], ...]:
    """Partition ``openids`` into ``len(fractions)`` samples plus the rest, each sorted.

    A follower's group depends only on a blake2b hash of (``campaign_id``, openid): not on the
    input's order, the other openids, or Python's hash seed. Sample ``i`` holds about
    ``fractions[i]`` of the followers.
    """
    _check_campaign_id(campaign_id)
    checked = _check_fractions(fractions)
    bounds: list[int] = []
    total = 0.0
    for fraction in checked:
        total += fraction
        bounds.append(min(_SCALE, math.floor(total * _SCALE)))
    groups: list[list[str]] = [[] for _ in range(len(checked) + 1)]
    for openid in _unique_openids(openids):
        position = _position(campaign_id, openid)
        group = next((i for i, bound in enumerate(bounds) if position < bound), len(checked))
        groups[group].append(openid)
    return tuple(tuple(sorted(group)) for group in groups)


@attrs.frozen
class ABTest:
    """A sent A/B test: the split it used, each variant's sample and report, and the rest."""

    test_id: str
    fractions: tuple[float, ...]
    content_key: str
    samples: Mapping[str, tuple[str, ...]]
    reports: Mapping[str, Report]
    rest: tuple[str, ...]


def _check_variants(
    test_id: str, variants: Sequence[Campaign], fractions: Sequence[float]
) -> tuple[tuple[Campaign, ...], tuple[float, ...], str]:
    _check_campaign_id(test_id)
    checked = _check_fractions(fractions)
    variants = tuple(variants)
    if len(variants) != len(checked):
        raise DeliveryError(f"{len(variants)} variants but {len(checked)} fractions")
    for variant in variants:
        if not isinstance(variant, Campaign):
            raise TypeError(f"variants must be Campaign, got {type(variant).__name__}")
    if len({v.id for v in variants}) != len(variants):
        raise DeliveryError("variant ids must be distinct")
    keys = {v.content_key for v in variants}
    if len(keys) != 1 or None in keys:
        raise DeliveryError("every variant must carry the same content_key")
    (content_key,) = keys
    assert content_key is not None
    return variants, checked, content_key


def _test_of(
    test_id: str,
    fractions: tuple[float, ...],
    content_key: str,
    variants: tuple[Campaign, ...],
    groups: tuple[tuple[str, ...], ...],
    reports: dict[str, Report],
) -> ABTest:
    return ABTest(
        test_id=test_id,
        fractions=fractions,
        content_key=content_key,
        samples=MappingProxyType({v.id: g for v, g in zip(variants, groups, strict=False)}),
        reports=MappingProxyType(reports),
        rest=groups[-1],
    )


def run_ab_test(
    client: Client,
    ledger: QuotaLedger,
    test_id: str,
    variants: Sequence[Campaign],
    audience: Iterable[str],
    *,
    fractions: Sequence[float],
    **options: Any,
) -> ABTest:
    """Send variant ``i`` to sample ``i`` of ``split(test_id, audience, fractions=...)``.

    The variants need distinct ids and one shared, non-empty ``content_key``. ``options`` are
    `execute`'s keywords (``clock`` or ``now``, ``journal``, ``batch_size``...). Re-running
    with the same arguments resumes each variant like `execute`.
    """
    check_client(client, Client)
    variants, checked, content_key = _check_variants(test_id, variants, fractions)
    groups = split(test_id, audience, fractions=checked)
    reports: dict[str, Report] = {}
    for variant, sample in zip(variants, groups, strict=False):
        reports[variant.id] = execute(client, ledger, variant, sample, **options)
    return _test_of(test_id, checked, content_key, variants, groups, reports)


async def async_run_ab_test(
    client: AsyncClient,
    ledger: QuotaLedger,
    test_id: str,
    variants: Sequence[Campaign],
    audience: Iterable[str],
    *,
    fractions: Sequence[float],
    **options: Any,
) -> ABTest:
    """`run_ab_test` over an `AsyncClient` (each variant through `async_execute`)."""
    check_client(client, AsyncClient)
    variants, checked, content_key = _check_variants(test_id, variants, fractions)
    groups = split(test_id, audience, fractions=checked)
    reports: dict[str, Report] = {}
    for variant, sample in zip(variants, groups, strict=False):
        reports[variant.id] = await async_execute(client, ledger, variant, sample, **options)
    return _test_of(test_id, checked, content_key, variants, groups, reports)


def _winner_rest(test: ABTest, winner: Campaign, audience: Iterable[str] | None) -> Sequence[str]:
    if not isinstance(test, ABTest):
        raise TypeError(f"test must be an ABTest, not {type(test).__name__}")
    if not isinstance(winner, Campaign):
        raise TypeError(f"winner must be a Campaign, not {type(winner).__name__}")
    if winner.content_key != test.content_key:
        raise DeliveryError(
            f"the winner must carry the test's content_key {test.content_key!r}, "
            f"not {winner.content_key!r}"
        )
    if winner.id in test.samples:
        raise DeliveryError("the winner needs its own campaign id, not a variant's")
    if audience is None:
        return test.rest
    return split(test.test_id, audience, fractions=test.fractions)[-1]


def send_winner(
    client: Client,
    ledger: QuotaLedger,
    test: ABTest,
    winner: Campaign,
    *,
    audience: Iterable[str] | None = None,
    **options: Any,
) -> Report:
    """Send ``winner`` (a new campaign id, the test's ``content_key``) to the rest.

    The rest is ``test.rest``, or, given a fresh ``audience`` (followers may have come and gone),
    its members outside every sample; the shared content key makes the ledger refuse anyone who
    already had a variant either way. ``options`` are `execute`'s keywords.
    """
    check_client(client, Client)
    return execute(client, ledger, winner, _winner_rest(test, winner, audience), **options)


async def async_send_winner(
    client: AsyncClient,
    ledger: QuotaLedger,
    test: ABTest,
    winner: Campaign,
    *,
    audience: Iterable[str] | None = None,
    **options: Any,
) -> Report:
    """`send_winner` over an `AsyncClient` (through `async_execute`)."""
    check_client(client, AsyncClient)
    rest = _winner_rest(test, winner, audience)
    return await async_execute(client, ledger, winner, rest, **options)
