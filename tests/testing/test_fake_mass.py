"""Mass send: audiences, sizes, the monthly filter, clientmsgid dedup, pacing, status, speed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.testing.conftest import SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat

# 23:59:59 on 31 May in Asia/Shanghai.
EDGE = datetime(2026, 5, 31, 15, 59, 59, tzinfo=timezone.utc)


def text(content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}, **extra}


def send(wire: Wire, openids: list[str], **extra: Any) -> Any:
    return wire.post("/cgi-bin/message/mass/send", {"touser": openids, **text(), **extra})


def sendall(wire: Wire, flt: dict[str, Any], **extra: Any) -> Any:
    return wire.post("/cgi-bin/message/mass/sendall", {"filter": flt, **text(), **extra})


def test_send_to_openids_answer_and_job(wire: Wire) -> None:
    """mass/send answers the documented envelope and records a job with its counts."""
    answer = send(wire, ["oA", "oB", "oA"], clientmsgid="c1")
    assert answer["errcode"] == 0
    assert answer["errmsg"] == "send job submission success"
    assert "msg_data_id" not in answer
    job = wire.fake.jobs[answer["msg_id"]]
    assert (job.total_count, job.filter_count, job.sent_count, job.error_count) == (2, 2, 2, 0)
    assert job.clientmsgid == "c1"
    assert wire.fake.mass_received("oA") == 1
    assert wire.fake.mass_received("oC") == 0
    status = wire.post("/cgi-bin/message/mass/get", {"msg_id": answer["msg_id"]})
    assert status == {"msg_id": answer["msg_id"], "msg_status": "SEND_SUCCESS"}


def test_send_list_size_limits(wire: Wire) -> None:
    """One openid is 40130; more than 10,000 is 40032; 10,000 is accepted."""
    assert errcode(send(wire, ["oA"])) == 40130
    assert errcode(send(wire, [])) == 40130
    many = [f"o{i}" for i in range(10_001)]
    assert errcode(send(wire, many)) == 40032
    answer = send(wire, many[:10_000], clientmsgid="big")
    job = wire.fake.jobs[answer["msg_id"]]
    assert (job.total_count, job.filter_count) == (10_000, 0)
    assert errcode(send(wire, "oA")) == 40031  # type: ignore[arg-type]


def test_sendall_to_tag_and_to_all(wire: Wire) -> None:
    """sendall reaches a tag's members or every follower; an unknown tag is 40050."""
    tag_id = wire.post("/cgi-bin/tags/create", {"tag": {"name": "vip"}})["tag"]["id"]
    wire.post("/cgi-bin/tags/members/batchtagging", {"openid_list": ["oB"], "tagid": tag_id})
    by_tag = sendall(wire, {"is_to_all": False, "tag_id": tag_id}, clientmsgid="t")
    assert wire.fake.jobs[by_tag["msg_id"]].delivered == ("oB",)
    to_all = sendall(wire, {"is_to_all": True}, clientmsgid="all")
    assert wire.fake.jobs[to_all["msg_id"]].delivered == ("oA", "oB", "oC")
    assert errcode(sendall(wire, {"is_to_all": False, "tag_id": 999})) == 40050
    assert errcode(sendall(wire, {"is_to_all": "yes"})) == 40035


def test_mpnews_has_msg_data_id_and_payload_errors(wire: Wire) -> None:
    """mpnews answers msg_data_id; unknown msgtype 40008; missing media 41006; empty text 44004."""
    base = {"filter": {"is_to_all": True}}
    draft = wire.fake.content.add_draft()
    answer = wire.post(
        "/cgi-bin/message/mass/sendall",
        {**base, "msgtype": "mpnews", "mpnews": {"media_id": draft}, "send_ignore_reprint": 1},
    )
    assert isinstance(answer["msg_data_id"], int)
    post = wire.post
    assert errcode(post("/cgi-bin/message/mass/sendall", {**base, "msgtype": "music"})) == 40008
    assert errcode(post("/cgi-bin/message/mass/sendall", {**base, "msgtype": "voice"})) == 41006
    assert errcode(post("/cgi-bin/message/mass/sendall", {**base, **text("")})) == 44004
    video = {"msgtype": "video", "video": {"media_id": "v"}}
    assert errcode(post("/cgi-bin/message/mass/sendall", {**base, **video})) == 40008
    assert errcode(post("/cgi-bin/message/mass/send", {"touser": ["oA", "oB"], **video})) == 0
    images = {"msgtype": "image", "images": {"media_ids": ["i1", "i2"]}}
    assert errcode(post("/cgi-bin/message/mass/sendall", {**base, **images})) == 0
    reprint = {**base, **text("r"), "send_ignore_reprint": 2}
    assert errcode(post("/cgi-bin/message/mass/sendall", reprint)) == 40035


