"""Menus of the fake WeChat: button validation, the ``menu/*`` endpoints and
conditional-menu matching.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from wxsegment.testing._fake_wire import Reply

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request
    from wxsegment.testing._fake_users import FollowerRecord

__all__ = ["PRIVACY_FIELDS", "FakeMenus", "check_buttons", "check_matchrule", "menu_domains"]

_KEYED: Final = frozenset(
    {
        "click",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
    }
)
_TYPES: Final = _KEYED | {
    "view",
    "media_id",
    "article_id",
    "article_view_limited",
    "view_limited",
    "miniprogram",
}

#: matchrule fields WeChat no longer accepts (65320).
PRIVACY_FIELDS: Final = ("sex", "country", "province", "city", "language")

_TOP_NAME_BYTES: Final = 16
_SUB_NAME_BYTES: Final = 60
_KEY_BYTES: Final = 128
_URL_BYTES: Final = 1024


def _size(value: object) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else -1


def _check_leaf(button: Mapping[str, Any], *, sub: bool) -> None:
    # Top-level and sub-level buttons report the same mistakes under different errcodes.
    type_code, key_code, url_code = (40024, 40026, 40027) if sub else (40017, 40019, 40020)
    kind = button.get("type")
    if kind not in _TYPES:
        raise Reply(type_code, f"unknown button type {kind!r}")
    if kind in _KEYED and not 0 < _size(button.get("key")) <= _KEY_BYTES:
        raise Reply(key_code)
    if kind in ("view", "miniprogram") and not 0 < _size(button.get("url")) <= _URL_BYTES:
        raise Reply(url_code)
    if kind == "miniprogram" and not (
        _size(button.get("appid")) > 0 and _size(button.get("pagepath")) > 0
    ):
        raise Reply(40035, "miniprogram button needs appid and pagepath")
    if kind in ("media_id", "view_limited") and _size(button.get("media_id")) <= 0:
        raise Reply(41006)
    if kind in ("article_id", "article_view_limited") and _size(button.get("article_id")) <= 0:
        raise Reply(40035, "article_id missing")


def check_buttons(buttons: object) -> None:
    """Validate a ``button`` list as menu/create does: 1-3 top buttons, 1-5 sub-buttons."""
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise Reply(40016)
    for button in buttons:
        if not isinstance(button, dict):
            raise Reply(40017)
        if not 0 < _size(button.get("name")) <= _TOP_NAME_BYTES:
            raise Reply(40018)
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise Reply(40023)
            for sub in subs:
                if not isinstance(sub, dict):
                    raise Reply(40024)
                if sub.get("sub_button"):
                    raise Reply(40022)
                if not 0 < _size(sub.get("name")) <= _SUB_NAME_BYTES:
                    raise Reply(40025)
                _check_leaf(sub, sub=True)
        else:
            _check_leaf(button, sub=False)


def check_matchrule(rule: object, tag_ids: Sequence[int]) -> dict[str, str]:
    """Validate a conditional menu's matchrule (tag and platform only) and normalize it."""
    if not isinstance(rule, dict):
        raise Reply(65304)
    for name in PRIVACY_FIELDS:
        if rule.get(name) not in (None, ""):
            raise Reply(65320, name)
    normalized: dict[str, str] = {}
    tag = rule.get("tag_id")
    if tag not in (None, ""):
        if not str(tag).isdigit() or int(str(tag)) not in tag_ids:
            raise Reply(40050, f"tag_id {tag!r}")
        normalized["tag_id"] = str(tag)
    platform = rule.get("client_platform_type")
    if platform not in (None, ""):
        if str(platform) not in ("1", "2", "3"):
            raise Reply(40035, "client_platform_type must be 1, 2 or 3")
        normalized["client_platform_type"] = str(platform)
    if not normalized:
        raise Reply(65304)
    return normalized


def menu_domains(buttons: Sequence[Mapping[str, Any]]) -> set[str]:
    """Host names the menu's links point at."""
    hosts: set[str] = set()
    for button in buttons:
        for leaf in button.get("sub_button") or [button]:
            url = leaf.get("url")
            if leaf.get("type") == "view" and isinstance(url, str):
                hosts.add((urlsplit(url).hostname or url).lower())
    return hosts


# menu/get names the default menu by a menuid only once conditional menus exist.
_DEFAULT_MENUID: Final = 208_379_532
_FIRST_CONDITIONAL_MENUID: Final = 208_379_533


