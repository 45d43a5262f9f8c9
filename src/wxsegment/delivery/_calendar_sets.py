"""The calendar assignment in plain Python (dicts and sets): used when numpy is not installed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

from wxsegment.delivery._calendar_reads import (
    Assignment,
    Decision,
    MonthWork,
    check_names,
    content_keys,
    holders_by_key,
    month_usage,
    resumed,
    wants_scan,
)
from wxsegment.quota import QuotaLedger

__all__ = ["assign_with_sets"]


def _assign(
    members: list[str], used: dict[str, int], limit: int, holders: set[str] | None
) -> tuple[list[str], int, int]:
    """One campaign's chosen members, refused for quota and for duplicates; updates the state.

    Run once per member of every campaign, so it is kept to a few dict and set operations.
    """
    chosen: list[str] = []
    add = chosen.append
    quota = duplicate = 0
    if holders is None:
        for openid in members:
            count = used[openid]
            if count >= limit:
                quota += 1
            else:
                add(openid)
                used[openid] = count + 1
        return chosen, quota, 0
    hold = holders.add
    for openid in members:
        if openid in holders:
            duplicate += 1
            continue
        count = used[openid]
        if count >= limit:
            quota += 1
        else:
            add(openid)
            used[openid] = count + 1
            hold(openid)
    return chosen, quota, duplicate


def assign_with_sets(
    months: Sequence[MonthWork],
    audiences: Mapping[str, Iterable[str]],
    ledger: QuotaLedger,
    stored: Mapping[str, Sequence[str]],
    *,
    scan_from: int,
) -> Assignment:
    """Assign the followers month by month; ``stored`` campaigns keep their audience."""
    matched: dict[str, list[str]] = {
        c.id: list(dict.fromkeys(audiences.get(c.id, ())))
        for work in months
        for c in work.campaigns
    }
    everyone = list(dict.fromkeys(chain.from_iterable(matched.values())))
    check_names(everyone)
    scan = wants_scan(ledger, len(everyone), scan_from)
    keys = content_keys(months)
    # Per content key, who holds it: the assignment loop then asks one set per follower.
    holders = {k: set(v) for k, v in holders_by_key(ledger, everyone, keys, scan=scan).items()}
    limit = ledger.limit
    decisions: dict[str, Decision] = {}
    slots: dict[str, tuple[int, ...]] = {}
    for work in months:
        crowd = list(dict.fromkeys(chain.from_iterable(matched[c.id] for c in work.campaigns)))
        used = dict.fromkeys(crowd, 0)
        found = month_usage(ledger, crowd, work.at, scan=scan)
        # A scan also lists followers outside the crowd; they take no part in the month.
        used.update((o, u.committed + u.pending) for o, u in found.items() if o in used)
        for campaign in work.campaigns:
            members = matched[campaign.id]
            if campaign.id in stored:
                decisions[campaign.id] = resumed(len(members), stored[campaign.id])
                continue
            key = campaign.content_key
            chosen, quota, duplicate = _assign(
                members, used, limit, None if key is None else holders[key]
            )
            decisions[campaign.id] = Decision(len(members), tuple(sorted(chosen)), quota, duplicate)
        counts = Counter(map(used.__getitem__, crowd))
        month_slots = [counts.get(n, 0) for n in range(limit + 1)]
        # External sends can take a follower past the limit: they count as full.
        month_slots[limit] += sum(count for n, count in counts.items() if n > limit)
        slots[work.month] = tuple(month_slots)
    return Assignment(decisions, slots)
