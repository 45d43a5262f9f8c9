"""The calendar assignment over numpy arrays: each follower an integer, each state an array.

Openids are numbered once (one dict operation per audience member), in sorted order, so a
campaign's members are a sorted array of ranks and its chosen audience comes out sorted
without comparing strings again. A month's pushes are one small-int array; a content key's
holders one boolean array. A campaign then takes, in one vectorised step, the members with a
slot left and without its key, and adds one push to each of them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

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
from wxsegment.quota import QuotaLedger, Usage

__all__ = ["assign_with_arrays"]

_Ranks = npt.NDArray[np.intp]

_committed = attrgetter("committed")
_pending = attrgetter("pending")


class _Numbering:
    """Openids as ranks 0..n-1 in sorted order, and back."""

    def __init__(self, index: dict[str, int]) -> None:
        # `index` numbers openids in first-seen order; ranks follow the sorted order.
        self._index = index
        names = list(index)
        check_names(names)
        order = np.fromiter(
            sorted(range(len(names)), key=names.__getitem__), dtype=np.intp, count=len(names)
        )
        self._rank = np.empty(len(names), dtype=np.intp)
        self._rank[order] = np.arange(len(names), dtype=np.intp)
        self.names = np.array(names, dtype=object)[order]
        self.size = len(names)

    def ranks(self, ids: npt.NDArray[np.intp]) -> _Ranks:
        """The ranks of first-seen numbers."""
        return self._rank[ids]

    def find(self, openids: Collection[str]) -> tuple[_Ranks, npt.NDArray[np.bool_]]:
        """The ranks of those of ``openids`` in the audiences, and which of them those are."""
        ids = np.fromiter(
            map(self._index.get, openids, repeat(-1)), dtype=np.intp, count=len(openids)
        )
        inside = ids >= 0
        return self._rank[ids[inside]], inside

    def openids(self, ranks: _Ranks) -> tuple[str, ...]:
        """The openids of ``ranks``, in their order."""
        found: list[str] = self.names[ranks].tolist()
        return tuple(found)


def _number(
    months: Sequence[MonthWork], audiences: Mapping[str, Iterable[str]]
) -> tuple[_Numbering, dict[str, _Ranks]]:
    """Every campaign's distinct members as sorted ranks."""
    index: dict[str, int] = {}
    # Read lazily by map: each new openid gets the count of openids numbered before it.
    next_number = map(len, repeat(index))
    raw: dict[str, npt.NDArray[np.intp]] = {}
    for work in months:
        for campaign in work.campaigns:
            listed = audiences.get(campaign.id, ())
            raw[campaign.id] = np.fromiter(
                map(index.setdefault, listed, next_number), dtype=np.intp
            )
    numbering = _Numbering(index)
    return numbering, {
        cid: _distinct(numbering.ranks(ids), numbering.size) for cid, ids in raw.items()
    }


def _distinct(ranks: _Ranks, size: int) -> _Ranks:
    """The distinct ``ranks``, ascending.

    Ranks are below ``size``, so marking them in a boolean array is one linear pass;
    `numpy.unique` hashes or sorts, many times slower on a million ranks.
    """
    seen = np.zeros(size, dtype=bool)
    seen[ranks] = True
    return np.flatnonzero(seen)


def _counts(
    numbering: _Numbering, found: Mapping[str, Usage], limit: int, dtype: Any
) -> npt.NDArray[Any]:
    """Pushes used per follower rank, capped at ``limit`` (beyond it a follower is just full)."""
    counts = np.zeros(numbering.size, dtype=dtype)
    if found:
        ranks, inside = numbering.find(found)
        usages = list(found.values())
        committed = np.fromiter(map(_committed, usages), dtype=np.int64, count=len(usages))
        pending = np.fromiter(map(_pending, usages), dtype=np.int64, count=len(usages))
        counts[ranks] = np.minimum(committed + pending, limit)[inside]
    return counts


def assign_with_arrays(
    months: Sequence[MonthWork],
    audiences: Mapping[str, Iterable[str]],
    ledger: QuotaLedger,
    stored: Mapping[str, Sequence[str]],
    *,
    scan_from: int,
) -> Assignment:
    """Assign the followers month by month; ``stored`` campaigns keep their audience."""
    numbering, members = _number(months, audiences)
    scan = wants_scan(ledger, numbering.size, scan_from)
    everyone: list[str] = [] if scan else numbering.names.tolist()
    keys = content_keys(months)
    held: dict[str, npt.NDArray[np.bool_]] = {}
    for key, holders in holders_by_key(ledger, everyone, keys, scan=scan).items():
        held[key] = np.zeros(numbering.size, dtype=bool)
        held[key][numbering.find(holders)[0]] = True
    limit = ledger.limit
    # The limit is at most MAX_LIMIT (1000): counts capped at it fit in 16 bits.
    count_type = np.int8 if limit < 127 else np.int16
    decisions: dict[str, Decision] = {}
    slots: dict[str, tuple[int, ...]] = {}
    for work in months:
        crowd = np.zeros(numbering.size, dtype=bool)
        for campaign in work.campaigns:
            crowd[members[campaign.id]] = True
        names: list[str] = [] if scan else numbering.names[crowd].tolist()
        found = month_usage(ledger, names, work.at, scan=scan)
        counts = _counts(numbering, found, limit, count_type)
        for campaign in work.campaigns:
            mine = members[campaign.id]
            if campaign.id in stored:
                decisions[campaign.id] = resumed(len(mine), stored[campaign.id])
                continue
            free = counts[mine] < limit
            duplicate = 0
            if campaign.content_key is not None:
                had = held[campaign.content_key][mine]
                duplicate = int(np.count_nonzero(had))
                free &= ~had
            chosen = mine[free]
            counts[chosen] += 1
            if campaign.content_key is not None:
                held[campaign.content_key][chosen] = True
            quota = len(mine) - duplicate - len(chosen)
            decisions[campaign.id] = Decision(
                len(mine), numbering.openids(chosen), quota, duplicate
            )
        month_slots = np.bincount(counts[crowd], minlength=limit + 1)
        slots[work.month] = tuple(int(n) for n in month_slots)
    return Assignment(decisions, slots)
