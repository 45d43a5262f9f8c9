"""Subscribe notifications (订阅通知): the template library (``/wxaapi/newtmpl/*``) and bizsend.

The library paths have no ``/cgi-bin`` prefix. An account holds at most 25 templates (200012);
a template takes 2..5 keywords and a scene description of at most 15 characters. Each
one-time subscription a user accepts allows one ``bizsend`` (43101 otherwise).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from wxsegment.api._content_models import (
    PubKeyword,
    PubTemplateTitle,
    SubscribeCategory,
    SubscribeTemplate,
)
from wxsegment.api._core import Call, check_openid
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._keywords import KEYWORD_RULES, KeywordRule, check_keyword_values
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "SCENE_DESC_MAX",
    "SUBSCRIBE_KEYWORDS_MAX",
    "SUBSCRIBE_KEYWORDS_MIN",
    "SUBSCRIBE_TITLES_PAGE_MAX",
    "AsyncSubscribeMessages",
    "SubscribeMessages",
]

SUBSCRIBE_KEYWORDS_MIN: Final = 2
SUBSCRIBE_KEYWORDS_MAX: Final = 5
SCENE_DESC_MAX: Final = 15
#: ``getpubtemplatetitles`` returns at most 30 titles per call.
SUBSCRIBE_TITLES_PAGE_MAX: Final = 30


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WeChatValidationError(f"{name} must be a positive int, got {value!r}")
    return value


def titles_call(category_ids: Iterable[int], start: int, limit: int) -> Call:
    """``GET /wxaapi/newtmpl/getpubtemplatetitles`` (``ids`` comma-joined, no quotes)."""
    ids = [_positive(i, "category id") for i in category_ids]
    if not ids:
        raise WeChatValidationError("getpubtemplatetitles needs at least one category id")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise WeChatValidationError(f"start must be an int >= 0, got {start!r}")
    if _positive(limit, "limit") > SUBSCRIBE_TITLES_PAGE_MAX:
        raise WeChatValidationError(f"limit must be at most {SUBSCRIBE_TITLES_PAGE_MAX}")
    params = {"ids": ",".join(map(str, ids)), "start": str(start), "limit": str(limit)}
    return Call("GET", "/wxaapi/newtmpl/getpubtemplatetitles", params=params)


def parse_titles(data: Mapping[str, Any]) -> tuple[int, list[PubTemplateTitle]]:
    """The total and the titles of one ``getpubtemplatetitles`` page."""
    titles = [
        PubTemplateTitle(
            int(item["tid"]),
            str(item.get("title", "")),
            int(item.get("type", 2)),
            int(str(item.get("categoryId", 0))),
        )
        for item in data.get("data", ())
    ]
    return int(data.get("count", len(titles))), titles


def keywords_call(tid: int) -> Call:
    """``GET /wxaapi/newtmpl/getpubtemplatekeywords``."""
    return Call(
        "GET", "/wxaapi/newtmpl/getpubtemplatekeywords", params={"tid": str(_positive(tid, "tid"))}
    )


def parse_keywords(data: Mapping[str, Any]) -> list[PubKeyword]:
    """The keywords of a public title."""
    return [
        PubKeyword(
            int(k["kid"]), str(k.get("name", "")), str(k.get("example", "")), str(k.get("rule", ""))
        )
        for k in data.get("data", ())
    ]


def add_call(tid: int, kid_list: Iterable[int], scene_desc: str) -> Call:
    """``POST /wxaapi/newtmpl/addtemplate`` as JSON (the SDK-tested encoding; UNCONFIRMED)."""
    kids = [_positive(k, "kid") for k in kid_list]
    if not SUBSCRIBE_KEYWORDS_MIN <= len(kids) <= SUBSCRIBE_KEYWORDS_MAX:
        raise WeChatValidationError(
            f"a template takes {SUBSCRIBE_KEYWORDS_MIN}..{SUBSCRIBE_KEYWORDS_MAX} keywords, "
            f"got {len(kids)}"
        )
    if len(set(kids)) != len(kids):
        raise WeChatValidationError("kid_list repeats a keyword")
    if not isinstance(scene_desc, str) or not scene_desc.strip():
        raise WeChatValidationError("scene_desc must be a non-empty string")
    if len(scene_desc) > SCENE_DESC_MAX:
        raise WeChatValidationError(
            f"scene_desc must be at most {SCENE_DESC_MAX} characters, got {len(scene_desc)}"
        )
    body = {"tid": _positive(tid, "tid"), "kidList": kids, "sceneDesc": scene_desc}
    return Call("POST", "/wxaapi/newtmpl/addtemplate", body=body, replayable=False)


def parse_templates(data: Mapping[str, Any]) -> list[SubscribeTemplate]:
    """The answer of ``gettemplate``."""
    return [
        SubscribeTemplate(
            str(item["priTmplId"]),
            str(item.get("title", "")),
            str(item.get("content", "")),
            str(item.get("example", "")),
            int(item.get("type", 2)),
        )
        for item in data.get("data", ())
    ]


def delete_call(pri_tmpl_id: str) -> Call:
    """``POST /wxaapi/newtmpl/deltemplate``."""
    if not isinstance(pri_tmpl_id, str) or not pri_tmpl_id.strip():
        raise WeChatValidationError("pri_tmpl_id must be a non-empty string")
    return Call("POST", "/wxaapi/newtmpl/deltemplate", body={"priTmplId": pri_tmpl_id})


def send_call(
    openid: str,
    template_id: str,
    data: Mapping[str, Any],
    *,
    page: str | None,
    miniprogram: tuple[str, str] | None,
    rules: Mapping[str, KeywordRule],
) -> Call:
    """``POST /cgi-bin/message/subscribe/bizsend``; values checked by their key types first.

    Not replayed: a replay would spend a second subscription.
    """
    if not isinstance(template_id, str) or not template_id.strip():
        raise WeChatValidationError("template_id must be a non-empty string")
    check_keyword_values(data, rules)
    fields = {k: dict(v) if isinstance(v, Mapping) else {"value": v} for k, v in data.items()}
    body: dict[str, Any] = {
        "touser": check_openid(openid),
        "template_id": template_id,
        "data": fields,
    }
    if page is not None:
        body["page"] = page
    if miniprogram is not None:
        appid, pagepath = miniprogram
        body["miniprogram"] = {"appid": appid, "pagepath": pagepath}
    return Call("POST", "/cgi-bin/message/subscribe/bizsend", body=body, replayable=False)


_CATEGORIES: Final = Call("GET", "/wxaapi/newtmpl/getcategory")
_TEMPLATES: Final = Call("GET", "/wxaapi/newtmpl/gettemplate")


def _categories(data: Mapping[str, Any]) -> list[SubscribeCategory]:
    return [SubscribeCategory(int(c["id"]), str(c.get("name", ""))) for c in data.get("data", ())]


class SubscribeMessages:
    """Subscribe notifications (blocking); ``keyword_rules`` is checked before `send`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.keyword_rules: Mapping[str, KeywordRule] = KEYWORD_RULES

    def categories(self) -> builtins.list[SubscribeCategory]:
        """The account's service categories (``GET /wxaapi/newtmpl/getcategory``)."""
        return _categories(self._client._request(_CATEGORIES))

    def pub_titles(
        self, category_ids: Iterable[int], *, start: int = 0, limit: int = 30
    ) -> tuple[int, builtins.list[PubTemplateTitle]]:
        """One page of public titles: (total, titles) (``getpubtemplatetitles``)."""
        return parse_titles(self._client._request(titles_call(category_ids, start, limit)))

    def iter_pub_titles(
        self, category_ids: Iterable[int], *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[PubTemplateTitle]:
        """Every public title of the categories, lazily (``getpubtemplatetitles``)."""
        ids = list(category_ids)
        check_max_pages(max_pages)
        start = 0
        for _ in range(max_pages):
            call = titles_call(ids, start, SUBSCRIBE_TITLES_PAGE_MAX)
            total, titles = parse_titles(self._client._request(call))
            yield from titles
            start += len(titles)
            if not titles or start >= total:
                return
        raise PageLimitError(f"getpubtemplatetitles: no end of list after {max_pages} pages")

    def pub_keywords(self, tid: int) -> builtins.list[PubKeyword]:
        """The keywords of a public title (``getpubtemplatekeywords``)."""
        return parse_keywords(self._client._request(keywords_call(tid)))

    def add_template(self, tid: int, kid_list: Iterable[int], scene_desc: str) -> str:
        """Add a template to the account; returns its priTmplId (``newtmpl/addtemplate``)."""
        data = self._client._request(add_call(tid, kid_list, scene_desc))
        return str(data["priTmplId"])

    def templates(self) -> builtins.list[SubscribeTemplate]:
        """The account's templates (``GET /wxaapi/newtmpl/gettemplate``)."""
        return parse_templates(self._client._request(_TEMPLATES))

    def delete_template(self, pri_tmpl_id: str) -> None:
        """Delete a template (``POST /wxaapi/newtmpl/deltemplate``)."""
        self._client._request(delete_call(pri_tmpl_id))

    def send(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        *,
        page: str | None = None,
        miniprogram: tuple[str, str] | None = None,
    ) -> None:
        """Send one notification (``POST /cgi-bin/message/subscribe/bizsend``)."""
        self._client._request(
            send_call(
                openid,
                template_id,
                data,
                page=page,
                miniprogram=miniprogram,
                rules=self.keyword_rules,
            )
        )


class AsyncSubscribeMessages:
    """Subscribe notifications (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.keyword_rules: Mapping[str, KeywordRule] = KEYWORD_RULES

    async def categories(self) -> builtins.list[SubscribeCategory]:
        """The account's service categories (``GET /wxaapi/newtmpl/getcategory``)."""
        return _categories(await self._client._request(_CATEGORIES))

    async def pub_titles(
        self, category_ids: Iterable[int], *, start: int = 0, limit: int = 30
    ) -> tuple[int, builtins.list[PubTemplateTitle]]:
        """One page of public titles: (total, titles) (``getpubtemplatetitles``)."""
        return parse_titles(await self._client._request(titles_call(category_ids, start, limit)))

    async def iter_pub_titles(
        self, category_ids: Iterable[int], *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[PubTemplateTitle]:
        """Every public title of the categories, lazily (``getpubtemplatetitles``)."""
        ids = list(category_ids)
        check_max_pages(max_pages)
        start = 0
        for _ in range(max_pages):
            call = titles_call(ids, start, SUBSCRIBE_TITLES_PAGE_MAX)
            total, titles = parse_titles(await self._client._request(call))
            for title in titles:
                yield title
            start += len(titles)
            if not titles or start >= total:
                return
        raise PageLimitError(f"getpubtemplatetitles: no end of list after {max_pages} pages")

    async def pub_keywords(self, tid: int) -> builtins.list[PubKeyword]:
        """The keywords of a public title (``getpubtemplatekeywords``)."""
        return parse_keywords(await self._client._request(keywords_call(tid)))

    async def add_template(self, tid: int, kid_list: Iterable[int], scene_desc: str) -> str:
        """Add a template to the account; returns its priTmplId (``newtmpl/addtemplate``)."""
        data = await self._client._request(add_call(tid, kid_list, scene_desc))
        return str(data["priTmplId"])

    async def templates(self) -> builtins.list[SubscribeTemplate]:
        """The account's templates (``GET /wxaapi/newtmpl/gettemplate``)."""
        return parse_templates(await self._client._request(_TEMPLATES))

    async def delete_template(self, pri_tmpl_id: str) -> None:
        """Delete a template (``POST /wxaapi/newtmpl/deltemplate``)."""
        await self._client._request(delete_call(pri_tmpl_id))

    async def send(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, Any],
        *,
        page: str | None = None,
        miniprogram: tuple[str, str] | None = None,
    ) -> None:
        """Send one notification (``POST /cgi-bin/message/subscribe/bizsend``)."""
        await self._client._request(
            send_call(
                openid,
                template_id,
                data,
                page=page,
                miniprogram=miniprogram,
                rules=self.keyword_rules,
            )
        )
