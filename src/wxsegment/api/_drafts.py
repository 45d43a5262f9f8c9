"""The draft box (草稿箱): articles, their limits, and the draft calls.

A draft's media_id is what an ``mpnews`` mass send and ``freepublish/submit`` take; WeChat
removes a draft from the box once it is mass-sent or published.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import attrs

from wxsegment.api._content_models import Draft, DraftItem, Page, _stamp, news_items
from wxsegment.api._core import Call, utf8_len
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._media import check_media_id, check_page
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "ARTICLE_AUTHOR_MAX",
    "ARTICLE_CONTENT_MAX_BYTES",
    "ARTICLE_CONTENT_MAX_CHARS",
    "ARTICLE_DIGEST_MAX",
    "ARTICLE_SOURCE_URL_MAX_BYTES",
    "ARTICLE_TITLE_MAX",
    "DRAFT_PAGE_MAX",
    "AsyncDrafts",
    "DraftArticle",
    "Drafts",
]

#: Article limits of ``draft/add`` (characters unless said otherwise).
ARTICLE_TITLE_MAX: Final = 32
ARTICLE_AUTHOR_MAX: Final = 16
ARTICLE_DIGEST_MAX: Final = 128
ARTICLE_CONTENT_MAX_CHARS: Final = 20_000
ARTICLE_CONTENT_MAX_BYTES: Final = 1024 * 1024
ARTICLE_SOURCE_URL_MAX_BYTES: Final = 1024
#: ``draft/batchget`` and ``freepublish/batchget`` return at most 20 items per call.
DRAFT_PAGE_MAX: Final = 20
_T = TypeVar("_T")
_CROP: Final = re.compile(r"(?:0|1|0\.\d{1,6}|1\.0{1,6})(?:_(?:0|1|0\.\d{1,6}|1\.0{1,6})){3}")


def _text(value: object, name: str, maximum: int, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if required and not value.strip():
        raise WeChatValidationError(f"article {name} must not be empty")
    if len(value) > maximum:
        raise WeChatValidationError(
            f"article {name} must be at most {maximum} characters, got {len(value)}"
        )


def _check_crop(_instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _CROP.fullmatch(value):
        raise WeChatValidationError(
            f"{attribute.name} must be X1_Y1_X2_Y2 in 0..1 with at most 6 decimals, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class DraftArticle:
    """One article of a draft, checked against WeChat's limits when it is built.

    ``thumb_media_id`` (a *permanent* image or thumb material) is required for ``news``;
    ``newspic`` articles carry ``image_media_ids`` (1..20, the first is the cover; the field
    names of newspic are UNCONFIRMED). ``digest`` applies to single-article drafts only.
    """

    title: str
    content: str
    thumb_media_id: str = ""
    author: str = ""
    digest: str | None = None
    content_source_url: str = ""
    need_open_comment: bool = False
    only_fans_can_comment: bool = False
    article_type: Literal["news", "newspic"] = "news"
    image_media_ids: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    pic_crop_235_1: str | None = attrs.field(default=None, validator=_check_crop)
    pic_crop_1_1: str | None = attrs.field(default=None, validator=_check_crop)

    def __attrs_post_init__(self) -> None:
        _text(self.title, "title", ARTICLE_TITLE_MAX, required=True)
        _text(self.author, "author", ARTICLE_AUTHOR_MAX)
        if self.digest is not None:
            _text(self.digest, "digest", ARTICLE_DIGEST_MAX)
        _text(self.content, "content", ARTICLE_CONTENT_MAX_CHARS - 1, required=True)
        if utf8_len(self.content) >= ARTICLE_CONTENT_MAX_BYTES:
            raise WeChatValidationError("article content must be under 1 MB")
        if utf8_len(self.content_source_url) > ARTICLE_SOURCE_URL_MAX_BYTES:
            raise WeChatValidationError("content_source_url must be at most 1 KB")
        if self.article_type not in ("news", "newspic"):
            raise WeChatValidationError(
                f"article_type must be 'news' or 'newspic', got {self.article_type!r}"
            )
        if self.article_type == "news":
            if not self.thumb_media_id:
                raise WeChatValidationError("a news article needs a thumb_media_id")
            check_media_id(self.thumb_media_id)
        elif not 1 <= len(self.image_media_ids) <= 20:
            raise WeChatValidationError("a newspic article needs 1..20 image_media_ids")
        for media_id in self.image_media_ids:
            check_media_id(media_id)

    def payload(self) -> dict[str, Any]:
        """The article object for ``draft/add`` / ``draft/update``."""
        body: dict[str, Any] = {
            "article_type": self.article_type,
            "title": self.title,
            "author": self.author,
            "content": self.content,
            "content_source_url": self.content_source_url,
            "need_open_comment": int(self.need_open_comment),
            "only_fans_can_comment": int(self.only_fans_can_comment),
        }
        if self.digest is not None:
            body["digest"] = self.digest
        if self.thumb_media_id:
            body["thumb_media_id"] = self.thumb_media_id
        if self.image_media_ids:
            body["image_info"] = {
                "image_list": [{"image_media_id": m} for m in self.image_media_ids]
            }
        for name in ("pic_crop_235_1", "pic_crop_1_1"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


def _articles(articles: Sequence[DraftArticle]) -> list[dict[str, Any]]:
    if isinstance(articles, DraftArticle):
        articles = [articles]
    items = list(articles)
    if not items:
        raise WeChatValidationError("a draft needs at least one article")
    for item in items:
        if not isinstance(item, DraftArticle):
            raise TypeError(f"articles must be DraftArticle, not {type(item).__name__}")
    if len(items) > 1 and any(item.digest for item in items):
        raise WeChatValidationError("digest applies to single-article drafts only")
    return [item.payload() for item in items]


def add_call(articles: Sequence[DraftArticle]) -> Call:
    """``POST /cgi-bin/draft/add`` (a replay would create a second draft)."""
    return Call(
        "POST", "/cgi-bin/draft/add", body={"articles": _articles(articles)}, replayable=False
    )


def update_call(media_id: str, index: int, article: DraftArticle) -> Call:
    """``POST /cgi-bin/draft/update``: one article (0-based ``index``) replaced."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise WeChatValidationError(f"index must be an int >= 0, got {index!r}")
    if not isinstance(article, DraftArticle):
        raise TypeError(f"article must be a DraftArticle, not {type(article).__name__}")
    body = {"media_id": check_media_id(media_id), "index": index, "articles": article.payload()}
    return Call("POST", "/cgi-bin/draft/update", body=body)


