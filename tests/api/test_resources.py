"""Every resource method, with both clients, against the in-memory WeChat (success and errors)."""

from __future__ import annotations

import json

import pytest

from tests.api._wechat import MiniWeChat
from tests.api.conftest import Harness
from wxsegment.api import (
    Article,
    Button,
    FollowerTagLimitError,
    Image,
    InvalidOpenIDError,
    InvalidRequestError,
    MatchRule,
    MenuChoice,
    MenuError,
    MiniProgramPage,
    MpNews,
    MsgMenu,
    News,
    PageLimitError,
    ServiceWindowClosedError,
    TagError,
    TemplateError,
    Text,
    TooManyTagsError,
    WeChatValidationError,
)

# -- users --------------------------------------------------------------------------------------


def test_iter_openids_walks_every_page(api: Harness, wechat: MiniWeChat) -> None:
    """iter_openids yields every follower once across pages and stops at the empty page."""
    wechat.page_size = 7
    openids = wechat.add_followers(30)
    assert api.run(lambda c: c.users.iter_openids()) == openids
    pages = [c for c in wechat.calls if c[1] == "/cgi-bin/user/get"]
    assert len(pages) == 6  # five pages of data, then the empty one that ends the list


def test_iter_openids_stops_on_missing_data(api: Harness, wechat: MiniWeChat) -> None:
    """An empty account ends the walk after one call."""
    assert api.run(lambda c: c.users.iter_openids()) == []
    assert len([c for c in wechat.calls if c[1] == "/cgi-bin/user/get"]) == 1


def test_iter_openids_page_cap(api: Harness, wechat: MiniWeChat) -> None:
    """Reaching max_pages before the end raises PageLimitError."""
    wechat.page_size = 2
    wechat.add_followers(10)
    with pytest.raises(PageLimitError):
        api.run(lambda c: c.users.iter_openids(max_pages=3))


def test_iter_openids_is_lazy(make: object, wechat: MiniWeChat) -> None:
    """The sync iterator fetches a page only when it is needed."""
    from tests.api.conftest import Harness as H

    wechat.page_size = 5
    wechat.add_followers(20)
    harness = H("sync", wechat)
    iterator = harness.client.users.iter_openids()
    assert next(iterator) == "o0000000"
    assert len([c for c in wechat.calls if c[1] == "/cgi-bin/user/get"]) == 1


def test_get_user(api: Harness, wechat: MiniWeChat) -> None:
    """users.get parses a typed User."""
    (openid,) = wechat.add_followers(1)
    user = api.run(lambda c: c.users.get(openid))
    assert user.openid == openid
    assert user.subscribed
    assert user.subscribe_time is not None
    assert user.subscribe_time.timestamp() == 1_700_000_000


def test_get_user_invalid_openid(api: Harness) -> None:
    """An unknown openid raises InvalidOpenIDError carrying errcode and endpoint."""
    with pytest.raises(InvalidOpenIDError) as info:
        api.run(lambda c: c.users.get("nobody"))
    assert info.value.errcode == 40003
    assert info.value.endpoint == "/cgi-bin/user/info"


def test_get_many_chunks_by_100(api: Harness, wechat: MiniWeChat) -> None:
    """get_many splits 250 openids into calls of at most 100 and keeps order."""
    openids = wechat.add_followers(250)
    users = api.run(lambda c: c.users.get_many(openids))
    assert [u.openid for u in users] == openids
    sizes = [len(b["user_list"]) for _, p, b in wechat.calls if p.endswith("batchget")]
    assert sorted(sizes) == [50, 100, 100]


def test_update_remark(api: Harness, wechat: MiniWeChat) -> None:
    """update_remark stores the remark; 30 bytes is refused locally without a call."""
    (openid,) = wechat.add_followers(1)
    api.run(lambda c: c.users.update_remark(openid, "老客户"))
    assert wechat.followers[openid]["remark"] == "老客户"
    calls = len(wechat.calls)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.users.update_remark(openid, "长" * 10))
    assert len(wechat.calls) == calls


