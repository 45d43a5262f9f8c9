"""The monthly slot planner: who gets which of the month's campaigns, by priority.

Each follower has a few slots left this month (four minus the pushes already committed or
pending). Sending campaigns in calendar order spends them first come, first served, so a
low-priority campaign early in the month can starve a high-priority one at its end. `plan_month`
decides up front instead, per follower, greedily by priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType

import attrs

from wxsegment.delivery._campaign import Campaign, DeliveryError, _unique_openids
from wxsegment.quota import MAX_PUSHES_PER_MONTH

__all__ = ["SlotPlan", "plan_month", "rank"]


def rank(campaigns: Iterable[Campaign]) -> list[Campaign]:
    """Campaigns in the order the planner serves them: priority high to low, then by id."""
    return sorted(campaigns, key=lambda c: (-c.priority, c.id))


@attrs.frozen
class SlotPlan:
    """The month's assignment, both ways, and what each campaign lost to the limit.

    ``by_campaign``: campaign id -> the followers to send it to (sorted), ready for
    `wxsegment.delivery.execute`. ``by_follower``: openid -> campaign ids in rank order
    (followers who get nothing are absent). ``dropped``: campaign id -> followers of its
    audience who do not get it (no slot left, or its content key went to a higher-ranked one).
    """

    by_campaign: Mapping[str, tuple[str, ...]]
    by_follower: Mapping[str, tuple[str, ...]]
    dropped: Mapping[str, int]


def plan_month(
    campaigns: Sequence[Campaign],
    audiences: Mapping[str, Iterable[str]],
    usage_lookup: Callable[[str], int],
    *,
    limit: int = MAX_PUSHES_PER_MONTH,
) -> SlotPlan:
    """Assign campaigns to followers: each follower's free slots go to its highest-ranked ones.

    ``audiences`` maps every campaign id to its followers; ``usage_lookup(openid)`` gives the
    pushes already used this month (e.g. ``ledger.usage(o, at=...)``'s committed + pending).
    A follower gets at most ``limit - used`` campaigns, never two with one ``content_key``,
    and a campaign is dropped for a follower only if every free slot went to higher-ranked ones
    (or its content key did). Ties in priority rank by campaign id. Pure: nothing is written.
    """
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, not {type(limit).__name__}")
    if limit < 1:
        raise DeliveryError(f"limit must be at least 1, got {limit}")
    if not callable(usage_lookup):
        raise TypeError("usage_lookup must be a callable taking an openid")
    campaigns = list(campaigns)
    for campaign in campaigns:
        if not isinstance(campaign, Campaign):
            raise TypeError(f"campaigns must be Campaign, got {type(campaign).__name__}")
    ids = [c.id for c in campaigns]
    if len(set(ids)) != len(ids):
        raise DeliveryError("campaign ids must be distinct")
    if set(audiences) != set(ids):
        raise DeliveryError("audiences must name exactly the planned campaigns")
    members = {cid: _unique_openids(audiences[cid]) for cid in ids}

    free: dict[str, int] = {}
    taken_keys: dict[str, set[str]] = {}
    by_campaign: dict[str, list[str]] = {}
    by_follower: dict[str, list[str]] = {}
    dropped: dict[str, int] = {}
    for campaign in rank(campaigns):
        chosen: list[str] = []
        lost = 0
        for openid in members[campaign.id]:
            if openid not in free:
                used = usage_lookup(openid)
                if isinstance(used, bool) or not isinstance(used, int) or used < 0:
                    raise TypeError(f"usage_lookup must return an int >= 0, got {used!r}")
                free[openid] = max(0, limit - used)
            keys = taken_keys.setdefault(openid, set())
            if free[openid] == 0 or (
                campaign.content_key is not None and campaign.content_key in keys
            ):
                lost += 1
                continue
            free[openid] -= 1
            if campaign.content_key is not None:
                keys.add(campaign.content_key)
            chosen.append(openid)
            by_follower.setdefault(openid, []).append(campaign.id)
        by_campaign[campaign.id] = chosen
        dropped[campaign.id] = lost
    return SlotPlan(
        by_campaign=MappingProxyType({cid: tuple(sorted(by_campaign[cid])) for cid in ids}),
        by_follower=MappingProxyType({o: tuple(c) for o, c in sorted(by_follower.items())}),
        dropped=MappingProxyType({cid: dropped[cid] for cid in ids}),
    )
