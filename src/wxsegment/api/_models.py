"""Typed results of WeChat calls: users, tags, QR codes, sends, menus."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import attrs

from wxsegment.api._core import QRCODE_IMAGE_URL

__all__ = [
    "MassSpeed",
    "MassStatus",
    "QRCode",
    "SendResult",
    "Tag",
    "TemplateSendResult",
    "User",
]


@attrs.frozen
class User:
    """A follower's profile from ``user/info`` (``subscribed`` False: the rest is empty)."""

    openid: str
    subscribed: bool
    subscribe_time: datetime | None = None
    unionid: str | None = None
    language: str = ""
    remark: str = ""
    tag_ids: tuple[int, ...] = ()
    subscribe_scene: str = ""
    qr_scene: int = 0
    qr_scene_str: str = ""

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> User:
        """Parse one ``user/info`` object."""
        # Called once per follower on bulk fetches, so it avoids needless conversions.
        get = data.get
        stamp = get("subscribe_time")
        tags = get("tagid_list")
        return cls(
            str(get("openid", "")),
            get("subscribe", 0) == 1,
            _from_timestamp(int(stamp), timezone.utc) if stamp else None,
            get("unionid") or None,
            get("language", ""),
            get("remark", ""),
            tuple(tags) if tags else (),
            get("subscribe_scene", ""),
            get("qr_scene") or 0,
            get("qr_scene_str", ""),
        )


_from_timestamp = datetime.fromtimestamp


@attrs.frozen
class Tag:
    """A tag: its id, name and (from ``tags/get``) how many followers carry it."""

    id: int
    name: str
    count: int | None = None


@attrs.frozen
class QRCode:
    """A parametric QR code: its ticket, content URL and lifetime (None: permanent)."""

    ticket: str
    url: str
    expire_seconds: int | None = None

    @property
    def image_url(self) -> str:
        """Where to download the QR image (``showqrcode``; no token needed)."""
        return qrcode_image_url(self.ticket)


def qrcode_image_url(ticket: str) -> str:
    """The ``showqrcode`` URL of a ticket (URL-encoded)."""
    return f"{QRCODE_IMAGE_URL}?ticket={quote(ticket, safe='')}"


@attrs.frozen
class SendResult:
    """A mass send WeChat accepted (or had already accepted: ``already_sent``, from 45065).

    Acceptance only means the job was queued; ``msg_data_id`` is set for mpnews only.
    """

    msg_id: int | None
    msg_data_id: int | None
    already_sent: bool
    clientmsgid: str


@attrs.frozen
class MassStatus:
    """The state of a mass send: ``SEND_SUCCESS``, ``SENDING``, ``SEND_FAIL`` or ``DELETE``."""

    msg_id: int
    status: str


@attrs.frozen
class MassSpeed:
    """The mass-send speed level (0 fastest .. 4) and its real speed (10k followers/minute)."""

    speed: int
    realspeed: int | None = None


@attrs.frozen
class TemplateSendResult:
    """A template message WeChat accepted."""

    msgid: int | None
    client_msg_id: str | None
