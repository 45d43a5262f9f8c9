"""Every resource method, with both clients, against `FakeWeChat` (success and error paths)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    Article,
    Button,
    FollowerTagLimitError,
    Image,
    InvalidOpenIDError,
    InvalidRequestError,
    MassSpeed,
    MatchRule,
    MenuChoice,
    MenuError,
    MiniProgramPage,
    MpNews,
    MsgMenu,
    News,
    PageLimitError,
    ServiceWindowClosedError,
    ServiceWindowExhaustedError,
    TagError,
    TagTooLargeError,
    TemplateError,
    Text,
    TooManyTagsError,
    WeChatValidationError,
)
from wxsegment.testing import FakeConfig, FakeWeChat


def _bodies(fake: FakeWeChat, path: str) -> list[Any]:
    return [c.json for c in fake.calls if c.path == path]


def _count(fake: FakeWeChat, path: str) -> int:
    return sum(c.path == path for c in fake.calls)


# -- users --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "pages"), [("last", 6), ("empty", 5)])
def test_iter_openids_walks_every_page(kind: str, clock: FixedClock, mode: str, pages: int) -> None:
    """Every follower once across pages, whichever end-of-list answer WeChat gives."""
    fake = FakeWeChat(
        clock=clock,
        config=FakeConfig(user_page_size=7, last_page_next_openid=mode),  # type: ignore[arg-type]
    )
    openids = fake.add_followers(30)
    api = Harness(kind, fake, clock=clock)
    assert api.run(lambda c: c.users.iter_openids()) == openids
    # "last" echoes the last openid and needs one more call that answers no data.
    assert _count(fake, "/cgi-bin/user/get") == pages


def test_iter_openids_stops_on_missing_data(api: Harness, fake: FakeWeChat) -> None:
    """An empty account ends the walk after one call."""
    assert api.run(lambda c: c.users.iter_openids()) == []
    assert _count(fake, "/cgi-bin/user/get") == 1


def test_iter_openids_resumes_from_next_openid(api: Harness, fake: FakeWeChat) -> None:
    """Starting from a cursor yields only the followers after it."""
    openids = fake.add_followers(10)
    assert api.run(lambda c: c.users.iter_openids(next_openid=openids[6])) == openids[7:]


def test_iter_openids_page_cap(api: Harness, fake: FakeWeChat) -> None:
    """Reaching max_pages before the end raises PageLimitError after that many calls."""
    fake.add_followers(30)
    with pytest.raises(PageLimitError):
        api.run(lambda c: c.users.iter_openids(max_pages=3))
    assert _count(fake, "/cgi-bin/user/get") == 3


def test_iter_openids_is_lazy(api: Harness, fake: FakeWeChat) -> None:
    """Both iterators fetch a page only when it is needed."""
    openids = fake.add_followers(20)
    iterator = api.client.users.iter_openids()
    if api.kind == "sync":
        first = next(iterator)
    else:

        async def take_one() -> str:
            value: str = await anext(iterator)
            await iterator.aclose()
            return value

        first = api.run(lambda c: take_one())
    assert first == openids[0]
    assert _count(fake, "/cgi-bin/user/get") == 1


def test_get_user(api: Harness, fake: FakeWeChat) -> None:
    """users.get parses a typed User with the fake's profile fields."""
    joined = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    fake.add_follower(
        "oAlice", subscribe_time=joined, unionid="uAlice", remark="r", qr_scene_str="store:1"
    )
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, ["oAlice", *fake.add_followers(1)]))
    user = api.run(lambda c: c.users.get("oAlice"))
    assert user.openid == "oAlice"
    assert user.subscribed
    assert user.subscribe_time == joined
    assert user.unionid == "uAlice"
    assert user.remark == "r"
    assert user.tag_ids == (tag.id,)
    assert user.subscribe_scene == "ADD_SCENE_QR_CODE"
    assert user.qr_scene_str == "store:1"


def test_get_unsubscribed_user(api: Harness, fake: FakeWeChat) -> None:
    """A former follower comes back as subscribed=False with the rest empty."""
    (openid,) = fake.add_followers(1)
    fake.unsubscribe(openid)
    user = api.run(lambda c: c.users.get(openid))
    assert user.openid == openid
    assert not user.subscribed
    assert user.subscribe_time is None


def test_get_user_invalid_openid(api: Harness) -> None:
    """An unknown openid raises InvalidOpenIDError carrying errcode and endpoint."""
    with pytest.raises(InvalidOpenIDError) as info:
        api.run(lambda c: c.users.get("oNotAFollower000000000000000"))
    assert info.value.errcode == 40003
    assert info.value.endpoint == "/cgi-bin/user/info"


