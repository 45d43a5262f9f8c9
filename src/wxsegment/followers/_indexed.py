"""`IndexedStore`: a store and a `SegmentIndex` of it kept current from the change feed.

Invariant: after `refresh`, the index holds exactly the followers the store held at some
instant during the call. The feed position is read before anything it covers, and replaying a
change re-reads the follower's current state, so a change seen twice is harmless and none is
missed.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from wxsegment.followers._errors import StaleVersionError
from wxsegment.followers._protocol import FollowerStore
from wxsegment.segment import Segment

__all__ = ["IndexedStore"]


class IndexedStore:
    """Holds ``store.index()`` and applies only what changed since, on each `refresh`."""

    def __init__(self, store: FollowerStore) -> None:
        self.store = store
        self._version = store.version()
        self._index = store.index()

    def __repr__(self) -> str:
        return f"IndexedStore({self.store!r}, version={self._version})"

    @property
    def version(self) -> int:
        """The feed position the index reflects."""
        return self._version

    @property
    def index(self) -> Any:
        """The `SegmentIndex` as of the last refresh."""
        return self._index

    def refresh(self) -> int:
        """Apply the changes written since the last refresh; return how many followers changed.

        If the store trimmed its feed past this index's position, the index is rebuilt whole.
        """
        try:
            version, openids = self.store.changes(self._version)
        except StaleVersionError:
            self._version = self.store.version()
            self._index = self.store.index()
            return len(self._index)
        from wxsegment.segment import UnknownFollowerError

        current = self.store.followers(openids)
        index = self._index
        for openid in sorted(openids):
            # Each lookup of an openid costs a binary search: remove and learn whether it was
            # indexed in one, rather than asking first.
            with contextlib.suppress(UnknownFollowerError):
                index.remove(openid)
            follower = current.get(openid)
            if follower is not None:
                index.add(follower)
        self._version = version
        return len(openids)

    def select(self, segment: Segment, *, now: datetime) -> list[str]:
        """Refresh, check ``segment`` against the schema, and list its openids from the index."""
        self.refresh()
        self.store.schema.check_segment(segment)
        return sorted(self._index.evaluate(segment, now=now))

    def count(self, segment: Segment, *, now: datetime) -> int:
        """Refresh, check ``segment`` against the schema, and count it with the index."""
        self.refresh()
        self.store.schema.check_segment(segment)
        return int(self._index.count(segment, now=now))
