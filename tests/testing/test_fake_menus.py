"""Menus: create/get/delete, button limits, conditional menus, trymatch by tag and platform."""

from __future__ import annotations

from typing import Any

import pytest

from tests.testing.conftest import Wire, errcode

OK = {"errcode": 0, "errmsg": "ok"}
DEFAULT = [
    {"type": "click", "name": "今日歌曲", "key": "V1001"},
    {
        "name": "菜单",
        "sub_button": [
            {"type": "view", "name": "搜索", "url": "https://www.soso.com/"},
            {
                "type": "miniprogram",
                "name": "wx",
                "url": "https://a.com",
                "appid": "wx1",
                "pagepath": "p",
            },
        ],
    },
]
VIP = [{"type": "view", "name": "VIP", "url": "https://vip.example.com/"}]


def create_menu(wire: Wire, buttons: Any = DEFAULT) -> Any:
    return wire.post("/cgi-bin/menu/create", {"button": buttons})


def add_conditional(wire: Wire, rule: dict[str, Any], buttons: Any = VIP) -> Any:
    return wire.post("/cgi-bin/menu/addconditional", {"button": buttons, "matchrule": rule})


def trymatch(wire: Wire, user: str) -> Any:
    return wire.post("/cgi-bin/menu/trymatch", {"user_id": user})


def test_create_get_delete(wire: Wire) -> None:
    """A created menu comes back from menu/get; delete removes it and menu/get answers 46003."""
    assert errcode(wire.get("/cgi-bin/menu/get")) == 46003
    assert create_menu(wire) == OK
    got = wire.get("/cgi-bin/menu/get")
    assert got["menu"]["button"][0] == {**DEFAULT[0], "sub_button": []}
    assert got["menu"]["button"][1]["sub_button"] == DEFAULT[1]["sub_button"]
    assert "conditionalmenu" not in got
    assert wire.get("/cgi-bin/menu/delete") == OK
    assert errcode(wire.get("/cgi-bin/menu/get")) == 46003
    assert errcode(wire.post("/cgi-bin/menu/get", {})) == 43001


def leaf(**fields: Any) -> dict[str, Any]:
    return {"type": "click", "name": "a", "key": "k", **fields}


@pytest.mark.parametrize(
    ("buttons", "code"),
    [
        ([], 40016),
        ([leaf(), leaf(), leaf(), leaf()], 40016),
        ([leaf(name="x" * 17)], 40018),
        ([leaf(name="")], 40018),
        ([leaf(type="dance")], 40017),
        ([leaf(key="k" * 129)], 40019),
        ([leaf(type="view", url="u" * 1025)], 40020),
        ([leaf(type="view")], 40020),
        ([{"name": "m", "sub_button": [leaf()] * 6}], 40023),
        ([{"name": "m", "sub_button": [leaf(name="x" * 61)]}], 40025),
        ([{"name": "m", "sub_button": [leaf(type="dance")]}], 40024),
        ([{"name": "m", "sub_button": [leaf(key="")]}], 40026),
        ([{"name": "m", "sub_button": [leaf(type="view", url="")]}], 40027),
        ([{"name": "m", "sub_button": [{"name": "n", "sub_button": [leaf()]}]}], 40022),
        ([leaf(type="media_id")], 41006),
        ([leaf(type="miniprogram", url="https://a")], 40035),
    ],
)
def test_button_limits(wire: Wire, buttons: Any, code: int) -> None:
    """Button counts, name/key/url byte lengths and types are validated; nothing is stored."""
    assert errcode(create_menu(wire, buttons)) == code
    assert errcode(wire.get("/cgi-bin/menu/get")) == 46003


def test_limits_accept_the_maximum(wire: Wire) -> None:
    """Exactly 3 top buttons of 16 bytes and 5 sub-buttons of 60 bytes are fine."""
    sub = [leaf(name="子" * 20, key="k" * 128) for _ in range(5)]
    buttons = [{"name": "菜单一二三四五"[:5], "sub_button": sub}, leaf(name="x" * 16), leaf()]
    assert create_menu(wire, buttons) == OK