def _copy_buttons(buttons: list[Any]) -> list[dict[str, Any]]:
    copied: list[dict[str, Any]] = json.loads(json.dumps(buttons))
    return copied


class FakeMenus:
    """The default menu and the conditional menus by menuid, oldest first."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._default: list[dict[str, Any]] | None = None
        self._conditional: dict[str, tuple[list[dict[str, Any]], dict[str, str]]] = {}
        self._next_menuid = _FIRST_CONDITIONAL_MENUID

    def create(self, req: _Request) -> dict[str, Any]:
        """``menu/create``: replaces the default menu."""
        buttons = req.body.get("button")
        check_buttons(buttons)
        assert isinstance(buttons, list)
        self._default = _copy_buttons(buttons)
        return {"errcode": 0, "errmsg": "ok"}

    @staticmethod
    def _shown(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**b, "sub_button": b.get("sub_button") or []} for b in buttons]

    def get(self, req: _Request) -> dict[str, Any]:
        """``menu/get``: the default menu and, once any exist, the conditional ones."""
        if self._default is None:
            raise Reply(46003)
        menu: dict[str, Any] = {"button": self._shown(self._default)}
        answer: dict[str, Any] = {"menu": menu}
        if self._conditional:
            menu["menuid"] = _DEFAULT_MENUID
            answer["conditionalmenu"] = [
                # addconditional answers the id as a string; menu/get lists it as a number,
                # like the default menu's.
                {"button": self._shown(buttons), "matchrule": dict(rule), "menuid": int(menuid)}
                for menuid, (buttons, rule) in self._conditional.items()
            ]
        return answer

    def delete(self, req: _Request) -> dict[str, Any]:
        """``menu/delete``: drops the default menu and every conditional one."""
        self._default = None
        self._conditional.clear()
        return {"errcode": 0, "errmsg": "ok"}

    def add_conditional(self, req: _Request) -> dict[str, Any]:
        """``menu/addconditional``: needs a default menu; answers the id as a string."""
        if self._default is None:
            raise Reply(65303)
        buttons = req.body.get("button")
        rule = check_matchrule(req.body.get("matchrule"), list(self._fake._tag_store.records))
        check_buttons(buttons)
        assert isinstance(buttons, list)
        limit = self._fake.config.max_conditional_menus
        if limit is not None and len(self._conditional) >= limit:
            raise Reply(65305)
        domains = menu_domains(buttons)
        for other, _rule in self._conditional.values():
            domains |= menu_domains(other)
        if len(domains) > self._fake.config.max_conditional_menu_domains:
            raise Reply(65316)
        menuid = str(self._next_menuid)
        self._next_menuid += 1
        self._conditional[menuid] = (_copy_buttons(buttons), rule)
        return {"menuid": menuid}

    def del_conditional(self, req: _Request) -> dict[str, Any]:
        """``menu/delconditional``."""
        menuid = req.body.get("menuid")
        if isinstance(menuid, int) and not isinstance(menuid, bool):
            menuid = str(menuid)
        if not isinstance(menuid, str) or menuid not in self._conditional:
            raise Reply(65301)
        del self._conditional[menuid]
        return {"errcode": 0, "errmsg": "ok"}

    def match(self, follower: FollowerRecord) -> list[dict[str, Any]] | None:
        """The buttons ``follower`` sees, or None without a default menu."""
        default = self._default
        if default is None:
            return None
        last_tag = str(next(reversed(follower.tags))) if follower.tags else None
        # Newest conditional menu first; several tags match by the last one applied.
        platform = str(follower.platform)
        menus: list[tuple[list[dict[str, Any]], dict[str, str]]] = list(self._conditional.values())
        for candidate, rule in menus[::-1]:
            if rule.get("tag_id", last_tag) == last_tag and (
                rule.get("client_platform_type", platform) == platform
            ):
                return candidate
        return default

    def trymatch(self, req: _Request) -> dict[str, Any]:
        """``menu/trymatch``: the menu a current follower sees."""
        user = req.body.get("user_id")
        follower = self._fake._user_store.records.get(user) if isinstance(user, str) else None
        if follower is None or not follower.subscribed:
            raise Reply(65302)
        buttons = self.match(follower)
        if buttons is None:
            raise Reply(46003)
        return {"button": self._shown(buttons)}