def test_get_many_chunks_by_100(api: Harness, fake: FakeWeChat) -> None:
    """get_many splits 250 openids into calls of at most 100 and keeps order."""
    openids = fake.add_followers(250)
    users = api.run(lambda c: c.users.get_many(openids))
    assert [u.openid for u in users] == openids
    assert all(u.subscribed for u in users)
    sizes = [len(b["user_list"]) for b in _bodies(fake, "/cgi-bin/user/info/batchget")]
    assert sorted(sizes) == [50, 100, 100]


def test_get_many_invalid_openid(api: Harness, fake: FakeWeChat) -> None:
    """One unknown openid in a batch raises InvalidOpenIDError."""
    openids = fake.add_followers(3)
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.users.get_many([*openids, "oNotAFollower000000000000000"]))


def test_update_remark(api: Harness, fake: FakeWeChat) -> None:
    """update_remark stores the remark; 30 bytes is refused locally without a call."""
    (openid,) = fake.add_followers(1)
    api.run(lambda c: c.users.update_remark(openid, "老客户"))
    assert fake.followers[openid].remark == "老客户"
    calls = len(fake.calls)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.users.update_remark(openid, "长" * 10))
    assert len(fake.calls) == calls
    assert fake.followers[openid].remark == "老客户"
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.users.update_remark("oNotAFollower000000000000000", "x"))


# -- tags ---------------------------------------------------------------------------------------


def test_tag_crud(api: Harness, fake: FakeWeChat) -> None:
    """create, list (with counts and the reserved tag), rename and delete a tag."""
    openids = fake.add_followers(3)
    tag = api.run(lambda c: c.tags.create("广东"))
    assert tag.name == "广东"
    assert fake.tags[tag.id].name == "广东"
    api.run(lambda c: c.tags.tag_users(tag.id, openids))
    api.run(lambda c: c.tags.rename(tag.id, "广州"))
    assert fake.tags[tag.id].name == "广州"
    listed = {t.id: t for t in api.run(lambda c: c.tags.list())}
    assert (listed[tag.id].name, listed[tag.id].count) == ("广州", 3)
    assert listed[2].name == "星标组"
    api.run(lambda c: c.tags.delete(tag.id))
    assert tag.id not in fake.tags
    assert fake.followers[openids[0]].tag_ids == ()


def test_tag_name_checked_in_utf8_bytes(api: Harness, fake: FakeWeChat) -> None:
    """10 CJK characters (30 bytes) pass; 11 (33 bytes) are refused before any call."""
    tag = api.run(lambda c: c.tags.create("一二三四五六七八九十"))
    assert fake.tags[tag.id].name == "一二三四五六七八九十"
    calls = len(fake.calls)
    with pytest.raises(WeChatValidationError, match="UTF-8 bytes"):
        api.run(lambda c: c.tags.create("一二三四五六七八九十一"))
    with pytest.raises(WeChatValidationError, match="UTF-8 bytes"):
        api.run(lambda c: c.tags.rename(tag.id, "一二三四五六七八九十一"))
    assert len(fake.calls) == calls


def test_tag_limits_are_typed(api: Harness, fake: FakeWeChat) -> None:
    """The 100-tag account limit raises TooManyTagsError; a duplicate name a TagError."""
    tags = [api.run(lambda c, i=i: c.tags.create(f"t{i}")) for i in range(100)]
    with pytest.raises(TooManyTagsError) as info:
        api.run(lambda c: c.tags.create("one-too-many"))
    assert info.value.errcode == 45056
    api.run(lambda c: c.tags.delete(tags[0].id))
    with pytest.raises(TagError) as duplicate:
        api.run(lambda c: c.tags.create("t1"))
    assert duplicate.value.errcode == 45157
    assert sum(not t.reserved for t in fake.tags.values()) == 99


def test_rename_to_an_existing_name(api: Harness, fake: FakeWeChat) -> None:
    """Renaming a tag to another tag's name raises TagError (45157) and keeps its name."""
    api.run(lambda c: c.tags.create("a"))
    second = api.run(lambda c: c.tags.create("b"))
    with pytest.raises(TagError) as info:
        api.run(lambda c: c.tags.rename(second.id, "a"))
    assert info.value.errcode == 45157
    assert fake.tags[second.id].name == "b"


