"""Publishing (发布能力, ``freepublish/*``): submit a draft, follow the task, manage articles.

``submit`` only queues a task; its outcome arrives as a ``PUBLISHJOBFINISH`` push
(`wxsegment.api.callback.PublishJobFinishEvent`) and can be polled with `status`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from wxsegment.api._content_models import (
    NewsItem,
    Page,
    PublishedItem,
    PublishStatus,
    PublishSubmission,
    news_items,
)
from wxsegment.api._core import Call
from wxsegment.api._drafts import DRAFT_PAGE_MAX, batchget_call, parse_page
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._media import check_media_id
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["AsyncPublish", "Publish"]

_BATCHGET = "/cgi-bin/freepublish/batchget"


def _id(value: str | int, name: str) -> str:
    # publish_id is documented as a string and seen as a JSON number: accept both, send text.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a str or an int, not {type(value).__name__}")
    text = str(value)
    if not text or text != text.strip():
        raise WeChatValidationError(f"{name} must be non-empty without spaces")
    return text


def submit_call(media_id: str) -> Call:
    """``POST /cgi-bin/freepublish/submit`` (not replayed: a replay could publish twice)."""
    return Call(
        "POST",
        "/cgi-bin/freepublish/submit",
        body={"media_id": check_media_id(media_id)},
        replayable=False,
    )


def parse_submission(data: Mapping[str, Any]) -> PublishSubmission:
    """The answer of ``freepublish/submit``."""
    msg_data_id = data.get("msg_data_id")
    return PublishSubmission(
        str(data["publish_id"]), None if msg_data_id is None else int(str(msg_data_id))
    )


def status_call(publish_id: str | int) -> Call:
    """``POST /cgi-bin/freepublish/get``."""
    return Call(
        "POST", "/cgi-bin/freepublish/get", body={"publish_id": _id(publish_id, "publish_id")}
    )


def delete_call(article_id: str, index: int) -> Call:
    """``POST /cgi-bin/freepublish/delete``; ``index`` 1-based, 0 deletes every article."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise WeChatValidationError(f"index must be an int >= 0, got {index!r}")
    body = {"article_id": _id(article_id, "article_id"), "index": index}
    return Call("POST", "/cgi-bin/freepublish/delete", body=body, replayable=False)


def article_call(article_id: str) -> Call:
    """``POST /cgi-bin/freepublish/getarticle``."""
    return Call(
        "POST",
        "/cgi-bin/freepublish/getarticle",
        body={"article_id": _id(article_id, "article_id")},
    )


class Publish:
    """Publishing (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, media_id: str) -> PublishSubmission:
        """Publish a draft (``POST /cgi-bin/freepublish/submit``); the task runs on."""
        return parse_submission(self._client._request(submit_call(media_id)))

    def status(self, publish_id: str | int) -> PublishStatus:
        """The state of a publish task (``POST /cgi-bin/freepublish/get``)."""
        return PublishStatus.from_wechat(self._client._request(status_call(publish_id)))

    def delete(self, article_id: str, *, index: int = 0) -> None:
        """Delete a published article (1-based ``index``; 0: all) (``freepublish/delete``)."""
        self._client._request(delete_call(article_id, index))

    def get_article(self, article_id: str) -> tuple[NewsItem, ...]:
        """The articles of a publish (``POST /cgi-bin/freepublish/getarticle``)."""
        return news_items(self._client._request(article_call(article_id)))

    def batchget(
        self, *, offset: int = 0, count: int = DRAFT_PAGE_MAX, no_content: bool = False
    ) -> Page[PublishedItem]:
        """One page of published articles (``POST /cgi-bin/freepublish/batchget``)."""
        data = self._client._request(batchget_call(_BATCHGET, offset, count, no_content))
        return parse_page(data, PublishedItem.from_wechat)

    def iter(
        self,
        *,
        no_content: bool = False,
        page_size: int = DRAFT_PAGE_MAX,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> Iterator[PublishedItem]:
        """Every published item, lazily, page by page (``freepublish/batchget``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            call = batchget_call(_BATCHGET, offset, page_size, no_content)
            page = parse_page(self._client._request(call), PublishedItem.from_wechat)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"freepublish/batchget: no end of list after {max_pages} pages")


class AsyncPublish:
    """Publishing (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def submit(self, media_id: str) -> PublishSubmission:
        """Publish a draft (``POST /cgi-bin/freepublish/submit``); the task runs on."""
        return parse_submission(await self._client._request(submit_call(media_id)))

    async def status(self, publish_id: str | int) -> PublishStatus:
        """The state of a publish task (``POST /cgi-bin/freepublish/get``)."""
        return PublishStatus.from_wechat(await self._client._request(status_call(publish_id)))

    async def delete(self, article_id: str, *, index: int = 0) -> None:
        """Delete a published article (1-based ``index``; 0: all) (``freepublish/delete``)."""
        await self._client._request(delete_call(article_id, index))

    async def get_article(self, article_id: str) -> tuple[NewsItem, ...]:
        """The articles of a publish (``POST /cgi-bin/freepublish/getarticle``)."""
        return news_items(await self._client._request(article_call(article_id)))

    async def batchget(
        self, *, offset: int = 0, count: int = DRAFT_PAGE_MAX, no_content: bool = False
    ) -> Page[PublishedItem]:
        """One page of published articles (``POST /cgi-bin/freepublish/batchget``)."""
        data = await self._client._request(batchget_call(_BATCHGET, offset, count, no_content))
        return parse_page(data, PublishedItem.from_wechat)

    async def iter(
        self,
        *,
        no_content: bool = False,
        page_size: int = DRAFT_PAGE_MAX,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[PublishedItem]:
        """Every published item, lazily, page by page (``freepublish/batchget``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            call = batchget_call(_BATCHGET, offset, page_size, no_content)
            page = parse_page(await self._client._request(call), PublishedItem.from_wechat)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"freepublish/batchget: no end of list after {max_pages} pages")
