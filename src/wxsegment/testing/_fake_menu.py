"""Menu rules of the fake WeChat: button validation and conditional-menu matching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from wxsegment.testing._fake_wire import Reply

__all__ = ["PRIVACY_FIELDS", "check_buttons", "check_matchrule", "menu_domains"]

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