def test_too_large_tag_cannot_be_deleted(kind: str, clock: FixedClock) -> None:
    """A tag above the deletable fan count raises TagTooLargeError (45057) and stays."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(max_deletable_tag_fans=2))
    openids = fake.add_followers(3)
    api = Harness(kind, fake, clock=clock)
    tag = api.run(lambda c: c.tags.create("big"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids))
    with pytest.raises(TagTooLargeError) as info:
        api.run(lambda c: c.tags.delete(tag.id))
    assert info.value.errcode == 45057
    api.run(lambda c: c.tags.untag_users(tag.id, openids[:1]))
    api.run(lambda c: c.tags.delete(tag.id))
    assert tag.id not in fake.tags


def test_tag_and_untag_chunk_by_50(api: Harness, fake: FakeWeChat) -> None:
    """tag_users tags 120 followers in calls of ≤ 50; members page; untag_users removes them."""
    openids = fake.add_followers(120)
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids))
    assert all(fake.followers[o].tag_ids == (tag.id,) for o in openids)
    sizes = [len(b["openid_list"]) for b in _bodies(fake, "/cgi-bin/tags/members/batchtagging")]
    assert sorted(sizes) == [20, 50, 50]
    members = api.run(lambda c: c.tags.iter_members(tag.id))
    assert sorted(members) == sorted(openids)
    assert _count(fake, "/cgi-bin/user/tag/get") >= 120 // 5
    assert {t.id: t.count for t in api.run(lambda c: c.tags.list())}[tag.id] == 120
    assert api.run(lambda c: c.tags.tags_of(openids[0])) == [tag.id]
    api.run(lambda c: c.tags.untag_users(tag.id, openids[:60]))
    assert sorted(api.run(lambda c: c.tags.iter_members(tag.id))) == sorted(openids[60:])
    api.run(lambda c: c.tags.untag_users(tag.id, openids[60:]))
    assert not any(fake.followers[o].tag_ids for o in openids)
    assert fake.tags[tag.id].count == 0


def test_tags_of_keeps_the_order_applied(api: Harness, fake: FakeWeChat) -> None:
    """tags_of lists a follower's tags in the order they were applied."""
    (openid,) = fake.add_followers(1)
    first, second = (api.run(lambda c, n=n: c.tags.create(n)) for n in ("a", "b"))
    for tag in (second, first):
        api.run(lambda c, tag=tag: c.tags.tag_users(tag.id, [openid]))
    assert api.run(lambda c: c.tags.tags_of(openid)) == [second.id, first.id]


def test_follower_tag_limit_is_typed(api: Harness, fake: FakeWeChat) -> None:
    """Tagging a follower with 20 tags raises FollowerTagLimitError and tags nobody."""
    (openid, other) = fake.add_followers(2)
    tags = [api.run(lambda c, i=i: c.tags.create(f"t{i}")) for i in range(21)]
    for tag in tags[:20]:
        api.run(lambda c, tag=tag: c.tags.tag_users(tag.id, [openid]))
    with pytest.raises(FollowerTagLimitError) as info:
        api.run(lambda c: c.tags.tag_users(tags[20].id, [openid, other]))
    assert info.value.errcode == 45059
    assert fake.followers[other].tag_ids == ()
    assert len(fake.followers[openid].tag_ids) == 20


def test_tag_users_unknown_openid(api: Harness, fake: FakeWeChat) -> None:
    """An unknown openid in a tagging batch raises InvalidOpenIDError and tags nobody."""
    (openid,) = fake.add_followers(1)
    tag = api.run(lambda c: c.tags.create("vip"))
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.tags.tag_users(tag.id, [openid, "oNotAFollower000000000000000"]))
    assert fake.followers[openid].tag_ids == ()


def test_tags_of_unknown_openid(api: Harness) -> None:
    """tags_of an unknown openid raises InvalidOpenIDError."""
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.tags.tags_of("oNotAFollower000000000000000"))


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.tags.iter_members(777),
        lambda c: c.tags.rename(777, "x"),
        lambda c: c.tags.delete(777),
    ],
)
def test_unknown_tag(api: Harness, action: Callable[[Any], Any]) -> None:
    """Members of, renaming or deleting an unknown tag raise TagError (45159)."""
    with pytest.raises(TagError) as info:
        api.run(action)
    assert info.value.errcode == 45159


def test_system_tag_cannot_be_deleted(api: Harness, fake: FakeWeChat) -> None:
    """Deleting tag 2 raises TagError 45058 and the tag stays."""
    with pytest.raises(TagError) as info:
        api.run(lambda c: c.tags.delete(2))
    assert info.value.errcode == 45058
    assert 2 in fake.tags


