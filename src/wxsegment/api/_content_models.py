"""Typed results of the content APIs: media, materials, drafts, publishing, templates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Generic, TypeVar

import attrs

from wxsegment.api._errors import WeChatError

__all__ = [
    "TEMP_MEDIA_LIFETIME",
    "Draft",
    "DraftItem",
    "Industry",
    "MaterialCount",
    "MaterialFile",
    "MaterialItem",
    "MaterialNews",
    "MaterialVideo",
    "MediaFile",
    "NewsItem",
    "Page",
    "PrivateTemplate",
    "PubKeyword",
    "PubTemplateTitle",
    "PublishStatus",
    "PublishSubmission",
    "PublishedItem",
    "StoredMaterial",
    "SubscribeCategory",
    "SubscribeTemplate",
    "TempMedia",
    "template_keys",
]

#: A temporary media_id works for three days after its upload.
TEMP_MEDIA_LIFETIME: Final = timedelta(days=3)

_PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")


def _stamp(value: object) -> datetime | None:
    return None if value in (None, "") else datetime.fromtimestamp(int(str(value)), timezone.utc)


def template_keys(content: str) -> tuple[str, ...]:
    """The ``data`` keys a template's content names (``{{thing1.DATA}}`` -> ``thing1``)."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(content)))


@attrs.frozen
class TempMedia:
    """An uploaded temporary media file (``media/upload``); valid for three days."""

    type: str
    media_id: str
    created_at: datetime

    @property
    def expires_at(self) -> datetime:
        """When WeChat forgets the media_id (``created_at`` + 3 days)."""
        return self.created_at + TEMP_MEDIA_LIFETIME

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> TempMedia:
        """Parse a ``media/upload`` answer."""
        created = _stamp(data.get("created_at"))
        if created is None:
            raise WeChatError(None, "answer without created_at", "/cgi-bin/media/upload", data)
        return cls(str(data.get("type", "")), str(data["media_id"]), created)


@attrs.frozen
class MediaFile:
    """A downloaded file; for a video, WeChat answers its ``video_url`` instead of bytes."""

    content: bytes
    content_type: str
    video_url: str | None = None


@attrs.frozen
class StoredMaterial:
    """A permanent material just added: its media_id and, for images, its URL."""

    media_id: str
    url: str | None = None


@attrs.frozen
class NewsItem:
    """One article as WeChat returns it (drafts, published articles, news materials)."""

    title: str
    content: str = ""
    author: str = ""
    digest: str = ""
    content_source_url: str = ""
    thumb_media_id: str = ""
    thumb_url: str = ""
    url: str = ""
    need_open_comment: bool = False
    only_fans_can_comment: bool = False
    is_deleted: bool = False

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> NewsItem:
        """Parse one ``news_item`` object."""
        return cls(
            title=str(data.get("title", "")),
            content=str(data.get("content", "")),
            author=str(data.get("author", "")),
            digest=str(data.get("digest", "")),
            content_source_url=str(data.get("content_source_url", "")),
            thumb_media_id=str(data.get("thumb_media_id", "")),
            thumb_url=str(data.get("thumb_url", "")),
            url=str(data.get("url", "")),
            need_open_comment=bool(int(data.get("need_open_comment", 0) or 0)),
            only_fans_can_comment=bool(int(data.get("only_fans_can_comment", 0) or 0)),
            is_deleted=bool(data.get("is_deleted", False)),
        )


def news_items(data: Mapping[str, Any]) -> tuple[NewsItem, ...]:
    """The ``news_item`` list of an answer."""
    return tuple(NewsItem.from_wechat(item) for item in data.get("news_item", ()))


@attrs.frozen
class MaterialFile:
    """A permanent image, voice or thumb material (``get_material``)."""

    content: bytes
    content_type: str


@attrs.frozen
class MaterialVideo:
    """A permanent video material: its title, description and download URL."""

    title: str
    description: str
    down_url: str


@attrs.frozen
class MaterialNews:
    """A legacy permanent news material (readable and deletable, no longer editable)."""

    articles: tuple[NewsItem, ...]


@attrs.frozen
class MaterialCount:
    """How many permanent materials of each type the account holds."""

    voice: int
    video: int
    image: int
    news: int


@attrs.frozen
class MaterialItem:
    """One entry of ``batchget_material``: a file (name, url) or a news material (articles)."""

    media_id: str
    update_time: datetime | None
    name: str = ""
    url: str = ""
    articles: tuple[NewsItem, ...] = ()

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> MaterialItem:
        """Parse one ``item`` of ``batchget_material``."""
        content = data.get("content") or {}
        return cls(
            media_id=str(data["media_id"]),
            update_time=_stamp(data.get("update_time")),
            name=str(data.get("name", "")),
            url=str(data.get("url", "")),
            articles=news_items(content),
        )


