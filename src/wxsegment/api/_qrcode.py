"""Parametric QR codes (``POST /cgi-bin/qrcode/create``), limits checked before the call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from wxsegment.api._core import Call
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._models import QRCode, qrcode_image_url

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["AsyncQRCodes", "QRCodes"]

#: A temporary code lives at most 30 days.
MAX_EXPIRE_SECONDS: Final = 2_592_000
#: Permanent numeric scenes are 1..100,000.
MAX_PERMANENT_SCENE_ID: Final = 100_000
#: Temporary numeric scenes are 32-bit non-zero integers.
MAX_TEMPORARY_SCENE_ID: Final = 2**31 - 1
#: String scenes are 1..64 characters.
MAX_SCENE_STR: Final = 64


def _scene(scene: int | str, *, permanent: bool) -> tuple[str, dict[str, Any]]:
    if isinstance(scene, bool):
        raise TypeError("scene must be an int or a str, not a bool")
    if isinstance(scene, int):
        top = MAX_PERMANENT_SCENE_ID if permanent else MAX_TEMPORARY_SCENE_ID
        if not 1 <= scene <= top:
            raise WeChatValidationError(
                f"a {'permanent' if permanent else 'temporary'} numeric scene must be 1..{top}, "
                f"got {scene}"
            )
        return ("QR_LIMIT_SCENE" if permanent else "QR_SCENE"), {"scene_id": scene}
    if isinstance(scene, str):
        if not 1 <= len(scene) <= MAX_SCENE_STR:
            raise WeChatValidationError(
                f"a scene string must be 1..{MAX_SCENE_STR} characters, got {len(scene)}"
            )
        return ("QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE"), {"scene_str": scene}
    raise TypeError(f"scene must be an int or a str, not {type(scene).__name__}")


def temporary_call(scene: int | str, expire_seconds: int) -> Call:
    """A temporary code: expiry 1..2,592,000 s."""
    if isinstance(expire_seconds, bool) or not isinstance(expire_seconds, int):
        raise TypeError("expire_seconds must be an int")
    if not 1 <= expire_seconds <= MAX_EXPIRE_SECONDS:
        raise WeChatValidationError(
            f"expire_seconds must be 1..{MAX_EXPIRE_SECONDS} (30 days), got {expire_seconds}"
        )
    action, scene_body = _scene(scene, permanent=False)
    body = {
        "expire_seconds": expire_seconds,
        "action_name": action,
        "action_info": {"scene": scene_body},
    }
    return Call("POST", "/cgi-bin/qrcode/create", body=body)


def permanent_call(scene: int | str) -> Call:
    """A permanent code (at most 100,000 per account, so not replayed blindly)."""
    action, scene_body = _scene(scene, permanent=True)
    body = {"action_name": action, "action_info": {"scene": scene_body}}
    return Call("POST", "/cgi-bin/qrcode/create", body=body)


def parse_qrcode(data: Mapping[str, Any]) -> QRCode:
    """The answer of ``qrcode/create``."""
    expire = data.get("expire_seconds")
    return QRCode(str(data["ticket"]), str(data.get("url", "")), int(expire) if expire else None)


class QRCodes:
    """Parametric QR codes (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create_temporary(self, scene: int | str, *, expire_seconds: int = 604_800) -> QRCode:
        """A temporary code, numeric or string scene (``POST /cgi-bin/qrcode/create``)."""
        return parse_qrcode(self._client._request(temporary_call(scene, expire_seconds)))

    def create_permanent(self, scene: int | str) -> QRCode:
        """A permanent code, scene 1..100000 or a string (``POST /cgi-bin/qrcode/create``)."""
        return parse_qrcode(self._client._request(permanent_call(scene)))

    def image_url(self, ticket: str) -> str:
        """The URL of a ticket's QR image (``showqrcode``; no request is made)."""
        return qrcode_image_url(ticket)


class AsyncQRCodes:
    """Parametric QR codes (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create_temporary(self, scene: int | str, *, expire_seconds: int = 604_800) -> QRCode:
        """A temporary code, numeric or string scene (``POST /cgi-bin/qrcode/create``)."""
        return parse_qrcode(await self._client._request(temporary_call(scene, expire_seconds)))

    async def create_permanent(self, scene: int | str) -> QRCode:
        """A permanent code, scene 1..100000 or a string (``POST /cgi-bin/qrcode/create``)."""
        return parse_qrcode(await self._client._request(permanent_call(scene)))

    def image_url(self, ticket: str) -> str:
        """The URL of a ticket's QR image (``showqrcode``; no request is made)."""
        return qrcode_image_url(ticket)
