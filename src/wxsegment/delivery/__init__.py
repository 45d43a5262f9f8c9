"""Delivery: campaigns from segment to WeChat through the quota ledger, A/B tests, slot planning.

A reference composition of `wxsegment.api`, `wxsegment.segment` and `wxsegment.quota`:
`plan` is a dry run, `execute` reserves, sends in batches with deterministic ``clientmsgid``\\s,
commits or releases, and resumes after a crash without pushing anyone twice. `split`,
`run_ab_test` and `send_winner` run A/B tests; `plan_month` spends each follower's monthly
slots on the highest-priority campaigns. See ``docs/delivery.md``.
"""

from __future__ import annotations

from wxsegment.delivery._ab import ABTest, run_ab_test, send_winner, split
from wxsegment.delivery._campaign import (
    DEFAULT_BATCH_SIZE,
    BatchOutcome,
    BatchResult,
    Campaign,
    DeliveryError,
    Plan,
    Report,
    ResumeMismatchError,
    batch_clientmsgid,
    execute,
    form_batches,
    is_definite_refusal,
    plan,
    resolve_audience,
)
from wxsegment.delivery._followups import (
    CLAIM_TTL,
    ClaimStore,
    FollowUp,
    MemoryClaimStore,
    Reminder,
    TemplateFallback,
    WindowOutcome,
    WindowSendReport,
    async_follow_up,
    async_send_reminders,
    follow_up,
    send_reminders,
)
from wxsegment.delivery._slots import SlotPlan, plan_month, rank
from wxsegment.delivery._titles import TitleCheck, check_title

__all__ = [
    "CLAIM_TTL",
    "DEFAULT_BATCH_SIZE",
    "ABTest",
    "BatchOutcome",
    "BatchResult",
    "Campaign",
    "ClaimStore",
    "DeliveryError",
    "FollowUp",
    "MemoryClaimStore",
    "Plan",
    "Reminder",
    "Report",
    "ResumeMismatchError",
    "SlotPlan",
    "TemplateFallback",
    "TitleCheck",
    "WindowOutcome",
    "WindowSendReport",
    "async_follow_up",
    "async_send_reminders",
    "batch_clientmsgid",
    "check_title",
    "execute",
    "follow_up",
    "form_batches",
    "is_definite_refusal",
    "plan",
    "plan_month",
    "rank",
    "resolve_audience",
    "run_ab_test",
    "send_reminders",
    "send_winner",
    "split",
]