_T = TypeVar("_T")


@attrs.frozen
class Page(Generic[_T]):
    """One page of a listing: the total, and this page's items."""

    total_count: int
    items: tuple[_T, ...]


@attrs.frozen
class Draft:
    """A draft: its articles and when it was created and last updated."""

    media_id: str
    articles: tuple[NewsItem, ...]
    create_time: datetime | None
    update_time: datetime | None


@attrs.frozen
class DraftItem:
    """One entry of ``draft/batchget``."""

    media_id: str
    articles: tuple[NewsItem, ...]
    update_time: datetime | None

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> DraftItem:
        """Parse one ``item`` of ``draft/batchget``."""
        return cls(
            str(data["media_id"]),
            news_items(data.get("content") or {}),
            _stamp(data.get("update_time")),
        )


@attrs.frozen
class PublishedItem:
    """One entry of ``freepublish/batchget``."""

    article_id: str
    articles: tuple[NewsItem, ...]
    update_time: datetime | None

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> PublishedItem:
        """Parse one ``item`` of ``freepublish/batchget``."""
        return cls(
            str(data["article_id"]),
            news_items(data.get("content") or {}),
            _stamp(data.get("update_time")),
        )


@attrs.frozen
class PublishSubmission:
    """A publish task WeChat accepted; the outcome comes later (poll or PUBLISHJOBFINISH)."""

    publish_id: str
    msg_data_id: int | None


@attrs.frozen
class PublishStatus:
    """The state of a publish task (``freepublish/get``).

    ``status``: 0 success, 1 publishing, 2 original-declaration failure, 3 failure, 4 rejected
    by review, 5 all deleted after success, 6 banned after success; other values kept raw.
    """

    publish_id: str
    status: int
    article_id: str | None = None
    article_urls: tuple[str, ...] = ()
    fail_idx: tuple[int, ...] = ()

    @property
    def publishing(self) -> bool:
        """Still running."""
        return self.status == 1

    @property
    def succeeded(self) -> bool:
        """Published."""
        return self.status == 0

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> PublishStatus:
        """Parse a ``freepublish/get`` answer (``publish_id`` may be a number or a string)."""
        detail = data.get("article_detail") or {}
        items = sorted(detail.get("item") or (), key=lambda item: int(item.get("idx", 0)))
        article_id = data.get("article_id")
        return cls(
            publish_id=str(data["publish_id"]),
            status=int(data["publish_status"]),
            article_id=str(article_id) if article_id else None,
            article_urls=tuple(str(item.get("article_url", "")) for item in items),
            fail_idx=tuple(int(i) for i in data.get("fail_idx") or ()),
        )


@attrs.frozen
class Industry:
    """The account's template industries, each as (first class, second class)."""

    primary: tuple[str, str]
    secondary: tuple[str, str]

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> Industry:
        """Parse a ``template/get_industry`` answer."""

        def pair(key: str) -> tuple[str, str]:
            item = data.get(key) or {}
            return str(item.get("first_class", "")), str(item.get("second_class", ""))

        return cls(pair("primary_industry"), pair("secondary_industry"))


@attrs.frozen
class PrivateTemplate:
    """A template-message template of the account (``get_all_private_template``)."""

    template_id: str
    title: str
    content: str
    example: str = ""
    primary_industry: str = ""
    deputy_industry: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """The ``data`` keys the template expects, in content order."""
        return template_keys(self.content)


@attrs.frozen
class SubscribeCategory:
    """A service category of the account (``wxaapi/newtmpl/getcategory``)."""

    id: int
    name: str


@attrs.frozen
class PubTemplateTitle:
    """A public subscribe-notification title; ``type`` 2 one-time, 3 long-term."""

    tid: int
    title: str
    type: int
    category_id: int


@attrs.frozen
class PubKeyword:
    """A keyword of a public title; ``rule`` is its value type (``thing``, ``time``, ...)."""

    kid: int
    name: str
    example: str
    rule: str


@attrs.frozen
class SubscribeTemplate:
    """A subscribe-notification template of the account (``wxaapi/newtmpl/gettemplate``)."""

    pri_tmpl_id: str
    title: str
    content: str
    example: str = ""
    type: int = 2

    @property
    def keys(self) -> tuple[str, ...]:
        """The ``data`` keys the template expects, in content order."""
        return template_keys(self.content)
