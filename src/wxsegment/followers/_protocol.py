"""`FollowerStore`: what every follower store offers, and what a sync and event handlers use."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from wxsegment._model import Follower
from wxsegment.followers._report import ImportReport
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import Explanation, Segment

__all__ = ["FollowerStore"]


@runtime_checkable
class FollowerStore(Protocol):
    """A persistent home for followers, their tags and attributes, queried by segment."""

    @property
    def schema(self) -> AttributeSchema:
        """The attribute schema stored with the data."""
        ...

    def declare(self, kinds: Mapping[str, str]) -> AttributeSchema:
        """Declare more attributes (name to kind)."""
        ...

    def upsert(
        self, followers: Iterable[Follower], *, unless_changed_since: int | None = None
    ) -> ImportReport:
        """Store followers whole, except those written after ``unless_changed_since``."""
        ...

    def import_rows(self, rows: Iterable[Mapping[str, Any]]) -> ImportReport:
        """Merge CRM rows into the store; all or nothing."""
        ...

    def import_csv(self, path: str | os.PathLike[str]) -> ImportReport:
        """Merge the rows of a CSV file; all or nothing."""
        ...

    def import_frame(self, frame: Any) -> ImportReport:
        """Merge a data frame; all or nothing."""
        ...

    def get(self, openid: str) -> Follower | None:
        """One follower, or ``None``."""
        ...

    def followers(self, openids: Iterable[str]) -> Mapping[str, Follower]:
        """The known followers among ``openids``."""
        ...

    def select(self, segment: Segment, *, now: datetime) -> list[str]:
        """Sorted openids matching ``segment``."""
        ...

    def count(self, segment: Segment, *, now: datetime) -> int:
        """How many followers match ``segment``."""
        ...

    def explain(self, segment: Segment, *, now: datetime) -> Explanation:
        """Counts of ``segment`` and its sub-expressions."""
        ...

    def index(self) -> Any:
        """A `SegmentIndex` of every follower."""
        ...

    def version(self) -> int:
        """The change feed's position."""
        ...

    def changes(self, since: int) -> tuple[int, frozenset[str]]:
        """The feed's position and the openids written after ``since``."""
        ...

    def trim_changes(self, upto: int) -> None:
        """Drop feed entries up to ``upto``."""
        ...

    def mark_subscribed(self, openids: Iterable[str], *, at: datetime) -> int:
        """Known followers subscribed (again) at ``at``."""
        ...

    def mark_unsubscribed(
        self, openids: Iterable[str], *, at: datetime, unless_changed_since: int | None = None
    ) -> int:
        """Known followers unsubscribed at ``at``, except those written after the position."""
        ...

    def touch(self, openids: Iterable[str], *, at: datetime) -> int:
        """Move ``last_interaction_at`` forward to ``at``."""
        ...

    def add_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Tag known followers."""
        ...

    def remove_tags(self, openids: Iterable[str], names: Iterable[str]) -> None:
        """Untag followers."""
        ...

    def delete(self, openids: Iterable[str]) -> None:
        """Forget followers."""
        ...

    def set_tag_id(self, name: str, tag_id: int) -> None:
        """Map a tag name to its WeChat tag id."""
        ...

    def forget_tag_id(self, tag_id: int) -> None:
        """Drop a WeChat tag id's mapping."""
        ...

    def replace_tags(
        self, tag_ids: Mapping[int, str], members: Mapping[str, Iterable[str]]
    ) -> None:
        """Replace the tag-id map and the mapped tags' members."""
        ...

    def tags_of(self, openid: str) -> frozenset[str]:
        """The tag names recorded for ``openid``."""
        ...

    def tag_ids(self) -> Mapping[int, str]:
        """WeChat tag id to name."""
        ...

    def next_openid(self) -> str | None:
        """The follower pull's checkpoint."""
        ...

    def set_next_openid(self, value: str | None) -> None:
        """Record or clear the follower pull's checkpoint."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...
