"""Tags: create/get/update/delete with their limits, batch (un)tagging, members, id lists."""

from __future__ import annotations

import pytest

from tests.testing.conftest import SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat

OK = {"errcode": 0, "errmsg": "ok"}


def create(wire: Wire, name: str) -> dict[str, object]:
    return wire.post("/cgi-bin/tags/create", {"tag": {"name": name}})  # type: ignore[no-any-return]


def tag(wire: Wire, tag_id: int, openids: list[str], untag: bool = False) -> int:
    path = "batchuntagging" if untag else "batchtagging"
    body = {"openid_list": openids, "tagid": tag_id}
    return errcode(wire.post(f"/cgi-bin/tags/members/{path}", body))


def test_create_and_list(wire: Wire) -> None:
    """create answers {"tag": {id, name}}; tags/get lists reserved 星标组 and counts."""
    created = create(wire, "广东")
    assert created == {"tag": {"id": 100, "name": "广东"}}
    assert tag(wire, 100, ["oA", "oB"]) == 0
    assert wire.get("/cgi-bin/tags/get") == {
        "tags": [{"id": 2, "name": "星标组", "count": 0}, {"id": 100, "name": "广东", "count": 2}]
    }


def test_name_rules(wire: Wire) -> None:
    """Names up to 30 UTF-8 bytes; longer 45158; duplicate or empty 45157."""
    assert "tag" in create(wire, "十个汉字十个汉字十个")
    assert errcode(create(wire, "十个汉字十个汉字十个多")) == 45158
    assert errcode(create(wire, "x" * 31)) == 45158
    assert errcode(create(wire, "十个汉字十个汉字十个")) == 45157
    assert errcode(create(wire, "星标组")) == 45157
    assert errcode(create(wire, "")) == 45157
    assert errcode(wire.post("/cgi-bin/tags/create", {"nametag": 1})) == 40035


def test_hundred_tag_limit(wire: Wire) -> None:
    """The 101st created tag answers 45056; deleting one makes room again."""
    ids = [create(wire, f"t{i}")["tag"]["id"] for i in range(100)]  # type: ignore[index]
    assert errcode(create(wire, "one-more")) == 45056
    assert len(wire.fake.tags) == 101
    assert wire.post("/cgi-bin/tags/delete", {"tag": {"id": ids[0]}}) == OK
    assert "tag" in create(wire, "one-more")


def test_update(wire: Wire) -> None:
    """Rename works; reserved ids 45058; unknown 45159; duplicate 45157; too long 45158."""
    tag_id = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    create(wire, "b")
    assert wire.post("/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": "c"}}) == OK
    assert wire.fake.tags[tag_id].name == "c"
    assert wire.post("/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": "c"}}) == OK
    for reserved in (0, 1, 2):
        answer = wire.post("/cgi-bin/tags/update", {"tag": {"id": reserved, "name": "z"}})
        assert errcode(answer) == 45058
    assert errcode(wire.post("/cgi-bin/tags/update", {"tag": {"id": 999, "name": "z"}})) == 45159
    assert errcode(wire.post("/cgi-bin/tags/update", {"tag": {"id": tag_id, "name": "b"}})) == 45157
    long = {"tag": {"id": tag_id, "name": "y" * 31}}
    assert errcode(wire.post("/cgi-bin/tags/update", long)) == 45158
    assert wire.fake.tags[tag_id].name == "c"


def test_delete_untags_everyone(wire: Wire) -> None:
    """Deleting a tag removes it from its followers; reserved 45058, unknown 45159."""
    tag_id = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    tag(wire, tag_id, ["oA"])
    assert wire.post("/cgi-bin/tags/delete", {"tag": {"id": tag_id}}) == OK
    assert wire.post("/cgi-bin/tags/getidlist", {"openid": "oA"}) == {"tagid_list": []}
    assert errcode(wire.post("/cgi-bin/tags/delete", {"tag": {"id": 2}})) == 45058
    assert errcode(wire.post("/cgi-bin/tags/delete", {"tag": {"id": tag_id}})) == 45159


