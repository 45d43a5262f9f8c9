"""Customer-service messages, typing, and template messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wxsegment.api._core import Call, check_kf_account, check_openid, validate_clientmsgid
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._keywords import KEYWORD_RULES, KeywordRule, check_keyword_values
from wxsegment.api._messages import CUSTOM_TYPES, CustomMessage
from wxsegment.api._models import TemplateSendResult

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["AsyncMessages", "Messages", "TemplateValue"]

#: A template field: a plain value, or ``{"value": ..., "color": ...}``.
TemplateValue = str | Mapping[str, str]


def custom_call(openid: str, message: CustomMessage, kf_account: str | None) -> Call:
    """``POST /cgi-bin/message/custom/send`` (no idempotency key, so never replayed)."""
    if not isinstance(message, CUSTOM_TYPES):
        raise TypeError(f"{type(message).__name__} is not a customer-service message")
    body: dict[str, Any] = {"touser": check_openid(openid), **message.payload()}
    if kf_account is not None:
        body["customservice"] = {"kf_account": check_kf_account(kf_account)}
    return Call("POST", "/cgi-bin/message/custom/send", body=body, replayable=False)


def typing_call(openid: str, typing: bool) -> Call:
    """``POST /cgi-bin/message/custom/typing``."""
    body = {"touser": check_openid(openid), "command": "Typing" if typing else "CancelTyping"}
    return Call("POST", "/cgi-bin/message/custom/typing", body=body, replayable=False)


def template_call(
    openid: str,
    template_id: str,
    data: Mapping[str, TemplateValue],
    *,
    url: str | None,
    miniprogram: tuple[str, str] | None,
    client_msg_id: str | None,
    rules: Mapping[str, KeywordRule] = KEYWORD_RULES,
) -> Call:
    """``POST /cgi-bin/message/template/send``; replayable only with a ``client_msg_id``.

    Values of typed keys (``thing1``, ``time2``, ...) are checked against ``rules`` first.
    """
    if not isinstance(template_id, str) or not template_id:
        raise WeChatValidationError("template_id must be a non-empty string")
    check_keyword_values(data, rules)
    fields: dict[str, Any] = {}
    for key, value in data.items():
        fields[key] = {"value": value} if isinstance(value, str) else dict(value)
    body: dict[str, Any] = {
        "touser": check_openid(openid),
        "template_id": template_id,
        "data": fields,
    }
    if url is not None:
        body["url"] = url
    if miniprogram is not None:
        appid, pagepath = miniprogram
        body["miniprogram"] = {"appid": appid, "pagepath": pagepath}
    if client_msg_id is not None:
        body["client_msg_id"] = validate_clientmsgid(client_msg_id, "client_msg_id")
    return Call(
        "POST", "/cgi-bin/message/template/send", body=body, replayable=client_msg_id is not None
    )


def parse_template(data: Mapping[str, Any], call: Call) -> TemplateSendResult:
    """The answer of ``template/send``."""
    assert call.body is not None
    msgid = data.get("msgid")
    return TemplateSendResult(None if msgid is None else int(msgid), call.body.get("client_msg_id"))


class Messages:
    """Customer-service and template messages (blocking).

    ``keyword_rules`` (type prefix -> `KeywordRule`) is checked before `send_template`.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.keyword_rules: Mapping[str, KeywordRule] = KEYWORD_RULES

    def send(self, openid: str, message: CustomMessage, *, kf_account: str | None = None) -> None:
        """A customer-service message inside the 48 h window (``message/custom/send``)."""
        self._client._request(custom_call(openid, message, kf_account))

    def typing(self, openid: str, typing: bool = True) -> None:
        """Show (or cancel) "typing…" to a follower (``message/custom/typing``)."""
        self._client._request(typing_call(openid, typing))

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, TemplateValue],
        *,
        url: str | None = None,
        miniprogram: tuple[str, str] | None = None,
        client_msg_id: str | None = None,
    ) -> TemplateSendResult:
        """A template message (``message/template/send``); ``miniprogram`` is (appid, page)."""
        call = template_call(
            openid,
            template_id,
            data,
            url=url,
            miniprogram=miniprogram,
            client_msg_id=client_msg_id,
            rules=self.keyword_rules,
        )
        return parse_template(self._client._request(call), call)


class AsyncMessages:
    """Customer-service and template messages (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.keyword_rules: Mapping[str, KeywordRule] = KEYWORD_RULES

    async def send(
        self, openid: str, message: CustomMessage, *, kf_account: str | None = None
    ) -> None:
        """A customer-service message inside the 48 h window (``message/custom/send``)."""
        await self._client._request(custom_call(openid, message, kf_account))

    async def typing(self, openid: str, typing: bool = True) -> None:
        """Show (or cancel) "typing…" to a follower (``message/custom/typing``)."""
        await self._client._request(typing_call(openid, typing))

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, TemplateValue],
        *,
        url: str | None = None,
        miniprogram: tuple[str, str] | None = None,
        client_msg_id: str | None = None,
    ) -> TemplateSendResult:
        """A template message (``message/template/send``); ``miniprogram`` is (appid, page)."""
        call = template_call(
            openid,
            template_id,
            data,
            url=url,
            miniprogram=miniprogram,
            client_msg_id=client_msg_id,
            rules=self.keyword_rules,
        )
        return parse_template(await self._client._request(call), call)