# -- tags ---------------------------------------------------------------------------------------


def test_tag_crud(api: Harness, wechat: MiniWeChat) -> None:
    """create, list, rename and delete a tag."""
    tag = api.run(lambda c: c.tags.create("广东"))
    assert tag.name == "广东"
    assert wechat.tags[tag.id] == "广东"
    api.run(lambda c: c.tags.rename(tag.id, "广州"))
    listed = {t.id: t.name for t in api.run(lambda c: c.tags.list())}
    assert listed[tag.id] == "广州"
    api.run(lambda c: c.tags.delete(tag.id))
    assert tag.id not in wechat.tags


def test_tag_name_checked_in_utf8_bytes(api: Harness, wechat: MiniWeChat) -> None:
    """10 CJK characters (30 bytes) pass; 11 (33 bytes) are refused before any call."""
    api.run(lambda c: c.tags.create("一二三四五六七八九十"))
    calls = len(wechat.calls)
    with pytest.raises(WeChatValidationError, match="UTF-8 bytes"):
        api.run(lambda c: c.tags.create("一二三四五六七八九十一"))
    assert len(wechat.calls) == calls


def test_tag_limits_are_typed(api: Harness, wechat: MiniWeChat) -> None:
    """The 100-tag account limit raises TooManyTagsError; a duplicate name a TagError."""
    for i in range(99):
        wechat.tags[1000 + i] = f"t{i}"
    with pytest.raises(TooManyTagsError) as info:
        api.run(lambda c: c.tags.create("one-too-many"))
    assert info.value.errcode == 45056
    del wechat.tags[1000]
    with pytest.raises(TagError):
        api.run(lambda c: c.tags.create("t1"))


def test_tag_and_untag_chunk_by_50(api: Harness, wechat: MiniWeChat) -> None:
    """tag_users tags 120 followers in calls of ≤ 50; untag_users removes them again."""
    openids = wechat.add_followers(120)
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids))
    assert all(tag.id in wechat.user_tags[o] for o in openids)
    sizes = [len(b["openid_list"]) for _, p, b in wechat.calls if p.endswith("batchtagging")]
    assert sorted(sizes) == [20, 50, 50]
    members = api.run(lambda c: c.tags.iter_members(tag.id))
    assert sorted(members) == openids
    assert api.run(lambda c: c.tags.tags_of(openids[0])) == [tag.id]
    api.run(lambda c: c.tags.untag_users(tag.id, openids))
    assert not any(wechat.user_tags[o] for o in openids)


def test_follower_tag_limit_is_typed(api: Harness, wechat: MiniWeChat) -> None:
    """Tagging a follower who already has 20 tags raises FollowerTagLimitError."""
    (openid, other) = wechat.add_followers(2)
    wechat.user_tags[openid] = list(range(500, 520))
    tag = api.run(lambda c: c.tags.create("21st"))
    with pytest.raises(FollowerTagLimitError):
        api.run(lambda c: c.tags.tag_users(tag.id, [openid, other]))


def test_tags_of_unknown_openid(api: Harness) -> None:
    """tags_of an unknown openid raises InvalidOpenIDError."""
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.tags.tags_of("ghost"))


def test_iter_members_unknown_tag(api: Harness) -> None:
    """Members of an unknown tag raise TagError (45159)."""
    with pytest.raises(TagError) as info:
        api.run(lambda c: c.tags.iter_members(777))
    assert info.value.errcode == 45159


def test_system_tag_cannot_be_deleted(api: Harness) -> None:
    """Deleting tag 2 raises TagError 45058."""
    with pytest.raises(TagError) as info:
        api.run(lambda c: c.tags.delete(2))
    assert info.value.errcode == 45058


# -- qrcode -------------------------------------------------------------------------------------


