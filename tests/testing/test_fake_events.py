"""FakeWeChat pushes: handshake, WeChat-shaped events, retries, reply checks, state."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import Client, Text
from wxsegment.api.callback import (
    CallbackHandler,
    Event,
    MassSendJobFinishEvent,
    Message,
    ScanEvent,
    SubscribeEvent,
    TemplateSendJobFinishEvent,
    TextReply,
    wsgi_app,
)
from wxsegment.testing import FakeConfig, FakeWeChat

START = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
TOKEN = "fakeEvents1"
KEY = "F" * 43


def make(**config: Any) -> tuple[FakeWeChat, Client]:
    """A fake on a fixed clock and a client over it."""
    fake = FakeWeChat(clock=FixedClock(START), config=FakeConfig(**config))
    client = Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
        sleep=lambda seconds: None,
    )
    return fake, client


@pytest.fixture
def wired() -> Iterator[tuple[FakeWeChat, Client, list[Message | Event], CallbackHandler]]:
    """A fake pushing in safe mode to an in-process WSGI endpoint that records pushes."""
    fake, client = make()
    endpoint = CallbackHandler(
        token=TOKEN, appid=fake.appid, encoding_aes_key=KEY, clock=fake.clock
    )
    seen: list[Message | Event] = []
    endpoint.add("*", seen.append)
    fake.set_callback(wsgi_app(endpoint), token=TOKEN, encoding_aes_key=KEY, mode="safe")
    yield fake, client, seen, endpoint
    endpoint.close()
    client.close()


def test_handshake_is_checked_when_the_callback_is_set() -> None:
    """An endpoint with another token fails the echostr handshake; bad settings are refused."""
    fake, _ = make()
    wrong = CallbackHandler(token="otherToken", appid=fake.appid, clock=fake.clock)
    with pytest.raises(ValueError, match="handshake"):
        fake.set_callback(wsgi_app(wrong), token=TOKEN)
    with pytest.raises(ValueError, match="encoding_aes_key"):
        fake.set_callback(wsgi_app(wrong), token=TOKEN, mode="safe")
    with pytest.raises(ValueError, match="token"):
        fake.set_callback(wsgi_app(wrong), token="a b")
    with pytest.raises(TypeError):
        fake.set_callback(42, token=TOKEN)
    assert fake.follower("o1").subscribe() is None  # nothing set: no push, state still moves
    assert fake.followers["o1"].subscribed
    wrong.close()


def test_pushes_carry_every_field_and_move_the_fakes_state(
    wired: tuple[FakeWeChat, Client, list[Message | Event], CallbackHandler],
) -> None:
    """A QR follow, a SCAN, a message opening the window, an unfollow: WeChat-shaped, in order."""
    fake, client, seen, _ = wired
    code = client.qrcode.create_temporary("shop-7")
    user = fake.follower("o_user")
    user.subscribe(scene="shop-7")
    first = seen[-1]
    assert isinstance(first, SubscribeEvent)
    assert (first.scene, first.ticket, first.event_key) == ("shop-7", code.ticket, "qrscene_shop-7")
    assert first.to_user_name == fake.config.original_id
    assert first.create_time == START
    assert fake.followers["o_user"].qr_scene_str == "shop-7"
    fake.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    user.scan(code.ticket)
    assert isinstance(seen[-1], ScanEvent)
    fake.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    user.send_text("在吗")
    client.messages.send("o_user", Text("在的"))  # the message opened the 48-hour window
    user.unsubscribe()
    assert not fake.followers["o_user"].subscribed
    assert [type(p).__name__ for p in seen] == [
        "SubscribeEvent",
        "ScanEvent",
        "TextMessage",
        "UnsubscribeEvent",
    ]
    assert all(p.answered and len(p.attempts) == 1 for p in fake.pushes)
    with pytest.raises(ValueError, match="QR code"):
        user.scan("no-such-scene")


def test_job_events_arrive_later_with_their_result_blocks(
    wired: tuple[FakeWeChat, Client, list[Message | Event], CallbackHandler],
) -> None:
    """Mass and template jobs push their JOBFINISH events before the next answer."""
    fake, client, seen, _ = wired
    fake.add_followers(["o1", "o2"])
    (sent,) = client.mass.send_to_openids(["o1", "o2"], Text("hi"), clientmsgid="j1")
    assert not any(isinstance(p, MassSendJobFinishEvent) for p in seen)
    (pushed,) = fake.push_pending()
    finished = seen[-1]
    assert isinstance(finished, MassSendJobFinishEvent)
    assert finished.msg_id == sent.msg_id
    assert (finished.total_count, finished.filter_count, finished.sent_count) == (2, 2, 2)
    root = ET.fromstring(pushed.xml)
    assert root.find("CopyrightCheckResult/CheckState") is not None
    assert root.find("ArticleUrlResult/Count") is not None
    assert root.findtext("MsgID") == str(sent.msg_id)
    client.messages.send_template("o1", "TPL", {"k": "v"})
    client.tags.list()  # the next call delivers the queued template event
    assert isinstance(seen[-1], TemplateSendJobFinishEvent)
    assert seen[-1].from_user_name == "o1"


def test_no_answer_is_retried_three_times() -> None:
    """An endpoint that never answers in time gets the push three times, then WeChat gives up."""
    fake, _ = make(callback_timeout=0.05)
    stop = threading.Event()
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["REQUEST_METHOD"])
        if environ["REQUEST_METHOD"] == "GET":
            start_response("200 OK", [])
            return [environ["QUERY_STRING"].split("echostr=")[1].split("&")[0].encode()]
        stop.wait(5)
        start_response("200 OK", [])
        return [b"success"]

    fake.set_callback(app, token=TOKEN)
    result = fake.follower("o_slow").subscribe()
    stop.set()
    assert result is not None
    assert [a.status for a in result.attempts] == [None, None, None]
    assert not result.answered
    assert calls.count("POST") == 3


def test_an_http_error_is_retried_and_replies_are_checked() -> None:
    """A 500 is retried; a reply to the wrong user, or JSON, is an error WeChat would show."""
    fake, _ = make()
    answers = iter([("500 Internal Server Error", b""), ("200 OK", b"success")])
    replies = iter([b'{"ok": true}', b"<xml><ToUserName>o_other</ToUserName></xml>"])

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        query = environ["QUERY_STRING"]
        if environ["REQUEST_METHOD"] == "GET":
            start_response("200 OK", [])
            return [query.split("echostr=")[1].split("&")[0].encode()]
        try:
            status, body = next(answers)
        except StopIteration:
            status, body = "200 OK", next(replies)
        start_response(status, [])
        return [body]

    fake.set_callback(app, token=TOKEN)
    user = fake.follower("o_a")
    first = user.subscribe()
    assert first is not None
    assert [a.status for a in first.attempts] == [500, 200]
    assert first.answered
    fake.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    second = user.send_text("1")
    assert second is not None
    assert second.reply_error == "reply is not XML"
    third = user.send_text("2")
    assert third is not None
    assert third.reply_error is not None
    assert "ToUserName" in third.reply_error


def test_safe_mode_reply_must_be_sealed_and_is_read() -> None:
    """In safe mode a plain reply is refused; a sealed one is decrypted and checked."""
    fake, _ = make()
    sealed = CallbackHandler(token=TOKEN, appid=fake.appid, encoding_aes_key=KEY, clock=fake.clock)
    sealed.add("text", lambda push: TextReply.to(push, "收到", now=START))
    fake.set_callback(wsgi_app(sealed), token=TOKEN, encoding_aes_key=KEY, mode="safe")
    fake.add_follower("o_s")
    good = fake.follower("o_s").send_text("hi")
    assert good is not None
    assert good.reply_error is None
    assert good.reply is not None
    assert good.reply["Content"] == "收到"

    def plain(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        if environ["REQUEST_METHOD"] == "GET":
            return [environ["QUERY_STRING"].split("echostr=")[1].split("&")[0].encode()]
        return [b"<xml><ToUserName>o_s</ToUserName></xml>"]

    fake.set_callback(plain, token=TOKEN, encoding_aes_key=KEY, mode="safe")
    bad = fake.follower("o_s").send_text("again")
    assert bad is not None
    assert bad.reply_error == "safe mode needs an encrypted reply"
    sealed.close()


def test_legacy_group_id_is_refused_by_default() -> None:
    """wechatpy 1.8.18's filter.group_id gets 40050 unless FakeConfig says otherwise."""
    body: dict[str, Any] = {"filter": {}, "text": {"content": "x"}, "msgtype": "text"}
    for setting, expected in (("error", 40050), ("tag", 0)):
        fake, client = make(legacy_group_id=setting)
        tag = client.tags.create("t")
        fake.add_followers(["o1", "o2"])
        client.tags.tag_users(tag.id, ["o1", "o2"])
        body["filter"] = {"is_to_all": False, "group_id": tag.id}
        answer = httpx.Client(transport=httpx.MockTransport(fake.handler)).post(
            "https://api.weixin.qq.com/cgi-bin/message/mass/sendall",
            params={"access_token": _token(fake)},
            json=body,
        )
        assert answer.json().get("errcode") == expected, setting


def _token(fake: FakeWeChat) -> str:
    """A fresh access token from the fake's classic endpoint."""
    answer = httpx.Client(transport=httpx.MockTransport(fake.handler)).get(
        "https://api.weixin.qq.com/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": fake.appid, "secret": fake.secret},
    )
    return str(answer.json()["access_token"])


def test_in_process_asgi_target_and_success_only_events() -> None:
    """An ASGI app works in process; a reply to LOCATION is flagged, as WeChat wants success."""
    from wxsegment.api.callback import asgi_app

    fake, _ = make()
    endpoint = CallbackHandler(token=TOKEN, appid=fake.appid, clock=fake.clock)
    endpoint.add("*", lambda push: TextReply.to(push, "hi", now=START))
    fake.set_callback(asgi_app(endpoint), token=TOKEN)
    user = fake.follower("o_loc")
    followed = user.subscribe()
    assert followed is not None
    assert followed.reply_error is None
    assert followed.reply is not None
    assert followed.reply["Content"] == "hi"
    fake.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    located = user.location(30.27, 120.15)
    assert located is not None
    assert located.reply_error == "WeChat expects 'success' to a location push, not a reply"
    endpoint.close()