# -- qrcode -------------------------------------------------------------------------------------


def test_qrcode_temporary_and_permanent(api: Harness, fake: FakeWeChat) -> None:
    """Temporary and permanent codes with numeric and string scenes land in the fake."""
    temporary = api.run(lambda c: c.qrcode.create_temporary(42, expire_seconds=3600))
    assert temporary.expire_seconds == 3600
    permanent = api.run(lambda c: c.qrcode.create_permanent("store:杭州"))
    assert permanent.expire_seconds is None
    bodies = _bodies(fake, "/cgi-bin/qrcode/create")
    assert bodies[0]["action_name"] == "QR_SCENE"
    assert bodies[0]["action_info"] == {"scene": {"scene_id": 42}}
    assert bodies[1]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert bodies[1]["action_info"] == {"scene": {"scene_str": "store:杭州"}}
    code = fake.qrcodes[temporary.ticket]
    assert (code.scene_id, code.expires_at) == (42, fake.clock.now() + timedelta(hours=1))
    assert fake.qrcodes[permanent.ticket].scene_str == "store:杭州"
    assert temporary.url == code.url
    again = api.run(lambda c: c.qrcode.create_permanent("store:杭州"))
    assert again.ticket == permanent.ticket


def test_qrcode_string_scene_temporary_and_numeric_permanent(
    api: Harness, fake: FakeWeChat
) -> None:
    """The other two action names: QR_STR_SCENE and QR_LIMIT_SCENE."""
    temporary = api.run(lambda c: c.qrcode.create_temporary("s" * 64))
    permanent = api.run(lambda c: c.qrcode.create_permanent(100_000))
    assert [b["action_name"] for b in _bodies(fake, "/cgi-bin/qrcode/create")] == [
        "QR_STR_SCENE",
        "QR_LIMIT_SCENE",
    ]
    assert fake.qrcodes[temporary.ticket].scene_str == "s" * 64
    assert fake.qrcodes[permanent.ticket].scene_id == 100_000


