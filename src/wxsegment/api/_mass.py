"""Mass sends (群发): to a tag, to all, to openid lists; preview, delete, status, speed.

Every send carries a ``clientmsgid``; a send to a long openid list is split into calls of
2..10,000 openids, each with an id derived deterministically from the caller's, so replaying the
whole send reuses every id. WeChat's 45065 ("clientmsgid exists") is an already-sent outcome.
Send, preview and delete calls go through the client's pacer (60 per minute by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from wxsegment._clock import ensure_aware
from wxsegment.api._core import (
    Call,
    balanced_chunks,
    check_openid,
    derive_clientmsgid,
    unique_openids,
    validate_clientmsgid,
)
from wxsegment.api._errors import DuplicateClientMsgIdError, WeChatValidationError
from wxsegment.api._messages import MASS_TYPES, MassMessage
from wxsegment.api._models import MassSpeed, MassStatus, SendResult
from wxsegment.api._tags import check_tag_id

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["MASS_BATCH_MAX", "MASS_BATCH_MIN", "AsyncMass", "Mass"]

#: ``mass/send`` takes 2..10,000 openids per call (40130 below two).
MASS_BATCH_MIN: Final = 2
MASS_BATCH_MAX: Final = 10_000


def _payload(message: MassMessage) -> dict[str, Any]:
    if not isinstance(message, MASS_TYPES):
        raise TypeError(
            f"{type(message).__name__} cannot be mass-sent; use one of "
            + ", ".join(t.__name__ for t in MASS_TYPES)
        )
    return message.payload()


def sendall_call(
    message: MassMessage, clientmsgid: str, *, tag_id: int | None, send_ignore_reprint: bool
) -> Call:
    """``POST /cgi-bin/message/mass/sendall`` to a tag (``tag_id``) or to all (None)."""
    filter_: dict[str, Any] = {"is_to_all": tag_id is None}
    if tag_id is not None:
        filter_["tag_id"] = check_tag_id(tag_id)
    body = {
        "filter": filter_,
        **_payload(message),
        "send_ignore_reprint": int(send_ignore_reprint),
        "clientmsgid": validate_clientmsgid(clientmsgid),
    }
    return Call("POST", "/cgi-bin/message/mass/sendall", body=body, paced=True)


def send_calls(
    openids: Iterable[str],
    message: MassMessage,
    clientmsgid: str,
    *,
    send_ignore_reprint: bool,
    not_after: datetime | None = None,
) -> list[Call]:
    """``POST /cgi-bin/message/mass/send`` calls of 2..10,000 openids, one derived id each."""
    validate_clientmsgid(clientmsgid)
    payload = _payload(message)
    unique = unique_openids(openids)
    if len(unique) < MASS_BATCH_MIN:
        raise WeChatValidationError(
            f"a mass send to an openid list needs at least {MASS_BATCH_MIN} distinct openids, "
            f"got {len(unique)}; send one follower a customer-service message instead"
        )
    chunks = balanced_chunks(unique, MASS_BATCH_MAX)
    return [
        Call(
            "POST",
            "/cgi-bin/message/mass/send",
            body={
                "touser": list(chunk),
                **payload,
                "send_ignore_reprint": int(send_ignore_reprint),
                "clientmsgid": derive_clientmsgid(clientmsgid, index, len(chunks)),
            },
            paced=True,
            not_after=not_after if not_after is None else ensure_aware(not_after, "not_after"),
        )
        for index, chunk in enumerate(chunks)
    ]


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def parse_sent(data: Mapping[str, Any], call: Call) -> SendResult:
    """The result of an accepted send."""
    assert call.body is not None
    return SendResult(
        msg_id=_optional_int(data.get("msg_id")),
        msg_data_id=_optional_int(data.get("msg_data_id")),
        already_sent=False,
        clientmsgid=str(call.body["clientmsgid"]),
    )


def already_sent(error: DuplicateClientMsgIdError, call: Call) -> SendResult:
    """45065 as an outcome: the original send's msg_id, flagged ``already_sent``."""
    assert call.body is not None
    return SendResult(
        msg_id=error.msg_id,
        msg_data_id=None,
        already_sent=True,
        clientmsgid=str(call.body["clientmsgid"]),
    )


def preview_call(message: MassMessage, openid: str | None, wxname: str | None) -> Call:
    """``POST /cgi-bin/message/mass/preview`` to one openid or WeChat id."""
    if (openid is None) == (wxname is None):
        raise WeChatValidationError("preview needs exactly one of openid or wxname")
    target = {"touser": check_openid(openid)} if openid is not None else {}
    if wxname is not None:
        target = {"towxname": check_openid(wxname, "wxname")}
    return Call(
        "POST",
        "/cgi-bin/message/mass/preview",
        body={**target, **_payload(message)},
        replayable=False,
        paced=True,
    )


