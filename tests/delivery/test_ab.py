"""A/B tests: the deterministic split, variants to samples, the winner to the rest."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment import FixedClock
from wxsegment.api import Client, Text
from wxsegment.delivery import (
    Campaign,
    DeliveryError,
    execute,
    run_ab_test,
    send_winner,
    split,
)
from wxsegment.quota import QuotaLedger
from wxsegment.segment import EVERYONE
from wxsegment.testing import FakeWeChat

from .conftest import pushes_of

openid_lists = st.lists(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(lambda o: o == o.strip())
)
fraction_lists = st.lists(st.floats(0.01, 0.5), min_size=1, max_size=2)


@given(
    campaign=st.text(min_size=1, max_size=20),
    openids=openid_lists,
    fractions=fraction_lists,
    seed=st.integers(0, 1000),
)
def test_split_is_a_partition_independent_of_order(
    campaign: str, openids: list[str], fractions: list[float], seed: int
) -> None:
    """Groups are disjoint, cover every openid once, and do not depend on input order."""
    groups = split(campaign, openids, fractions=fractions)
    assert len(groups) == len(fractions) + 1
    flat = [o for group in groups for o in group]
    assert sorted(flat) == sorted(set(openids))
    shuffled = list(openids)
    random.Random(seed).shuffle(shuffled)
    assert split(campaign, shuffled, fractions=fractions) == groups


@given(campaign=st.text(min_size=1, max_size=20), openids=openid_lists, extra=openid_lists)
def test_a_followers_group_does_not_depend_on_the_others(
    campaign: str, openids: list[str], extra: list[str]
) -> None:
    """Adding followers never moves anyone already placed to another group."""
    fractions = [0.2, 0.3]
    alone = split(campaign, openids, fractions=fractions)
    together = split(campaign, [*openids, *extra], fractions=fractions)
    for small, big in zip(alone, together, strict=True):
        assert set(small) <= set(big)


def test_split_is_independent_of_the_hash_seed() -> None:
    """Two interpreters with different PYTHONHASHSEED split identically."""
    code = (
        "from wxsegment.delivery import split; "
        "print(split('t', [f'o{i}' for i in range(200)], fractions=[0.1, 0.1]))"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": src, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_sample_sizes_follow_the_fractions() -> None:
    """With 20,000 followers each group's share is within 1.5 points of its fraction."""
    groups = split("sizes", [f"o{i}" for i in range(20_000)], fractions=[0.1, 0.25])
    shares = [len(g) / 20_000 for g in groups]
    assert shares == pytest.approx([0.1, 0.25, 0.65], abs=0.015)


def test_split_refuses_bad_fractions() -> None:
    """Fractions must be in (0, 1] and sum to at most 1."""
    for fractions in ([], [0.0], [0.6, 0.5], [float("nan")]):
        with pytest.raises(DeliveryError):
            split("t", ["a", "b"], fractions=fractions)
    with pytest.raises(TypeError):
        split("t", ["a"], fractions=["0.1"])  # type: ignore[list-item]


def test_ab_test_then_winner_reaches_everyone_exactly_once(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Samples get one variant each, the rest gets the winner, nobody gets two; quota is spent."""
    openids = fake.add_followers(200)
    variants = [
        Campaign("spring-a", EVERYONE, Text("title A"), content_key="spring"),
        Campaign("spring-b", EVERYONE, Text("title B"), content_key="spring"),
    ]
    test = run_ab_test(
        client, ledger, "spring", variants, openids, fractions=[0.1, 0.1], now=clock.now()
    )
    sample_a, sample_b = test.samples["spring-a"], test.samples["spring-b"]
    assert test.reports["spring-a"].sent == len(sample_a) > 0
    assert test.reports["spring-b"].sent == len(sample_b) > 0
    assert all(ledger.usage(o, at=clock.now()).committed == 1 for o in sample_a + sample_b)
    winner = Campaign("spring-final", EVERYONE, Text("title B"), content_key="spring")
    # A fresh audience including the samples: they are excluded by the split and the key.
    report = send_winner(client, ledger, test, winner, now=clock.now(), audience=openids)
    assert report.sent == len(openids) - len(sample_a) - len(sample_b)
    assert report.refused_duplicate == 0
    received = {o: fake.mass_received(o) for o in openids}
    assert received == dict.fromkeys(openids, 1)
    assert set(pushes_of(fake, "spring-a.")) == set(sample_a)
    assert set(pushes_of(fake, "spring-final.")) == set(test.rest)


def test_the_content_key_keeps_samples_out_of_the_winners_send(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Sending the winner to everyone (samples included) refuses the samples as duplicates."""
    openids = fake.add_followers(40)
    variants = [Campaign("v1", EVERYONE, Text("one"), content_key="shared")]
    test = run_ab_test(client, ledger, "t", variants, openids, fractions=[0.5], now=clock.now())
    winner = Campaign("final", EVERYONE, Text("one"), content_key="shared")
    report = execute(client, ledger, winner, openids, now=clock.now())
    assert report.refused_duplicate == len(test.samples["v1"])
    assert all(fake.mass_received(o) == 1 for o in openids)


def test_ab_inputs_are_checked(
    fake: FakeWeChat, client: Client, ledger: QuotaLedger, clock: FixedClock
) -> None:
    """Variants need one shared key and matching fractions; the winner needs the key too."""
    openids = fake.add_followers(10)
    keyed = Campaign("a", EVERYONE, Text("a"), content_key="k")
    other = Campaign("b", EVERYONE, Text("b"), content_key="other")
    with pytest.raises(DeliveryError):
        run_ab_test(
            client, ledger, "t", [keyed, other], openids, fractions=[0.1, 0.1], now=clock.now()
        )
    with pytest.raises(DeliveryError):
        run_ab_test(client, ledger, "t", [keyed], openids, fractions=[0.1, 0.1], now=clock.now())
    test = run_ab_test(client, ledger, "t", [keyed], openids, fractions=[0.3], now=clock.now())
    with pytest.raises(DeliveryError):
        send_winner(client, ledger, test, other, now=clock.now())
    with pytest.raises(DeliveryError):
        send_winner(client, ledger, test, keyed, now=clock.now())
