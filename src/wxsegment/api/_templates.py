"""Template-message management (服务号): industries and the account's private templates.

Sending is `Messages.send_template`. An account holds at most 25 templates (45026 beyond);
changing the industry deletes the templates of the old one.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from wxsegment.api._content_models import Industry, PrivateTemplate
from wxsegment.api._core import Call
from wxsegment.api._errors import WeChatValidationError

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["MAX_PRIVATE_TEMPLATES", "AsyncTemplates", "Templates"]

#: Templates an account may hold at once.
MAX_PRIVATE_TEMPLATES: Final = 25


def _industry_id(value: int | str, name: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit() or int(text) < 1:
        raise WeChatValidationError(f"{name} must be a positive industry number, got {value!r}")
    return str(int(text))


def set_industry_call(primary: int | str, secondary: int | str) -> Call:
    """``POST /cgi-bin/template/api_set_industry``; ids go as JSON strings (form data: 40103)."""
    body = {
        "industry_id1": _industry_id(primary, "primary"),
        "industry_id2": _industry_id(secondary, "secondary"),
    }
    return Call("POST", "/cgi-bin/template/api_set_industry", body=body, replayable=False)


def add_call(template_id_short: str, keyword_names: Iterable[str]) -> Call:
    """``POST /cgi-bin/template/api_add_template`` (a replay would add a second copy)."""
    if not isinstance(template_id_short, str) or not template_id_short.strip():
        raise WeChatValidationError("template_id_short must be a non-empty string")
    if isinstance(keyword_names, str):
        raise TypeError("keyword_names must be a sequence of names, not one string")
    names = list(keyword_names)
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise WeChatValidationError("keyword names must be non-empty strings (40246)")
    if template_id_short.isdigit() and not names:
        raise WeChatValidationError(
            "a category template (numeric id) needs its keyword_names, in order"
        )
    body: dict[str, Any] = {"template_id_short": template_id_short}
    if names:
        body["keyword_name_list"] = names
    return Call("POST", "/cgi-bin/template/api_add_template", body=body, replayable=False)


def _template_id(template_id: str) -> str:
    if not isinstance(template_id, str) or not template_id.strip():
        raise WeChatValidationError("template_id must be a non-empty string")
    return template_id


def parse_templates(data: Mapping[str, Any]) -> list[PrivateTemplate]:
    """The answer of ``get_all_private_template``."""
    return [
        PrivateTemplate(
            template_id=str(item.get("template_id", "")),
            title=str(item.get("title", "")),
            content=str(item.get("content", "")),
            example=str(item.get("example", "")),
            primary_industry=str(item.get("primary_industry", "")),
            deputy_industry=str(item.get("deputy_industry", "")),
        )
        for item in data.get("template_list", ())
    ]


_GET_INDUSTRY: Final = Call("GET", "/cgi-bin/template/get_industry")
_LIST: Final = Call("GET", "/cgi-bin/template/get_all_private_template")


def delete_call(template_id: str) -> Call:
    """``POST /cgi-bin/template/del_private_template``."""
    body = {"template_id": _template_id(template_id)}
    return Call("POST", "/cgi-bin/template/del_private_template", body=body)


class Templates:
    """Template industries and private templates (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def set_industry(self, primary: int | str, secondary: int | str) -> None:
        """Set the two industries (``POST /cgi-bin/template/api_set_industry``)."""
        self._client._request(set_industry_call(primary, secondary))

    def get_industry(self) -> Industry:
        """The account's industries (``GET /cgi-bin/template/get_industry``)."""
        return Industry.from_wechat(self._client._request(_GET_INDUSTRY))

    def add(self, template_id_short: str, keyword_names: Iterable[str] = ()) -> str:
        """Add a template from the library; returns its template_id (``api_add_template``).

        Category templates (numeric ids) need ``keyword_names``, the keywords in order.
        """
        return str(self._client._request(add_call(template_id_short, keyword_names))["template_id"])

    def list(self) -> builtins.list[PrivateTemplate]:
        """The account's templates (``GET /cgi-bin/template/get_all_private_template``)."""
        return parse_templates(self._client._request(_LIST))

    def delete(self, template_id: str) -> None:
        """Delete a template (``POST /cgi-bin/template/del_private_template``)."""
        self._client._request(delete_call(template_id))


class AsyncTemplates:
    """Template industries and private templates (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def set_industry(self, primary: int | str, secondary: int | str) -> None:
        """Set the two industries (``POST /cgi-bin/template/api_set_industry``)."""
        await self._client._request(set_industry_call(primary, secondary))

    async def get_industry(self) -> Industry:
        """The account's industries (``GET /cgi-bin/template/get_industry``)."""
        return Industry.from_wechat(await self._client._request(_GET_INDUSTRY))

    async def add(self, template_id_short: str, keyword_names: Iterable[str] = ()) -> str:
        """Add a template from the library; returns its template_id (``api_add_template``).

        Category templates (numeric ids) need ``keyword_names``, the keywords in order.
        """
        data = await self._client._request(add_call(template_id_short, keyword_names))
        return str(data["template_id"])

    async def list(self) -> builtins.list[PrivateTemplate]:
        """The account's templates (``GET /cgi-bin/template/get_all_private_template``)."""
        return parse_templates(await self._client._request(_LIST))

    async def delete(self, template_id: str) -> None:
        """Delete a template (``POST /cgi-bin/template/del_private_template``)."""
        await self._client._request(delete_call(template_id))
