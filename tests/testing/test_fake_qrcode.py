"""QR codes: temporary and permanent, numeric and string scenes, limits, showqrcode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.testing.conftest import SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat


def create(wire: Wire, action: str, scene: dict[str, Any], **extra: Any) -> Any:
    body = {"action_name": action, "action_info": {"scene": scene}, **extra}
    return wire.post("/cgi-bin/qrcode/create", body)


def show(wire: Wire, ticket: str) -> int:
    return wire.http.get(
        "https://mp.weixin.qq.com/cgi-bin/showqrcode", params={"ticket": ticket}
    ).status_code


def test_temporary_code_and_image(wire: Wire, clock: FixedClock) -> None:
    """A temporary code answers ticket/expire_seconds/url; its image is served until expiry."""
    answer = create(wire, "QR_SCENE", {"scene_id": 123}, expire_seconds=604800)
    assert set(answer) == {"ticket", "expire_seconds", "url"}
    assert answer["expire_seconds"] == 604800
    assert answer["url"].startswith("http://weixin.qq.com/q/")
    response = wire.http.get(
        "https://mp.weixin.qq.com/cgi-bin/showqrcode", params={"ticket": answer["ticket"]}
    )
    assert response.status_code == 200
    assert response.content.startswith(b"\xff\xd8")
    clock.advance(timedelta(seconds=604800))
    assert show(wire, answer["ticket"]) == 404
    assert show(wire, "nope") == 404


def test_default_expiry(wire: Wire) -> None:
    """Without expire_seconds a temporary code lives 60 s (configurable)."""
    assert create(wire, "QR_STR_SCENE", {"scene_str": "a"})["expire_seconds"] == 60


def test_permanent_codes(wire: Wire) -> None:
    """Permanent codes have no expiry; the same scene gives the same ticket."""
    first = create(wire, "QR_LIMIT_SCENE", {"scene_id": 100000})
    assert set(first) == {"ticket", "url"}
    assert create(wire, "QR_LIMIT_SCENE", {"scene_id": 100000}) == first
    named = create(wire, "QR_LIMIT_STR_SCENE", {"scene_str": "店-杭州"})
    assert wire.fake.qrcodes[named["ticket"]].scene_str == "店-杭州"
    assert show(wire, first["ticket"]) == 200


@pytest.mark.parametrize(
    ("action", "scene", "extra", "code"),
    [
        ("QR_LIMIT_SCENE", {"scene_id": 100001}, {}, 40053),
        ("QR_LIMIT_SCENE", {"scene_id": 0}, {}, 40053),
        ("QR_SCENE", {"scene_id": 0}, {}, 40053),
        ("QR_SCENE", {"scene_id": 2**32}, {}, 40053),
        ("QR_STR_SCENE", {"scene_str": ""}, {}, 40053),
        ("QR_STR_SCENE", {"scene_str": "x" * 65}, {}, 40053),
        ("QR_SCENE", {"scene_str": "x"}, {}, 40053),
        ("QR_SCENE", {"scene_id": 1}, {"expire_seconds": 2592001}, 40035),
        ("QR_SCENE", {"scene_id": 1}, {"expire_seconds": 0}, 40035),
        ("QR_NOPE", {"scene_id": 1}, {}, 40035),
    ],
)
def test_limits(
    wire: Wire, action: str, scene: dict[str, Any], extra: dict[str, Any], code: int
) -> None:
    """Out-of-range scenes and expiries answer errcodes and create nothing."""
    assert errcode(create(wire, action, scene, **extra)) == code
    assert wire.fake.qrcodes == {}


def test_missing_scene_wrapper(wire: Wire) -> None:
    """scene_id directly under action_info (no "scene") is refused."""
    body = {"action_name": "QR_SCENE", "action_info": {"scene_id": 1}}
    assert errcode(wire.post("/cgi-bin/qrcode/create", body)) == 40053


def test_clamp_and_pool_options(clock: FixedClock) -> None:
    """qrcode_over_max="clamp" caps the expiry; the permanent pool limit answers 40053."""
    config = FakeConfig(qrcode_over_max="clamp", max_permanent_qrcodes=1)
    fake = FakeWeChat(clock=clock, secret=SECRET, config=config)
    wire = Wire(fake)
    wire.fetch_token()
    assert (
        create(wire, "QR_SCENE", {"scene_id": 5}, expire_seconds=9_999_999)["expire_seconds"]
        == 2592000
    )
    assert "ticket" in create(wire, "QR_LIMIT_SCENE", {"scene_id": 1})
    assert errcode(create(wire, "QR_LIMIT_SCENE", {"scene_id": 2})) == 40053


def test_scan_follows_or_scans(wire: Wire, clock: FixedClock) -> None:
    """scan() subscribes newcomers with the QR scene and reports SCAN for followers."""
    code = create(wire, "QR_STR_SCENE", {"scene_str": "store:hz"}, expire_seconds=600)
    assert wire.fake.scan("oNew", code["ticket"]) == ("subscribe", "qrscene_store:hz")
    info = wire.get("/cgi-bin/user/info", openid="oNew")
    assert (info["subscribe_scene"], info["qr_scene_str"]) == ("ADD_SCENE_QR_CODE", "store:hz")
    numeric = create(wire, "QR_LIMIT_SCENE", {"scene_id": 7})
    assert wire.fake.scan("oA", numeric["ticket"]) == ("SCAN", "7")
    send = {"touser": "oA", "msgtype": "text", "text": {"content": "欢迎"}}
    for _ in range(3):
        assert errcode(wire.post("/cgi-bin/message/custom/send", send)) == 0
    assert errcode(wire.post("/cgi-bin/message/custom/send", send)) == 45047
    wire.fake.unsubscribe("oB")
    assert wire.fake.scan("oB", numeric["ticket"]) == ("subscribe", "qrscene_7")
    assert wire.get("/cgi-bin/user/info", openid="oB")["qr_scene"] == 7
    clock.advance(timedelta(seconds=600))
    with pytest.raises(ValueError, match="expired"):
        wire.fake.scan("oC", code["ticket"])