def _check_msg_id(msg_id: int) -> int:
    if isinstance(msg_id, bool) or not isinstance(msg_id, int) or msg_id <= 0:
        raise WeChatValidationError(f"msg_id must be a positive int, got {msg_id!r}")
    return msg_id


def delete_call(msg_id: int, article_idx: int) -> Call:
    """``POST /cgi-bin/message/mass/delete``; article_idx 0 deletes every article."""
    if isinstance(article_idx, bool) or not isinstance(article_idx, int) or article_idx < 0:
        raise WeChatValidationError(f"article_idx must be an int >= 0, got {article_idx!r}")
    body = {"msg_id": _check_msg_id(msg_id), "article_idx": article_idx}
    return Call("POST", "/cgi-bin/message/mass/delete", body=body, replayable=False, paced=True)


def delete_by_url_call(url: str, article_idx: int) -> Call:
    """``POST /cgi-bin/message/mass/delete`` naming the send by an article URL (no msg_id)."""
    if isinstance(article_idx, bool) or not isinstance(article_idx, int) or article_idx < 0:
        raise WeChatValidationError(f"article_idx must be an int >= 0, got {article_idx!r}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WeChatValidationError(f"url must be an article URL, got {url!r}")
    body = {"url": url, "article_idx": article_idx}
    return Call("POST", "/cgi-bin/message/mass/delete", body=body, replayable=False, paced=True)


def status_call(msg_id: int) -> Call:
    """``POST /cgi-bin/message/mass/get``."""
    return Call("POST", "/cgi-bin/message/mass/get", body={"msg_id": _check_msg_id(msg_id)})


def speed_set_call(speed: int) -> Call:
    """``POST /cgi-bin/message/mass/speed/set`` with a level 0..4."""
    if isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= 4:
        raise WeChatValidationError(f"speed must be an int 0..4, got {speed!r}")
    return Call("POST", "/cgi-bin/message/mass/speed/set", body={"speed": speed})


def parse_status(data: Mapping[str, Any]) -> MassStatus:
    """The answer of ``mass/get``."""
    return MassStatus(int(data["msg_id"]), str(data.get("msg_status", "")))


def parse_speed(data: Mapping[str, Any]) -> MassSpeed:
    """The answer of ``mass/speed/get``."""
    return MassSpeed(int(data["speed"]), _optional_int(data.get("realspeed")))


class Mass:
    """Mass sends (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _send(self, call: Call) -> SendResult:
        try:
            return parse_sent(self._client._request(call), call)
        except DuplicateClientMsgIdError as error:
            return already_sent(error, call)

    def send_to_tag(
        self,
        tag_id: int,
        message: MassMessage,
        *,
        clientmsgid: str,
        send_ignore_reprint: bool = False,
    ) -> SendResult:
        """Send to every follower with a tag (``POST /cgi-bin/message/mass/sendall``)."""
        return self._send(
            sendall_call(
                message, clientmsgid, tag_id=tag_id, send_ignore_reprint=send_ignore_reprint
            )
        )

    def send_to_all(
        self, message: MassMessage, *, clientmsgid: str, send_ignore_reprint: bool = False
    ) -> SendResult:
        """Send to every follower (``POST /cgi-bin/message/mass/sendall``, is_to_all)."""
        return self._send(
            sendall_call(message, clientmsgid, tag_id=None, send_ignore_reprint=send_ignore_reprint)
        )

    def send_to_openids(
        self,
        openids: Iterable[str],
        message: MassMessage,
        *,
        clientmsgid: str,
        send_ignore_reprint: bool = False,
        not_after: datetime | None = None,
    ) -> list[SendResult]:
        """Send to a list of any size, split into calls of 2..10,000 (``mass/send``).

        One result per call, in order; each call's clientmsgid is derived from ``clientmsgid``.
        No attempt (retries included) starts at or after ``not_after`` (`SendDeadlineError`).
        """
        calls = send_calls(
            openids,
            message,
            clientmsgid,
            send_ignore_reprint=send_ignore_reprint,
            not_after=not_after,
        )
        return [self._send(call) for call in calls]

    def preview(
        self, message: MassMessage, *, openid: str | None = None, wxname: str | None = None
    ) -> int | None:
        """Preview to one openid or WeChat id (``POST /cgi-bin/message/mass/preview``)."""
        data = self._client._request(preview_call(message, openid, wxname))
        return _optional_int(data.get("msg_id"))

    def delete(self, msg_id: int, *, article_idx: int = 0) -> None:
        """Delete a sent mpnews/video (``POST /cgi-bin/message/mass/delete``)."""
        self._client._request(delete_call(msg_id, article_idx))

    def delete_by_url(self, url: str, *, article_idx: int = 0) -> None:
        """Delete a sent article by its URL when the msg_id is unknown (``mass/delete``)."""
        self._client._request(delete_by_url_call(url, article_idx))

    def status(self, msg_id: int) -> MassStatus:
        """The state of a send (``POST /cgi-bin/message/mass/get``)."""
        return parse_status(self._client._request(status_call(msg_id)))

    def get_speed(self) -> MassSpeed:
        """The mass-send speed (``POST /cgi-bin/message/mass/speed/get``)."""
        return parse_speed(
            self._client._request(Call("POST", "/cgi-bin/message/mass/speed/get", body={}))
        )

    def set_speed(self, speed: int) -> None:
        """Set the speed level 0 (fastest) .. 4 (``POST /cgi-bin/message/mass/speed/set``)."""
        self._client._request(speed_set_call(speed))


class AsyncMass:
    """Mass sends (asyncio); chunks of one send go out in order, through the pacer."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _send(self, call: Call) -> SendResult:
        try:
            return parse_sent(await self._client._request(call), call)
        except DuplicateClientMsgIdError as error:
            return already_sent(error, call)

    async def send_to_tag(
        self,
        tag_id: int,
        message: MassMessage,
        *,
        clientmsgid: str,
        send_ignore_reprint: bool = False,
    ) -> SendResult:
        """Send to every follower with a tag (``POST /cgi-bin/message/mass/sendall``)."""
        return await self._send(
            sendall_call(
                message, clientmsgid, tag_id=tag_id, send_ignore_reprint=send_ignore_reprint
            )
        )

    async def send_to_all(
        self, message: MassMessage, *, clientmsgid: str, send_ignore_reprint: bool = False
    ) -> SendResult:
        """Send to every follower (``POST /cgi-bin/message/mass/sendall``, is_to_all)."""
        return await self._send(
            sendall_call(message, clientmsgid, tag_id=None, send_ignore_reprint=send_ignore_reprint)
        )

    async def send_to_openids(
        self,
        openids: Iterable[str],
        message: MassMessage,
        *,
        clientmsgid: str,
        send_ignore_reprint: bool = False,
        not_after: datetime | None = None,
    ) -> list[SendResult]:
        """Send to a list of any size, split into calls of 2..10,000 (``mass/send``).

        One result per call, in order; each call's clientmsgid is derived from ``clientmsgid``.
        No attempt (retries included) starts at or after ``not_after`` (`SendDeadlineError`).
        """
        calls = send_calls(
            openids,
            message,
            clientmsgid,
            send_ignore_reprint=send_ignore_reprint,
            not_after=not_after,
        )
        return [await self._send(call) for call in calls]

    async def preview(
        self, message: MassMessage, *, openid: str | None = None, wxname: str | None = None
    ) -> int | None:
        """Preview to one openid or WeChat id (``POST /cgi-bin/message/mass/preview``)."""
        data = await self._client._request(preview_call(message, openid, wxname))
        return _optional_int(data.get("msg_id"))

    async def delete(self, msg_id: int, *, article_idx: int = 0) -> None:
        """Delete a sent mpnews/video (``POST /cgi-bin/message/mass/delete``)."""
        await self._client._request(delete_call(msg_id, article_idx))

    async def delete_by_url(self, url: str, *, article_idx: int = 0) -> None:
        """Delete a sent article by its URL when the msg_id is unknown (``mass/delete``)."""
        await self._client._request(delete_by_url_call(url, article_idx))

    async def status(self, msg_id: int) -> MassStatus:
        """The state of a send (``POST /cgi-bin/message/mass/get``)."""
        return parse_status(await self._client._request(status_call(msg_id)))

    async def get_speed(self) -> MassSpeed:
        """The mass-send speed (``POST /cgi-bin/message/mass/speed/get``)."""
        return parse_speed(
            await self._client._request(Call("POST", "/cgi-bin/message/mass/speed/get", body={}))
        )

    async def set_speed(self, speed: int) -> None:
        """Set the speed level 0 (fastest) .. 4 (``POST /cgi-bin/message/mass/speed/set``)."""
        await self._client._request(speed_set_call(speed))
