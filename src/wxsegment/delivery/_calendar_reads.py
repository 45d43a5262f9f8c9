"""What both calendar assigners share: the work of one month, its result, and the ledger reads.

A plan over most of the account reads the ledger with whole-account scans
(`ScanningLedger.month_usage`, `ScanningLedger.content_holders`) when the ledger offers them;
a smaller one asks for its followers only (`QuotaLedger.usage_many`,
`QuotaLedger.held_content`), which costs a lookup per follower but no pass over the account.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Final

import attrs

from wxsegment.delivery._campaign import Campaign
from wxsegment.quota import MAX_OPENID_LENGTH, QuotaLedger, ScanningLedger, Usage

__all__ = [
    "SCAN_FROM",
    "Assignment",
    "Decision",
    "MonthWork",
    "check_names",
    "content_keys",
    "holders_by_key",
    "month_usage",
    "resumed",
    "wants_scan",
]

#: From this many distinct followers in a calendar's audiences on, a ledger that can scan the
#: whole account is read that way: below it, the account may hold far more than is asked.
SCAN_FROM: Final = 100_000


@attrs.frozen
class MonthWork:
    """One month of a calendar: when it is read (its first send) and its campaigns, in the
    order they take slots (highest priority first)."""

    month: str
    at: datetime
    campaigns: tuple[Campaign, ...]


@attrs.frozen
class Decision:
    """One campaign's outcome: matched (distinct), its sorted audience and the refusals."""

    matched: int
    audience: tuple[str, ...]
    dropped_quota: int
    dropped_duplicate: int
    started: bool = False


@attrs.frozen
class Assignment:
    """Every campaign's decision, and per month ``slots[n]``: followers ending at ``n`` pushes."""

    campaigns: Mapping[str, Decision]
    months: Mapping[str, tuple[int, ...]]


def content_keys(months: Sequence[MonthWork]) -> list[str]:
    """The content keys the calendar's campaigns carry, sorted."""
    return sorted({c.content_key for w in months for c in w.campaigns if c.content_key is not None})


def resumed(matched: int, stored: Sequence[str]) -> Decision:
    """A started campaign's decision: its reservations already count in the month's usage."""
    return Decision(matched, tuple(stored), 0, 0, started=True)


def wants_scan(ledger: QuotaLedger, followers: int, scan_from: int) -> bool:
    """Whether to read ``ledger`` with whole-account scans for this many followers."""
    return followers >= scan_from and isinstance(ledger, ScanningLedger)


def check_names(names: Sequence[str]) -> None:
    """Refuse what no ledger would take as an openid, as the per-follower reads would."""
    if set(map(type, names)) - {str}:
        bad = next(name for name in names if not isinstance(name, str))
        raise TypeError(f"audiences must hold openid strings, got {type(bad).__name__}")
    if "" in names:
        raise ValueError("audiences must not hold empty openids")
    longest = max(map(len, names), default=0)
    if longest > MAX_OPENID_LENGTH:
        raise ValueError(
            f"openids must be at most {MAX_OPENID_LENGTH} characters, got one of {longest}"
        )


def holders_by_key(
    ledger: QuotaLedger, everyone: Sequence[str], keys: Sequence[str], *, scan: bool
) -> dict[str, Collection[str]]:
    """Per content key, who holds it; with ``scan``, also followers outside ``everyone``."""
    if not keys:
        return {}
    if scan:
        assert isinstance(ledger, ScanningLedger)
        found = ledger.content_holders(keys)
        return {key: found.get(key, frozenset()) for key in keys}
    holders: dict[str, set[str]] = {key: set() for key in keys}
    for openid, held in ledger.held_content(everyone, keys).items():
        for key in held:
            if key in holders:
                holders[key].add(openid)
    return dict(holders)


def month_usage(
    ledger: QuotaLedger, crowd: Sequence[str], at: datetime, *, scan: bool
) -> Mapping[str, Usage]:
    """Usage in the month of ``at``: of ``crowd``, or with ``scan`` of everyone with pushes.

    Followers missing from the answer have no push that month.
    """
    if scan:
        assert isinstance(ledger, ScanningLedger)
        return ledger.month_usage(at=at)
    return ledger.usage_many(crowd, at=at)
