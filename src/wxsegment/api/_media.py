"""Temporary media (``media/upload``, ``media/get``, ``media/uploadimg``) and permanent materials.

Uploads are checked against the group's ``limits`` before any byte is sent and are not replayed
after an ambiguous failure (a replay would store a second copy).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from wxsegment.api._content_models import (
    MaterialCount,
    MaterialFile,
    MaterialItem,
    MaterialNews,
    MaterialVideo,
    MediaFile,
    Page,
    StoredMaterial,
    TempMedia,
    news_items,
)
from wxsegment.api._core import FILE_CONTENT, FILE_CONTENT_TYPE, Call
from wxsegment.api._errors import WeChatValidationError
from wxsegment.api._upload import (
    ARTICLE_IMAGE_LIMIT,
    MATERIAL_LIMITS,
    TEMP_MEDIA_LIMITS,
    MediaLimit,
    MediaSource,
    open_source,
)
from wxsegment.api._users import DEFAULT_MAX_PAGES, PageLimitError, check_max_pages

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = ["MATERIAL_PAGE_MAX", "AsyncMaterials", "AsyncMedia", "Materials", "Media"]

#: ``batchget_material`` returns at most 20 items per call.
MATERIAL_PAGE_MAX: Final = 20
_LISTABLE: Final = ("image", "video", "voice", "news")


def check_media_id(media_id: str) -> str:
    """Refuse an empty or non-string media_id."""
    if not isinstance(media_id, str):
        raise TypeError(f"media_id must be a str, not {type(media_id).__name__}")
    if not media_id or media_id != media_id.strip():
        raise WeChatValidationError("media_id must be a non-empty string without spaces")
    return media_id


def _limit(limits: Mapping[str, MediaLimit], kind: str) -> MediaLimit:
    limit = limits.get(kind) if isinstance(kind, str) else None
    if limit is None:
        raise WeChatValidationError(f"media type must be one of {sorted(limits)}, got {kind!r}")
    return limit


def _upload_call(path: str, kind: str | None, part: tuple[str, Any, str], **form: str) -> Call:
    params = {"type": kind} if kind is not None else {}
    return Call("POST", path, params=params, files={"media": part}, form=form, replayable=False)


def _media_file(data: Mapping[str, Any]) -> MediaFile:
    if FILE_CONTENT in data:
        return MediaFile(data[FILE_CONTENT], data[FILE_CONTENT_TYPE])
    # A video answers JSON with its URL instead of the bytes.
    return MediaFile(b"", "application/json", str(data.get("video_url", "")) or None)


def get_call(media_id: str) -> Call:
    """``GET /cgi-bin/media/get``; the answer is the file (or a video's URL)."""
    return Call(
        "GET", "/cgi-bin/media/get", params={"media_id": check_media_id(media_id)}, binary=True
    )


def _video_description(title: str, introduction: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise WeChatValidationError("a video material needs a non-empty title")
    if not isinstance(introduction, str):
        raise TypeError(f"introduction must be a str, not {type(introduction).__name__}")
    return json.dumps({"title": title, "introduction": introduction}, ensure_ascii=False)


def _material_body(media_id: str) -> dict[str, str]:
    return {"media_id": check_media_id(media_id)}


def material_get_call(media_id: str) -> Call:
    """``POST /cgi-bin/material/get_material``; JSON for news and video, bytes otherwise."""
    return Call(
        "POST", "/cgi-bin/material/get_material", body=_material_body(media_id), binary=True
    )


def parse_material(data: Mapping[str, Any]) -> MaterialFile | MaterialVideo | MaterialNews:
    """The answer of ``get_material``, by its shape."""
    if FILE_CONTENT in data:
        return MaterialFile(data[FILE_CONTENT], data[FILE_CONTENT_TYPE])
    if "news_item" in data:
        return MaterialNews(news_items(data))
    return MaterialVideo(
        str(data.get("title", "")),
        str(data.get("description", "")),
        str(data.get("down_url", "")),
    )


def material_delete_call(media_id: str) -> Call:
    """``POST /cgi-bin/material/del_material`` (a replay would answer 40007)."""
    return Call(
        "POST", "/cgi-bin/material/del_material", body=_material_body(media_id), replayable=False
    )


def parse_count(data: Mapping[str, Any]) -> MaterialCount:
    """The answer of ``get_materialcount``."""
    return MaterialCount(
        int(data.get("voice_count", 0)),
        int(data.get("video_count", 0)),
        int(data.get("image_count", 0)),
        int(data.get("news_count", 0)),
    )


def check_page(offset: int, count: int, maximum: int = MATERIAL_PAGE_MAX) -> None:
    """Refuse an offset below 0 or a count outside 1..maximum."""
    for name, value, low in (("offset", offset, 0), ("count", count, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise WeChatValidationError(f"{name} must be an int >= {low}, got {value!r}")
    if count > maximum:
        raise WeChatValidationError(f"count must be at most {maximum}, got {count}")


def batchget_call(kind: str, offset: int, count: int) -> Call:
    """``POST /cgi-bin/material/batchget_material``."""
    if kind not in _LISTABLE:
        raise WeChatValidationError(f"material type must be one of {_LISTABLE}, got {kind!r}")
    check_page(offset, count)
    body = {"type": kind, "offset": offset, "count": count}
    return Call("POST", "/cgi-bin/material/batchget_material", body=body)


def parse_material_page(data: Mapping[str, Any]) -> Page[MaterialItem]:
    """One page of ``batchget_material``."""
    return Page(
        int(data.get("total_count", 0)),
        tuple(MaterialItem.from_wechat(item) for item in data.get("item", ())),
    )


class Media:
    """Temporary media and article images (blocking).

    ``limits`` (type -> `MediaLimit`) is checked before each upload; replace an entry to follow
    another reading of WeChat's limits.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self.limits: Mapping[str, MediaLimit] = TEMP_MEDIA_LIMITS

    def upload(self, kind: str, media: MediaSource, *, filename: str | None = None) -> TempMedia:
        """Upload a temporary image/voice/video/thumb (``POST /cgi-bin/media/upload``)."""
        with open_source(media, filename, kind, _limit(self.limits, kind)) as part:
            data = self._client._request(_upload_call("/cgi-bin/media/upload", kind, part))
        return TempMedia.from_wechat(data)

    def get(self, media_id: str) -> MediaFile:
        """Download a temporary media file (``GET /cgi-bin/media/get``)."""
        return _media_file(self._client._request(get_call(media_id)))

    def upload_image(self, image: MediaSource, *, filename: str | None = None) -> str:
        """Upload an image for article content; returns its URL (``media/uploadimg``)."""
        with open_source(image, filename, "article image", ARTICLE_IMAGE_LIMIT) as part:
            data = self._client._request(_upload_call("/cgi-bin/media/uploadimg", None, part))
        return str(data["url"])


class AsyncMedia:
    """Temporary media and article images (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.limits: Mapping[str, MediaLimit] = TEMP_MEDIA_LIMITS

    async def upload(
        self, kind: str, media: MediaSource, *, filename: str | None = None
    ) -> TempMedia:
        """Upload a temporary image/voice/video/thumb (``POST /cgi-bin/media/upload``)."""
        with open_source(media, filename, kind, _limit(self.limits, kind)) as part:
            data = await self._client._request(_upload_call("/cgi-bin/media/upload", kind, part))
        return TempMedia.from_wechat(data)

    async def get(self, media_id: str) -> MediaFile:
        """Download a temporary media file (``GET /cgi-bin/media/get``)."""
        return _media_file(await self._client._request(get_call(media_id)))

    async def upload_image(self, image: MediaSource, *, filename: str | None = None) -> str:
        """Upload an image for article content; returns its URL (``media/uploadimg``)."""
        with open_source(image, filename, "article image", ARTICLE_IMAGE_LIMIT) as part:
            data = await self._client._request(_upload_call("/cgi-bin/media/uploadimg", None, part))
        return str(data["url"])


class Materials:
    """Permanent materials (blocking); ``limits`` as for `Media`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.limits: Mapping[str, MediaLimit] = MATERIAL_LIMITS

    def add(self, kind: str, media: MediaSource, *, filename: str | None = None) -> StoredMaterial:
        """Add an image/voice/thumb (``material/add_material``); videos: `add_video`."""
        if kind == "video":
            raise WeChatValidationError("videos need a title: use add_video")
        with open_source(media, filename, kind, _limit(self.limits, kind)) as part:
            data = self._client._request(_upload_call("/cgi-bin/material/add_material", kind, part))
        return StoredMaterial(str(data["media_id"]), data.get("url") or None)

    def add_video(
        self,
        media: MediaSource,
        *,
        title: str,
        introduction: str = "",
        filename: str | None = None,
    ) -> StoredMaterial:
        """Add a video with its title (``add_material?type=video``, form part ``description``)."""
        description = _video_description(title, introduction)
        with open_source(media, filename, "video", _limit(self.limits, "video")) as part:
            data = self._client._request(
                _upload_call(
                    "/cgi-bin/material/add_material", "video", part, description=description
                )
            )
        return StoredMaterial(str(data["media_id"]), None)

    def get(self, media_id: str) -> MaterialFile | MaterialVideo | MaterialNews:
        """A permanent material (``POST /cgi-bin/material/get_material``)."""
        return parse_material(self._client._request(material_get_call(media_id)))

    def delete(self, media_id: str) -> None:
        """Delete a permanent material (``POST /cgi-bin/material/del_material``)."""
        self._client._request(material_delete_call(media_id))

    def count(self) -> MaterialCount:
        """Materials per type (``GET /cgi-bin/material/get_materialcount``)."""
        return parse_count(
            self._client._request(Call("GET", "/cgi-bin/material/get_materialcount"))
        )

    def batchget(
        self, kind: str, *, offset: int = 0, count: int = MATERIAL_PAGE_MAX
    ) -> Page[MaterialItem]:
        """One page of materials of a type (``POST /cgi-bin/material/batchget_material``)."""
        return parse_material_page(self._client._request(batchget_call(kind, offset, count)))

    def iter(
        self, kind: str, *, page_size: int = MATERIAL_PAGE_MAX, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[MaterialItem]:
        """Every material of a type, lazily, page by page (``batchget_material``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            page = parse_material_page(
                self._client._request(batchget_call(kind, offset, page_size))
            )
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"batchget_material: no end of list after {max_pages} pages")


class AsyncMaterials:
    """Permanent materials (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.limits: Mapping[str, MediaLimit] = MATERIAL_LIMITS

    async def add(
        self, kind: str, media: MediaSource, *, filename: str | None = None
    ) -> StoredMaterial:
        """Add an image/voice/thumb (``material/add_material``); videos: `add_video`."""
        if kind == "video":
            raise WeChatValidationError("videos need a title: use add_video")
        with open_source(media, filename, kind, _limit(self.limits, kind)) as part:
            data = await self._client._request(
                _upload_call("/cgi-bin/material/add_material", kind, part)
            )
        return StoredMaterial(str(data["media_id"]), data.get("url") or None)

    async def add_video(
        self,
        media: MediaSource,
        *,
        title: str,
        introduction: str = "",
        filename: str | None = None,
    ) -> StoredMaterial:
        """Add a video with its title (``add_material?type=video``, form part ``description``)."""
        description = _video_description(title, introduction)
        with open_source(media, filename, "video", _limit(self.limits, "video")) as part:
            data = await self._client._request(
                _upload_call(
                    "/cgi-bin/material/add_material", "video", part, description=description
                )
            )
        return StoredMaterial(str(data["media_id"]), None)

    async def get(self, media_id: str) -> MaterialFile | MaterialVideo | MaterialNews:
        """A permanent material (``POST /cgi-bin/material/get_material``)."""
        return parse_material(await self._client._request(material_get_call(media_id)))

    async def delete(self, media_id: str) -> None:
        """Delete a permanent material (``POST /cgi-bin/material/del_material``)."""
        await self._client._request(material_delete_call(media_id))

    async def count(self) -> MaterialCount:
        """Materials per type (``GET /cgi-bin/material/get_materialcount``)."""
        return parse_count(
            await self._client._request(Call("GET", "/cgi-bin/material/get_materialcount"))
        )

    async def batchget(
        self, kind: str, *, offset: int = 0, count: int = MATERIAL_PAGE_MAX
    ) -> Page[MaterialItem]:
        """One page of materials of a type (``POST /cgi-bin/material/batchget_material``)."""
        return parse_material_page(await self._client._request(batchget_call(kind, offset, count)))

    async def iter(
        self, kind: str, *, page_size: int = MATERIAL_PAGE_MAX, max_pages: int = DEFAULT_MAX_PAGES
    ) -> AsyncIterator[MaterialItem]:
        """Every material of a type, lazily, page by page (``batchget_material``)."""
        check_max_pages(max_pages)
        offset = 0
        for _ in range(max_pages):
            page = parse_material_page(
                await self._client._request(batchget_call(kind, offset, page_size))
            )
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total_count:
                return
        raise PageLimitError(f"batchget_material: no end of list after {max_pages} pages")
