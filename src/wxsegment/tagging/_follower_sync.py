"""Pull the account's followers and tags from WeChat into a follower store, resumably.

A full pull walks ``user/get`` page by page (10,000 openids each) and reads each page's
profiles with ``user/info/batchget`` (100 per call; concurrently with `AsyncClient`). After a
page is stored, the store's checkpoint moves to the page's ``next_openid``, so a crashed pull
resumes at the page it was on: at most one page is read twice, and writing it again changes
nothing. Followers the pull did not meet are marked unsubscribed, never deleted.

Every follower written by one pull carries the pull's id in the attribute ``wechat_pull_id``;
the checkpoint's openid is the last follower of the last stored page, so a resumed pull reads
the interrupted pull's id back from it and the unsubscribe pass covers both runs.

WeChat stopped returning ``sex``, ``city``, ``province``, ``country`` and ``headimgurl`` in
``user/info`` in December 2021: a follower's city comes from the CRM, never from WeChat.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

import attrs

from wxsegment._clock import Clock, SystemClock
from wxsegment._model import AttributeValue, Follower
from wxsegment.api import AsyncClient, Client, FollowerPage, User
from wxsegment.followers import FollowerStore
from wxsegment.segment import attr

__all__ = [
    "PULL_ID_ATTRIBUTE",
    "FollowerSyncReport",
    "SyncProgress",
    "async_refresh_followers",
    "async_sync_followers",
    "follower_from_user",
    "refresh_followers",
    "sync_followers",
]

#: The attribute in which each follower records the id of the pull that last saw it.
PULL_ID_ATTRIBUTE: Final = "wechat_pull_id"

#: What the store learns about a follower from ``user/info``, besides openid, unionid, tags and
#: subscribe time.
_PROFILE_KINDS: Final[Mapping[str, str]] = {PULL_ID_ATTRIBUTE: "int"}


@attrs.frozen
class SyncProgress:
    """How far a pull is: followers stored, WeChat's total, followers per second, ETA (s)."""

    done: int
    total: int
    rate: float
    eta: float | None


@attrs.frozen
class FollowerSyncReport:
    """What a pull did."""

    #: Followers read from WeChat and stored, subscribed or not.
    pulled: int
    #: Store followers marked unsubscribed: WeChat no longer lists them.
    unsubscribed: int
    #: WeChat tags whose name-to-id mapping the store now holds.
    tags: int
    pages: int
    #: The checkpoint this pull resumed from, or None for a pull from the start.
    resumed_from: str | None
    #: Whether the unsubscribe pass ran (it needs the pull's id, see the module docs).
    unsubscribe_pass: bool


def follower_from_user(
    user: User,
    tag_names: Mapping[int, str],
    *,
    keep: Follower | None = None,
    local_tags: Iterable[str] = (),
    extra_attributes: Mapping[str, AttributeValue] | None = None,
) -> Follower:
    """The `Follower` that WeChat's ``user/info`` describes, merged over what the store keeps.

    Tags: WeChat's tag ids named through ``tag_names`` (ids without a name are skipped), plus
    ``local_tags`` (tags the store holds that WeChat does not know). Attributes: those of
    ``keep`` (CRM data), then WeChat's ``language``, ``remark``, ``subscribe_scene``,
    ``qr_scene``, ``qr_scene_str`` and ``subscribed``. An unsubscribed user (WeChat then sends
    only the openid) needs ``keep`` for the subscribe time. ``extra_attributes`` are set last.
    """
    attributes: dict[str, AttributeValue] = dict(keep.attributes) if keep is not None else {}
    attributes["subscribed"] = user.subscribed
    if user.subscribed:
        attributes.update(
            language=user.language,
            remark=user.remark,
            subscribe_scene=user.subscribe_scene,
            qr_scene=user.qr_scene,
            qr_scene_str=user.qr_scene_str,
        )
    if extra_attributes:
        attributes.update(extra_attributes)
    subscribe_time = user.subscribe_time or (keep.subscribe_time if keep is not None else None)
    if subscribe_time is None:
        raise ValueError(f"follower {user.openid!r} has no subscribe time: WeChat sent none")
    tags = {tag_names[i] for i in user.tag_ids if i in tag_names} | set(local_tags)
    return Follower(
        user.openid,
        subscribe_time,
        unionid=user.unionid or (keep.unionid if keep is not None else None),
        tags=tags,
        attributes=attributes,
        last_interaction_at=keep.last_interaction_at if keep is not None else None,
    )