def test_qrcode_temporary_and_permanent(api: Harness, wechat: MiniWeChat) -> None:
    """Temporary and permanent codes with numeric and string scenes send the right bodies."""
    temporary = api.run(lambda c: c.qrcode.create_temporary(42, expire_seconds=3600))
    assert temporary.expire_seconds == 3600
    permanent = api.run(lambda c: c.qrcode.create_permanent("store:杭州"))
    assert permanent.expire_seconds is None
    bodies = [b for _, p, b in wechat.calls if p == "/cgi-bin/qrcode/create"]
    assert bodies[0]["action_name"] == "QR_SCENE"
    assert bodies[0]["action_info"] == {"scene": {"scene_id": 42}}
    assert bodies[1]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert bodies[1]["action_info"] == {"scene": {"scene_str": "store:杭州"}}
    assert "%2F" in permanent.image_url
    assert "%2B" in permanent.image_url
    assert api.client.qrcode.image_url(permanent.ticket) == permanent.image_url


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.qrcode.create_temporary(1, expire_seconds=2_592_001),
        lambda c: c.qrcode.create_temporary(0),
        lambda c: c.qrcode.create_permanent(100_001),
        lambda c: c.qrcode.create_permanent(""),
        lambda c: c.qrcode.create_temporary("x" * 65),
    ],
)
def test_qrcode_limits_checked_locally(api: Harness, wechat: MiniWeChat, action: object) -> None:
    """Out-of-range expiry, scene ids and scene strings are refused before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(action)  # type: ignore[arg-type]
    assert wechat.calls == []


# -- mass ---------------------------------------------------------------------------------------


def test_send_to_tag_and_all(api: Harness, wechat: MiniWeChat) -> None:
    """send_to_tag and send_to_all build sendall filters and return typed results."""
    tag = api.run(lambda c: c.tags.create("vip"))
    result = api.run(lambda c: c.mass.send_to_tag(tag.id, MpNews("m1"), clientmsgid="c-1"))
    assert result.msg_id is not None
    assert result.msg_data_id == result.msg_id * 10
    assert not result.already_sent
    everyone = api.run(lambda c: c.mass.send_to_all(Text("你好"), clientmsgid="c-2"))
    assert everyone.msg_data_id is None
    bodies = [b for _, p, b in wechat.calls if p.endswith("sendall")]
    assert bodies[0]["filter"] == {"is_to_all": False, "tag_id": tag.id}
    assert bodies[1]["filter"] == {"is_to_all": True}
    assert bodies[1]["text"] == {"content": "你好"}


def test_duplicate_clientmsgid_is_already_sent(api: Harness, wechat: MiniWeChat) -> None:
    """A second send with the same clientmsgid returns the first msg_id as already sent."""
    first = api.run(lambda c: c.mass.send_to_all(Text("a"), clientmsgid="same"))
    again = api.run(lambda c: c.mass.send_to_all(Text("a"), clientmsgid="same"))
    assert again.already_sent
    assert again.msg_id == first.msg_id
    assert len(wechat.jobs) == 1


def test_send_to_openids_splits_with_derived_ids(api: Harness, wechat: MiniWeChat) -> None:
    """25,001 openids go out as three calls of 2..10,000 with distinct, replayable ids."""
    openids = [f"u{i}" for i in range(25_001)]
    results = api.run(
        lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="campaign-7")
    )
    bodies = [b for _, p, b in wechat.calls if p == "/cgi-bin/message/mass/send"]
    assert [len(b["touser"]) for b in bodies] == [8334, 8334, 8333]
    assert [o for b in bodies for o in b["touser"]] == openids
    ids = [b["clientmsgid"] for b in bodies]
    assert len(set(ids)) == 3
    assert all(len(i) <= 32 and i.isascii() for i in ids)
    assert [r.clientmsgid for r in results] == ids
    replay = api.run(
        lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="campaign-7")
    )
    assert all(r.already_sent for r in replay)
    assert [r.msg_id for r in replay] == [r.msg_id for r in results]


def test_lone_openid_is_a_local_error(api: Harness, wechat: MiniWeChat) -> None:
    """One distinct openid (even repeated) is refused locally, not sent for a 40130."""
    with pytest.raises(WeChatValidationError, match="at least 2"):
        api.run(lambda c: c.mass.send_to_openids(["a", "a"], Text("x"), clientmsgid="c"))
    assert wechat.calls == []


@pytest.mark.parametrize("bad", ["", "x" * 33, "含中文", "has space"])
def test_clientmsgid_validated(api: Harness, wechat: MiniWeChat, bad: str) -> None:
    """Empty, over-long, non-ASCII or spaced clientmsgids are refused before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.send_to_all(Text("x"), clientmsgid=bad))
    assert wechat.calls == []


