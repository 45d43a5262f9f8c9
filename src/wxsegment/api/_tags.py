"""Tags: CRUD, tagging and untagging in batches, members, the tags of one follower."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from wxsegment.api._core import Call, check_openid, check_utf8_length, chunked, unique_openids
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._models import Tag
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages, parse_page

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "MAX_TAGS_PER_ACCOUNT",
    "MAX_TAGS_PER_FOLLOWER",
    "TAGGING_BATCH_MAX",
    "TAG_NAME_MAX_BYTES",
    "AsyncTags",
    "Tags",
]

#: A tag name is at most 30 UTF-8 bytes (45158 beyond).
TAG_NAME_MAX_BYTES: Final = 30
#: ``batchtagging`` / ``batchuntagging`` take at most 50 openids per call.
TAGGING_BATCH_MAX: Final = 50
#: WeChat's limits, surfaced as `TooManyTagsError` (45056) and `FollowerTagLimitError` (45059).
MAX_TAGS_PER_ACCOUNT: Final = 100
MAX_TAGS_PER_FOLLOWER: Final = 20


def check_tag_id(tag_id: int) -> int:
    """Refuse a tag id that is not a non-negative int."""
    if isinstance(tag_id, bool) or not isinstance(tag_id, int):
        raise TypeError(f"tag_id must be an int, not {type(tag_id).__name__}")
    if tag_id < 0:
        raise WeChatValidationError(f"tag_id must be >= 0, got {tag_id}")
    return tag_id


def check_name(name: str) -> str:
    """Refuse a tag name outside 1..30 UTF-8 bytes."""
    return check_utf8_length(name, "tag name", TAG_NAME_MAX_BYTES)


def create_call(name: str) -> Call:
    """``POST /cgi-bin/tags/create`` (not replayable: a replay would hit 45157)."""
    return Call(
        "POST", "/cgi-bin/tags/create", body={"tag": {"name": check_name(name)}}, replayable=False
    )


def parse_created(data: Mapping[str, Any]) -> Tag:
    """The tag of a ``tags/create`` answer."""
    tag = data["tag"]
    return Tag(int(tag["id"]), str(tag["name"]), 0)


def parse_list(data: Mapping[str, Any]) -> list[Tag]:
    """The tags of a ``tags/get`` answer."""
    return [Tag(int(t["id"]), str(t["name"]), int(t.get("count", 0))) for t in data.get("tags", ())]


def tagging_calls(path: str, tag_id: int, openids: Iterable[str]) -> list[Call]:
    """Batch (un)tagging calls of at most 50 openids each (idempotent, so replayable)."""
    check_tag_id(tag_id)
    return [
        Call("POST", path, body={"openid_list": list(chunk), "tagid": tag_id})
        for chunk in chunked(unique_openids(openids), TAGGING_BATCH_MAX)
    ]


def members_call(tag_id: int, cursor: str) -> Call:
    """``POST /cgi-bin/user/tag/get``."""
    return Call("POST", "/cgi-bin/user/tag/get", body={"tagid": tag_id, "next_openid": cursor})


class Tags:
    """Tags of the account (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, name: str) -> Tag:
        """Create a tag (``POST /cgi-bin/tags/create``); name ≤ 30 UTF-8 bytes."""
        return parse_created(self._client._request(create_call(name)))

    def list(self) -> list[Tag]:
        """Every tag with its follower count (``GET /cgi-bin/tags/get``)."""
        return parse_list(self._client._request(Call("GET", "/cgi-bin/tags/get")))

    def rename(self, tag_id: int, name: str) -> None:
        """Rename a tag (``POST /cgi-bin/tags/update``)."""
        body = {"tag": {"id": check_tag_id(tag_id), "name": check_name(name)}}
        self._client._request(Call("POST", "/cgi-bin/tags/update", body=body))

    def delete(self, tag_id: int) -> None:
        """Delete a tag (``POST /cgi-bin/tags/delete``)."""
        body = {"tag": {"id": check_tag_id(tag_id)}}
        self._client._request(Call("POST", "/cgi-bin/tags/delete", body=body, replayable=False))

    def tag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        """Tag any number of followers, 50 per call (``tags/members/batchtagging``)."""
        for call in tagging_calls("/cgi-bin/tags/members/batchtagging", tag_id, openids):
            self._client._request(call)

    def untag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        """Untag any number of followers, 50 per call (``tags/members/batchuntagging``)."""
        for call in tagging_calls("/cgi-bin/tags/members/batchuntagging", tag_id, openids):
            self._client._request(call)

    def iter_members(
        self, tag_id: int, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[str]:
        """The openids carrying a tag, lazily (``POST /cgi-bin/user/tag/get``)."""
        check_tag_id(tag_id)
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            data = self._client._request(members_call(tag_id, cursor))
            openids, following = parse_page(data, cursor)
            yield from openids
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"user/tag/get: no end of list after {max_pages} pages")

    def tags_of(self, openid: str) -> builtins.list[int]:
        """The tag ids of one follower (``POST /cgi-bin/tags/getidlist``)."""
        body = {"openid": check_openid(openid)}
        data = self._client._request(Call("POST", "/cgi-bin/tags/getidlist", body=body))
        return [int(t) for t in data.get("tagid_list", ())]