class _Pull:
    """The I/O-free part of a pull: what to write for each page, and the progress."""

    def __init__(
        self,
        store: FollowerStore,
        clock: Clock,
        on_progress: Callable[[SyncProgress], object] | None,
        tags: Sequence[tuple[int, str]],
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_progress = on_progress
        self.resumed_from = store.next_openid()
        self.pull_id = self._pull_id()
        self.started = time.monotonic()
        self.done = 0
        self.pages = 0
        store.declare(dict(_PROFILE_KINDS))
        known = dict(store.tag_ids())
        for tag_id, name in tags:
            if known.get(tag_id) != name:
                store.set_tag_id(name, tag_id)
        for tag_id in set(known) - {tag_id for tag_id, _ in tags}:
            store.forget_tag_id(tag_id)
        self.tag_names: Mapping[int, str] = dict(tags)

    def _pull_id(self) -> int | None:
        if self.resumed_from is None:
            # Random rather than the clock's time: two pulls at one (fake) instant must differ.
            return secrets.randbits(62) + 1
        last = self.store.get(self.resumed_from)
        value = last.attributes.get(PULL_ID_ATTRIBUTE) if last is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def cursor(self) -> str:
        return self.resumed_from or ""

    def store_page(self, page: FollowerPage, users: Sequence[User], seen: int) -> None:
        """Write one page's followers, then move the checkpoint past it.

        ``seen`` is the store's `version` from before the page's profiles were fetched.
        """
        if not page.openids:
            # WeChat ends the list with an empty page (count 0): only the checkpoint moves.
            self.store.set_next_openid(page.next_openid)
            return
        extra = {} if self.pull_id is None else {PULL_ID_ATTRIBUTE: self.pull_id}
        _write_users(self.store, users, self.tag_names, self.clock.now(), extra, seen)
        self.store.set_next_openid(page.next_openid)
        self.pages += 1
        self.done += len(users)
        if self.on_progress is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            rate = self.done / elapsed
            total = max(page.total, self.done)
            eta = (total - self.done) / rate if rate > 0 else None
            self.on_progress(SyncProgress(self.done, total, rate, eta))

    def finish(self) -> FollowerSyncReport:
        """Mark followers this pull did not meet as unsubscribed."""
        unsubscribed = 0
        if self.pull_id is not None:
            stale = self.store.select(
                (attr("subscribed") == True) & ~(attr(PULL_ID_ATTRIBUTE) == self.pull_id),  # noqa: E712
                now=self.clock.now(),
            )
            if stale:
                unsubscribed = self.store.mark_unsubscribed(stale, at=self.clock.now())
        return FollowerSyncReport(
            pulled=self.done,
            unsubscribed=unsubscribed,
            tags=len(self.tag_names),
            pages=self.pages,
            resumed_from=self.resumed_from,
            unsubscribe_pass=self.pull_id is not None,
        )


def _check(client: object, wanted: type, store: object) -> None:
    if not isinstance(client, wanted):
        raise TypeError(
            f"client must be a wxsegment.api.{wanted.__name__}, not {type(client).__name__}"
        )
    if not isinstance(store, FollowerStore):
        raise TypeError(f"store must be a FollowerStore, not {type(store).__name__}")


def sync_followers(
    client: Client,
    store: FollowerStore,
    *,
    on_progress: Callable[[SyncProgress], object] | None = None,
    clock: Clock | None = None,
) -> FollowerSyncReport:
    """Pull every follower and the account's tags into ``store``; resumes a crashed pull.

    Calls ``tags/get`` once, then per page ``user/get`` and ``user/info/batchget``.
    """
    _check(client, Client, store)
    tags = [(tag.id, tag.name) for tag in client.tags.list()]
    pull = _Pull(store, clock or SystemClock(), on_progress, tags)
    for page in client.users.iter_pages(next_openid=pull.cursor):
        seen = store.version()
        users = client.users.get_many(page.openids) if page.openids else []
        pull.store_page(page, users, seen)
    return pull.finish()


async def async_sync_followers(
    client: AsyncClient,
    store: FollowerStore,
    *,
    on_progress: Callable[[SyncProgress], object] | None = None,
    clock: Clock | None = None,
) -> FollowerSyncReport:
    """`sync_followers` over `AsyncClient`: each page's profiles are fetched concurrently.

    The store is written from the event loop's thread, page by page.
    """
    _check(client, AsyncClient, store)
    tags = [(tag.id, tag.name) for tag in await client.tags.list()]
    pull = _Pull(store, clock or SystemClock(), on_progress, tags)
    async for page in client.users.iter_pages(next_openid=pull.cursor):
        seen = store.version()
        users = await client.users.get_many(page.openids) if page.openids else []
        pull.store_page(page, users, seen)
    return pull.finish()


def refresh_followers(
    client: Client, store: FollowerStore, openids: Iterable[str], *, clock: Clock | None = None
) -> int:
    """Re-read some followers' profiles (``user/info/batchget``) into the store; returns how many.

    Use it for followers an event or a CRM change named, between full pulls.
    """
    _check(client, Client, store)
    seen = store.version()
    return _refresh(store, client.users.get_many(openids), clock or SystemClock(), seen)


async def async_refresh_followers(
    client: AsyncClient, store: FollowerStore, openids: Iterable[str], *, clock: Clock | None = None
) -> int:
    """`refresh_followers` over `AsyncClient`."""
    _check(client, AsyncClient, store)
    seen = store.version()
    return _refresh(store, await client.users.get_many(openids), clock or SystemClock(), seen)


def _refresh(store: FollowerStore, users: Sequence[User], clock: Clock, seen: int) -> int:
    _write_users(store, users, dict(store.tag_ids()), clock.now(), {}, seen)
    return len(users)


def _write_users(
    store: FollowerStore,
    users: Sequence[User],
    tag_names: Mapping[int, str],
    now: datetime,
    extra: Mapping[str, AttributeValue],
    seen: int,
) -> None:
    """Store subscribed users over what the store keeps; mark the others unsubscribed.

    Followers written since position ``seen`` (an event handler's unsubscribe, subscribe,
    tag or interaction while the profiles were on their way) keep what the store holds: it is
    newer than WeChat's answer. They only get ``extra`` (the pull's id, so the pull's
    unsubscribe pass does not take them for followers who left); the next pull refreshes them.
    """
    wechat_names = frozenset(tag_names.values())
    kept = store.followers([u.openid for u in users])
    followers: list[Follower] = []
    gone: list[str] = []
    for user in users:
        keep = kept.get(user.openid)
        if not user.subscribed:
            gone.append(user.openid)
            continue
        # Tags WeChat does not know (CRM-only ones) stay; WeChat's say who carries WeChat's.
        local = keep.tags - wechat_names if keep is not None else frozenset()
        followers.append(
            follower_from_user(user, tag_names, keep=keep, local_tags=local, extra_attributes=extra)
        )
    if followers:
        report = store.upsert(followers, unless_changed_since=seen)
        if report.skipped and extra:
            # Only stored ones: a follower deleted meanwhile has no subscribe time to merge onto.
            still = store.followers(report.skipped)
            store.import_rows([{"openid": openid, **extra} for openid in sorted(still)])
    if gone:
        store.mark_unsubscribed(gone, at=now, unless_changed_since=seen)
