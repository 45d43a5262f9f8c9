"""Followers of the fake WeChat: their records, the ``user/*`` endpoints, and the openid
checks every other domain makes (unknown, unfollowed, blacklisted, another account's).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.testing._fake_types import FakeFollower
from wxsegment.testing._fake_wire import Reply, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["FakeUsers", "FollowerRecord"]

_LANGS: Final = frozenset({"zh_CN", "zh_TW", "en"})


@attrs.define
class FollowerRecord:
    """A follower as the fake holds it; ``tags`` keeps tag ids in the order applied."""

    openid: str
    index: int
    subscribed: bool
    subscribe_time: datetime
    unionid: str | None
    language: str
    remark: str
    subscribe_scene: str
    qr_scene: int
    qr_scene_str: str
    platform: int
    tags: dict[int, None] = attrs.field(factory=dict)

    def snapshot(self) -> FakeFollower:
        """The public, frozen view of this follower."""
        return FakeFollower(
            openid=self.openid,
            subscribed=self.subscribed,
            subscribe_time=self.subscribe_time,
            unionid=self.unionid,
            language=self.language,
            remark=self.remark,
            subscribe_scene=self.subscribe_scene,
            qr_scene=self.qr_scene,
            qr_scene_str=self.qr_scene_str,
            tag_ids=tuple(self.tags),
            platform=self.platform,
        )


class FakeUsers:
    """Every follower ever added, in follow order, and the openids of other accounts."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self.records: dict[str, FollowerRecord] = {}
        self.order: list[str] = []
        self.foreign: set[str] = set()

    def add(
        self,
        openid: str,
        when: datetime,
        *,
        unionid: str | None,
        language: str,
        remark: str,
        subscribe_scene: str,
        qr_scene: int,
        qr_scene_str: str,
        platform: int,
    ) -> FollowerRecord:
        """Record a new current follower; a known openid raises ``ValueError``."""
        if openid in self.records:
            raise ValueError(f"follower {openid!r} already exists")
        record = FollowerRecord(
            openid=openid,
            index=len(self.order),
            subscribed=True,
            subscribe_time=when,
            unionid=unionid,
            language=language,
            remark=remark,
            subscribe_scene=subscribe_scene,
            qr_scene=qr_scene,
            qr_scene_str=qr_scene_str,
            platform=platform,
        )
        self.records[openid] = record
        self.order.append(openid)
        return record

    def new_openids(self, n_or_openids: int | Iterable[str]) -> list[str]:
        """``n`` generated openids, or the given ones once checked new and distinct."""
        if isinstance(n_or_openids, bool):
            raise TypeError("expected a count or an iterable of openids")
        if isinstance(n_or_openids, int):
            if n_or_openids < 0:
                raise ValueError("the number of followers cannot be negative")
            start = len(self.order)
            return [f"oFAKE{start + i:023d}" for i in range(n_or_openids)]
        if isinstance(n_or_openids, str):
            raise TypeError("expected an iterable of openids, not a single string")
        openids = list(n_or_openids)
        seen = set(self.records)
        for openid in openids:
            if not isinstance(openid, str) or not openid:
                raise ValueError(f"openid must be a non-empty string, got {openid!r}")
            if openid in seen:
                raise ValueError(f"follower {openid!r} already exists or is repeated")
            seen.add(openid)
        return openids

    def known(self, openid: str) -> FollowerRecord:
        """A follower for a set-up method: an unknown openid raises ``ValueError``."""
        follower = self.records.get(openid)
        if follower is None:
            raise ValueError(f"unknown follower {openid!r}")
        return follower

    def subscribed(self) -> list[str]:
        """Current followers in follow order."""
        return [o for o in self.order if self.records[o].subscribed]

    def in_follow_order(self, openids: dict[str, None]) -> list[str]:
        """Known ``openids`` sorted by when they first followed."""
        return sorted(openids, key=lambda o: self.records[o].index)

    def lookup(self, openid: object, *, subscribed: bool = False) -> FollowerRecord:
        """A known user; ``subscribed`` for a message recipient (following, not blacklisted)."""
        follower = self.records.get(openid) if isinstance(openid, str) else None
        if follower is None:
            raise Reply(40003)
        if subscribed and not follower.subscribed:
            raise Reply(43004)
        if subscribed and follower.openid in self._fake._blacklist:
            raise Reply(43019)
        return follower

    def check_own(self, openid: object) -> None:
        """40003 for an openid nobody knows, 49003 for one of another account."""
        if isinstance(openid, str) and openid in self.foreign:
            raise Reply(49003)
        self.lookup(openid)

    def current(self, openid: object) -> FollowerRecord:
        """A current follower; anyone else is an invalid openid for user and tag calls."""
        follower = self.lookup(openid)
        if not follower.subscribed:
            raise Reply(40003)
        return follower

    def listing(
        self, openids: list[str], cursor: str | None, size: int, total: int | None
    ) -> dict[str, Any]:
        """One page after ``cursor`` of ``openids`` (ordered by follow index), WeChat-shaped."""
        start = 0
        if cursor:
            anchor = self.lookup(cursor).index
            start = bisect.bisect_right(openids, anchor, key=lambda o: self.records[o].index)
        page = openids[start : start + size]
        answer: dict[str, Any] = {} if total is None else {"total": total}
        if not page:
            return {**answer, "count": 0, "next_openid": ""}
        last = start + len(page) >= len(openids)
        empty = last and self._fake.config.last_page_next_openid == "empty"
        return {
            **answer,
            "count": len(page),
            "data": {"openid": page},
            "next_openid": "" if empty else page[-1],
        }

    def get(self, req: _Request) -> dict[str, Any]:
        """``user/get``: a page of current followers."""
        current = self.subscribed()
        size = self._fake.config.user_page_size
        return self.listing(current, req.query.get("next_openid"), size, len(current))

    @staticmethod
    def _info(follower: FollowerRecord) -> dict[str, Any]:
        if not follower.subscribed:
            return {"subscribe": 0, "openid": follower.openid}
        info: dict[str, Any] = {
            "subscribe": 1,
            "openid": follower.openid,
            "language": follower.language,
            "subscribe_time": int(follower.subscribe_time.timestamp()),
        }
        if follower.unionid is not None:
            info["unionid"] = follower.unionid
        info.update(
            remark=follower.remark,
            groupid=0,
            tagid_list=list(follower.tags),
            subscribe_scene=follower.subscribe_scene,
            qr_scene=follower.qr_scene,
            qr_scene_str=follower.qr_scene_str,
        )
        return info

    def info(self, req: _Request) -> dict[str, Any]:
        """``user/info``."""
        lang = req.query.get("lang", "zh_CN")
        if lang not in _LANGS:
            raise Reply(40035, "lang")
        return self._info(self.lookup(req.query.get("openid")))

    def batchget(self, req: _Request) -> dict[str, Any]:
        """``user/info/batchget``: every openid is checked before any is answered."""
        users = req.body.get("user_list")
        if not isinstance(users, list) or not 1 <= len(users) <= self._fake.config.batchget_max:
            raise Reply(40032)
        found = []
        for item in users:
            if not isinstance(item, dict):
                raise Reply(40031)
            if item.get("lang", "zh_CN") not in _LANGS:
                raise Reply(40035, "lang")
            found.append(self.lookup(item.get("openid")))
        return {"user_info_list": [self._info(f) for f in found]}

    def update_remark(self, req: _Request) -> dict[str, Any]:
        """``user/info/updateremark``: under 30 bytes."""
        follower = self.current(req.body.get("openid"))
        remark = get_str(req.body, "remark", 40092, allow_empty=True)
        if len(remark.encode("utf-8")) >= 30:
            raise Reply(40092)
        follower.remark = remark
        return {"errcode": 0, "errmsg": "ok"}
