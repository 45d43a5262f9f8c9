"""`StoreUpdates`: the built-in handlers' writes applied to a `wxsegment.followers` store.

Every write is idempotent and order-tolerant, as `FollowerUpdates` asks: a follow keeps the
latest subscribe time, an interaction only moves ``last_interaction_at`` forward, and the
earliest attribution wins. Attribution lands in declared attributes (``ATTRIBUTION_KINDS``), so
a segment can select on it (``attribution_channel == "门店"``) and a report can count it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue
from wxsegment.events._updates import Attribution
from wxsegment.followers import FollowerStore

__all__ = ["ATTRIBUTION_KINDS", "StoreUpdates"]

#: The attributes `StoreUpdates` declares for a follower's QR-code attribution.
ATTRIBUTION_KINDS: Final = {
    "attribution_scene": "str",
    "attribution_channel": "str",
    "attribution_store": "str",
    "attribution_activity": "str",
    "attribution_referrer": "str",
    "attribution_via": "str",
    "attribution_at": "datetime",
}


class StoreUpdates:
    """`wxsegment.events.FollowerUpdates` over a `FollowerStore`."""

    def __init__(self, store: FollowerStore) -> None:
        if not isinstance(store, FollowerStore):
            raise TypeError(f"store must be a FollowerStore, not {type(store).__name__}")
        self.store = store
        store.declare(dict(ATTRIBUTION_KINDS))

    def __repr__(self) -> str:
        return f"StoreUpdates({self.store!r})"

    def mark_subscribed(self, openid: str, *, at: datetime) -> None:
        """A follow: a new follower is created, a known one gets the later subscribe time."""
        ensure_aware(at, "at")
        known = self.store.get(openid)
        if known is None:
            self.store.import_rows([{"openid": openid, "subscribe_time": at, "subscribed": True}])
            return
        left = known.attributes.get("unsubscribed_at")
        if isinstance(left, datetime) and left >= at:
            return  # an unfollow after this follow has been recorded: a retried push
        subscribed = known.attributes.get("subscribed") is True
        if known.subscribe_time < at or (not subscribed and known.subscribe_time <= at):
            self.store.mark_subscribed([openid], at=at)

    def mark_unsubscribed(self, openid: str, *, at: datetime) -> None:
        """An unfollow: marked (never deleted); WeChat's own tags are dropped, as WeChat does."""
        ensure_aware(at, "at")
        known = self.store.get(openid)
        if known is None or known.subscribe_time > at:
            return  # a follow newer than this unfollow has been recorded
        self.store.mark_unsubscribed([openid], at=at)
        wechat = set(self.store.tag_ids().values()) & known.tags
        if wechat:
            self.store.remove_tags([openid], wechat)

    def touch(self, openid: str, *, at: datetime) -> None:
        """An interaction: ``last_interaction_at`` moves forward to ``at`` (never back)."""
        self.store.touch([openid], at=at)

    def apply_tags(self, openid: str, *, add: frozenset[str], remove: frozenset[str]) -> None:
        """Add and remove tag names on a known follower."""
        if add & remove:
            raise ValueError(f"tags both added and removed: {sorted(add & remove)!r}")
        if remove:
            self.store.remove_tags([openid], remove)
        if add:
            self.store.add_tags([openid], add)

    def set_attribution(self, openid: str, attribution: Attribution) -> None:
        """Record the QR scene a known follower came from; an earlier attribution is kept."""
        if not isinstance(attribution, Attribution):
            raise TypeError(f"expected an Attribution, not {type(attribution).__name__}")
        known = self.store.get(openid)
        if known is None:
            return
        kept = known.attributes.get("attribution_at")
        if isinstance(kept, datetime) and kept <= attribution.at:
            return
        row: dict[str, AttributeValue | None] = {
            "attribution_scene": attribution.scene,
            "attribution_channel": attribution.channel,
            "attribution_store": attribution.store,
            "attribution_activity": attribution.activity,
            "attribution_referrer": attribution.referrer,
            "attribution_via": attribution.via,
            "attribution_at": attribution.at,
        }
        self.store.import_rows([{"openid": openid, **row}])