def test_monthly_filter_across_month_boundary(wire: Wire, clock: FixedClock) -> None:
    """A fifth push in a Shanghai month is accepted but filtered; at 00:00 the count resets."""
    clock.set(EDGE - timedelta(days=1))
    wire.fetch_token()
    for i in range(3):
        assert errcode(send(wire, ["oA", "oB"], clientmsgid=f"may-{i}")) == 0
    wire.fake.record_mass_push("oB")
    clock.set(EDGE)
    wire.fetch_token()
    fourth = send(wire, ["oA", "oB"], clientmsgid="may-3")
    job = wire.fake.jobs[fourth["msg_id"]]
    assert (job.total_count, job.filter_count, job.filtered) == (2, 1, ("oB",))
    fifth = send(wire, ["oA", "oB"], clientmsgid="may-4")
    assert errcode(fifth) == 0
    job = wire.fake.jobs[fifth["msg_id"]]
    assert (job.total_count, job.filter_count, job.sent_count) == (2, 0, 0)
    event = job.finish_event()
    assert (event["Event"], event["MsgID"]) == ("MASSSENDJOBFINISH", str(fifth["msg_id"]))
    assert (event["TotalCount"], event["FilterCount"], event["SentCount"]) == ("2", "0", "0")
    assert wire.fake.mass_received("oA") == 4
    assert wire.fake.mass_received("oA", "2026-05") == 4
    clock.advance(timedelta(seconds=1))
    june = send(wire, ["oA", "oB"], clientmsgid="june-0")
    assert wire.fake.jobs[june["msg_id"]].filter_count == 2
    assert wire.fake.mass_received("oA") == 1
    assert wire.fake.mass_received("oA", EDGE) == 4


