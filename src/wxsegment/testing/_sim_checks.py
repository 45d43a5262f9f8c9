"""The simulation's invariants, checked against FakeWeChat's own record of what it delivered.

The fake is the ground truth: its jobs say who received which push, and its monthly counts
include pushes made from the web console. The ledger is read through a plain handle, outside
any run, after the runs have stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from wxsegment._clock import month_key
from wxsegment.quota import QuotaLedger
from wxsegment.testing._fake import FakeWeChat

__all__ = ["ConsoleSend", "Violation", "check_deliveries", "check_settled"]


@attrs.frozen
class Violation:
    """One broken invariant: its name (see `wxsegment.testing.simulation`) and what broke it."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@attrs.frozen
class ConsoleSend:
    """A push the simulated operator made from WeChat's web console."""

    external_id: str
    openids: tuple[str, ...]
    at: datetime
    content_key: str | None


def _delivered(
    fake: FakeWeChat,
    campaign_of: Mapping[str, str],
    content_of: Mapping[str, str | None],
    console: Iterable[ConsoleSend],
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], list[Violation]]:
    by_campaign: Counter[tuple[str, str]] = Counter()
    by_content: Counter[tuple[str, str]] = Counter()
    violations: list[Violation] = []
    for job in fake.jobs.values():
        if job.filtered:
            violations.append(
                Violation(
                    "silent_filter",
                    f"WeChat filtered {list(job.filtered)} from job {job.msg_id} "
                    f"({job.clientmsgid}) at {job.created_at.isoformat()}: a fifth push was sent",
                )
            )
        campaign = campaign_of.get(job.clientmsgid or "")
        if campaign is None:
            violations.append(
                Violation("unknown_send", f"job {job.msg_id} ({job.clientmsgid}) has no run")
            )
            continue
        key = content_of.get(campaign)
        for openid in job.delivered:
            by_campaign[(campaign, openid)] += 1
            if key is not None:
                by_content[(key, openid)] += 1
    for send in console:
        if send.content_key is not None:
            for openid in send.openids:
                by_content[(send.content_key, openid)] += 1
    return by_campaign, by_content, violations


def check_deliveries(
    fake: FakeWeChat,
    ledger: QuotaLedger,
    openids: Sequence[str],
    months: Sequence[datetime],
    campaign_of: Mapping[str, str],
    content_of: Mapping[str, str | None],
    console: Iterable[ConsoleSend],
) -> list[Violation]:
    """The invariants that hold at every moment, faults or not (see the module docstring)."""
    by_campaign, by_content, violations = _delivered(fake, campaign_of, content_of, console)
    limit = fake.config.monthly_mass_limit
    for at in months:
        month = month_key(at)
        for openid in openids:
            delivered = fake.mass_received(openid, month)
            if delivered > limit:
                violations.append(
                    Violation("fifth_push", f"{openid} received {delivered} pushes in {month}")
                )
            usage = ledger.usage(openid, at=at)
            if usage.committed + usage.pending < delivered:
                violations.append(
                    Violation(
                        "ledger_under_count",
                        f"{openid} in {month}: WeChat delivered {delivered}, ledger holds "
                        f"{usage.committed} committed + {usage.pending} pending",
                    )
                )
    for (campaign, openid), count in sorted(by_campaign.items()):
        if count > 1:
            violations.append(
                Violation("pushed_twice", f"{openid} received campaign {campaign} {count} times")
            )
    for (key, openid), count in sorted(by_content.items()):
        if count > 1:
            violations.append(
                Violation("duplicate_content", f"{openid} received content {key} {count} times")
            )
    return violations


def check_settled(
    fake: FakeWeChat, ledger: QuotaLedger, openids: Sequence[str], months: Sequence[datetime]
) -> list[Violation]:
    """After faults stop and every campaign was resumed: nothing pending, ledger == WeChat."""
    violations = [
        Violation(
            "unsettled",
            f"{entry.openid} still pending for {entry.campaign} in {entry.month} "
            f"(reserved {entry.reserved_at.isoformat()})",
        )
        for entry in ledger.pending()
    ]
    for at in months:
        month = month_key(at)
        for openid in openids:
            delivered = fake.mass_received(openid, month)
            committed = ledger.usage(openid, at=at).committed
            if committed > delivered:
                violations.append(
                    Violation(
                        "committed_undelivered",
                        f"{openid} in {month}: ledger committed {committed}, "
                        f"WeChat delivered {delivered}",
                    )
                )
    return violations