def test_qrcode_image_url(api: Harness, fake: FakeWeChat, clock: FixedClock) -> None:
    """image_url quotes the ticket (base64 '+', '/', '=') and the fake serves the image there."""
    code = api.run(lambda c: c.qrcode.create_temporary(7, expire_seconds=60))
    url = api.client.qrcode.image_url(code.ticket)
    assert code.image_url == url
    assert api.client.qrcode.image_url("a/b+c=").endswith("ticket=a%2Fb%2Bc%3D")
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as http:
        image = http.get(url)
        assert image.status_code == 200
        assert image.content.startswith(b"\xff\xd8")  # a JPEG
        clock.advance(timedelta(seconds=60))
        assert http.get(url).status_code == 404


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.qrcode.create_temporary(1, expire_seconds=2_592_001),
        lambda c: c.qrcode.create_temporary(1, expire_seconds=0),
        lambda c: c.qrcode.create_temporary(0),
        lambda c: c.qrcode.create_permanent(0),
        lambda c: c.qrcode.create_permanent(100_001),
        lambda c: c.qrcode.create_permanent(""),
        lambda c: c.qrcode.create_temporary("x" * 65),
    ],
)
def test_qrcode_limits_checked_locally(
    api: Harness, fake: FakeWeChat, action: Callable[[Any], Any]
) -> None:
    """Out-of-range expiry, scene ids and scene strings are refused before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(action)
    assert fake.calls == []


# -- mass ---------------------------------------------------------------------------------------


def test_send_to_tag_and_all(api: Harness, fake: FakeWeChat) -> None:
    """send_to_tag and send_to_all build sendall filters and return typed results."""
    openids = fake.add_followers(8)
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids[:5]))
    draft = fake.content.add_draft()
    result = api.run(lambda c: c.mass.send_to_tag(tag.id, MpNews(draft), clientmsgid="c-1"))
    job = fake.jobs[result.msg_id]
    assert (job.total_count, job.msgtype, job.clientmsgid) == (5, "mpnews", "c-1")
    assert result.msg_data_id is not None
    assert result.msg_data_id == job.msg_data_id
    assert result.clientmsgid == "c-1"
    assert not result.already_sent
    everyone = api.run(lambda c: c.mass.send_to_all(Text("你好"), clientmsgid="c-2"))
    assert everyone.msg_data_id is None
    assert fake.jobs[everyone.msg_id].total_count == 8
    bodies = _bodies(fake, "/cgi-bin/message/mass/sendall")
    assert bodies[0]["filter"] == {"is_to_all": False, "tag_id": tag.id}
    assert bodies[0]["mpnews"] == {"media_id": draft}
    assert bodies[1]["filter"] == {"is_to_all": True}
    assert bodies[1]["text"] == {"content": "你好"}


def test_send_to_unknown_tag(api: Harness, fake: FakeWeChat) -> None:
    """A send to a tag that does not exist raises the mapped 40050 error and creates no job."""
    with pytest.raises(InvalidRequestError) as info:
        api.run(lambda c: c.mass.send_to_tag(777, Text("x"), clientmsgid="c"))
    assert info.value.errcode == 40050
    assert fake.jobs == {}


def test_duplicate_clientmsgid_is_already_sent(api: Harness, fake: FakeWeChat) -> None:
    """A second send with the same clientmsgid returns the first msg_id as already sent."""
    openids = fake.add_followers(2)
    first = api.run(lambda c: c.mass.send_to_all(Text("a"), clientmsgid="same"))
    again = api.run(lambda c: c.mass.send_to_all(Text("a"), clientmsgid="same"))
    assert again.already_sent
    assert again.msg_id == first.msg_id
    assert len(fake.jobs) == 1
    assert [fake.mass_received(o) for o in openids] == [1, 1]


def test_send_to_openids_splits_with_derived_ids(api: Harness, fake: FakeWeChat) -> None:
    """25,001 openids go out as three calls of 2..10,000 with distinct, replayable ids."""
    openids = fake.add_followers(25_001)
    results = api.run(
        lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="campaign-7")
    )
    bodies = _bodies(fake, "/cgi-bin/message/mass/send")
    assert [len(b["touser"]) for b in bodies] == [8334, 8334, 8333]
    assert [o for b in bodies for o in b["touser"]] == openids
    ids = [b["clientmsgid"] for b in bodies]
    assert len(set(ids)) == 3
    assert all(len(i) <= 32 and i.isascii() for i in ids)
    assert [r.clientmsgid for r in results] == ids
    assert sum(fake.jobs[r.msg_id].total_count for r in results) == 25_001
    replay = api.run(lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="campaign-7"))
    assert [r.already_sent for r in replay] == [True, True, True]
    assert [r.msg_id for r in replay] == [r.msg_id for r in results]
    assert len(fake.jobs) == 3
    assert fake.mass_received(openids[-1]) == 1


def test_send_to_small_list_is_one_call(api: Harness, fake: FakeWeChat) -> None:
    """Two openids go out as one call with the caller's own clientmsgid."""
    openids = fake.add_followers(2)
    (result,) = api.run(lambda c: c.mass.send_to_openids(openids, Text("hi"), clientmsgid="l1"))
    assert result.clientmsgid == "l1"
    assert fake.jobs[result.msg_id].delivered == tuple(openids)


def test_lone_openid_is_a_local_error(api: Harness, fake: FakeWeChat) -> None:
    """One distinct openid (even repeated) is refused locally, not sent for a 40130."""
    with pytest.raises(WeChatValidationError, match="at least 2"):
        api.run(lambda c: c.mass.send_to_openids(["a", "a"], Text("x"), clientmsgid="c"))
    assert fake.calls == []


