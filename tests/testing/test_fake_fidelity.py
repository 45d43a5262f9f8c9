"""Fidelity of FakeWeChat against the facts: fault kinds, limits, media ids, job lifecycle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import Harness
from tests.testing.conftest import Wire, errcode
from wxsegment import FixedClock
from wxsegment.api import (
    Article,
    BusyError,
    Image,
    InvalidRequestError,
    MassQuotaError,
    MediaError,
    MpNews,
    News,
    PermissionDeniedError,
    Text,
)
from wxsegment.testing import FakeConfig, FakeWeChat

SEND = "/cgi-bin/message/mass/send"


def _text_to(openids: list[str], clientmsgid: str) -> dict[str, Any]:
    return {
        "touser": openids,
        "msgtype": "text",
        "text": {"content": "x"},
        "clientmsgid": clientmsgid,
    }


@pytest.mark.parametrize(
    ("kind", "code", "error"),
    [
        ("mass_quota", 45028, MassQuotaError),
        ("mass_agreement", 48003, PermissionDeniedError),
        ("mass_busy", 9500002, BusyError),
    ],
)
def test_mass_fault_kinds(
    fake: FakeWeChat, clock: FixedClock, kind: str, code: int, error: type[Exception]
) -> None:
    """inject() produces 45028, 48003 and 9500002, which the client maps to their families."""
    fake.inject(kind, path=SEND, times=5)  # type: ignore[arg-type]
    api = Harness("sync", fake, clock=clock)
    with pytest.raises(error) as caught:
        api.run(lambda c: c.mass.send_to_openids(["oA", "oB"], Text("x"), clientmsgid="f1"))
    assert getattr(caught.value, "errcode", None) == code


def test_temporary_scene_id_range(wire: Wire) -> None:
    """A temporary QR scene_id beyond a positive int32 answers 40053."""
    body = {"action_name": "QR_SCENE", "expire_seconds": 60, "action_info": {"scene": {}}}
    body["action_info"]["scene"]["scene_id"] = 2**31  # type: ignore[index]
    assert errcode(wire.post("/cgi-bin/qrcode/create", body)) == 40053
    body["action_info"]["scene"]["scene_id"] = 2**31 - 1  # type: ignore[index]
    assert errcode(wire.post("/cgi-bin/qrcode/create", body)) == 0


def test_custom_message_sizes(fake: FakeWeChat, clock: FixedClock) -> None:
    """Over-long text answers 45002; a news title 45003; a news description 45004."""
    fake.open_window("oA", "message")
    api = Harness("sync", fake, clock=clock)
    messages = [
        (Text("字" * 683), 45002),
        (News(Article("t" * 65, "https://example.com")), 45003),
        (News(Article("t", "https://example.com", description="d" * 121)), 45004),
    ]
    for message, code in messages:
        with pytest.raises(InvalidRequestError) as caught:
            api.run(lambda c, m=message: c.messages.send("oA", m))
        assert getattr(caught.value, "errcode", None) == code
    api.run(lambda c: c.messages.send("oA", News(Article("t" * 64, "https://example.com"))))


@pytest.mark.parametrize("config", [FakeConfig(mass_duplicate_touser="reject")])
def test_duplicate_touser_rejected(wire: Wire, fake: FakeWeChat) -> None:
    """With mass_duplicate_touser="reject" a repeated openid answers 40031, nothing is sent."""
    assert errcode(wire.post(SEND, _text_to(["oA", "oB", "oA"], "d1"))) == 40031
    assert fake.jobs == {}


def test_duplicate_touser_delivered_once(wire: Wire, fake: FakeWeChat) -> None:
    """By default a repeated openid is delivered once and counted once."""
    answer = wire.post(SEND, _text_to(["oA", "oB", "oA"], "d2"))
    job = fake.jobs[answer["msg_id"]]
    assert (job.total_count, job.delivered) == (2, ("oA", "oB"))
    assert fake.mass_received("oA") == 1


def test_mass_delete_by_url(fake: FakeWeChat, clock: FixedClock) -> None:
    """mass/delete without msg_id finds the send by its article URL."""
    api = Harness("sync", fake, clock=clock)
    (sent,) = api.run(lambda c: c.mass.send_to_openids(["oA", "oB"], MpNews("m"), clientmsgid="u"))
    api.run(lambda c: c.mass.delete_by_url(fake.article_url(sent.msg_id, 2)))
    assert fake.jobs[sent.msg_id].status == "DELETE"
    with pytest.raises(InvalidRequestError):
        api.run(lambda c: c.mass.delete_by_url("http://mp.weixin.qq.com/s?__biz=x&mid=1&idx=1"))


@pytest.mark.parametrize("config", [FakeConfig(check_media_ids=True)])
def test_unknown_or_expired_media(fake: FakeWeChat, clock: FixedClock) -> None:
    """With check_media_ids, unknown and expired media ids answer 40007; registered ones pass."""
    fake.open_window("oA", "message")
    fake.add_media("fresh")
    fake.add_media("old", expires_at=clock.now() + timedelta(days=3))
    api = Harness("sync", fake, clock=clock)
    api.run(lambda c: c.messages.send("oA", Image("fresh")))
    with pytest.raises(MediaError):
        api.run(lambda c: c.messages.send("oA", Image("never-uploaded")))
    clock.advance(timedelta(days=3))
    with pytest.raises(MediaError):
        api.run(lambda c: c.mass.send_to_openids(["oA", "oB"], Image("old"), clientmsgid="m1"))
    api.run(lambda c: c.mass.send_to_openids(["oA", "oB"], Image("fresh"), clientmsgid="m2"))


@pytest.mark.parametrize("config", [FakeConfig(mass_sending_duration=600)])
def test_job_lifecycle(wire: Wire, fake: FakeWeChat, clock: FixedClock) -> None:
    """A job answers SENDING for the configured time, then its final status; set_job_status
    can make it fail, and a failed job cannot be deleted."""
    msg_id = wire.post(SEND, _text_to(["oA", "oB"], "l1"))["msg_id"]
    assert wire.post("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SENDING"
    clock.advance(timedelta(seconds=600))
    assert (
        wire.post("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SEND_SUCCESS"
    )
    fake.set_job_status(msg_id, "SEND_FAIL")
    assert wire.post("/cgi-bin/message/mass/get", {"msg_id": msg_id})["msg_status"] == "SEND_FAIL"
    assert fake.jobs[msg_id].finish_event()["Status"] == "send fail"
