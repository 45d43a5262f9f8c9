"""The quota ledger: no follower ever receives a fifth mass push in a natural month.

Also the customer-service window (`ServiceWindow`), which never touches the monthly quota.
See ``docs/quota.md`` for the invariant, the two phases, the reconciliation procedure and the
window's rules.
"""

from __future__ import annotations

from wxsegment.quota._memory import MemoryLedger, MemoryStore
from wxsegment.quota._postgres import PostgresLedger
from wxsegment.quota._redis import RedisLedger
from wxsegment.quota._sqlite import SQLiteLedger
from wxsegment.quota._types import (
    DEFAULT_ACCOUNT,
    MAX_ID_LENGTH,
    MAX_LIMIT,
    MAX_OPENID_LENGTH,
    MAX_PUSHES_PER_MONTH,
    ConnectionBusyError,
    NotDurableError,
    PendingEntry,
    QuotaLedger,
    RefusalReason,
    Reservation,
    ScanningLedger,
    Transition,
    Usage,
)
from wxsegment.quota._window import (
    DEFAULT_WINDOW_POLICY,
    Allowance,
    Consumption,
    Interaction,
    Overlap,
    ServiceWindow,
    WindowHistory,
    WindowPolicy,
    WindowRefusal,
    WindowRule,
    WindowStore,
)
from wxsegment.quota._window_postgres import PostgresWindowStore
from wxsegment.quota._window_redis import RedisWindowStore
from wxsegment.quota._window_stores import MemoryWindowStore, SQLiteWindowStore

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_WINDOW_POLICY",
    "MAX_ID_LENGTH",
    "MAX_LIMIT",
    "MAX_OPENID_LENGTH",
    "MAX_PUSHES_PER_MONTH",
    "Allowance",
    "ConnectionBusyError",
    "Consumption",
    "Interaction",
    "MemoryLedger",
    "MemoryStore",
    "MemoryWindowStore",
    "NotDurableError",
    "Overlap",
    "PendingEntry",
    "PostgresLedger",
    "PostgresWindowStore",
    "QuotaLedger",
    "RedisLedger",
    "RedisWindowStore",
    "RefusalReason",
    "Reservation",
    "SQLiteLedger",
    "SQLiteWindowStore",
    "ScanningLedger",
    "ServiceWindow",
    "Transition",
    "Usage",
    "WindowHistory",
    "WindowPolicy",
    "WindowRefusal",
    "WindowRule",
    "WindowStore",
]
