"""Delivery: campaigns from segment to WeChat through the quota ledger, A/B tests, slot planning.

A reference composition of `wxsegment.api`, `wxsegment.segment` and `wxsegment.quota`:
`plan` is a dry run; `execute` (and `async_execute`) reserves, stores each batch's layout in a
`DeliveryJournal`, sends it under its deterministic ``clientmsgid``, then commits, releases or
keeps it pending, and resumes after a crash without pushing anyone twice, while one run at a
time holds the campaign's lease. `split`, `run_ab_test` and `send_winner` run A/B tests;
`plan_month` spends each follower's monthly slots on the highest-priority campaigns. See
``docs/delivery.md`` for the invariants D1-D5.
"""

from __future__ import annotations

from wxsegment.delivery._ab import (
    ABTest,
    async_run_ab_test,
    async_send_winner,
    run_ab_test,
    send_winner,
    split,
)
from wxsegment.delivery._ab_metric import (
    article_read_rates,
    async_article_read_rates,
    async_send_winner_by_metric,
    pick_winner,
    send_winner_by_metric,
    winner_campaign,
)
from wxsegment.delivery._calendar import (
    DEFAULT_MAX_DELAY,
    Calendar,
    CalendarPlan,
    CampaignPlan,
    MonthPlan,
    async_run_due,
    plan_calendar,
    run_due,
)
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
    form_batches,
    is_definite_refusal,
    plan,
    resolve_audience,
)
from wxsegment.delivery._execute import (
    DEDUP_WINDOW,
    LEASE_TTL,
    MONTH_END_MARGIN,
    async_execute,
    execute,
    resolve_batch,
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
from wxsegment.delivery._journal import (
    BatchRecord,
    BatchState,
    CampaignBusyError,
    DeliveryJournal,
    JournalConflictError,
    Lease,
    LeaseLostError,
    MemoryJournal,
)
from wxsegment.delivery._journal_for import journal_for
from wxsegment.delivery._journal_postgres import PostgresJournal
from wxsegment.delivery._journal_prune import forget_campaign
from wxsegment.delivery._journal_redis import RedisJournal
from wxsegment.delivery._journal_sqlite import SQLiteJournal
from wxsegment.delivery._slots import SlotPlan, plan_month, rank
from wxsegment.delivery._titles import TitleCheck, check_title

__all__ = [
    "CLAIM_TTL",
    "DEDUP_WINDOW",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_DELAY",
    "LEASE_TTL",
    "MONTH_END_MARGIN",
    "ABTest",
    "BatchOutcome",
    "BatchRecord",
    "BatchResult",
    "BatchState",
    "Calendar",
    "CalendarPlan",
    "Campaign",
    "CampaignBusyError",
    "CampaignPlan",
    "ClaimStore",
    "DeliveryError",
    "DeliveryJournal",
    "FollowUp",
    "JournalConflictError",
    "Lease",
    "LeaseLostError",
    "MemoryClaimStore",
    "MemoryJournal",
    "MonthPlan",
    "Plan",
    "PostgresJournal",
    "RedisJournal",
    "Reminder",
    "Report",
    "ResumeMismatchError",
    "SQLiteJournal",
    "SlotPlan",
    "TemplateFallback",
    "TitleCheck",
    "WindowOutcome",
    "WindowSendReport",
    "article_read_rates",
    "async_article_read_rates",
    "async_execute",
    "async_follow_up",
    "async_run_ab_test",
    "async_run_due",
    "async_send_reminders",
    "async_send_winner",
    "async_send_winner_by_metric",
    "batch_clientmsgid",
    "check_title",
    "execute",
    "follow_up",
    "forget_campaign",
    "form_batches",
    "is_definite_refusal",
    "journal_for",
    "pick_winner",
    "plan",
    "plan_calendar",
    "plan_month",
    "rank",
    "resolve_audience",
    "resolve_batch",
    "run_ab_test",
    "run_due",
    "send_reminders",
    "send_winner",
    "send_winner_by_metric",
    "split",
    "winner_campaign",
]
