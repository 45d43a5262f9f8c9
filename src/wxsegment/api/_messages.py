"""Message types for mass sends and customer-service messages.

Each is a frozen value whose `payload()` gives the ``msgtype`` and its body fields exactly as
WeChat expects them; `MassMessage` and `CustomMessage` name the types each API accepts.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

__all__ = [
    "Article",
    "CustomMessage",
    "Image",
    "MassMessage",
    "MenuChoice",
    "MiniProgramPage",
    "MpNews",
    "MpNewsArticle",
    "MpVideo",
    "MsgMenu",
    "Music",
    "News",
    "Text",
    "Video",
    "Voice",
    "WxCard",
]


def _non_empty(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


@attrs.frozen
class Text:
    """A text message."""

    content: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "text", "text": {"content": self.content}}


@attrs.frozen
class Image:
    """An image, by media_id."""

    media_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "image", "image": {"media_id": self.media_id}}


@attrs.frozen
class Voice:
    """A voice message, by media_id."""

    media_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "voice", "voice": {"media_id": self.media_id}}


@attrs.frozen
class Video:
    """A customer-service video message."""

    media_id: str = attrs.field(validator=_non_empty)
    thumb_media_id: str = attrs.field(validator=_non_empty)
    title: str = ""
    description: str = ""

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {
            "msgtype": "video",
            "video": {
                "media_id": self.media_id,
                "thumb_media_id": self.thumb_media_id,
                "title": self.title,
                "description": self.description,
            },
        }


@attrs.frozen
class MpVideo:
    """A mass-send video (a media_id obtained from ``media/uploadvideo``)."""

    media_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "mpvideo", "mpvideo": {"media_id": self.media_id}}


@attrs.frozen
class Music:
    """A customer-service music message."""

    musicurl: str = attrs.field(validator=_non_empty)
    hqmusicurl: str = attrs.field(validator=_non_empty)
    thumb_media_id: str = attrs.field(validator=_non_empty)
    title: str = ""
    description: str = ""

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {
            "msgtype": "music",
            "music": {
                "title": self.title,
                "description": self.description,
                "musicurl": self.musicurl,
                "hqmusicurl": self.hqmusicurl,
                "thumb_media_id": self.thumb_media_id,
            },
        }


@attrs.frozen
class Article:
    """One external-link article of a `News` message."""

    title: str = attrs.field(validator=_non_empty)
    url: str = attrs.field(validator=_non_empty)
    description: str = ""
    picurl: str = ""

    def payload(self) -> dict[str, str]:
        """The article fields for WeChat."""
        return {
            "title": self.title,
            "description": self.description,
            "url": self.url,
            "picurl": self.picurl,
        }


@attrs.frozen
class News:
    """A customer-service news message: one external-link article."""

    article: Article

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "news", "news": {"articles": [self.article.payload()]}}


@attrs.frozen
class MpNews:
    """An article from the draft box / materials, by media_id (mass sends and customer service)."""

    media_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "mpnews", "mpnews": {"media_id": self.media_id}}


@attrs.frozen
class MpNewsArticle:
    """A published article, by article_id (customer service)."""

    article_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "mpnewsarticle", "mpnewsarticle": {"article_id": self.article_id}}


@attrs.frozen
class MenuChoice:
    """One clickable line of a `MsgMenu`."""

    id: str = attrs.field(validator=_non_empty)
    content: str = attrs.field(validator=_non_empty)


@attrs.frozen
class MsgMenu:
    """A customer-service menu message: clickable choices between a head and a tail."""

    choices: tuple[MenuChoice, ...] = attrs.field(converter=tuple)
    head_content: str = ""
    tail_content: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.choices:
            raise ValueError("a MsgMenu needs at least one choice")

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {
            "msgtype": "msgmenu",
            "msgmenu": {
                "head_content": self.head_content,
                "list": [{"id": c.id, "content": c.content} for c in self.choices],
                "tail_content": self.tail_content,
            },
        }


@attrs.frozen
class WxCard:
    """A card/coupon, by card_id."""

    card_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {"msgtype": "wxcard", "wxcard": {"card_id": self.card_id}}


@attrs.frozen
class MiniProgramPage:
    """A mini-program card (customer service)."""

    title: str = attrs.field(validator=_non_empty)
    appid: str = attrs.field(validator=_non_empty)
    pagepath: str = attrs.field(validator=_non_empty)
    thumb_media_id: str = attrs.field(validator=_non_empty)

    def payload(self) -> dict[str, Any]:
        """The message fields for WeChat."""
        return {
            "msgtype": "miniprogrampage",
            "miniprogrampage": {
                "title": self.title,
                "appid": self.appid,
                "pagepath": self.pagepath,
                "thumb_media_id": self.thumb_media_id,
            },
        }


#: Messages the mass-send APIs accept.
MassMessage: TypeAlias = Text | Image | Voice | MpNews | MpVideo | WxCard
#: Messages the customer-service API accepts.
CustomMessage: TypeAlias = (
    Text
    | Image
    | Voice
    | Video
    | Music
    | News
    | MpNews
    | MpNewsArticle
    | MsgMenu
    | WxCard
    | MiniProgramPage
)

MASS_TYPES: tuple[type, ...] = (Text, Image, Voice, MpNews, MpVideo, WxCard)
CUSTOM_TYPES: tuple[type, ...] = (
    Text,
    Image,
    Voice,
    Video,
    Music,
    News,
    MpNews,
    MpNewsArticle,
    MsgMenu,
    WxCard,
    MiniProgramPage,
)