@pytest.mark.parametrize("bad", ["", "x" * 33, "含中文", "has space"])
def test_clientmsgid_validated(api: Harness, fake: FakeWeChat, bad: str) -> None:
    """Empty, over-long, non-ASCII or spaced clientmsgids are refused before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.send_to_all(Text("x"), clientmsgid=bad))
    assert fake.calls == []


def test_mass_message_type_checked(api: Harness, fake: FakeWeChat) -> None:
    """A customer-service-only message cannot be mass-sent."""
    with pytest.raises(TypeError):
        api.run(lambda c: c.mass.send_to_all(News(Article("t", "https://e.x")), clientmsgid="c"))
    assert fake.calls == []


def test_preview_delete_status_speed(api: Harness, fake: FakeWeChat) -> None:
    """preview, status, delete and speed get/set work and validate their inputs."""
    (openid,) = fake.add_followers(1)
    preview = api.run(lambda c: c.mass.preview(Text("p"), openid=openid))
    assert preview is not None
    assert _bodies(fake, "/cgi-bin/message/mass/preview")[-1]["touser"] == openid
    calls = len(fake.calls)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.preview(Text("p")))
    assert len(fake.calls) == calls
    draft = fake.content.add_draft()
    sent = api.run(lambda c: c.mass.send_to_all(MpNews(draft), clientmsgid="s1"))
    assert api.run(lambda c: c.mass.status(sent.msg_id)).status == "SEND_SUCCESS"
    api.run(lambda c: c.mass.delete(sent.msg_id))
    assert api.run(lambda c: c.mass.status(sent.msg_id)).status == "DELETE"
    assert fake.jobs[sent.msg_id].status == "DELETE"
    api.run(lambda c: c.mass.set_speed(3))
    assert fake.speed == 3
    # realspeed is in 10,000 followers per minute: level 3 is 300,000.
    assert api.run(lambda c: c.mass.get_speed()) == MassSpeed(3, 30)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.mass.set_speed(5))
    assert fake.speed == 3
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.mass.preview(Text("p"), openid="oNotAFollower000000000000000"))


def test_only_mpnews_and_video_sends_can_be_deleted(api: Harness, fake: FakeWeChat) -> None:
    """Deleting a text send is refused by WeChat and the job stays as it was."""
    fake.add_followers(2)
    sent = api.run(lambda c: c.mass.send_to_all(Text("t"), clientmsgid="text-1"))
    with pytest.raises(InvalidRequestError):
        api.run(lambda c: c.mass.delete(sent.msg_id))
    assert fake.jobs[sent.msg_id].status == "SEND_SUCCESS"


@pytest.mark.parametrize("action", ["status", "delete"])
def test_unknown_msg_id(api: Harness, action: str) -> None:
    """mass.status and mass.delete of an unknown msg_id raise the mapped 40059 error."""
    with pytest.raises(InvalidRequestError) as info:
        api.run(lambda c: getattr(c.mass, action)(999_999))
    assert info.value.errcode == 40059


def test_mass_calls_are_paced(make: Callable[..., Harness], fake: FakeWeChat) -> None:
    """With 3 per minute, the 4th and 5th sends wait for the window instead of bursting."""
    fake.add_followers(2)
    harness = make(mass_per_minute=3)
    for i in range(5):
        harness.run(lambda c, i=i: c.mass.send_to_all(Text("x"), clientmsgid=f"p{i}"))
    assert harness.sleeps == [60.0]
    assert len(fake.jobs) == 5


def test_pacing_avoids_45011(api: Harness, fake: FakeWeChat) -> None:
    """70 sends in a row are paced on the shared clock; the fake never answers 45011."""
    fake.add_followers(2)
    for i in range(70):
        api.run(lambda c, i=i: c.mass.send_to_all(Text(f"n{i}"), clientmsgid=f"pace-{i}"))
    assert len(fake.jobs) == 70
    assert not any(c.errcode == 45011 for c in fake.calls)
    assert sum(api.sleeps) >= 59


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
def test_custom_messages(api: Harness, fake: FakeWeChat, message: Any) -> None:
    """Each customer-service message type is delivered with its msgtype payload."""
    (openid,) = fake.add_followers(1)
    fake.open_window(openid, "message")
    api.run(lambda c: c.messages.send(openid, message))
    (delivered,) = fake.messages
    assert (delivered.kind, delivered.openid) == ("custom", openid)
    body = _bodies(fake, "/cgi-bin/message/custom/send")[-1]
    assert body["touser"] == openid
    assert body["msgtype"] == delivered.msgtype
    assert body["msgtype"] in body


def test_custom_message_outside_window(api: Harness, fake: FakeWeChat) -> None:
    """Outside the window a send raises ServiceWindowClosedError (45015), not retried."""
    (openid,) = fake.add_followers(1)
    with pytest.raises(ServiceWindowClosedError) as info:
        api.run(lambda c: c.messages.send(openid, Text("hi")))
    assert info.value.errcode == 45015
    assert _count(fake, "/cgi-bin/message/custom/send") == 1
    assert api.sleeps == []
    assert fake.messages == ()


def test_custom_message_window_used_up(api: Harness, fake: FakeWeChat) -> None:
    """A menu click allows three sends; the fourth raises ServiceWindowExhaustedError (45047)."""
    (openid,) = fake.add_followers(1)
    fake.open_window(openid, "menu")
    for i in range(3):
        api.run(lambda c, i=i: c.messages.send(openid, Text(f"#{i}")))
    with pytest.raises(ServiceWindowExhaustedError) as info:
        api.run(lambda c: c.messages.send(openid, Text("#4")))
    assert info.value.errcode == 45047
    assert len(fake.messages) == 3


def test_messages_to_a_former_follower(api: Harness, fake: FakeWeChat) -> None:
    """Custom and template messages to someone who unfollowed raise InvalidOpenIDError (43004)."""
    (openid,) = fake.add_followers(1)
    fake.open_window(openid, "message")
    fake.unsubscribe(openid)
    with pytest.raises(InvalidOpenIDError) as custom:
        api.run(lambda c: c.messages.send(openid, Text("hi")))
    with pytest.raises(InvalidOpenIDError) as template:
        api.run(lambda c: c.messages.send_template(openid, "TPL", {"thing1": "x"}))
    assert (custom.value.errcode, template.value.errcode) == (43004, 43004)
    assert fake.messages == ()


def test_typing(api: Harness, fake: FakeWeChat, clock: FixedClock) -> None:
    """typing sends Typing / CancelTyping; it needs a window (45015) and a recent interaction."""
    (openid,) = fake.add_followers(1)
    with pytest.raises(ServiceWindowClosedError) as closed:
        api.run(lambda c: c.messages.typing(openid))
    assert closed.value.errcode == 45015
    fake.open_window(openid, "message")
    api.run(lambda c: c.messages.typing(openid))
    with pytest.raises(InvalidRequestError) as again:
        api.run(lambda c: c.messages.typing(openid))
    assert again.value.errcode == 45081
    api.run(lambda c: c.messages.typing(openid, False))
    clock.advance(timedelta(seconds=31))
    with pytest.raises(ServiceWindowClosedError) as stale:
        api.run(lambda c: c.messages.typing(openid))
    assert stale.value.errcode == 45080
    commands = [b["command"] for b in _bodies(fake, "/cgi-bin/message/custom/typing")]
    assert commands == ["Typing", "Typing", "Typing", "CancelTyping", "Typing"]


def test_template_message(api: Harness, fake: FakeWeChat) -> None:
    """Template messages carry data, url, miniprogram and client_msg_id, deduped on the id."""
    (openid,) = fake.add_followers(1)

    def send() -> Any:
        return api.run(
            lambda c: c.messages.send_template(
                openid,
                "TPL",
                {"thing1": "订单", "amount2": {"value": "9.9", "color": "#f00"}},
                url="https://example.com",
                miniprogram=("wxapp", "pages/a"),
                client_msg_id="order-1",
            )
        )

    result = send()
    assert result.msgid is not None
    assert result.client_msg_id == "order-1"
    body = _bodies(fake, "/cgi-bin/message/template/send")[-1]
    assert body["data"]["thing1"] == {"value": "订单"}
    assert body["data"]["amount2"] == {"value": "9.9", "color": "#f00"}
    assert body["url"] == "https://example.com"
    assert body["miniprogram"] == {"appid": "wxapp", "pagepath": "pages/a"}
    assert body["client_msg_id"] == "order-1"
    (delivered,) = fake.messages
    assert (delivered.kind, delivered.msgid) == ("template", result.msgid)
    assert send().msgid == result.msgid
    assert len(fake.messages) == 1


def test_template_errors(kind: str, clock: FixedClock) -> None:
    """An unknown template id is a TemplateError (40037); nothing is delivered."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(templates=frozenset({"TPL"})))
    (openid,) = fake.add_followers(1)
    api = Harness(kind, fake, clock=clock)
    with pytest.raises(TemplateError) as info:
        api.run(lambda c: c.messages.send_template(openid, "nope", {"a": "b"}))
    assert info.value.errcode == 40037
    assert fake.messages == ()


