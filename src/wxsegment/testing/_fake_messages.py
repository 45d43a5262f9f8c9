"""Messages of the fake WeChat to one follower: customer-service messages inside the
windows interactions open, typing, template messages and subscribe notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from wxsegment.testing._fake_limits import check_custom_sizes, check_media
from wxsegment.testing._fake_types import FakeMessage, WindowRule
from wxsegment.testing._fake_wire import Reply, get_dict, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["FakeMessages"]


@attrs.define
class _Grant:
    expires_at: datetime
    remaining: int | None


class FakeMessages:
    """Open windows per follower and kind, and every message delivered, oldest first."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._grants: dict[str, dict[str, _Grant]] = {}
        self._last_interaction: dict[str, datetime] = {}
        self._typing_until: dict[str, datetime] = {}
        self.delivered: list[FakeMessage] = []
        self._template_ids: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._next_template_msgid = 200_228_332

    def open_window(self, openid: str, kind: str, rule: WindowRule, when: datetime) -> None:
        """An interaction of ``kind`` at ``when`` replaces that kind's window."""
        self._grants.setdefault(openid, {})[kind] = _Grant(when + rule.duration, rule.messages)
        last = self._last_interaction.get(openid)
        if last is None or when > last:
            self._last_interaction[openid] = when

    def close_windows(self, openid: str) -> None:
        """The follower left: every window it had closes."""
        self._grants.pop(openid, None)

    @staticmethod
    def _custom_content(body: Mapping[str, Any]) -> str:
        msgtype = body.get("msgtype")
        if not isinstance(msgtype, str):
            raise Reply(40008)
        if msgtype == "text":
            get_str(get_dict(body, "text", 40035, missing=44004), "content", 44004)
        elif msgtype in ("image", "voice", "mpnews"):
            get_str(get_dict(body, msgtype, 40035, missing=41006), "media_id", 40007, missing=41006)
        elif msgtype == "video":
            payload = get_dict(body, "video", 40035, missing=41006)
            get_str(payload, "media_id", 40007, missing=41006)
        elif msgtype == "music":
            payload = get_dict(body, "music", 40035)
            get_str(payload, "thumb_media_id", 40007, missing=41006)
        elif msgtype == "news":
            articles = get_dict(body, "news", 40035, missing=44003).get("articles")
            if not isinstance(articles, list) or not articles:
                raise Reply(44003)
            if len(articles) > 1:
                raise Reply(45008)
            if not isinstance(articles[0], dict):
                raise Reply(40035)
        elif msgtype == "mpnewsarticle":
            get_str(get_dict(body, "mpnewsarticle", 40035), "article_id", 40035)
        elif msgtype == "msgmenu":
            items = get_dict(body, "msgmenu", 40035).get("list")
            if not isinstance(items, list) or not items:
                raise Reply(40035, "msgmenu.list")
        elif msgtype == "wxcard":
            get_str(get_dict(body, "wxcard", 40035), "card_id", 40035)
        elif msgtype == "miniprogrampage":
            page = get_dict(body, "miniprogrampage", 40035)
            for field in ("appid", "pagepath", "thumb_media_id"):
                get_str(page, field, 40035)
        else:
            raise Reply(40008)
        return msgtype

    def custom_send(self, req: _Request) -> dict[str, Any]:
        """``message/custom/send``: inside an open window, counted against its budget."""
        follower = self._fake._user_store.lookup(req.body.get("touser"), subscribed=True)
        msgtype = self._custom_content(req.body)
        check_custom_sizes(self._fake.config, req.body, msgtype)
        check_media(self._fake.config, self._fake._media, req.body, msgtype, req.now)
        if "customservice" in req.body:
            self._fake._kf.existing(get_dict(req.body, "customservice", 40035).get("kf_account"))
        grants = [
            g for g in self._grants.get(follower.openid, {}).values() if g.expires_at > req.now
        ]
        if not grants:
            raise Reply(45015)
        usable = [g for g in grants if g.remaining is None or g.remaining > 0]
        if not usable:
            raise Reply(45047)
        unlimited = [g for g in usable if g.remaining is None]
        if not unlimited:
            grant = min(usable, key=lambda g: g.expires_at)
            assert grant.remaining is not None
            grant.remaining -= 1
        self._typing_until.pop(follower.openid, None)
        self.delivered.append(
            FakeMessage(
                kind="custom",
                openid=follower.openid,
                msgtype=msgtype,
                msgid=None,
                at=req.now,
                body=MappingProxyType(dict(req.body)),
            )
        )
        return {"errcode": 0, "errmsg": "ok"}

    def typing(self, req: _Request) -> dict[str, Any]:
        """``message/custom/typing``: soon after an interaction, once per typing period."""
        follower = self._fake._user_store.lookup(req.body.get("touser"), subscribed=True)
        command = req.body.get("command")
        if command not in ("Typing", "CancelTyping"):
            raise Reply(45072)
        if not any(g.expires_at > req.now for g in self._grants.get(follower.openid, {}).values()):
            raise Reply(45015)
        last = self._last_interaction.get(follower.openid)
        recent = timedelta(seconds=self._fake.config.typing_interaction_within)
        if last is None or req.now - last > recent:
            raise Reply(45080)
        if command == "CancelTyping":
            self._typing_until.pop(follower.openid, None)
            return {"errcode": 0, "errmsg": "ok"}
        until = self._typing_until.get(follower.openid)
        if until is not None and req.now < until:
            raise Reply(45081)
        self._typing_until[follower.openid] = req.now + timedelta(
            seconds=self._fake.config.typing_duration
        )
        return {"errcode": 0, "errmsg": "ok"}

    def template_send(self, req: _Request) -> dict[str, Any]:
        """``message/template/send``: ``client_msg_id`` repeats answer the first msgid."""
        body = req.body
        template_id = get_str(body, "template_id", 40037)
        if (
            self._fake.config.templates is not None
            and template_id not in self._fake.config.templates
            and not self._fake._template_store.knows(template_id)
        ):
            raise Reply(40037)
        follower = self._fake._user_store.lookup(body.get("touser"), subscribed=True)
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise Reply(47001)
        self._fake._template_store.check_values(
            data, self._fake._template_store.template_keys(template_id)
        )
        if "url" in body and not isinstance(body["url"], str):
            raise Reply(40035, "url")
        if "miniprogram" in body:
            mini = get_dict(body, "miniprogram", 40035)
            get_str(mini, "appid", 40035)
        client_msg_id = body.get("client_msg_id")
        if client_msg_id is not None:
            if not isinstance(client_msg_id, str) or not client_msg_id:
                raise Reply(40035, "client_msg_id")
            seen = self._template_ids.get((follower.openid, client_msg_id))
            window = timedelta(seconds=self._fake.config.template_dedup_window)
            if seen is not None and req.now - seen[1] < window:
                return {"errcode": 0, "errmsg": "ok", "msgid": seen[0]}
        msgid = self._next_template_msgid
        self._next_template_msgid += 1
        if client_msg_id is not None:
            self._template_ids[(follower.openid, client_msg_id)] = (msgid, req.now)
        self.delivered.append(
            FakeMessage(
                kind="template",
                openid=follower.openid,
                msgtype="template",
                msgid=msgid,
                at=req.now,
                body=MappingProxyType(dict(body)),
            )
        )
        self._fake._events.template_sent(follower.openid, msgid)
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def bizsend(self, req: _Request) -> dict[str, Any]:
        """``message/subscribe/bizsend``: checked by the template store, recorded here."""
        follower = self._fake._user_store.lookup(req.body.get("touser"))
        answer = self._fake._template_store.bizsend(req, follower.openid)
        self.delivered.append(
            FakeMessage(
                kind="subscribe",
                openid=follower.openid,
                msgtype="subscribe",
                msgid=None,
                at=req.now,
                body=MappingProxyType(dict(req.body)),
            )
        )
        return answer
