"""Tags of the fake WeChat: the ``tags/*`` endpoints, reserved tags and tag membership."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from wxsegment.testing._fake_types import FakeTag
from wxsegment.testing._fake_users import FollowerRecord
from wxsegment.testing._fake_wire import Reply, get_dict, get_int, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["FakeTags", "TagRecord"]


@attrs.define
class TagRecord:
    """A tag as the fake holds it, with its members in the order they were tagged."""

    id: int
    name: str
    reserved: bool
    members: dict[str, None] = attrs.field(factory=dict)


class FakeTags:
    """Tags by id (reserved ones first) and the next id ``tags/create`` hands out."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self.records: dict[int, TagRecord] = {
            tag_id: TagRecord(tag_id, name, reserved=True)
            for tag_id, name in sorted(fake.config.reserved_tags.items())
        }
        self._next_id = fake.config.first_tag_id

    def views(self) -> dict[int, FakeTag]:
        """Every tag as the public, frozen view."""
        return {
            t.id: FakeTag(id=t.id, name=t.name, count=len(t.members), reserved=t.reserved)
            for t in self.records.values()
        }

    def untag_all(self, follower: FollowerRecord) -> None:
        """Drop every tag of ``follower`` (it unfollowed)."""
        for tag_id in follower.tags:
            self.records[tag_id].members.pop(follower.openid, None)
        follower.tags.clear()

    def _name(self, tag: Mapping[str, Any], *, except_id: int | None = None) -> str:
        name = get_str(tag, "name", 45157)
        if len(name.encode("utf-8")) > 30:
            raise Reply(45158)
        if any(t.name == name and t.id != except_id for t in self.records.values()):
            raise Reply(45157, "duplicate tag name")
        return name

    def create(self, req: _Request) -> dict[str, Any]:
        """``tags/create``."""
        name = self._name(get_dict(req.body, "tag", 40035))
        if sum(1 for t in self.records.values() if not t.reserved) >= self._fake.config.max_tags:
            raise Reply(45056)
        tag = TagRecord(self._next_id, name, reserved=False)
        self._next_id += 1
        self.records[tag.id] = tag
        return {"tag": {"id": tag.id, "name": tag.name}}

    def get(self, req: _Request) -> dict[str, Any]:
        """``tags/get``."""
        return {
            "tags": [
                {"id": t.id, "name": t.name, "count": len(t.members)} for t in self.records.values()
            ]
        }

    def _modifiable(self, tag: Mapping[str, Any]) -> TagRecord:
        tag_id = get_int(tag, "id", 45159)
        if tag_id in (0, 1, 2) or (tag_id in self.records and self.records[tag_id].reserved):
            raise Reply(45058)
        found = self.records.get(tag_id)
        if found is None:
            raise Reply(45159)
        return found

    def update(self, req: _Request) -> dict[str, Any]:
        """``tags/update``: renames a tag that is not reserved."""
        body = get_dict(req.body, "tag", 40035)
        tag = self._modifiable(body)
        tag.name = self._name(body, except_id=tag.id)
        return {"errcode": 0, "errmsg": "ok"}

    def delete(self, req: _Request) -> dict[str, Any]:
        """``tags/delete``: refused above ``max_deletable_tag_fans`` members."""
        tag = self._modifiable(get_dict(req.body, "tag", 40035))
        if len(tag.members) > self._fake.config.max_deletable_tag_fans:
            raise Reply(45057)
        followers = self._fake._user_store.records
        for openid in tag.members:
            followers[openid].tags.pop(tag.id, None)
        del self.records[tag.id]
        return {"errcode": 0, "errmsg": "ok"}

    def _tagging_args(self, body: Mapping[str, Any]) -> tuple[TagRecord, list[FollowerRecord]]:
        users = self._fake._user_store
        openids = body.get("openid_list")
        if not isinstance(openids, list) or not 1 <= len(openids) <= 50:
            raise Reply(40032)
        tag = self.records.get(get_int(body, "tagid", 45159))
        if tag is None:
            raise Reply(45159)
        if not all(isinstance(o, str) for o in openids):
            raise Reply(40003)
        for openid in openids:
            if openid in users.foreign:
                raise Reply(49003)
        return tag, [users.current(o) for o in dict.fromkeys(openids)]

    def batchtagging(self, req: _Request) -> dict[str, Any]:
        """``tags/members/batchtagging``: all or nothing within the per-follower limit."""
        tag, followers = self._tagging_args(req.body)
        limit = self._fake.config.max_tags_per_follower
        if any(tag.id not in f.tags and len(f.tags) >= limit for f in followers):
            raise Reply(45059)
        for follower in followers:
            if tag.id not in follower.tags:
                follower.tags[tag.id] = None
                tag.members[follower.openid] = None
        return {"errcode": 0, "errmsg": "ok"}

    def batchuntagging(self, req: _Request) -> dict[str, Any]:
        """``tags/members/batchuntagging``."""
        tag, followers = self._tagging_args(req.body)
        for follower in followers:
            follower.tags.pop(tag.id, None)
            tag.members.pop(follower.openid, None)
        return {"errcode": 0, "errmsg": "ok"}

    def getidlist(self, req: _Request) -> dict[str, Any]:
        """``tags/getidlist``: a follower's tag ids."""
        follower = self._fake._user_store.current(req.body.get("openid"))
        return {"tagid_list": list(follower.tags)}

    def members(self, req: _Request) -> dict[str, Any]:
        """``user/tag/get``: a page of a tag's members in follow order."""
        users = self._fake._user_store
        tag = self.records.get(get_int(req.body, "tagid", 45159))
        if tag is None:
            raise Reply(45159)
        cursor = req.body.get("next_openid") or None
        if cursor is not None and not isinstance(cursor, str):
            raise Reply(40003)
        members = users.in_follow_order(tag.members)
        return users.listing(members, cursor, self._fake.config.tag_members_page_size, None)
