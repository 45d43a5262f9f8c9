"""`TagSync`: push tag changes to WeChat with the fewest calls; pull memberships into a store.

Invariants: nothing is created or changed when a limit would be passed (100 tags per account,
20 per follower); each tag gets at most one group of ``batchuntagging`` and one group of
``batchtagging`` calls (50 openids each); changes already in place cause no call, so
re-applying the same changes is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import attrs

from wxsegment.api import MAX_TAGS_PER_ACCOUNT, MAX_TAGS_PER_FOLLOWER, TAGGING_BATCH_MAX, Client
from wxsegment.tagging._errors import TooManyAccountTagsError, TooManyFollowerTagsError
from wxsegment.tagging._rules import TagChanges
from wxsegment.tagging._store import TagStore

__all__ = ["RESERVED_TAG_IDS", "SyncPlan", "SyncReport", "TagSync"]

#: System tags (legacy groups 0, 1, 2) that WeChat lists but that are not the account's own.
RESERVED_TAG_IDS: Final = frozenset({0, 1, 2})


def _freeze(groups: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    # The order of the groups is kept: it is the order in which tags are applied.
    return MappingProxyType({name: tuple(sorted(openids)) for name, openids in groups.items()})


def _in_order(groups: Mapping[str, set[str]], last: Sequence[str]) -> dict[str, set[str]]:
    """``groups`` by name, except that the names in ``last`` come at the end, in that order."""
    rank = {name: index for index, name in enumerate(last)}
    return {
        name: groups[name] for name in sorted(groups, key=lambda n: (n in rank, rank.get(n, 0), n))
    }


def _frozen_ids(ids: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(ids))


@attrs.frozen(kw_only=True)
class SyncPlan:
    """What `TagSync.apply` will do: tags to create, and per tag name the openids to change.

    ``untag`` and ``tag`` are in the order the writes are made; see `TagSync`'s ``tag_order``.
    """

    tag_ids: Mapping[str, int] = attrs.field(converter=_frozen_ids)
    create: tuple[str, ...]
    untag: Mapping[str, tuple[str, ...]] = attrs.field(converter=_freeze)
    tag: Mapping[str, tuple[str, ...]] = attrs.field(converter=_freeze)

    @property
    def write_calls(self) -> int:
        """How many writes WeChat will see: creates plus (un)tagging batches of 50."""
        batches = sum(
            -(-len(openids) // TAGGING_BATCH_MAX)
            for group in (self.untag, self.tag)
            for openids in group.values()
        )
        return len(self.create) + batches


@attrs.frozen(kw_only=True)
class SyncReport:
    """What `TagSync.apply` did: tags created (name to id) and memberships changed."""

    created: Mapping[str, int]
    tagged: int
    untagged: int


def _merge(changes: Iterable[TagChanges]) -> dict[str, tuple[set[str], set[str]]]:
    merged: dict[str, tuple[set[str], set[str]]] = {}
    for change in changes:
        if not isinstance(change, TagChanges):
            raise TypeError(f"expected TagChanges, not {type(change).__name__}")
        add, remove = merged.setdefault(change.openid, (set(), set()))
        add.difference_update(change.remove)
        remove.difference_update(change.add)
        add.update(change.add)
        remove.update(change.remove)
    return merged


def _check_limit(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


class TagSync:
    """Applies `TagChanges` to WeChat through a `Client` and pulls memberships into a store.

    With a ``store`` the followers' current tags are read from it (and it is kept up to date);
    without one each changed follower's tags are read with ``tags/getidlist``. The limits are
    WeChat's documented ones; pass others if WeChat changes them.

    Tags are applied by name, except that those named in ``tag_order`` are applied last, in
    that order. The order matters for conditional menus: WeChat matches a menu on the tag a
    follower received most recently, so put the tag whose menu should win last.
    """

    def __init__(
        self,
        client: Client,
        *,
        store: TagStore | None = None,
        max_tags: int = MAX_TAGS_PER_ACCOUNT,
        max_tags_per_follower: int = MAX_TAGS_PER_FOLLOWER,
        reserved_tag_ids: Iterable[int] = RESERVED_TAG_IDS,
        tag_order: Sequence[str] = (),
    ) -> None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a wxsegment.api.Client, not {type(client).__name__}")
        self.client: Final = client
        self.store: Final = store
        self.max_tags: Final = _check_limit(max_tags, "max_tags")
        self.max_tags_per_follower: Final = _check_limit(
            max_tags_per_follower, "max_tags_per_follower"
        )
        self.reserved_tag_ids: Final = frozenset(reserved_tag_ids)
        if isinstance(tag_order, str) or not all(isinstance(n, str) for n in tag_order):
            raise TypeError("tag_order must be a sequence of tag names")
        self.tag_order: Final = tuple(dict.fromkeys(tag_order))

    def __repr__(self) -> str:
        return f"TagSync(store={self.store!r})"

    def plan(self, changes: Iterable[TagChanges]) -> SyncPlan:
        """Read WeChat (and the store) and work out the writes; no write is made.

        Raises `TooManyAccountTagsError` or `TooManyFollowerTagsError` when a limit would be
        passed.
        """
        merged = _merge(changes)
        listed = self.client.tags.list()
        ids: dict[str, int] = {}
        for tag in listed:
            ids.setdefault(tag.name, tag.id)
        own = sum(1 for tag in listed if tag.id not in self.reserved_tag_ids)
        create: set[str] = set()
        untag: dict[str, set[str]] = {}
        tag_groups: dict[str, set[str]] = {}
        over: dict[str, int] = {}
        for openid, (add, remove) in merged.items():
            known_remove = {name for name in remove if name in ids}
            if not add and not known_remove:
                continue
            current = self._current(openid)
            dropping = {name for name in known_remove if ids[name] in current}
            adding = {name for name in add if name not in ids or ids[name] not in current}
            if adding and len(current) - len(dropping) + len(adding) > self.max_tags_per_follower:
                over[openid] = len(current) - len(dropping) + len(adding)
            for name in dropping:
                untag.setdefault(name, set()).add(openid)
            for name in adding:
                tag_groups.setdefault(name, set()).add(openid)
                if name not in ids:
                    create.add(name)
        if own + len(create) > self.max_tags:
            raise TooManyAccountTagsError(create, own, self.max_tags)
        if over:
            raise TooManyFollowerTagsError(over, self.max_tags_per_follower)
        return SyncPlan(
            tag_ids=ids,
            create=tuple(sorted(create)),
            untag=_in_order(untag, ()),
            tag=_in_order(tag_groups, self.tag_order),
        )

    def apply(self, changes: Iterable[TagChanges]) -> SyncReport:
        """Plan, then create missing tags, untag, and tag (``tags/create``, ``batch(un)tagging``).

        A WeChat error midway leaves earlier calls done; every call is idempotent, so applying
        the same changes again finishes the work.
        """
        plan = self.plan(changes)
        ids = dict(plan.tag_ids)
        created: dict[str, int] = {}
        for name in plan.create:
            tag = self.client.tags.create(name)
            ids[name] = created[name] = tag.id
            if self.store is not None:
                self.store.set_tag(tag.id, name)
        for name, openids in plan.untag.items():
            self.client.tags.untag_users(ids[name], openids)
            if self.store is not None:
                self.store.change(openids, remove=ids[name])
        for name, openids in plan.tag.items():
            self.client.tags.tag_users(ids[name], openids)
            if self.store is not None:
                self.store.change(openids, add=ids[name])
        return SyncReport(
            created=MappingProxyType(created),
            tagged=sum(map(len, plan.tag.values())),
            untagged=sum(map(len, plan.untag.values())),
        )

    def pull(self, store: TagStore | None = None, *, followers: bool = False) -> TagStore:
        """Replace ``store`` (default: this sync's) with WeChat's tags and their members.

        Calls ``tags/get`` once and walks ``user/tag/get`` for every tag; with ``followers``
        also walks ``user/get`` so that followers without tags are recorded too.
        """
        target = store if store is not None else self.store
        if target is None:
            raise ValueError("pull needs a store: pass one here or to TagSync(store=...)")
        tags = self.client.tags.list()
        members: dict[str, set[int]] = {}
        if followers:
            for openid in self.client.users.iter_openids():
                members[openid] = set()
        for tag in tags:
            for openid in self.client.tags.iter_members(tag.id):
                members.setdefault(openid, set()).add(tag.id)
        target.replace({tag.id: tag.name for tag in tags}, members)
        return target

    def _current(self, openid: str) -> frozenset[int]:
        if self.store is not None:
            return self.store.tag_ids_of(openid)
        return frozenset(self.client.tags.tags_of(openid))