def test_monthly_limit_configurable(clock: FixedClock) -> None:
    """monthly_mass_limit changes how many pushes get through."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(monthly_mass_limit=1))
    fake.add_followers(["oA", "oB"])
    wire = Wire(fake)
    wire.fetch_token()
    send(wire, ["oA", "oB"], clientmsgid="1")
    second = send(wire, ["oA", "oB"], clientmsgid="2")
    assert fake.jobs[second["msg_id"]].filter_count == 0


def test_clientmsgid_dedup_returns_original(wire: Wire, clock: FixedClock) -> None:
    """A repeated clientmsgid within 24 h answers 45065 with the original msg_id, no delivery."""
    first = send(wire, ["oA", "oB"], clientmsgid="same")
    clock.advance(timedelta(hours=23, minutes=59))
    wire.fetch_token()
    again = sendall(wire, {"is_to_all": True}, clientmsgid="same")
    assert again["errcode"] == 45065
    assert again["msg_id"] == first["msg_id"]
    assert again["errmsg"].startswith("clientmsgid exist")
    assert wire.fake.mass_received("oA") == 1
    assert len(wire.fake.jobs) == 1
    clock.advance(timedelta(minutes=1))
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="same")) == 0


def test_implicit_dedup_on_content_and_scope(wire: Wire) -> None:
    """Without clientmsgid, identical content to the same audience is a duplicate (45065)."""
    first = send(wire, ["oA", "oB"])
    again = send(wire, ["oB", "oA"])
    assert (again["errcode"], again["msg_id"]) == (45065, first["msg_id"])
    assert errcode(send(wire, ["oA", "oC"])) == 0
    assert (
        errcode(wire.post("/cgi-bin/message/mass/send", {"touser": ["oA", "oB"], **text("x")})) == 0
    )


def test_clientmsgid_length_and_retry_too_fast(clock: FixedClock) -> None:
    """An id longer than the limit is 45067; the optional 45066 rule answers fast retries."""
    config = FakeConfig(clientmsgid_min_retry=60)
    fake = FakeWeChat(clock=clock, secret=SECRET, config=config)
    fake.add_followers(["oA", "oB"])
    wire = Wire(fake)
    wire.fetch_token()
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="x" * 33)) == 45067
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="x" * 32)) == 0
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="x" * 32)) == 45066
    clock.advance(timedelta(seconds=60))
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="x" * 32)) == 45065


def test_pacing_answers_45011(wire: Wire, clock: FixedClock) -> None:
    """More than 60 mass calls within a minute answer 45011; a minute later they pass again."""
    for i in range(60):
        assert errcode(send(wire, ["oA", "oB"], clientmsgid=f"p{i}")) == 0
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="p60")) == 45011
    preview = {"touser": "oA", **text()}
    assert errcode(wire.post("/cgi-bin/message/mass/preview", preview)) == 45011
    assert errcode(wire.post("/cgi-bin/message/mass/speed/get", {})) == 0
    clock.advance(timedelta(seconds=60))
    assert errcode(send(wire, ["oA", "oB"], clientmsgid="p60")) == 0


def test_preview(wire: Wire) -> None:
    """Preview goes to one follower (or a WeChat ID) and does not count toward the month."""
    answer = wire.post("/cgi-bin/message/mass/preview", {"touser": "oA", **text()})
    assert answer["errmsg"] == "preview success"
    assert wire.fake.mass_received("oA") == 0
    by_name = {"touser": "zz", "towxname": "someone", **text()}
    assert errcode(wire.post("/cgi-bin/message/mass/preview", by_name)) == 0
    unknown = {"touser": "zz", **text()}
    assert errcode(wire.post("/cgi-bin/message/mass/preview", unknown)) == 40003
    assert errcode(wire.post("/cgi-bin/message/mass/get", {"msg_id": answer["msg_id"]})) == 40059


def test_preview_counting_configurable(clock: FixedClock) -> None:
    """preview_counts_toward_monthly makes previews use a monthly slot."""
    config = FakeConfig(preview_counts_toward_monthly=True)
    fake = FakeWeChat(clock=clock, secret=SECRET, config=config)
    fake.add_follower("oA")
    wire = Wire(fake)
    wire.fetch_token()
    wire.post("/cgi-bin/message/mass/preview", {"touser": "oA", **text()})
    assert fake.mass_received("oA") == 1


def test_delete_and_status(wire: Wire) -> None:
    """Only mpnews/video jobs can be deleted; status turns DELETE; bad ids 40059, idx 40060."""
    draft = wire.fake.content.add_draft()
    news = {"filter": {"is_to_all": True}, "msgtype": "mpnews", "mpnews": {"media_id": draft}}
    msg_id = wire.post("/cgi-bin/message/mass/sendall", news)["msg_id"]
    assert (
        errcode(wire.post("/cgi-bin/message/mass/delete", {"msg_id": msg_id, "article_idx": 9}))
        == 40060
    )
    assert wire.post("/cgi-bin/message/mass/delete", {"msg_id": msg_id}) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    assert wire.post("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "DELETE"
    text_id = send(wire, ["oA", "oB"], clientmsgid="t")["msg_id"]
    assert errcode(wire.post("/cgi-bin/message/mass/delete", {"msg_id": text_id})) == 40059
    assert errcode(wire.post("/cgi-bin/message/mass/delete", {"msg_id": 1})) == 40059
    assert errcode(wire.post("/cgi-bin/message/mass/get", {"msg_id": 1})) == 40059


@pytest.mark.parametrize(("speed", "realspeed"), [(0, 80), (1, 60), (2, 45), (3, 30), (4, 10)])
def test_speed(wire: Wire, speed: int, realspeed: int) -> None:
    """speed/set accepts 0-4 and speed/get reports the level with its realspeed."""
    assert wire.post("/cgi-bin/message/mass/speed/set", {"speed": speed}) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    assert wire.post("/cgi-bin/message/mass/speed/get", {}) == {
        "speed": speed,
        "realspeed": realspeed,
    }


def test_speed_errors(wire: Wire) -> None:
    """speed outside 0-4 is 45083, a missing speed 45084; the level is unchanged."""
    assert errcode(wire.post("/cgi-bin/message/mass/speed/set", {"speed": 5})) == 45083
    assert errcode(wire.post("/cgi-bin/message/mass/speed/set", {"speed": "1"})) == 45083
    assert errcode(wire.post("/cgi-bin/message/mass/speed/set", {})) == 45084
    assert wire.fake.speed == 0
    empty = wire.http.post(
        "/cgi-bin/message/mass/speed/get", params={"access_token": wire.token}
    ).json()
    assert empty == {"speed": 0, "realspeed": 80}


def test_unsubscribed_followers_are_filtered(wire: Wire) -> None:
    """Followers who left are counted in total but filtered out."""
    wire.fake.unsubscribe("oB")
    answer = send(wire, ["oA", "oB"], clientmsgid="u")
    job = wire.fake.jobs[answer["msg_id"]]
    assert (job.total_count, job.filter_count, job.filtered) == (2, 1, ("oB",))
