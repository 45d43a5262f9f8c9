"""Events: the built-in callback handlers that feed the window, the tags, the store and
mass-job reconciliation.

- `EventHandlers` — one chain, installed on a `wxsegment.api.callback.CallbackHandler`:
  interactions open the customer-service window (`wxsegment.quota.ServiceWindow`), QR scenes,
  keywords and menu clicks become tag changes (`wxsegment.tagging.RuleSet` + `TagSync`), and
  follows, unfollows, interactions, tags and attribution go to a `FollowerUpdates` store;
- `MassSendReconciler` — ``MASSSENDJOBFINISH`` compared with the application's delivery
  records (`ExpectedSends`), discrepancies reported as `Finding` values;
- `MemoryFollowerUpdates` — an in-memory `FollowerUpdates`.

See ``docs/callbacks.md``.
"""

from __future__ import annotations

from wxsegment.events._handlers import EventHandlers
from wxsegment.events._reconcile import (
    ExpectedSend,
    ExpectedSends,
    Finding,
    FindingKind,
    MassSendReconciler,
    Reconciliation,
    TemplateOutcome,
)
from wxsegment.events._store_updates import ATTRIBUTION_KINDS, StoreUpdates
from wxsegment.events._updates import (
    Attribution,
    FollowerRecord,
    FollowerUpdates,
    MemoryFollowerUpdates,
)

__all__ = [
    "ATTRIBUTION_KINDS",
    "Attribution",
    "EventHandlers",
    "ExpectedSend",
    "ExpectedSends",
    "Finding",
    "FindingKind",
    "FollowerRecord",
    "FollowerUpdates",
    "MassSendReconciler",
    "MemoryFollowerUpdates",
    "Reconciliation",
    "StoreUpdates",
    "TemplateOutcome",
]
