"""Followers: user/get paging and its end-of-list quirk, user/info, batchget, remarks."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.testing.conftest import SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat
from wxsegment.testing.strategies import openids


def walk(wire: Wire) -> tuple[list[str], int]:
    """Follow next_openid the robust way; return the openids and the number of calls."""
    seen: list[str] = []
    cursor = ""
    calls = 0
    while True:
        page = (
            wire.get("/cgi-bin/user/get", next_openid=cursor)
            if cursor
            else wire.get("/cgi-bin/user/get")
        )
        calls += 1
        if "data" not in page or page["count"] == 0:
            return seen, calls
        seen.extend(page["data"]["openid"])
        cursor = page["next_openid"]
        if not cursor:
            return seen, calls


@pytest.mark.parametrize("quirk", ["last", "empty"])
def test_user_get_pages_until_the_end(clock: FixedClock, quirk: str) -> None:
    """Every follower comes back exactly once across pages, in follow order."""
    config = FakeConfig(user_page_size=3, last_page_next_openid=quirk)  # type: ignore[arg-type]
    fake = FakeWeChat(clock=clock, secret=SECRET, config=config)
    openids = fake.add_followers(7)
    wire = Wire(fake)
    wire.fetch_token()
    seen, calls = walk(wire)
    assert seen == openids
    # "last" echoes the last openid on the final page, so one extra empty call is needed.
    assert calls == (4 if quirk == "last" else 3)


def test_user_get_shapes(clock: FixedClock) -> None:
    """total counts everyone; the final empty page has count 0, no data, next_openid ''."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(user_page_size=2))
    fake.add_followers(3)
    wire = Wire(fake)
    wire.fetch_token()
    first = wire.get("/cgi-bin/user/get")
    assert first == {
        "total": 3,
        "count": 2,
        "data": {"openid": list(fake.followers)[:2]},
        "next_openid": list(fake.followers)[1],
    }
    last = wire.get("/cgi-bin/user/get", next_openid=list(fake.followers)[2])
    assert last == {"total": 3, "count": 0, "next_openid": ""}


def test_user_get_empty_account_and_unknown_cursor(clock: FixedClock) -> None:
    """No followers: count 0 without data; an unknown next_openid answers 40003."""
    fake = FakeWeChat(clock=clock, secret=SECRET)
    wire = Wire(fake)
    wire.fetch_token()
    assert wire.get("/cgi-bin/user/get") == {"total": 0, "count": 0, "next_openid": ""}
    assert errcode(wire.get("/cgi-bin/user/get", next_openid="nobody")) == 40003


def test_unsubscribed_are_not_listed(wire: Wire) -> None:
    """An unfollowed user leaves user/get and user/info shows subscribe 0 only."""
    wire.fake.unsubscribe("oB")
    page = wire.get("/cgi-bin/user/get")
    assert page["data"]["openid"] == ["oA", "oC"]
    assert page["total"] == 2
    assert wire.get("/cgi-bin/user/info", openid="oB") == {"subscribe": 0, "openid": "oB"}


def test_user_info_fields(clock: FixedClock) -> None:
    """user/info returns the documented fields, unionid only when known."""
    fake = FakeWeChat(clock=clock, secret=SECRET)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    fake.add_follower("oX", subscribe_time=when, unionid="uX", remark="老客户", qr_scene=7)
    fake.add_follower("oY")
    wire = Wire(fake)
    wire.fetch_token()
    info = wire.get("/cgi-bin/user/info", openid="oX", lang="en")
    assert info == {
        "subscribe": 1,
        "openid": "oX",
        "language": "zh_CN",
        "subscribe_time": int(when.timestamp()),
        "unionid": "uX",
        "remark": "老客户",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 7,
        "qr_scene_str": "",
    }
    assert "unionid" not in wire.get("/cgi-bin/user/info", openid="oY")