# -- menus --------------------------------------------------------------------------------------

MENU = [
    Button("今日", type="click", key="TODAY"),
    Button("更多", sub_buttons=[Button("官网", type="view", url="https://example.com")]),
]


def test_menu_lifecycle(api: Harness, fake: FakeWeChat) -> None:
    """create, get, add/delete conditional, trymatch and delete menus."""
    (openid,) = fake.add_followers(1)
    with pytest.raises(MenuError):
        api.run(lambda c: c.menus.get())
    api.run(lambda c: c.menus.create(MENU))
    info = api.run(lambda c: c.menus.get())
    assert info.buttons == tuple(MENU)
    assert info.conditional == ()
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, [openid]))
    vip_menu = [Button("VIP", type="click", key="VIP")]
    menuid = api.run(lambda c: c.menus.add_conditional(vip_menu, MatchRule(tag_id=tag.id)))
    assert api.run(lambda c: c.menus.get()).conditional[0].menuid == menuid
    assert api.run(lambda c: c.menus.trymatch(openid)) == tuple(vip_menu)
    api.run(lambda c: c.menus.delete_conditional(menuid))
    assert api.run(lambda c: c.menus.trymatch(openid)) == tuple(MENU)
    with pytest.raises(MenuError) as gone:
        api.run(lambda c: c.menus.delete_conditional(menuid))
    assert gone.value.errcode == 65301
    api.run(lambda c: c.menus.add_conditional(vip_menu, MatchRule(tag_id=tag.id)))
    api.run(lambda c: c.menus.delete())
    with pytest.raises(MenuError):
        api.run(lambda c: c.menus.get())
    assert fake.menu_for(openid) is None
    # Deleting the default menu deletes every conditional menu with it.
    api.run(lambda c: c.menus.create(MENU))
    assert api.run(lambda c: c.menus.get()).conditional == ()
    assert api.run(lambda c: c.menus.trymatch(openid)) == tuple(MENU)


