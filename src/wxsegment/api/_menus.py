"""Custom menus and conditional menus, with WeChat's button limits checked locally."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.api._core import Call, check_utf8_length
from wxsegment.api._errors import WeChatValidationError

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "PRIVACY_MATCH_FIELDS",
    "AsyncMenus",
    "Button",
    "ConditionalMenu",
    "MatchRule",
    "MenuInfo",
    "Menus",
]

BUTTON_TYPES: Final = frozenset(
    {
        "click",
        "view",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
        "media_id",
        "article_id",
        "article_view_limited",
        "miniprogram",
    }
)
#: The field each button type needs.
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "click": ("key",),
    "scancode_push": ("key",),
    "scancode_waitmsg": ("key",),
    "pic_sysphoto": ("key",),
    "pic_photo_or_album": ("key",),
    "pic_weixin": ("key",),
    "location_select": ("key",),
    "view": ("url",),
    "media_id": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
    "miniprogram": ("url", "appid", "pagepath"),
}
#: matchrule fields WeChat no longer honours (65320 on creation): personal data.
PRIVACY_MATCH_FIELDS: Final = frozenset(
    {"sex", "country", "province", "city", "language", "group_id"}
)


def _as_buttons(buttons: Iterable[Button]) -> tuple[Button, ...]:
    return tuple(buttons)


@attrs.frozen
class Button:
    """A menu button: either an action (``type`` plus its field) or a parent of sub-buttons."""

    name: str
    type: str | None = None
    key: str | None = None
    url: str | None = None
    media_id: str | None = None
    article_id: str | None = None
    appid: str | None = None
    pagepath: str | None = None
    sub_buttons: tuple[Button, ...] = attrs.field(default=(), converter=_as_buttons)

    def payload(self) -> dict[str, Any]:
        """The button as WeChat's JSON."""
        if self.sub_buttons:
            return {"name": self.name, "sub_button": [b.payload() for b in self.sub_buttons]}
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        for field in ("key", "url", "media_id", "article_id", "appid", "pagepath"):
            value = getattr(self, field)
            if value is not None:
                out[field] = value
        return out

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> Button:
        """Parse a button from ``menu/get`` or ``trymatch``."""
        subs = data.get("sub_button", ())
        if isinstance(subs, Mapping):
            subs = subs.get("list", ())
        return cls(
            name=str(data.get("name", "")),
            type=data.get("type"),
            key=data.get("key"),
            url=data.get("url"),
            media_id=data.get("media_id"),
            article_id=data.get("article_id"),
            appid=data.get("appid"),
            pagepath=data.get("pagepath"),
            sub_buttons=tuple(cls.from_wechat(s) for s in subs),
        )


@attrs.frozen
class MatchRule:
    """Who sees a conditional menu: a tag, a platform (1 iOS, 2 Android, 3 other), or both."""

    tag_id: int | None = None
    client_platform_type: int | None = None

    def payload(self) -> dict[str, str]:
        """The rule as WeChat's JSON (values are strings there)."""
        out: dict[str, str] = {}
        if self.tag_id is not None:
            out["tag_id"] = str(self.tag_id)
        if self.client_platform_type is not None:
            out["client_platform_type"] = str(self.client_platform_type)
        return out


@attrs.frozen
class ConditionalMenu:
    """A conditional menu as ``menu/get`` lists it (matchrule kept raw, privacy fields too)."""

    menuid: str
    buttons: tuple[Button, ...]
    matchrule: Mapping[str, Any]


@attrs.frozen
class MenuInfo:
    """The default menu and the conditional menus."""

    buttons: tuple[Button, ...]
    conditional: tuple[ConditionalMenu, ...] = ()


def _check_button(button: Button, *, top: bool) -> None:
    if not isinstance(button, Button):
        raise TypeError(f"expected a Button, got {type(button).__name__}")
    check_utf8_length(button.name, "button name", 16 if top else 60)
    if button.sub_buttons:
        if not top:
            raise WeChatValidationError("sub-buttons cannot have sub-buttons (40022)")
        if button.type is not None:
            raise WeChatValidationError(f"button {button.name!r} has sub-buttons and a type")
        if len(button.sub_buttons) > 5:
            raise WeChatValidationError(
                f"button {button.name!r} has {len(button.sub_buttons)} sub-buttons; at most 5"
            )
        for sub in button.sub_buttons:
            _check_button(sub, top=False)
        return
    if button.type not in BUTTON_TYPES:
        raise WeChatValidationError(
            f"button {button.name!r}: type must be one of {sorted(BUTTON_TYPES)}, "
            f"got {button.type!r}"
        )
    for field in _REQUIRED[button.type]:
        if not getattr(button, field):
            raise WeChatValidationError(f"a {button.type} button needs {field} ({button.name!r})")
    if button.key is not None:
        check_utf8_length(button.key, "button key", 128)
    if button.url is not None:
        check_utf8_length(button.url, "button url", 1024)


def check_buttons(buttons: Sequence[Button]) -> list[dict[str, Any]]:
    """Validate a menu (1..3 buttons, 1..5 sub-buttons each, names, keys, urls)."""
    buttons = list(buttons)
    if not 1 <= len(buttons) <= 3:
        raise WeChatValidationError(f"a menu has 1..3 top-level buttons, got {len(buttons)}")
    for button in buttons:
        _check_button(button, top=True)
    return [b.payload() for b in buttons]