def test_delete_refused_above_fan_limit(clock: FixedClock) -> None:
    """A tag with more fans than the limit answers 45057 (limit lowered for the test)."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(max_deletable_tag_fans=2))
    openids = fake.add_followers(3)
    wire = Wire(fake)
    wire.fetch_token()
    tag_id = create(wire, "big")["tag"]["id"]  # type: ignore[index]
    tag(wire, tag_id, openids)
    assert errcode(wire.post("/cgi-bin/tags/delete", {"tag": {"id": tag_id}})) == 45057
    tag(wire, tag_id, openids[:1], untag=True)
    assert wire.post("/cgi-bin/tags/delete", {"tag": {"id": tag_id}}) == OK


def test_batch_sizes(wire: Wire) -> None:
    """1..50 openids per call; 0 or 51 answer 40032; unknown tag 45159; unknown openid 40003."""
    openids = wire.fake.add_followers(51)
    tag_id = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    assert tag(wire, tag_id, openids[:50]) == 0
    assert tag(wire, tag_id, openids) == 40032
    assert tag(wire, tag_id, []) == 40032
    assert tag(wire, tag_id, openids, untag=True) == 40032
    assert tag(wire, 999, ["oA"]) == 45159
    assert tag(wire, tag_id, ["oA", "zz"]) == 40003
    assert "oA" not in wire.post("/cgi-bin/user/tag/get", {"tagid": tag_id})["data"]["openid"]
    assert wire.fake.tags[tag_id].count == 50


def test_twenty_tags_per_follower(wire: Wire) -> None:
    """A follower holding 20 tags makes the whole call answer 45059 and change nothing."""
    ids = [create(wire, f"t{i}")["tag"]["id"] for i in range(21)]  # type: ignore[index]
    for tag_id in ids[:20]:
        assert tag(wire, tag_id, ["oA"]) == 0
    assert tag(wire, ids[20], ["oB", "oA"]) == 45059
    assert wire.fake.followers["oB"].tag_ids == ()
    assert tag(wire, ids[0], ["oA", "oB"]) == 0
    tag(wire, ids[0], ["oA"], untag=True)
    assert tag(wire, ids[20], ["oA"]) == 0
    assert len(wire.fake.followers["oA"].tag_ids) == 20


def test_tagging_is_idempotent_and_untag(wire: Wire) -> None:
    """Tagging twice counts once; untagging a non-member is fine; getidlist is in apply order."""
    a = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    b = create(wire, "b")["tag"]["id"]  # type: ignore[index]
    tag(wire, b, ["oA", "oA"])
    tag(wire, a, ["oA"])
    tag(wire, b, ["oA"])
    assert wire.post("/cgi-bin/tags/getidlist", {"openid": "oA"}) == {"tagid_list": [b, a]}
    assert wire.fake.tags[b].count == 1
    assert tag(wire, a, ["oB"], untag=True) == 0
    assert tag(wire, a, ["oA"], untag=True) == 0
    assert wire.post("/cgi-bin/tags/getidlist", {"openid": "oA"}) == {"tagid_list": [b]}
    assert errcode(wire.post("/cgi-bin/tags/getidlist", {"openid": "zz"})) == 40003


def test_unsubscribed_cannot_be_tagged(wire: Wire) -> None:
    """An unfollowed user answers 40003 to tagging."""
    tag_id = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    wire.fake.unsubscribe("oC")
    assert tag(wire, tag_id, ["oA", "oC"]) == 40003
    assert tag(wire, tag_id, ["oA", {"openid": "oB"}]) == 40003  # type: ignore[list-item]
    assert errcode(wire.post("/cgi-bin/tags/getidlist", {"openid": "oC"})) == 40003
    remark = {"openid": "oC", "remark": "x"}
    assert errcode(wire.post("/cgi-bin/user/info/updateremark", remark)) == 40003


@pytest.mark.parametrize("quirk", ["last", "empty"])
def test_tag_members_paging(clock: FixedClock, quirk: str) -> None:
    """user/tag/get pages members in follow order and ends like user/get."""
    config = FakeConfig(tag_members_page_size=2, last_page_next_openid=quirk)  # type: ignore[arg-type]
    fake = FakeWeChat(clock=clock, secret=SECRET, config=config)
    openids = fake.add_followers(5)
    wire = Wire(fake)
    wire.fetch_token()
    tag_id = create(wire, "a")["tag"]["id"]  # type: ignore[index]
    tag(wire, tag_id, [openids[4], openids[0], openids[2]])
    pages = []
    cursor = ""
    while True:
        page = wire.post("/cgi-bin/user/tag/get", {"tagid": tag_id, "next_openid": cursor})
        assert "total" not in page
        if "data" not in page:
            assert page == {"count": 0, "next_openid": ""}
            break
        pages.append(page["data"]["openid"])
        cursor = page["next_openid"]
        if not cursor:
            break
    assert pages == [[openids[0], openids[2]], [openids[4]]]
    assert errcode(wire.post("/cgi-bin/user/tag/get", {"tagid": 999})) == 45159


def test_bodies_must_be_json_without_escapes(wire: Wire) -> None:
    """\\uXXXX escapes answer 40033, malformed JSON 47001, an empty body 44002."""
    path = "/cgi-bin/tags/create"
    params = {"access_token": wire.token}
    escaped = b'{"tag": {"name": "\\u5e7f\\u4e1c"}}'
    assert wire.http.post(path, params=params, content=escaped).json()["errcode"] == 40033
    assert wire.http.post(path, params=params, content=b"{nope").json()["errcode"] == 47001
    assert wire.http.post(path, params=params, content=b"[]").json()["errcode"] == 47001
    assert wire.http.post(path, params=params, content=b"").json()["errcode"] == 44002
    literal = b'{"tag": {"name": "a\\\\u0041"}}'
    assert wire.http.post(path, params=params, content=literal).json()["tag"]["name"] == "a\\u0041"
    assert len(wire.fake.tags) == 2


def test_unknown_path_is_404(wire: Wire) -> None:
    """A path WeChat does not have answers HTTP 404."""
    response = wire.http.get("/cgi-bin/nope", params={"access_token": wire.token})
    assert response.status_code == 404
    assert wire.http.get("/user/get", params={"access_token": wire.token}).status_code == 404
