"""`EventHandlers`: the built-in chain that turns pushes into state.

For one push, everything is worked out first (interaction kind, tag changes, attribution),
then applied in this order: WeChat's tags and the tag store (through `TagSync`), the
customer-service window, the follower store. Each step is idempotent, so when a later step
fails the claim is released (see `CallbackHandler`), WeChat delivers again, and the re-run
completes the work without applying anything twice.
"""

from __future__ import annotations

import logging

from wxsegment.api.callback import (
    CallbackHandler,
    Event,
    LocationEvent,
    MassSendJobFinishEvent,
    Message,
    ScanEvent,
    SubscribeEvent,
    TemplateSendJobFinishEvent,
    UnknownEvent,
    UnsubscribeEvent,
)
from wxsegment.events._reconcile import MassSendReconciler
from wxsegment.events._updates import Attribution, FollowerUpdates
from wxsegment.quota import Interaction, ServiceWindow
from wxsegment.tagging import RuleSet, SceneError, TagChanges, TagSync

__all__ = ["EventHandlers"]

_log = logging.getLogger("wxsegment.events")


class EventHandlers:
    """The built-in handlers, each optional: window, tag rules and sync, store, reconciliation.

    ``install(endpoint)`` registers the chain for every push. ``attribute_scans`` also records
    the attribution of a ``SCAN`` by someone who already follows (kept only if none exists).
    """

    def __init__(
        self,
        *,
        window: ServiceWindow | None = None,
        rules: RuleSet | None = None,
        tag_sync: TagSync | None = None,
        updates: FollowerUpdates | None = None,
        reconciler: MassSendReconciler | None = None,
        attribute_scans: bool = False,
    ) -> None:
        if tag_sync is not None and rules is None:
            raise ValueError("tag_sync needs rules to produce tag changes")
        self.window = window
        self.rules = rules
        self.tag_sync = tag_sync
        self.updates = updates
        self.reconciler = reconciler
        self.attribute_scans = attribute_scans

    def __repr__(self) -> str:
        parts = [
            name
            for name in ("window", "rules", "tag_sync", "updates", "reconciler")
            if getattr(self, name) is not None
        ]
        return f"EventHandlers({', '.join(parts)})"

    def install(self, endpoint: CallbackHandler, *, background: bool = False) -> None:
        """Register the chain on ``endpoint`` for every push (``background``: after the reply)."""
        endpoint.add("*", self, background=background)

    def __call__(self, push: Message | Event) -> None:
        """Apply one push (a `PushHandler`; it never replies)."""
        if isinstance(push, MassSendJobFinishEvent):
            if self.reconciler is not None:
                self.reconciler.reconcile(push)
            return
        if isinstance(push, TemplateSendJobFinishEvent):
            if self.reconciler is not None:
                self.reconciler.record_template(push)
            return
        if isinstance(push, UnknownEvent):
            # Not known to come from a follower (PUBLISHJOBFINISH comes from the platform).
            return
        openid, at = push.from_user_name, push.create_time
        kind = Interaction.from_callback(
            push.msg_type, push.event if isinstance(push, Event) else None
        )
        changes = self._changes(push)
        attribution = self._attribution(push)
        if changes is not None and not changes.empty and self.tag_sync is not None:
            self.tag_sync.apply([changes])
        if kind is not None and self.window is not None:
            self.window.record(openid, kind, at=at)
        updates = self.updates
        if updates is None:
            return
        if isinstance(push, UnsubscribeEvent):
            updates.mark_unsubscribed(openid, at=at)
            return
        if isinstance(push, SubscribeEvent):
            updates.mark_subscribed(openid, at=at)
        if not isinstance(push, LocationEvent):
            # LOCATION is reported by the client on its own, not done by the follower.
            updates.touch(openid, at=at)
        if changes is not None and not changes.empty:
            updates.apply_tags(openid, add=changes.add, remove=changes.remove)
        if attribution is not None:
            updates.set_attribution(openid, attribution)

    def _changes(self, push: Message | Event) -> TagChanges | None:
        if self.rules is None or isinstance(push, UnsubscribeEvent):
            return None
        try:
            return self.rules.changes(push)
        except SceneError as error:
            # A damaged scene cannot become valid on a retry: tag nothing, keep the rest.
            _log.warning("scene of a push from %s ignored: %s", push.from_user_name, error)
            return None

    def _attribution(self, push: Message | Event) -> Attribution | None:
        if isinstance(push, SubscribeEvent):
            via = "subscribe"
        elif isinstance(push, ScanEvent) and self.attribute_scans:
            via = "scan"
        else:
            return None
        if not push.scene:
            return None
        decoded = None
        if self.rules is not None:
            try:
                decoded = self.rules.scene_of(push)
            except SceneError:
                decoded = None
        return Attribution(
            scene=push.scene,
            at=push.create_time,
            ticket=push.ticket,
            channel=decoded.channel if decoded is not None else None,
            store=decoded.store if decoded is not None else None,
            activity=decoded.activity if decoded is not None else None,
            referrer=decoded.referrer if decoded is not None else None,
            via=via,
        )
