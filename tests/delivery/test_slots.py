"""The monthly slot planner: limits per follower and priority order, as properties."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api import Text
from wxsegment.delivery import Campaign, DeliveryError, SlotPlan, plan_month, rank
from wxsegment.segment import EVERYONE

OPENIDS = [f"o{i}" for i in range(12)]


@st.composite
def months(draw: st.DrawFn) -> tuple[list[Campaign], dict[str, list[str]], dict[str, int]]:
    """Campaigns with priorities and optional shared content keys, audiences, prior usage."""
    count = draw(st.integers(1, 8))
    campaigns = [
        Campaign(
            f"c{i}",
            EVERYONE,
            Text(f"m{i}"),
            content_key=draw(st.sampled_from([None, "k1", "k2"])),
            priority=draw(st.integers(-2, 3)),
        )
        for i in range(count)
    ]
    audiences = {c.id: draw(st.lists(st.sampled_from(OPENIDS), unique=True)) for c in campaigns}
    used = {o: draw(st.integers(0, 6)) for o in OPENIDS}
    return campaigns, audiences, used


def _check(
    plan: SlotPlan,
    campaigns: list[Campaign],
    audiences: Mapping[str, list[str]],
    used: Mapping[str, int],
    limit: int,
) -> None:
    by_id = {c.id: c for c in campaigns}
    order = {c.id: position for position, c in enumerate(rank(campaigns))}
    for openid, got in plan.by_follower.items():
        assert len(got) <= max(0, limit - used[openid])
        keys = [by_id[c].content_key for c in got if by_id[c].content_key is not None]
        assert len(keys) == len(set(keys))
        for cid in got:
            assert openid in audiences[cid]
            assert openid in plan.by_campaign[cid]
        worst = max(order[c] for c in got) if got else -1
        for campaign in campaigns:
            skipped = openid in audiences[campaign.id] and campaign.id not in got
            if skipped and order[campaign.id] < worst:
                # Only a higher-ranked campaign with the same content key may take its place.
                assert any(
                    by_id[c].content_key == campaign.content_key is not None
                    and order[c] < order[campaign.id]
                    for c in got
                )


@given(months(), st.integers(1, 5))
def test_plan_respects_slots_keys_and_priority(
    month: tuple[list[Campaign], dict[str, list[str]], dict[str, int]], limit: int
) -> None:
    """No follower exceeds its free slots, gets a key twice, or loses a higher one for a lower."""
    campaigns, audiences, used = month
    plan = plan_month(campaigns, audiences, used.__getitem__, limit=limit)
    _check(plan, campaigns, audiences, used, limit)
    for cid, members in plan.by_campaign.items():
        assert plan.dropped[cid] == len(audiences[cid]) - len(members)
        assert list(members) == sorted(members)


@given(months())
def test_plan_uses_every_free_slot_it_can(
    month: tuple[list[Campaign], dict[str, list[str]], dict[str, int]],
) -> None:
    """A follower left with a free slot was offered no other campaign it could take."""
    campaigns, audiences, used = month
    plan = plan_month(campaigns, audiences, used.__getitem__)
    by_id = {c.id: c for c in campaigns}
    for openid in OPENIDS:
        got = plan.by_follower.get(openid, ())
        if len(got) < max(0, 4 - used[openid]):
            taken = {by_id[c].content_key for c in got}
            for campaign in campaigns:
                if openid in audiences[campaign.id] and campaign.id not in got:
                    assert campaign.content_key in taken - {None}


@given(months(), st.randoms())
def test_plan_does_not_depend_on_input_order(
    month: tuple[list[Campaign], dict[str, list[str]], dict[str, int]], rnd: random.Random
) -> None:
    """Shuffling the campaigns and audiences changes nothing (ties rank by campaign id)."""
    campaigns, audiences, used = month
    shuffled = list(campaigns)
    rnd.shuffle(shuffled)
    reordered = {cid: rnd.sample(members, len(members)) for cid, members in audiences.items()}
    assert plan_month(shuffled, reordered, used.__getitem__) == plan_month(
        campaigns, audiences, used.__getitem__
    )


def test_high_priority_late_campaign_is_not_starved() -> None:
    """Four early low-priority campaigns leave the follower's last slot to the important one."""
    low = [Campaign(f"early{i}", EVERYONE, Text("x"), priority=0) for i in range(4)]
    high = Campaign("late-but-vital", EVERYONE, Text("y"), priority=10)
    audiences = {c.id: ["o1", "o2"] for c in [*low, high]}
    plan = plan_month([*low, high], audiences, {"o1": 0, "o2": 1}.__getitem__)
    assert plan.by_follower["o1"] == ("late-but-vital", "early0", "early1", "early2")
    assert plan.by_follower["o2"] == ("late-but-vital", "early0", "early1")
    assert plan.dropped == {"early0": 0, "early1": 0, "early2": 1, "early3": 2, "late-but-vital": 0}


def test_plan_month_refuses_bad_input() -> None:
    """Unknown or missing audiences, duplicate ids, bad limits and bad usage are typed errors."""
    one = Campaign("a", EVERYONE, Text("x"))
    with pytest.raises(DeliveryError):
        plan_month([one], {}, lambda _o: 0)
    with pytest.raises(DeliveryError):
        plan_month([one, one], {"a": []}, lambda _o: 0)
    with pytest.raises(DeliveryError):
        plan_month([one], {"a": ["o"]}, lambda _o: 0, limit=0)
    with pytest.raises(TypeError):
        plan_month([one], {"a": ["o"]}, lambda _o: -1)
