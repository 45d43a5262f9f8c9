"""A small stateful stand-in for WeChat's HTTP API, for the client's own tests.

It answers the endpoints the client calls with WeChat's documented shapes, limits and errcodes
(tokens, followers, tags, batch sizes, clientmsgid dedup, the service window), records every
call with the token redacted, and injects faults on demand.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

Handler = Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]


class MiniWeChat:
    """WeChat's API for one account, in memory."""

    def __init__(self, appid: str = "wxtest", secret: str = "s3cret", page_size: int = 10_000):
        self.appid = appid
        self.secret = secret
        self.page_size = page_size
        self.tokens: set[str] = set()
        self.stable_current = ""
        self.issued = 0
        self.followers: dict[str, dict[str, Any]] = {}
        self.tags: dict[int, str] = {2: "星标组"}
        self.user_tags: dict[str, list[int]] = {}
        self.next_tag = 100
        self.next_msg = 1000
        self.clientmsgids: dict[str, int] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.windows: set[str] = set()
        self.menu: dict[str, Any] | None = None
        self.conditional: list[dict[str, Any]] = []
        self.speed = 0
        self.calls: list[tuple[str, str, Any]] = []
        self.faults: deque[tuple[str, str | None]] = deque()
        self.routes: dict[str, Handler] = {
            "/cgi-bin/user/get": self._user_get,
            "/cgi-bin/user/info": self._user_info,
            "/cgi-bin/user/info/batchget": self._batchget,
            "/cgi-bin/user/info/updateremark": self._remark,
            "/cgi-bin/tags/create": self._tag_create,
            "/cgi-bin/tags/get": lambda b, q: {
                "tags": [
                    {"id": i, "name": n, "count": self._count(i)} for i, n in self.tags.items()
                ]
            },
            "/cgi-bin/tags/update": self._tag_update,
            "/cgi-bin/tags/delete": self._tag_delete,
            "/cgi-bin/tags/members/batchtagging": self._tagging,
            "/cgi-bin/tags/members/batchuntagging": self._untagging,
            "/cgi-bin/tags/getidlist": self._idlist,
            "/cgi-bin/user/tag/get": self._tag_members,
            "/cgi-bin/qrcode/create": self._qrcode,
            "/cgi-bin/message/mass/sendall": self._sendall,
            "/cgi-bin/message/mass/send": self._mass_send,
            "/cgi-bin/message/mass/preview": self._preview,
            "/cgi-bin/message/mass/delete": self._mass_delete,
            "/cgi-bin/message/mass/get": self._mass_get,
            "/cgi-bin/message/mass/speed/get": lambda b, q: {"speed": self.speed, "realspeed": 80},
            "/cgi-bin/message/mass/speed/set": self._speed_set,
            "/cgi-bin/message/custom/send": self._custom,
            "/cgi-bin/message/custom/typing": self._typing,
            "/cgi-bin/message/template/send": self._template,
            "/cgi-bin/menu/create": self._menu_create,
            "/cgi-bin/menu/get": self._menu_get,
            "/cgi-bin/menu/delete": self._menu_delete,
            "/cgi-bin/menu/addconditional": self._addconditional,
            "/cgi-bin/menu/delconditional": self._delconditional,
            "/cgi-bin/menu/trymatch": self._trymatch,
        }

    # -- state set-up ---------------------------------------------------------------------------

    def add_followers(self, n: int, prefix: str = "o") -> list[str]:
        """Add ``n`` followers and return their openids, in list order."""
        start = len(self.followers)
        openids = [f"{prefix}{start + i:07d}" for i in range(n)]
        for openid in openids:
            self.followers[openid] = {"remark": "", "subscribe_time": 1_700_000_000}
            self.user_tags[openid] = []
        return openids

    def inject(self, kind: str, times: int = 1, path: str | None = None) -> None:
        """Make the next ``times`` matching calls fail with ``kind``."""
        self.faults.extend([(kind, path)] * times)

    def expire_tokens(self) -> None:
        """Invalidate every issued token."""
        self.tokens.clear()

    def _count(self, tag_id: int) -> int:
        return sum(tag_id in tags for tags in self.user_tags.values())

    # -- transport -----------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as WeChat would."""
        path = request.url.path
        query = dict(request.url.params)
        body: dict[str, Any] = {}
        if request.content:
            raw = request.content.decode("utf-8")
            if "\\u" in raw:
                return self._json({"errcode": 40033, "errmsg": "invalid charset"})
            body = json.loads(raw)
        logged = {k: v for k, v in query.items() if k not in ("access_token", "secret")}
        self.calls.append((request.method, path, body or logged))
        if self.faults and (self.faults[0][1] in (None, path)) and "token" not in path:
            kind, _ = self.faults.popleft()
            if kind == "busy":
                return self._json({"errcode": -1, "errmsg": "system error"})
            if kind == "http_500":
                return httpx.Response(500, text="oops")
            if kind == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if kind == "mass_rate":
                return self._json({"errcode": 45011, "errmsg": "api minute-quota reach limit"})
            if kind == "token_invalid":
                return self._json({"errcode": 40001, "errmsg": "invalid credential"})
            if kind == "rate_limited":
                return self._json({"errcode": 45009, "errmsg": "reach max api daily quota limit"})
        if path == "/cgi-bin/stable_token":
            return self._json(self._stable(body))
        if path == "/cgi-bin/token":
            return self._json(self._classic(query))
        if query.get("access_token") not in self.tokens:
            return self._json({"errcode": 42001, "errmsg": "access_token expired"})
        route = self.routes.get(path)
        if route is None:
            return httpx.Response(404)
        answer = route(body, query)
        return self._json(answer)

    @staticmethod
    def _json(data: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(data, ensure_ascii=False).encode())

    def _issue(self) -> dict[str, Any]:
        self.issued += 1
        token = f"TOKEN{self.issued:04d}"
        self.tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _stable(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("appid") != self.appid or body.get("secret") != self.secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        if self.stable_current in self.tokens and not body.get("force_refresh"):
            return {"access_token": self.stable_current, "expires_in": 7200}
        self.tokens.discard(self.stable_current)
        answer = self._issue()
        self.stable_current = answer["access_token"]
        return answer

    def _classic(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("appid") != self.appid or query.get("secret") != self.secret:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        self.tokens.clear()
        return self._issue()

    # -- users ---------------------------------------------------------------------------------

    def _page(self, openids: list[str], cursor: str) -> dict[str, Any]:
        start = openids.index(cursor) + 1 if cursor else 0
        page = openids[start : start + self.page_size]
        if not page:
            return {"total": len(openids), "count": 0, "next_openid": cursor}
        return {
            "total": len(openids),
            "count": len(page),
            "data": {"openid": page},
            "next_openid": page[-1],
        }

    def _user_get(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        return self._page(list(self.followers), query.get("next_openid", ""))

    def _profile(self, openid: str) -> dict[str, Any]:
        data = self.followers[openid]
        return {
            "subscribe": 1,
            "openid": openid,
            "subscribe_time": data["subscribe_time"],
            "remark": data["remark"],
            "tagid_list": list(self.user_tags[openid]),
            "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 0,
            "qr_scene_str": "",
        }

    def _user_info(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if query.get("openid") not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return self._profile(query["openid"])

    def _batchget(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        items = body.get("user_list", [])
        if not 1 <= len(items) <= 100:
            return {"errcode": 40032, "errmsg": "invalid openid list size"}
        if any(i["openid"] not in self.followers for i in items):
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return {"user_info_list": [self._profile(i["openid"]) for i in items]}

    def _remark(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["openid"] not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if len(body["remark"].encode()) >= 30:
            return {"errcode": 40092, "errmsg": "invalid remark name"}
        self.followers[body["openid"]]["remark"] = body["remark"]
        return {"errcode": 0, "errmsg": "ok"}

    # -- tags ----------------------------------------------------------------------------------

    def _name_error(self, name: str) -> dict[str, Any] | None:
        if len(name.encode()) > 30:
            return {"errcode": 45158, "errmsg": "tag name too long"}
        if not name or name in self.tags.values():
            return {"errcode": 45157, "errmsg": "invalid tag name"}
        return None

    def _tag_create(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        name = body["tag"]["name"]
        if len(self.tags) >= 100:
            return {"errcode": 45056, "errmsg": "too many tags"}
        error = self._name_error(name)
        if error:
            return error
        self.next_tag += 1
        self.tags[self.next_tag] = name
        return {"tag": {"id": self.next_tag, "name": name}}

    def _tag_update(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        tag_id, name = body["tag"]["id"], body["tag"]["name"]
        if tag_id in (0, 1, 2):
            return {"errcode": 45058, "errmsg": "can't modify sys tag"}
        if tag_id not in self.tags:
            return {"errcode": 45159, "errmsg": "invalid tag id"}
        error = self._name_error(name)
        if error:
            return error
        self.tags[tag_id] = name
        return {"errcode": 0, "errmsg": "ok"}

    def _tag_delete(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        tag_id = body["tag"]["id"]
        if tag_id in (0, 1, 2):
            return {"errcode": 45058, "errmsg": "can't modify sys tag"}
        if tag_id not in self.tags:
            return {"errcode": 45159, "errmsg": "invalid tag id"}
        del self.tags[tag_id]
        for tags in self.user_tags.values():
            if tag_id in tags:
                tags.remove(tag_id)
        return {"errcode": 0, "errmsg": "ok"}

    def _check_batch(self, body: dict[str, Any]) -> dict[str, Any] | None:
        openids = body.get("openid_list", [])
        if not 1 <= len(openids) <= 50:
            return {"errcode": 40032, "errmsg": "invalid openid list size"}
        if body["tagid"] not in self.tags:
            return {"errcode": 45159, "errmsg": "invalid tag id"}
        if any(o not in self.followers for o in openids):
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return None

    def _tagging(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        error = self._check_batch(body)
        if error:
            return error
        tag_id = body["tagid"]
        for openid in body["openid_list"]:
            tags = self.user_tags[openid]
            if tag_id not in tags and len(tags) >= 20:
                return {"errcode": 45059, "errmsg": "has too many tags"}
        for openid in body["openid_list"]:
            if tag_id not in self.user_tags[openid]:
                self.user_tags[openid].append(tag_id)
        return {"errcode": 0, "errmsg": "ok"}

    def _untagging(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        error = self._check_batch(body)
        if error:
            return error
        for openid in body["openid_list"]:
            if body["tagid"] in self.user_tags[openid]:
                self.user_tags[openid].remove(body["tagid"])
        return {"errcode": 0, "errmsg": "ok"}

    def _idlist(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["openid"] not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        return {"tagid_list": list(self.user_tags[body["openid"]])}

    def _tag_members(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["tagid"] not in self.tags:
            return {"errcode": 45159, "errmsg": "invalid tag id"}
        members = [o for o, tags in self.user_tags.items() if body["tagid"] in tags]
        page = self._page(members, body.get("next_openid", ""))
        page.pop("total")
        return page

    # -- qrcode --------------------------------------------------------------------------------

    def _qrcode(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        answer: dict[str, Any] = {"ticket": f"T/{len(self.calls)}+=", "url": "http://w.qq.com/q"}
        if "LIMIT" not in body["action_name"]:
            answer["expire_seconds"] = body["expire_seconds"]
        return answer

    # -- mass ----------------------------------------------------------------------------------

    def _accept(self, body: dict[str, Any], total: int) -> dict[str, Any]:
        cid = body.get("clientmsgid")
        if cid is not None and len(cid) > 32:
            return {"errcode": 45067, "errmsg": "clientmsgid size out of limit"}
        if cid in self.clientmsgids:
            original = self.clientmsgids[cid]
            return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": original}
        self.next_msg += 1
        if cid is not None:
            self.clientmsgids[cid] = self.next_msg
        self.jobs[self.next_msg] = {"status": "SEND_SUCCESS", "total": total, "body": body}
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "msg_id": self.next_msg}
        if body.get("msgtype") == "mpnews":
            answer["msg_data_id"] = self.next_msg * 10
        return answer

    def _sendall(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["filter"]["is_to_all"]:
            return self._accept(body, len(self.followers))
        tag_id = body["filter"]["tag_id"]
        if tag_id not in self.tags:
            return {"errcode": 45159, "errmsg": "invalid tag id"}
        return self._accept(body, self._count(tag_id))

    def _mass_send(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        touser = body["touser"]
        if len(touser) < 2:
            return {"errcode": 40130, "errmsg": "invalid openid list size, at least two openid"}
        if len(touser) > 10_000:
            return {"errcode": 40032, "errmsg": "invalid openid list size"}
        return self._accept(body, len(touser))

    def _preview(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if "touser" in body and body["touser"] not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        self.next_msg += 1
        return {"errcode": 0, "errmsg": "preview success", "msg_id": self.next_msg}

    def _mass_delete(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = self.jobs.get(body["msg_id"])
        if job is None:
            return {"errcode": 40059, "errmsg": "invalid msg id"}
        job["status"] = "DELETE"
        return {"errcode": 0, "errmsg": "ok"}

    def _mass_get(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        job = self.jobs.get(body["msg_id"])
        if job is None:
            return {"errcode": 40059, "errmsg": "invalid msg id"}
        return {"msg_id": body["msg_id"], "msg_status": job["status"]}

    def _speed_set(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body.get("speed") not in range(5):
            return {"errcode": 45083, "errmsg": "invalid speed"}
        self.speed = body["speed"]
        return {"errcode": 0, "errmsg": "ok"}

    # -- customer service and templates --------------------------------------------------------

    def _custom(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["touser"] not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if body["touser"] not in self.windows:
            return {"errcode": 45015, "errmsg": "response out of time limit"}
        return {"errcode": 0, "errmsg": "ok"}

    def _typing(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["command"] not in ("Typing", "CancelTyping"):
            return {"errcode": 45072, "errmsg": "command invalid"}
        if body["touser"] not in self.windows:
            return {"errcode": 45080, "errmsg": "need recent interaction"}
        return {"errcode": 0, "errmsg": "ok"}

    def _template(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if body["touser"] not in self.followers:
            return {"errcode": 43004, "errmsg": "require subscribe"}
        if body["template_id"] != "TPL":
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        self.next_msg += 1
        return {"errcode": 0, "errmsg": "ok", "msgid": self.next_msg}

    # -- menus ---------------------------------------------------------------------------------

    def _menu_create(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if not 1 <= len(body["button"]) <= 3:
            return {"errcode": 40016, "errmsg": "invalid button size"}
        self.menu = {"button": body["button"]}
        return {"errcode": 0, "errmsg": "ok"}

    def _menu_get(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if self.menu is None:
            return {"errcode": 46003, "errmsg": "menu no exist"}
        answer: dict[str, Any] = {"menu": self.menu}
        if self.conditional:
            answer["conditionalmenu"] = self.conditional
        return answer

    def _menu_delete(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        self.menu = None
        self.conditional = []
        return {"errcode": 0, "errmsg": "ok"}

    def _addconditional(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if self.menu is None:
            return {"errcode": 65303, "errmsg": "there is no selfmenu"}
        if set(body["matchrule"]) & {"sex", "country", "province", "city", "language"}:
            return {"errcode": 65320, "errmsg": "privacy fields"}
        menuid = str(400 + len(self.conditional))
        self.conditional.append({**body, "menuid": menuid})
        return {"menuid": menuid}

    def _delconditional(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        before = len(self.conditional)
        self.conditional = [c for c in self.conditional if c["menuid"] != body["menuid"]]
        if len(self.conditional) == before:
            return {"errcode": 65301, "errmsg": "no such menuid"}
        return {"errcode": 0, "errmsg": "ok"}

    def _trymatch(self, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        user = body["user_id"]
        if user not in self.followers:
            return {"errcode": 40003, "errmsg": "invalid openid"}
        for menu in reversed(self.conditional):
            if menu["matchrule"].get("tag_id") in {str(t) for t in self.user_tags[user]}:
                return {"button": menu["button"]}
        if self.menu is None:
            return {"errcode": 46003, "errmsg": "menu no exist"}
        return {"button": self.menu["button"]}