class AsyncTags:
    """Tags of the account (asyncio); batch calls run concurrently (bounded)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, name: str) -> Tag:
        """Create a tag (``POST /cgi-bin/tags/create``); name ≤ 30 UTF-8 bytes."""
        return parse_created(await self._client._request(create_call(name)))

    async def list(self) -> list[Tag]:
        """Every tag with its follower count (``GET /cgi-bin/tags/get``)."""
        return parse_list(await self._client._request(Call("GET", "/cgi-bin/tags/get")))

    async def rename(self, tag_id: int, name: str) -> None:
        """Rename a tag (``POST /cgi-bin/tags/update``)."""
        body = {"tag": {"id": check_tag_id(tag_id), "name": check_name(name)}}
        await self._client._request(Call("POST", "/cgi-bin/tags/update", body=body))

    async def delete(self, tag_id: int) -> None:
        """Delete a tag (``POST /cgi-bin/tags/delete``)."""
        body = {"tag": {"id": check_tag_id(tag_id)}}
        await self._client._request(
            Call("POST", "/cgi-bin/tags/delete", body=body, replayable=False)
        )

    async def tag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        """Tag any number of followers, 50 per call (``tags/members/batchtagging``)."""
        await self._client._gather(
            tagging_calls("/cgi-bin/tags/members/batchtagging", tag_id, openids)
        )

    async def untag_users(self, tag_id: int, openids: Iterable[str]) -> None:
        """Untag any number of followers, 50 per call (``tags/members/batchuntagging``)."""
        await self._client._gather(
            tagging_calls("/cgi-bin/tags/members/batchuntagging", tag_id, openids)
        )

    async def iter_members(
        self, tag_id: int, *, next_openid: str = "", max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[str]:
        """The openids carrying a tag, lazily (``POST /cgi-bin/user/tag/get``)."""
        check_tag_id(tag_id)
        check_max_pages(max_pages)
        cursor = next_openid
        for _ in range(max_pages):
            data = await self._client._request(members_call(tag_id, cursor))
            openids, following = parse_page(data, cursor)
            for openid in openids:
                yield openid
            if following is None:
                return
            cursor = following
        raise PageLimitError(f"user/tag/get: no end of list after {max_pages} pages")

    async def tags_of(self, openid: str) -> builtins.list[int]:
        """The tag ids of one follower (``POST /cgi-bin/tags/getidlist``)."""
        body = {"openid": check_openid(openid)}
        data = await self._client._request(Call("POST", "/cgi-bin/tags/getidlist", body=body))
        return [int(t) for t in data.get("tagid_list", ())]
