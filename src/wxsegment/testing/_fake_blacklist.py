"""The fake's blacklist (``tags/members/getblacklist``, ``batchblacklist``, ``batchunblacklist``).

Blacklisted users stay followers, but customer-service, template and preview messages to them
answer 43019 and mass sends filter them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wxsegment.testing._fake_wire import Reply

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["FakeBlacklist"]


class FakeBlacklist:
    """Blacklisted openids in the order they were blocked."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._blocked: dict[str, None] = {}

    def __contains__(self, openid: object) -> bool:
        return openid in self._blocked

    @property
    def openids(self) -> tuple[str, ...]:
        """Blacklisted openids, oldest first."""
        return tuple(self._blocked)

    def _openids(self, body: Mapping[str, Any]) -> list[str]:
        openids = body.get("openid_list")
        if not isinstance(openids, list) or not 1 <= len(openids) <= 20:
            raise Reply(40032)
        for openid in openids:
            self._fake._user_store.check_own(openid)
        return list(dict.fromkeys(openids))

    def block(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``batchblacklist``: at most 20 openids of this account."""
        for openid in self._openids(body):
            self._blocked.setdefault(openid, None)
        return {"errcode": 0, "errmsg": "ok"}

    def unblock(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``batchunblacklist``."""
        for openid in self._openids(body):
            self._blocked.pop(openid, None)
        return {"errcode": 0, "errmsg": "ok"}

    def page(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``getblacklist`` from ``begin_openid`` (the last openid of the previous page)."""
        cursor = body.get("begin_openid") or ""
        if not isinstance(cursor, str):
            raise Reply(40003)
        order = list(self._blocked)
        start = 0
        if cursor:
            if cursor not in self._blocked:
                raise Reply(40003)
            start = order.index(cursor) + 1
        size = self._fake.config.blacklist_page_size
        page = order[start : start + size]
        answer: dict[str, Any] = {"total": len(order), "count": len(page)}
        if not page:
            return {**answer, "next_openid": ""}
        return {**answer, "data": {"openid": page}, "next_openid": page[-1]}