def test_conditional_needs_default_and_rules(wire: Wire) -> None:
    """No default menu 65303; empty rule 65304; privacy fields 65320; unknown tag 40050."""
    assert errcode(add_conditional(wire, {"client_platform_type": "1"})) == 65303
    create_menu(wire)
    assert errcode(add_conditional(wire, {})) == 65304
    assert errcode(add_conditional(wire, {"tag_id": "", "sex": ""})) == 65304
    assert errcode(add_conditional(wire, {"sex": "1"})) == 65320
    assert errcode(add_conditional(wire, {"tag_id": "2", "city": "杭州"})) == 65320
    assert errcode(add_conditional(wire, {"tag_id": "999"})) == 40050
    assert errcode(add_conditional(wire, {"client_platform_type": "7"})) == 40035
    assert errcode(add_conditional(wire, {"tag_id": "2"}, buttons=[])) == 40016


def test_trymatch_by_tag_and_platform(wire: Wire) -> None:
    """trymatch picks the newest matching conditional menu, by last applied tag and platform."""
    create_menu(wire)
    vip = wire.post("/cgi-bin/tags/create", {"tag": {"name": "vip"}})["tag"]["id"]
    old = wire.post("/cgi-bin/tags/create", {"tag": {"name": "old"}})["tag"]["id"]
    menuid = add_conditional(wire, {"tag_id": str(vip)})["menuid"]
    assert isinstance(menuid, str)
    ios = [{"type": "click", "name": "iOS", "key": "ios"}]
    add_conditional(wire, {"client_platform_type": "1"}, buttons=ios)
    wire.post("/cgi-bin/tags/members/batchtagging", {"openid_list": ["oA", "oB"], "tagid": vip})
    wire.post("/cgi-bin/tags/members/batchtagging", {"openid_list": ["oB"], "tagid": old})
    assert trymatch(wire, "oA")["button"][0]["name"] == "VIP"
    assert trymatch(wire, "oB")["button"] == wire.get("/cgi-bin/menu/get")["menu"]["button"]
    assert trymatch(wire, "oC")["button"][0]["name"] == "今日歌曲"
    wire.fake.add_follower("oI", platform=1)
    assert trymatch(wire, "oI")["button"][0]["name"] == "iOS"
    assert errcode(trymatch(wire, "zz")) == 65302
    got = wire.get("/cgi-bin/menu/get")
    assert got["conditionalmenu"][0]["menuid"] == int(menuid)
    assert type(got["menu"]["menuid"]) is type(got["conditionalmenu"][0]["menuid"])
    assert got["conditionalmenu"][0]["matchrule"] == {"tag_id": str(vip)}
    assert wire.post("/cgi-bin/menu/delconditional", {"menuid": menuid}) == OK
    assert trymatch(wire, "oA")["button"][0]["name"] == "今日歌曲"
    assert errcode(wire.post("/cgi-bin/menu/delconditional", {"menuid": menuid})) == 65301


def test_delete_removes_conditional_too(wire: Wire) -> None:
    """menu/delete removes the default and every conditional menu."""
    create_menu(wire)
    add_conditional(wire, {"client_platform_type": "2"})
    wire.get("/cgi-bin/menu/delete")
    assert errcode(trymatch(wire, "oA")) == 46003
    create_menu(wire)
    assert "conditionalmenu" not in wire.get("/cgi-bin/menu/get")


def test_conditional_domain_limit(wire: Wire) -> None:
    """All conditional menus together may link to at most 3 domains (65316)."""
    create_menu(wire)
    for host in ("a.com", "b.com", "c.com"):
        view = [{"type": "view", "name": "v", "url": f"https://{host}/x"}]
        assert "menuid" in add_conditional(wire, {"client_platform_type": "3"}, buttons=view)
    view = [{"type": "view", "name": "v", "url": "https://d.com/"}]
    assert errcode(add_conditional(wire, {"client_platform_type": "3"}, buttons=view)) == 65316


def test_menu_for_helper(wire: Wire) -> None:
    """fake.menu_for mirrors trymatch for assertions."""
    assert wire.fake.menu_for("oA") is None
    create_menu(wire)
    assert wire.fake.menu_for("oA") == DEFAULT
