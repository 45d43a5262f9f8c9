"""Followers: ``user/get`` paging, ``user/info``, ``user/info/batchget``, remarks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from wxsegment.api._core import (
    Call,
    check_openid,
    check_utf8_length,
    chunked,
    unique_openids,
)
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._models import User

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["AsyncUsers", "FollowerPage", "PageLimitError", "Users"]

#: ``user/info/batchget`` takes at most 100 openids per call.
BATCHGET_MAX: Final = 100
#: ``user/get`` returns at most 10,000 openids per page; 10,000 pages cover 100M followers.
DEFAULT_MAX_PAGES: Final = 10_000
#: The remark must be shorter than 30 UTF-8 bytes.
REMARK_MAX_BYTES: Final = 29

Lang = Literal["zh_CN", "zh_TW", "en"]


class PageLimitError(RuntimeError):
    """A paginated walk reached its page cap before WeChat signalled the end of the list."""


def check_max_pages(max_pages: int) -> int:
    """Refuse a page cap below one."""
    if not isinstance(max_pages, int) or max_pages < 1:
        raise WeChatValidationError(f"max_pages must be a positive int, got {max_pages!r}")
    return max_pages


@attrs.frozen
class FollowerPage:
    """One page of ``user/get``: its openids, the cursor of the next page, and the total.

    ``next_openid`` is None on the last page; pass it back to resume the walk there.
    """

    openids: tuple[str, ...]
    next_openid: str | None
    total: int


def parse_page(data: Mapping[str, Any], cursor: str) -> tuple[list[str], str | None]:
    """The openids of one page and the cursor of the next (None at the end).

    WeChat's end-of-list signals vary: ``data`` missing, ``count`` 0, an empty
    ``next_openid``, or the same cursor echoed back; any of them ends the walk.
    """
    block = data.get("data")
    openids = [str(o) for o in block.get("openid", ())] if isinstance(block, Mapping) else []
    if not openids or int(data.get("count", len(openids))) == 0:
        return openids, None
    following = str(data.get("next_openid") or "")
    if not following or following == cursor:
        return openids, None
    return openids, following


def follower_page(data: Mapping[str, Any], cursor: str) -> FollowerPage:
    """The `FollowerPage` of one ``user/get`` answer."""
    openids, following = parse_page(data, cursor)
    total = data.get("total")
    return FollowerPage(tuple(openids), following, int(total) if total is not None else 0)


def page_call(cursor: str) -> Call:
    """``GET /cgi-bin/user/get`` from ``cursor`` ("" for the first page)."""
    params = {"next_openid": cursor} if cursor else {}
    return Call("GET", "/cgi-bin/user/get", params=params)


def info_call(openid: str, lang: str) -> Call:
    """``GET /cgi-bin/user/info``."""
    return Call("GET", "/cgi-bin/user/info", params={"openid": check_openid(openid), "lang": lang})


def batchget_calls(openids: Iterable[str], lang: str) -> list[Call]:
    """``POST /cgi-bin/user/info/batchget`` calls of at most 100 openids each."""
    unique = unique_openids(openids)
    return [
        Call(
            "POST",
            "/cgi-bin/user/info/batchget",
            body={"user_list": [{"openid": o, "lang": lang} for o in chunk]},
        )
        for chunk in chunked(unique, BATCHGET_MAX)
    ]


def parse_batch(data: Mapping[str, Any]) -> list[User]:
    """Users of one batchget answer."""
    return [User.from_wechat(item) for item in data.get("user_info_list", ())]


def remark_call(openid: str, remark: str) -> Call:
    """``POST /cgi-bin/user/info/updateremark``; an empty remark clears it."""
    check_utf8_length(remark, "remark", REMARK_MAX_BYTES, minimum=0)
    return Call(
        "POST",
        "/cgi-bin/user/info/updateremark",
        body={"openid": check_openid(openid), "remark": remark},
    )


class Users:
    """Followers of the account (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def iter_openids(
        self, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[str]:
        """Every follower's openid, lazily, page by page (``GET /cgi-bin/user/get``).

        Raises `PageLimitError` after ``max_pages`` pages without reaching the end.
        """
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            openids, following = parse_page(self._client._request(page_call(cursor)), cursor)
            yield from openids
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"user/get: no end of list after {max_pages} pages")

    def iter_pages(
        self, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[FollowerPage]:
        """The follower list page by page (``GET /cgi-bin/user/get``), for resumable walks.

        Raises `PageLimitError` after ``max_pages`` pages without reaching the end.
        """
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            page = follower_page(self._client._request(page_call(cursor)), cursor)
            yield page
            if page.next_openid is None:
                return
            cursor = page.next_openid
        raise PageLimitError(f"user/get: no end of list after {max_pages} pages")

    def get(self, openid: str, *, lang: Lang = "zh_CN") -> User:
        """One follower's profile (``GET /cgi-bin/user/info``)."""
        return User.from_wechat(self._client._request(info_call(openid, lang)))

    def get_many(self, openids: Iterable[str], *, lang: Lang = "zh_CN") -> list[User]:
        """Profiles of many followers, 100 per call (``POST /cgi-bin/user/info/batchget``)."""
        users: list[User] = []
        for call in batchget_calls(openids, lang):
            users.extend(parse_batch(self._client._request(call)))
        return users

    def update_remark(self, openid: str, remark: str) -> None:
        """Set a follower's remark, < 30 UTF-8 bytes (``POST /cgi-bin/user/info/updateremark``)."""
        self._client._request(remark_call(openid, remark))


class AsyncUsers:
    """Followers of the account (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def iter_openids(
        self, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[str]:
        """Every follower's openid, lazily, page by page (``GET /cgi-bin/user/get``).

        Raises `PageLimitError` after ``max_pages`` pages without reaching the end.
        """
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            data = await self._client._request(page_call(cursor))
            openids, following = parse_page(data, cursor)
            for openid in openids:
                yield openid
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"user/get: no end of list after {max_pages} pages")

    async def iter_pages(
        self, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[FollowerPage]:
        """The follower list page by page (``GET /cgi-bin/user/get``), for resumable walks.

        Raises `PageLimitError` after ``max_pages`` pages without reaching the end.
        """
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            page = follower_page(await self._client._request(page_call(cursor)), cursor)
            yield page
            if page.next_openid is None:
                return
            cursor = page.next_openid
        raise PageLimitError(f"user/get: no end of list after {max_pages} pages")

    async def get(self, openid: str, *, lang: Lang = "zh_CN") -> User:
        """One follower's profile (``GET /cgi-bin/user/info``)."""
        return User.from_wechat(await self._client._request(info_call(openid, lang)))

    async def get_many(self, openids: Iterable[str], *, lang: Lang = "zh_CN") -> list[User]:
        """Profiles of many followers, 100 per call, calls run concurrently (bounded)."""
        answers = await self._client._gather(batchget_calls(openids, lang))
        return [user for data in answers for user in parse_batch(data)]

    async def update_remark(self, openid: str, remark: str) -> None:
        """Set a follower's remark, < 30 UTF-8 bytes (``POST /cgi-bin/user/info/updateremark``)."""
        await self._client._request(remark_call(openid, remark))