def test_mass_message_type_checked(api: Harness) -> None:
    """A customer-service-only message cannot be mass-sent."""
    with pytest.raises(TypeError):
        api.run(lambda c: c.mass.send_to_all(News(Article("t", "https://e.x")), clientmsgid="c"))


def test_preview_delete_status_speed(api: Harness, wechat: MiniWeChat) -> None:
    """preview, status, delete and speed get/set work and validate their inputs."""
    (openid,) = wechat.add_followers(1)
    assert api.run(lambda c: c.mass.preview(Text("p"), openid=openid)) is not None
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.preview(Text("p")))
    sent = api.run(lambda c: c.mass.send_to_all(MpNews("m"), clientmsgid="s1"))
    assert api.run(lambda c: c.mass.status(sent.msg_id)).status == "SEND_SUCCESS"
    api.run(lambda c: c.mass.delete(sent.msg_id))
    assert api.run(lambda c: c.mass.status(sent.msg_id)).status == "DELETE"
    api.run(lambda c: c.mass.set_speed(3))
    assert api.run(lambda c: c.mass.get_speed()).speed == 3
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.set_speed(5))
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.mass.preview(Text("p"), openid="ghost"))


def test_status_of_unknown_msg(api: Harness) -> None:
    """mass.status of an unknown msg_id raises the mapped 40059 error."""
    with pytest.raises(InvalidRequestError) as info:
        api.run(lambda c: c.mass.status(999_999))
    assert info.value.errcode == 40059


def test_mass_calls_are_paced(make: object, wechat: MiniWeChat) -> None:
    """With 3 per minute, the 4th and 5th sends wait for the window instead of bursting."""
    harness = make(mass_per_minute=3)  # type: ignore[operator]
    for i in range(5):
        harness.run(lambda c, i=i: c.mass.send_to_all(Text("x"), clientmsgid=f"p{i}"))
    assert harness.sleeps == [60.0]


# -- customer service and templates -------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Text("在吗"),
        Image("img"),
        News(Article("t", "https://example.com")),
        MpNews("m"),
        MiniProgramPage("t", "wxapp", "pages/index", "thumb"),
        MsgMenu([MenuChoice("1", "yes"), MenuChoice("2", "no")], head_content="?"),
    ],
)
def test_custom_messages(api: Harness, wechat: MiniWeChat, message: object) -> None:
    """Each customer-service message type is sent with its msgtype payload."""
    (openid,) = wechat.add_followers(1)
    wechat.windows.add(openid)
    api.run(lambda c: c.messages.send(openid, message))
    body = wechat.calls[-1][2]
    assert body["touser"] == openid
    assert body["msgtype"] in body


def test_custom_message_outside_window(api: Harness, wechat: MiniWeChat) -> None:
    """Outside the window a send raises ServiceWindowClosedError (45015), not retried."""
    (openid,) = wechat.add_followers(1)
    with pytest.raises(ServiceWindowClosedError):
        api.run(lambda c: c.messages.send(openid, Text("hi")))


def test_typing(api: Harness, wechat: MiniWeChat) -> None:
    """typing sends Typing / CancelTyping; without an interaction it is 45080."""
    (openid,) = wechat.add_followers(1)
    with pytest.raises(ServiceWindowClosedError):
        api.run(lambda c: c.messages.typing(openid))
    wechat.windows.add(openid)
    api.run(lambda c: c.messages.typing(openid))
    api.run(lambda c: c.messages.typing(openid, False))
    assert [b["command"] for _, p, b in wechat.calls if p.endswith("typing")][-2:] == [
        "Typing",
        "CancelTyping",
    ]


