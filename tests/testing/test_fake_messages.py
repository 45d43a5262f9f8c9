"""Customer-service messages and their windows, typing, template messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.testing.conftest import SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import DEFAULT_WINDOW_RULES, FakeConfig, FakeWeChat, WindowRule

OK = {"errcode": 0, "errmsg": "ok"}

PAYLOADS: list[dict[str, Any]] = [
    {"msgtype": "text", "text": {"content": "你好"}},
    {"msgtype": "image", "image": {"media_id": "m"}},
    {"msgtype": "voice", "voice": {"media_id": "m"}},
    {"msgtype": "video", "video": {"media_id": "m", "thumb_media_id": "t", "title": "v"}},
    {"msgtype": "music", "music": {"title": "t", "musicurl": "u", "thumb_media_id": "t"}},
    {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://x"}]}},
    {"msgtype": "mpnews", "mpnews": {"media_id": "m"}},
    {"msgtype": "mpnewsarticle", "mpnewsarticle": {"article_id": "a"}},
    {"msgtype": "msgmenu", "msgmenu": {"head_content": "h", "list": [{"id": "1", "content": "y"}]}},
    {"msgtype": "wxcard", "wxcard": {"card_id": "c"}},
    {
        "msgtype": "miniprogrampage",
        "miniprogrampage": {"title": "t", "appid": "wxa", "pagepath": "p", "thumb_media_id": "m"},
    },
]


def custom(wire: Wire, openid: str = "oA", payload: dict[str, Any] | None = None) -> Any:
    body = {"touser": openid, **(payload or PAYLOADS[0])}
    return wire.post("/cgi-bin/message/custom/send", body)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p["msgtype"] for p in PAYLOADS])
def test_every_custom_type_is_accepted(wire: Wire, payload: dict[str, Any]) -> None:
    """Each documented msgtype goes out inside a window and is recorded."""
    wire.fake.open_window("oA")
    assert custom(wire, payload=payload) == OK
    message = wire.fake.messages[-1]
    assert (message.kind, message.openid, message.msgtype) == ("custom", "oA", payload["msgtype"])


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"msgtype": "location"}, 40008),
        ({"msgtype": "text", "text": {"content": ""}}, 44004),
        ({"msgtype": "image", "image": {}}, 41006),
        ({"msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}}, 45008),
        ({"msgtype": "miniprogrampage", "miniprogrampage": {"title": "t"}}, 40035),
    ],
)
def test_custom_payload_errors(wire: Wire, payload: dict[str, Any], code: int) -> None:
    """Malformed payloads answer their errcodes and nothing is sent."""
    wire.fake.open_window("oA")
    assert errcode(custom(wire, payload=payload)) == code
    assert wire.fake.messages == ()


def test_window_closed_and_recipient_errors(wire: Wire, clock: FixedClock) -> None:
    """No interaction 45015; unknown openid 40003; unfollowed 43004."""
    assert errcode(custom(wire)) == 45015
    assert errcode(custom(wire, "zz")) == 40003
    wire.fake.unsubscribe("oB")
    assert errcode(custom(wire, "oB")) == 43004


def test_message_window_five_in_48_hours(wire: Wire, clock: FixedClock) -> None:
    """A user message allows 5 sends within 48 h (45047 after), then the window closes."""
    wire.fake.open_window("oA", "message")
    for _ in range(5):
        assert custom(wire) == OK
    assert errcode(custom(wire)) == 45047
    wire.fake.open_window("oA", "message")
    assert custom(wire) == OK
    clock.advance(timedelta(hours=48))
    wire.fetch_token()
    assert errcode(custom(wire)) == 45015


def test_click_window_three_in_a_minute(wire: Wire, clock: FixedClock) -> None:
    """A menu click allows 3 sends within 1 minute; follow and scan behave the same."""
    for kind in ("menu", "follow", "scan"):
        wire.fake.open_window("oB", kind)
        for _ in range(3):
            assert custom(wire, "oB") == OK
        assert errcode(custom(wire, "oB")) == 45047
        clock.advance(timedelta(minutes=1))
        assert errcode(custom(wire, "oB")) == 45015


def test_payment_window_unlimited(wire: Wire) -> None:
    """A payment allows any number of sends in 48 h and spares the limited windows."""
    wire.fake.open_window("oA", "payment")
    wire.fake.open_window("oA", "menu")
    for _ in range(20):
        assert custom(wire) == OK


def test_window_rules_configurable(clock: FixedClock) -> None:
    """The per-scene numbers are configuration (the 2021 table allowed 20 in 48 h)."""
    rules = {**DEFAULT_WINDOW_RULES, "message": WindowRule(timedelta(hours=48), 20)}
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(window_rules=rules))
    fake.add_follower("oA")
    wire = Wire(fake)
    wire.fetch_token()
    fake.open_window("oA")
    for _ in range(20):
        assert custom(wire) == OK
    assert errcode(custom(wire)) == 45047


def test_open_window_validation(fake: FakeWeChat) -> None:
    """Unknown kinds, unknown or unfollowed openids are refused."""
    with pytest.raises(ValueError, match="kind"):
        fake.open_window("oA", "hug")
    with pytest.raises(ValueError, match="unknown follower"):
        fake.open_window("zz")
    fake.unsubscribe("oC")
    with pytest.raises(ValueError, match="does not follow"):
        fake.open_window("oC")


def typing(wire: Wire, command: str = "Typing", openid: str = "oA") -> int:
    body = {"touser": openid, "command": command}
    return errcode(wire.post("/cgi-bin/message/custom/typing", body))


def test_typing_rules(wire: Wire, clock: FixedClock) -> None:
    """Typing needs a window and an interaction in the last 30 s, lasts 15 s, and a send ends it."""
    assert typing(wire) == 45015
    wire.fake.open_window("oA")
    assert typing(wire, "Dancing") == 45072
    assert typing(wire) == 0
    assert typing(wire) == 45081
    clock.advance(timedelta(seconds=15))
    assert typing(wire) == 0
    assert custom(wire) == OK
    assert typing(wire) == 0
    assert typing(wire, "CancelTyping") == 0
    assert typing(wire) == 0
    clock.advance(timedelta(seconds=31))
    assert typing(wire) == 45080


def template(wire: Wire, **extra: Any) -> Any:
    body = {
        "touser": "oA",
        "template_id": "tpl",
        "url": "https://example.com",
        "data": {"thing1": {"value": "订单"}},
        **extra,
    }
    return wire.post("/cgi-bin/message/template/send", body)


def test_template_send_and_dedup(wire: Wire, clock: FixedClock) -> None:
    """Template sends need no window; client_msg_id dedups per openid for 10 minutes."""
    first = template(wire, client_msg_id="order-1")
    assert first["errcode"] == 0
    assert isinstance(first["msgid"], int)
    assert template(wire, client_msg_id="order-1")["msgid"] == first["msgid"]
    assert len(wire.fake.messages) == 1
    assert template(wire, client_msg_id="order-1", touser="oB")["msgid"] != first["msgid"]
    clock.advance(timedelta(minutes=10))
    assert template(wire, client_msg_id="order-1")["msgid"] != first["msgid"]
    assert template(wire)["msgid"] != template(wire)["msgid"]


def test_template_errors(clock: FixedClock) -> None:
    """Unknown template 40037, bad data 47003, unknown openid 40003, unfollowed 43004."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(templates={"tpl"}))
    fake.add_followers(["oA", "oB"])
    wire = Wire(fake)
    wire.fetch_token()
    assert errcode(template(wire, template_id="other")) == 40037
    assert errcode(template(wire, template_id="")) == 40037
    assert errcode(template(wire, data={"thing1": "x"})) == 47003
    assert errcode(template(wire, touser="zz")) == 40003
    fake.unsubscribe("oB")
    assert errcode(template(wire, touser="oB")) == 43004
    assert errcode(template(wire, miniprogram={"pagepath": "p"})) == 40035
    assert fake.messages == ()