def test_user_info_errors(wire: Wire) -> None:
    """Unknown openid 40003, bad lang 40035, POST on a GET endpoint 43001."""
    assert errcode(wire.get("/cgi-bin/user/info", openid="nobody")) == 40003
    assert errcode(wire.get("/cgi-bin/user/info", openid="oA", lang="fr")) == 40035
    assert errcode(wire.post("/cgi-bin/user/info", {}, openid="oA")) == 43001


def test_batchget_limits(wire: Wire) -> None:
    """batchget answers in order; empty or more than 100 entries is 40032."""
    wire.fake.add_followers(200)
    answer = wire.post(
        "/cgi-bin/user/info/batchget",
        {"user_list": [{"openid": "oC", "lang": "zh_CN"}, {"openid": "oA"}]},
    )
    assert [u["openid"] for u in answer["user_info_list"]] == ["oC", "oA"]
    everyone = list(wire.fake.followers)
    hundred = {"user_list": [{"openid": o} for o in everyone[:100]]}
    assert len(wire.post("/cgi-bin/user/info/batchget", hundred)["user_info_list"]) == 100
    too_many = {"user_list": [{"openid": o} for o in everyone[:101]]}
    assert errcode(wire.post("/cgi-bin/user/info/batchget", too_many)) == 40032
    assert errcode(wire.post("/cgi-bin/user/info/batchget", {"user_list": []})) == 40032
    unknown = {"user_list": [{"openid": "oA"}, {"openid": "zz"}]}
    assert errcode(wire.post("/cgi-bin/user/info/batchget", unknown)) == 40003


def test_batchget_max_configurable(clock: FixedClock) -> None:
    """The UNCONFIRMED 50-per-call reading can be selected."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(batchget_max=50))
    openids = fake.add_followers(51)
    wire = Wire(fake)
    wire.fetch_token()
    body = {"user_list": [{"openid": o} for o in openids]}
    assert errcode(wire.post("/cgi-bin/user/info/batchget", body)) == 40032


def test_updateremark(wire: Wire) -> None:
    """A remark under 30 UTF-8 bytes is stored; 30 bytes or more is 40092 and changes nothing."""
    ok = wire.post(
        "/cgi-bin/user/info/updateremark", {"openid": "oA", "remark": "九个汉字九个汉字九"}
    )
    assert ok == {"errcode": 0, "errmsg": "ok"}
    assert wire.fake.followers["oA"].remark == "九个汉字九个汉字九"
    long = {"openid": "oA", "remark": "十个汉字十个汉字十个"}
    assert errcode(wire.post("/cgi-bin/user/info/updateremark", long)) == 40092
    assert wire.fake.followers["oA"].remark == "九个汉字九个汉字九"
    missing = {"openid": "zz", "remark": "x"}
    assert errcode(wire.post("/cgi-bin/user/info/updateremark", missing)) == 40003


def test_add_follower_validation(fake: FakeWeChat) -> None:
    """Duplicates, empty openids and naive datetimes are refused and change nothing."""
    with pytest.raises(ValueError, match="already exists"):
        fake.add_follower("oA")
    with pytest.raises(ValueError, match="non-empty"):
        fake.add_follower("")
    with pytest.raises(ValueError, match="naive"):
        fake.add_follower("oN", subscribe_time=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="repeated"):
        fake.add_followers(["oZ", "oZ"])
    with pytest.raises(TypeError):
        fake.add_followers("oZ")
    assert list(fake.followers) == ["oA", "oB", "oC"]


@given(st.lists(openids(), min_size=2, max_size=5, unique=True))
def test_generated_openids_round_trip(ids: list[str]) -> None:
    """Openids from the public strategy are accepted and listed back in order."""
    fake = FakeWeChat(secret=SECRET)
    fake.add_followers(ids)
    wire = Wire(fake)
    wire.fetch_token()
    assert wire.get("/cgi-bin/user/get")["data"]["openid"] == ids
    assert all(len(o) == 28 for o in ids)
