"""The account's blacklist: list it lazily, block and unblock followers 20 at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Final

from wxsegment.api._core import Call, chunked, unique_openids
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages, parse_page

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["BLACKLIST_BATCH_MAX", "AsyncBlacklist", "Blacklist"]

#: ``batchblacklist`` / ``batchunblacklist`` take at most 20 openids per call (40032 beyond).
BLACKLIST_BATCH_MAX: Final = 20


def page_call(cursor: str) -> Call:
    """``POST /cgi-bin/tags/members/getblacklist`` from ``cursor`` ("" for the start)."""
    return Call("POST", "/cgi-bin/tags/members/getblacklist", body={"begin_openid": cursor})


def batch_calls(path: str, openids: Iterable[str]) -> list[Call]:
    """Block / unblock calls of at most 20 distinct openids (idempotent, so replayable)."""
    return [
        Call("POST", path, body={"openid_list": list(chunk)})
        for chunk in chunked(unique_openids(openids), BLACKLIST_BATCH_MAX)
    ]


_BLOCK: Final = "/cgi-bin/tags/members/batchblacklist"
_UNBLOCK: Final = "/cgi-bin/tags/members/batchunblacklist"


class Blacklist:
    """Blacklisted users of the account (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def iter_openids(
        self, *, begin_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[str]:
        """Every blacklisted openid, lazily, page by page (``tags/members/getblacklist``).

        WeChat's page size is in CONFLICT (1,000 or 10,000); the walk does not depend on it.
        """
        check_max_pages(max_pages)
        cursor = begin_openid
        for _ in range(max_pages):
            openids, following = parse_page(self._client._request(page_call(cursor)), cursor)
            yield from openids
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"getblacklist: no end of list after {max_pages} pages")

    def block(self, openids: Iterable[str]) -> None:
        """Blacklist any number of users, 20 per call (``tags/members/batchblacklist``)."""
        for call in batch_calls(_BLOCK, openids):
            self._client._request(call)

    def unblock(self, openids: Iterable[str]) -> None:
        """Take users off the blacklist, 20 per call (``tags/members/batchunblacklist``)."""
        for call in batch_calls(_UNBLOCK, openids):
            self._client._request(call)


class AsyncBlacklist:
    """Blacklisted users of the account (asyncio); batch calls run concurrently (bounded)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def iter_openids(
        self, *, begin_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[str]:
        """Every blacklisted openid, lazily, page by page (``tags/members/getblacklist``).

        WeChat's page size is in CONFLICT (1,000 or 10,000); the walk does not depend on it.
        """
        check_max_pages(max_pages)
        cursor = begin_openid
        for _ in range(max_pages):
            data = await self._client._request(page_call(cursor))
            openids, following = parse_page(data, cursor)
            for openid in openids:
                yield openid
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"getblacklist: no end of list after {max_pages} pages")

    async def block(self, openids: Iterable[str]) -> None:
        """Blacklist any number of users, 20 per call (``tags/members/batchblacklist``)."""
        await self._client._gather(batch_calls(_BLOCK, openids))

    async def unblock(self, openids: Iterable[str]) -> None:
        """Take users off the blacklist, 20 per call (``tags/members/batchunblacklist``)."""
        await self._client._gather(batch_calls(_UNBLOCK, openids))
