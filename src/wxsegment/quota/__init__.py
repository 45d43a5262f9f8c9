"""The quota ledger: no follower ever receives a fifth mass push in a natural month.

See ``docs/quota.md`` for the invariant, the two phases and the reconciliation procedure.
"""

from __future__ import annotations

from wxsegment.quota._memory import MemoryLedger, MemoryStore
from wxsegment.quota._postgres import PostgresLedger
from wxsegment.quota._redis import RedisLedger
from wxsegment.quota._sqlite import SQLiteLedger
from wxsegment.quota._types import (
    DEFAULT_ACCOUNT,
    MAX_PUSHES_PER_MONTH,
    PendingEntry,
    QuotaLedger,
    RefusalReason,
    Reservation,
    Transition,
    Usage,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "MAX_PUSHES_PER_MONTH",
    "MemoryLedger",
    "MemoryStore",
    "PendingEntry",
    "PostgresLedger",
    "QuotaLedger",
    "RedisLedger",
    "RefusalReason",
    "Reservation",
    "SQLiteLedger",
    "Transition",
    "Usage",
]