def test_trymatch_uses_last_applied_tag_and_platform(api: Harness, fake: FakeWeChat) -> None:
    """Conditional menus match a follower's last applied tag, and its platform."""
    fake.add_follower("oIOS", platform=1)
    fake.add_follower("oAndroid", platform=2)
    api.run(lambda c: c.menus.create(MENU))
    first = api.run(lambda c: c.tags.create("first"))
    second = api.run(lambda c: c.tags.create("second"))
    for tag in (second, first):
        api.run(lambda c, tag=tag: c.tags.tag_users(tag.id, ["oAndroid"]))
    ios = [Button("iOS", type="click", key="IOS")]
    by_first = [Button("一", type="click", key="ONE")]
    by_second = [Button("二", type="click", key="TWO")]
    api.run(lambda c: c.menus.add_conditional(ios, MatchRule(client_platform_type=1)))
    api.run(lambda c: c.menus.add_conditional(by_first, MatchRule(tag_id=first.id)))
    api.run(lambda c: c.menus.add_conditional(by_second, MatchRule(tag_id=second.id)))
    assert api.run(lambda c: c.menus.trymatch("oAndroid")) == tuple(by_first)
    assert api.run(lambda c: c.menus.trymatch("oIOS")) == tuple(ios)
    rules = [b["matchrule"] for b in _bodies(fake, "/cgi-bin/menu/addconditional")]
    assert rules == [
        {"client_platform_type": "1"},
        {"tag_id": str(first.id)},
        {"tag_id": str(second.id)},
    ]


def test_conditional_menu_needs_a_default_menu(api: Harness, fake: FakeWeChat) -> None:
    """A conditional menu without a default menu raises MenuError (65303)."""
    with pytest.raises(MenuError) as info:
        api.run(lambda c: c.menus.add_conditional(MENU, MatchRule(client_platform_type=1)))
    assert info.value.errcode == 65303


def test_conditional_menu_refuses_privacy_fields(api: Harness, fake: FakeWeChat) -> None:
    """A matchrule with sex/city is refused locally, naming the fields and 65320."""
    with pytest.raises(WeChatValidationError, match="privacy") as info:
        api.run(lambda c: c.menus.add_conditional(MENU, {"sex": "1", "city": "杭州"}))
    assert "city" in str(info.value)
    assert "65320" in str(info.value)
    assert fake.calls == []


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
def test_menu_limits_checked_locally(api: Harness, fake: FakeWeChat, buttons: list[Button]) -> None:
    """Button counts, name bytes, types and required fields are validated before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.menus.create(buttons))
    assert fake.calls == []


def test_trymatch_unknown_openid(api: Harness, fake: FakeWeChat) -> None:
    """trymatch of an unknown openid raises MenuError (65302, no such user)."""
    api.run(lambda c: c.menus.create(MENU))
    with pytest.raises(MenuError) as info:
        api.run(lambda c: c.menus.trymatch("oNotAFollower000000000000000"))
    assert info.value.errcode == 65302


def test_request_bodies_are_raw_utf8(kind: str, fake: FakeWeChat, clock: FixedClock) -> None:
    """JSON bodies carry raw UTF-8, never \\u escapes (WeChat's 40033)."""
    seen: list[bytes] = []

    class Spy:
        appid, secret = fake.appid, fake.secret

        @staticmethod
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.content)
            return fake.handler(request)

    harness = Harness(kind, Spy(), clock=clock)
    tag = harness.run(lambda c: c.tags.create("广东"))
    body = seen[-1]
    assert "广东".encode() in body
    assert b"\\u" not in body
    assert json.loads(body) == {"tag": {"name": "广东"}}
    assert fake.tags[tag.id].name == "广东"
