"""QR codes of the fake WeChat: ``qrcode/create``, ``showqrcode`` and the tickets a scan
names (temporary codes expire on the fake clock; permanent ones come from a bounded pool).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from wxsegment.testing._fake_tokens import TOKEN_CHARS
from wxsegment.testing._fake_types import FakeQRCode
from wxsegment.testing._fake_wire import Reply, get_dict, get_int, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["FakeQRCodes"]

_ACTIONS: Final = frozenset({"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})
_JPEG: Final = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


class FakeQRCodes:
    """QR codes by ticket, and the permanent ones by action and scene."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self.codes: dict[str, FakeQRCode] = {}
        self._permanent: dict[tuple[str, int | str], str] = {}

    def live(self, ticket: str, when: datetime) -> FakeQRCode | None:
        """The code of ``ticket`` if it exists and has not expired at ``when``."""
        code = self.codes.get(ticket)
        if code is None or (code.expires_at is not None and when >= code.expires_at):
            return None
        return code

    def scan(self, openid: str, ticket: str, when: datetime) -> tuple[str, str]:
        """``openid`` scans ``ticket``: the event WeChat pushes, and the window it opens."""
        fake = self._fake
        code = self.live(ticket, when)
        if code is None:
            raise ValueError("unknown or expired QR code ticket")
        scene = str(code.scene_id) if code.scene_id is not None else code.scene_str or ""
        follower = fake._user_store.records.get(openid)
        if follower is not None and follower.subscribed:
            fake.open_window(openid, "scan", at=when)
            return "SCAN", scene
        just_added = follower is None
        if follower is None:
            fake.add_follower(openid, subscribe_time=when, subscribe_scene="ADD_SCENE_QR_CODE")
            follower = fake._user_store.records[openid]
        follower.subscribed = True
        follower.subscribe_time = when
        follower.subscribe_scene = "ADD_SCENE_QR_CODE"
        follower.qr_scene = code.scene_id or 0
        follower.qr_scene_str = code.scene_str or ""
        if not just_added:
            fake._datacube.follow(openid, when, "ADD_SCENE_QR_CODE")
        fake.open_window(openid, "follow", at=when)
        return "subscribe", "qrscene_" + scene

    def create(self, req: _Request) -> dict[str, Any]:
        """``qrcode/create``: a permanent code for a known scene answers its first ticket."""
        config = self._fake.config
        body = req.body
        action = get_str(body, "action_name", 40035)
        if action not in _ACTIONS:
            raise Reply(40035, "action_name")
        scene = get_dict(get_dict(body, "action_info", 40053), "scene", 40053)
        permanent = action.startswith("QR_LIMIT")
        scene_id: int | None = None
        scene_str: str | None = None
        if action.endswith("STR_SCENE"):
            scene_str = get_str(scene, "scene_str", 40053)
            if len(scene_str) > 64:
                raise Reply(40053, "scene_str longer than 64")
        else:
            scene_id = get_int(scene, "scene_id", 40053)
            top = 100_000 if permanent else config.qrcode_temp_scene_max
            if not 1 <= scene_id <= top:
                raise Reply(40053, "scene_id out of range")
        expires_at: datetime | None = None
        expire = 0
        if not permanent:
            expire = config.qrcode_default_expire
            if "expire_seconds" in body:
                expire = get_int(body, "expire_seconds", 40035)
                if expire < 1:
                    raise Reply(40035, "expire_seconds")
                if expire > config.qrcode_max_expire:
                    if config.qrcode_over_max == "error":
                        raise Reply(40035, "expire_seconds")
                    expire = config.qrcode_max_expire
            expires_at = req.now + timedelta(seconds=expire)
        scene_value: int | str = scene_id if scene_id is not None else scene_str or ""
        if permanent:
            existing = self._permanent.get((action, scene_value))
            if existing is not None:
                code = self.codes[existing]
                return {"ticket": code.ticket, "url": code.url}
            if len(self._permanent) >= config.max_permanent_qrcodes:
                raise Reply(40053, "permanent QR code pool used up")
        ticket = base64.b64encode(self._fake._rng.randbytes(48)).decode("ascii")
        url = "http://weixin.qq.com/q/" + "".join(self._fake._rng.choices(TOKEN_CHARS, k=22))
        self.codes[ticket] = FakeQRCode(
            ticket=ticket,
            action_name=action,
            scene_id=scene_id,
            scene_str=scene_str,
            created_at=req.now,
            expires_at=expires_at,
            url=url,
        )
        if permanent:
            self._permanent[(action, scene_value)] = ticket
            return {"ticket": ticket, "url": url}
        return {"ticket": ticket, "expire_seconds": expire, "url": url}

    def show(self, query: Mapping[str, str], now: datetime) -> tuple[int, bytes | None]:
        """``showqrcode``: the image of a live ticket, else a bare 404."""
        code = self.codes.get(query.get("ticket", ""))
        if code is None or (code.expires_at is not None and now >= code.expires_at):
            return 404, None
        return 200, _JPEG