def check_rule(rule: MatchRule | Mapping[str, Any]) -> dict[str, str]:
    """Validate a matchrule; privacy fields are refused with the reason."""
    if isinstance(rule, Mapping):
        privacy = sorted(PRIVACY_MATCH_FIELDS & set(rule))
        if privacy:
            raise WeChatValidationError(
                f"matchrule fields {privacy} are privacy fields WeChat no longer accepts "
                "(65320); match on tag_id or client_platform_type"
            )
        unknown = sorted(set(rule) - {"tag_id", "client_platform_type"})
        if unknown:
            raise WeChatValidationError(f"unknown matchrule fields {unknown}")
        rule = MatchRule(
            tag_id=None if rule.get("tag_id") is None else int(rule["tag_id"]),
            client_platform_type=(
                None
                if rule.get("client_platform_type") is None
                else int(rule["client_platform_type"])
            ),
        )
    if rule.client_platform_type is not None and rule.client_platform_type not in (1, 2, 3):
        raise WeChatValidationError("client_platform_type must be 1 (iOS), 2 (Android) or 3")
    payload = rule.payload()
    if not payload:
        raise WeChatValidationError("a matchrule needs tag_id or client_platform_type (65304)")
    return payload


def parse_menu(data: Mapping[str, Any]) -> MenuInfo:
    """The answer of ``menu/get``."""
    menu = data.get("menu", {})
    conditional = tuple(
        ConditionalMenu(
            menuid=str(c.get("menuid", "")),
            buttons=tuple(Button.from_wechat(b) for b in c.get("button", ())),
            matchrule=dict(c.get("matchrule", {})),
        )
        for c in data.get("conditionalmenu", ())
    )
    return MenuInfo(tuple(Button.from_wechat(b) for b in menu.get("button", ())), conditional)


def parse_trymatch(data: Mapping[str, Any]) -> tuple[Button, ...]:
    """The buttons ``trymatch`` says a user sees."""
    buttons = data.get("button")
    if buttons is None:
        buttons = data.get("menu", {}).get("button", ())
    return tuple(Button.from_wechat(b) for b in buttons)


def create_call(buttons: Sequence[Button]) -> Call:
    """``POST /cgi-bin/menu/create``."""
    return Call("POST", "/cgi-bin/menu/create", body={"button": check_buttons(buttons)})


def conditional_call(buttons: Sequence[Button], rule: MatchRule | Mapping[str, Any]) -> Call:
    """``POST /cgi-bin/menu/addconditional`` (creates a new menu each time: not replayed)."""
    body = {"button": check_buttons(buttons), "matchrule": check_rule(rule)}
    return Call("POST", "/cgi-bin/menu/addconditional", body=body, replayable=False)


def _check_text(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise WeChatValidationError(f"{name} must be a non-empty string")
    return value


class Menus:
    """Custom menus (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, buttons: Sequence[Button]) -> None:
        """Publish the default menu (``POST /cgi-bin/menu/create``)."""
        self._client._request(create_call(buttons))

    def get(self) -> MenuInfo:
        """The default and conditional menus (``GET /cgi-bin/menu/get``)."""
        return parse_menu(self._client._request(Call("GET", "/cgi-bin/menu/get")))

    def delete(self) -> None:
        """Delete the default menu and every conditional one (``GET /cgi-bin/menu/delete``)."""
        self._client._request(Call("GET", "/cgi-bin/menu/delete"))

    def add_conditional(
        self, buttons: Sequence[Button], rule: MatchRule | Mapping[str, Any]
    ) -> str:
        """Add a conditional menu, return its menuid (``POST /cgi-bin/menu/addconditional``)."""
        data = self._client._request(conditional_call(buttons, rule))
        return str(data["menuid"])

    def delete_conditional(self, menuid: str) -> None:
        """Delete one conditional menu (``POST /cgi-bin/menu/delconditional``)."""
        body = {"menuid": _check_text(menuid, "menuid")}
        self._client._request(Call("POST", "/cgi-bin/menu/delconditional", body=body))

    def trymatch(self, user_id: str) -> tuple[Button, ...]:
        """The menu an openid or WeChat id would see (``POST /cgi-bin/menu/trymatch``)."""
        body = {"user_id": _check_text(user_id, "user_id")}
        return parse_trymatch(
            self._client._request(Call("POST", "/cgi-bin/menu/trymatch", body=body))
        )


class AsyncMenus:
    """Custom menus (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, buttons: Sequence[Button]) -> None:
        """Publish the default menu (``POST /cgi-bin/menu/create``)."""
        await self._client._request(create_call(buttons))

    async def get(self) -> MenuInfo:
        """The default and conditional menus (``GET /cgi-bin/menu/get``)."""
        return parse_menu(await self._client._request(Call("GET", "/cgi-bin/menu/get")))

    async def delete(self) -> None:
        """Delete the default menu and every conditional one (``GET /cgi-bin/menu/delete``)."""
        await self._client._request(Call("GET", "/cgi-bin/menu/delete"))

    async def add_conditional(
        self, buttons: Sequence[Button], rule: MatchRule | Mapping[str, Any]
    ) -> str:
        """Add a conditional menu, return its menuid (``POST /cgi-bin/menu/addconditional``)."""
        data = await self._client._request(conditional_call(buttons, rule))
        return str(data["menuid"])

    async def delete_conditional(self, menuid: str) -> None:
        """Delete one conditional menu (``POST /cgi-bin/menu/delconditional``)."""
        body = {"menuid": _check_text(menuid, "menuid")}
        await self._client._request(Call("POST", "/cgi-bin/menu/delconditional", body=body))

    async def trymatch(self, user_id: str) -> tuple[Button, ...]:
        """The menu an openid or WeChat id would see (``POST /cgi-bin/menu/trymatch``)."""
        body = {"user_id": _check_text(user_id, "user_id")}
        return parse_trymatch(
            await self._client._request(Call("POST", "/cgi-bin/menu/trymatch", body=body))
        )