def parse_draft(media_id: str, data: Mapping[str, Any]) -> Draft:
    """The answer of ``draft/get``."""
    return Draft(
        media_id,
        news_items(data),
        _stamp(data.get("create_time")),
        _stamp(data.get("update_time")),
    )


def batchget_call(path: str, offset: int, count: int, no_content: bool) -> Call:
    """``draft/batchget`` or ``freepublish/batchget`` (``no_content`` sent as 0/1)."""
    check_page(offset, count, DRAFT_PAGE_MAX)
    body = {"offset": offset, "count": count, "no_content": int(bool(no_content))}
    return Call("POST", path, body=body)


def parse_page(data: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], _T]) -> Page[_T]:
    """One page of a batchget answer, each item parsed with ``parse``."""
    return Page(int(data.get("total_count", 0)), tuple(parse(i) for i in data.get("item", ())))


def _body(media_id: str) -> dict[str, str]:
    return {"media_id": check_media_id(media_id)}


_BATCHGET: Final = "/cgi-bin/draft/batchget"


class Drafts:
    """The draft box (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def add(self, articles: Sequence[DraftArticle]) -> str:
        """Create a draft; returns its media_id (``POST /cgi-bin/draft/add``)."""
        return str(self._client._request(add_call(articles))["media_id"])

    def get(self, media_id: str) -> Draft:
        """A draft's articles (``POST /cgi-bin/draft/get``)."""
        call = Call("POST", "/cgi-bin/draft/get", body=_body(media_id))
        return parse_draft(media_id, self._client._request(call))

    def update(self, media_id: str, index: int, article: DraftArticle) -> None:
        """Replace article ``index`` (0-based) of a draft (``POST /cgi-bin/draft/update``)."""
        self._client._request(update_call(media_id, index, article))

    def delete(self, media_id: str) -> None:
        """Delete a draft (``POST /cgi-bin/draft/delete``)."""
        self._client._request(Call("POST", "/cgi-bin/draft/delete", body=_body(media_id)))

    def count(self) -> int:
        """How many drafts there are (``GET /cgi-bin/draft/count``)."""
        return int(self._client._request(Call("GET", "/cgi-bin/draft/count"))["total_count"])

    def batchget(
        self, *, offset: int = 0, count: int = DRAFT_PAGE_MAX, no_content: bool = False
    ) -> Page[DraftItem]:
        """One page of drafts (``POST /cgi-bin/draft/batchget``)."""
        data = self._client._request(batchget_call(_BATCHGET, offset, count, no_content))
        return parse_page(data, DraftItem.from_wechat)

    def iter(
        self,
        *,
        no_content: bool = False,
        page_size: int = DRAFT_PAGE_MAX,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> Iterator[DraftItem]:
        """Every draft, lazily, page by page (``draft/batchget``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            call = batchget_call(_BATCHGET, offset, page_size, no_content)
            page = parse_page(self._client._request(call), DraftItem.from_wechat)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"draft/batchget: no end of list after {max_pages} pages")


class AsyncDrafts:
    """The draft box (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def add(self, articles: Sequence[DraftArticle]) -> str:
        """Create a draft; returns its media_id (``POST /cgi-bin/draft/add``)."""
        return str((await self._client._request(add_call(articles)))["media_id"])

    async def get(self, media_id: str) -> Draft:
        """A draft's articles (``POST /cgi-bin/draft/get``)."""
        call = Call("POST", "/cgi-bin/draft/get", body=_body(media_id))
        return parse_draft(media_id, await self._client._request(call))

    async def update(self, media_id: str, index: int, article: DraftArticle) -> None:
        """Replace article ``index`` (0-based) of a draft (``POST /cgi-bin/draft/update``)."""
        await self._client._request(update_call(media_id, index, article))

    async def delete(self, media_id: str) -> None:
        """Delete a draft (``POST /cgi-bin/draft/delete``)."""
        await self._client._request(Call("POST", "/cgi-bin/draft/delete", body=_body(media_id)))

    async def count(self) -> int:
        """How many drafts there are (``GET /cgi-bin/draft/count``)."""
        data = await self._client._request(Call("GET", "/cgi-bin/draft/count"))
        return int(data["total_count"])

    async def batchget(
        self, *, offset: int = 0, count: int = DRAFT_PAGE_MAX, no_content: bool = False
    ) -> Page[DraftItem]:
        """One page of drafts (``POST /cgi-bin/draft/batchget``)."""
        data = await self._client._request(batchget_call(_BATCHGET, offset, count, no_content))
        return parse_page(data, DraftItem.from_wechat)

    async def iter(
        self,
        *,
        no_content: bool = False,
        page_size: int = DRAFT_PAGE_MAX,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[DraftItem]:
        """Every draft, lazily, page by page (``draft/batchget``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            call = batchget_call(_BATCHGET, offset, page_size, no_content)
            page = parse_page(await self._client._request(call), DraftItem.from_wechat)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"draft/batchget: no end of list after {max_pages} pages")
