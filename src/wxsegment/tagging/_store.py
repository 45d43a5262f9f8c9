"""Where the sync keeps the account's tags and who carries them: a protocol, a dict, a store."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from wxsegment._model import Follower
from wxsegment.followers import FollowerStore

__all__ = ["FollowerTagStore", "MemoryTagStore", "TagStore"]


@runtime_checkable
class TagStore(Protocol):
    """Tag ids and names of the account, and the tag ids each follower carries."""

    def replace(self, tags: Mapping[int, str], members: Mapping[str, Iterable[int]]) -> None:
        """Replace everything (what `TagSync.pull` does)."""
        ...

    def set_tag(self, tag_id: int, name: str) -> None:
        """Record a tag (created or renamed)."""
        ...

    def change(
        self, openids: Iterable[str], *, add: int | None = None, remove: int | None = None
    ) -> None:
        """Add tag id ``add`` to, or remove ``remove`` from, each of ``openids``."""
        ...

    def tags(self) -> Mapping[int, str]:
        """Every known tag, id to name."""
        ...

    def tag_ids_of(self, openid: str) -> frozenset[int]:
        """The tag ids of a follower (empty when unknown)."""
        ...


class MemoryTagStore:
    """A `TagStore` in dicts; also rebuilds `Follower` values with tag names."""

    def __init__(self) -> None:
        self._tags: dict[int, str] = {}
        self._members: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTagStore(tags={len(self._tags)}, followers={len(self._members)})"

    def replace(self, tags: Mapping[int, str], members: Mapping[str, Iterable[int]]) -> None:
        """Replace everything (what `TagSync.pull` does)."""
        fresh_tags = {int(tag_id): str(name) for tag_id, name in tags.items()}
        fresh = {openid: set(ids) for openid, ids in members.items()}
        with self._lock:
            self._tags = fresh_tags
            self._members = fresh

    def set_tag(self, tag_id: int, name: str) -> None:
        """Record a tag (created or renamed)."""
        with self._lock:
            self._tags[tag_id] = name

    def change(
        self, openids: Iterable[str], *, add: int | None = None, remove: int | None = None
    ) -> None:
        """Add tag id ``add`` to, or remove ``remove`` from, each of ``openids``."""
        with self._lock:
            for openid in openids:
                ids = self._members.setdefault(openid, set())
                if add is not None:
                    ids.add(add)
                if remove is not None:
                    ids.discard(remove)

    def tags(self) -> Mapping[int, str]:
        """Every known tag, id to name."""
        with self._lock:
            return MappingProxyType(dict(self._tags))

    def tag_ids_of(self, openid: str) -> frozenset[int]:
        """The tag ids of a follower (empty when unknown)."""
        with self._lock:
            return frozenset(self._members.get(openid, ()))

    def names_of(self, openid: str) -> frozenset[str]:
        """The tag names of a follower, ready for ``Follower(tags=...)``."""
        with self._lock:
            return frozenset(
                self._tags[i] for i in self._members.get(openid, ()) if i in self._tags
            )

    def openids(self) -> frozenset[str]:
        """The known followers: those pulled or changed, tagged or not."""
        with self._lock:
            return frozenset(self._members)

    def follower(self, openid: str, *, subscribe_time: datetime, **fields: Any) -> Follower:
        """A `Follower` with the stored tag names; other fields as for `Follower` itself."""
        return Follower(openid, subscribe_time, tags=self.names_of(openid), **fields)


class FollowerTagStore:
    """A `TagStore` over a `FollowerStore`: WeChat tag ids map to the store's tag names.

    Memberships live in the follower store itself, so segments over the store see what the
    sync pulled and applied.
    """

    def __init__(self, store: FollowerStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"FollowerTagStore({self.store!r})"

    def replace(self, tags: Mapping[int, str], members: Mapping[str, Iterable[int]]) -> None:
        """Replace the tag ids and the members of every WeChat tag (what `TagSync.pull` does)."""
        names = {int(tag_id): str(name) for tag_id, name in tags.items()}
        groups: dict[str, set[str]] = {name: set() for name in names.values()}
        for openid, ids in members.items():
            for tag_id in ids:
                if tag_id in names:
                    groups[names[tag_id]].add(openid)
        self.store.replace_tags(names, groups)

    def set_tag(self, tag_id: int, name: str) -> None:
        """Record a tag (created or renamed; a rename keeps its members)."""
        self.store.set_tag_id(name, tag_id)

    def change(
        self, openids: Iterable[str], *, add: int | None = None, remove: int | None = None
    ) -> None:
        """Add tag id ``add`` to, or remove ``remove`` from, each of ``openids``."""
        listed = list(openids)
        names = self.store.tag_ids()
        for tag_id in (add, remove):
            if tag_id is not None and tag_id not in names:
                raise LookupError(f"tag id {tag_id} is not known to the store; set_tag it first")
        if remove is not None:
            self.store.remove_tags(listed, [names[remove]])
        if add is not None:
            self.store.add_tags(listed, [names[add]])

    def tags(self) -> Mapping[int, str]:
        """Every known tag, id to name."""
        return MappingProxyType(dict(self.store.tag_ids()))

    def tag_ids_of(self, openid: str) -> frozenset[int]:
        """The WeChat tag ids of a follower's tags (tags without an id are left out)."""
        ids = {name: tag_id for tag_id, name in self.store.tag_ids().items()}
        return frozenset(ids[name] for name in self.store.tags_of(openid) if name in ids)