def test_template_message(api: Harness, wechat: MiniWeChat) -> None:
    """Template messages carry data, url, miniprogram and client_msg_id; errors are typed."""
    (openid,) = wechat.add_followers(1)
    result = api.run(
        lambda c: c.messages.send_template(
            openid,
            "TPL",
            {"thing1": "订单", "amount2": {"value": "9.9", "color": "#f00"}},
            url="https://example.com",
            miniprogram=("wxapp", "pages/a"),
            client_msg_id="order-1",
        )
    )
    assert result.msgid is not None
    assert result.client_msg_id == "order-1"
    body = wechat.calls[-1][2]
    assert body["data"]["thing1"] == {"value": "订单"}
    assert body["miniprogram"] == {"appid": "wxapp", "pagepath": "pages/a"}
    with pytest.raises(TemplateError):
        api.run(lambda c: c.messages.send_template(openid, "nope", {}))


# -- menus --------------------------------------------------------------------------------------

MENU = [
    Button("今日", type="click", key="TODAY"),
    Button("更多", sub_buttons=[Button("官网", type="view", url="https://example.com")]),
]


def test_menu_lifecycle(api: Harness, wechat: MiniWeChat) -> None:
    """create, get, add/delete conditional, trymatch and delete menus."""
    (openid,) = wechat.add_followers(1)
    api.run(lambda c: c.menus.create(MENU))
    info = api.run(lambda c: c.menus.get())
    assert info.buttons == tuple(MENU)
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, [openid]))
    vip_menu = [Button("VIP", type="click", key="VIP")]
    menuid = api.run(lambda c: c.menus.add_conditional(vip_menu, MatchRule(tag_id=tag.id)))
    assert api.run(lambda c: c.menus.get()).conditional[0].menuid == menuid
    assert api.run(lambda c: c.menus.trymatch(openid)) == tuple(vip_menu)
    api.run(lambda c: c.menus.delete_conditional(menuid))
    assert api.run(lambda c: c.menus.trymatch(openid)) == tuple(MENU)
    api.run(lambda c: c.menus.delete())
    with pytest.raises(MenuError):
        api.run(lambda c: c.menus.get())


def test_conditional_menu_refuses_privacy_fields(api: Harness, wechat: MiniWeChat) -> None:
    """A matchrule with sex/city is refused locally, naming the fields and 65320."""
    with pytest.raises(WeChatValidationError, match="privacy") as info:
        api.run(lambda c: c.menus.add_conditional(MENU, {"sex": "1", "city": "杭州"}))
    assert "city" in str(info.value)
    assert wechat.calls == []


@pytest.mark.parametrize(
    "buttons",
    [
        [],
        [Button("a", type="click", key="k")] * 4,
        [Button("a", sub_buttons=[Button("s", type="click", key="k")] * 6)],
        [Button("这个名字太长了超过十六字节", type="click", key="k")],
        [Button("a", type="view")],
        [Button("a", type="bogus", key="k")],
    ],
)
def test_menu_limits_checked_locally(
    api: Harness, wechat: MiniWeChat, buttons: list[Button]
) -> None:
    """Button counts, name bytes, types and required fields are validated before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.menus.create(buttons))
    assert wechat.calls == []


def test_request_bodies_are_raw_utf8(api: Harness, wechat: MiniWeChat) -> None:
    """JSON bodies carry raw UTF-8, never \\u escapes (WeChat's 40033)."""
    seen: list[bytes] = []
    original = wechat.handler

    def spy(request):  # type: ignore[no-untyped-def]
        seen.append(request.content)
        return original(request)

    wechat.handler = spy  # type: ignore[method-assign]
    harness = Harness(api.kind, wechat)
    harness.run(lambda c: c.tags.create("广东"))
    body = seen[-1]
    assert "广东".encode() in body
    assert b"\\u" not in body
    assert json.loads(body) == {"tag": {"name": "广东"}}
