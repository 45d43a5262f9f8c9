"""Passive replies: the XML a handler may answer a push with, within WeChat's five seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from wxsegment._clock import ensure_aware
from wxsegment.api.callback._messages import Event, Message
from wxsegment.api.callback._xml import cdata

__all__ = ["MAX_NEWS_ARTICLES", "SUCCESS", "Article", "NewsReply", "TextReply"]

#: The body that tells WeChat "no reply, do not retry". An empty body means the same.
SUCCESS: Final = "success"

#: Articles a passive news reply may carry. WeChat's documentation has said 10, then 8, and
#: allows only 1 when answering a follower's message; `NewsReply` takes ``max_articles``.
MAX_NEWS_ARTICLES: Final = 8


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    # Rendering checks every character now, so a bad value fails at construction, not on reply.
    cdata(value, name)
    return value


def _non_empty(value: object, name: str) -> str:
    text = _str(value, name)
    if not text:
        raise ValueError(f"{name} must not be empty")
    return text


def _timestamp(value: datetime) -> int:
    return int(ensure_aware(value, "create_time").timestamp())


def _header(to_user_name: str, from_user_name: str, create_time: datetime, kind: str) -> str:
    return (
        f"<ToUserName>{cdata(to_user_name)}</ToUserName>"
        f"<FromUserName>{cdata(from_user_name)}</FromUserName>"
        f"<CreateTime>{_timestamp(create_time)}</CreateTime>"
        f"<MsgType>{cdata(kind)}</MsgType>"
    )


@attrs.frozen(kw_only=True)
class TextReply:
    """A passive text reply. ``to_user_name`` is the follower, ``from_user_name`` the account."""

    to_user_name: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "to_user_name"))
    from_user_name: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "from_user_name"))
    content: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "content"))
    create_time: datetime = attrs.field(validator=lambda _s, _a, v: _timestamp(v))

    @classmethod
    def to(cls, push: Message | Event, content: str, *, now: datetime) -> TextReply:
        """A reply to ``push``: the sender and the account swap places."""
        return cls(
            to_user_name=push.from_user_name,
            from_user_name=push.to_user_name,
            content=content,
            create_time=now,
        )

    def render(self) -> str:
        """The reply as WeChat's XML (encrypt it with `MessageCrypto.encrypt` in safe mode)."""
        head = _header(self.to_user_name, self.from_user_name, self.create_time, "text")
        return f"<xml>{head}<Content>{cdata(self.content)}</Content></xml>"


@attrs.frozen(kw_only=True)
class Article:
    """One item of a news reply: a title, a description, a link and a picture URL."""

    title: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "title"))
    url: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "url"))
    description: str = attrs.field(default="", validator=lambda _s, _a, v: _str(v, "description"))
    pic_url: str = attrs.field(default="", validator=lambda _s, _a, v: _str(v, "pic_url"))

    def render(self) -> str:
        """The ``<item>`` element."""
        return (
            f"<item><Title>{cdata(self.title)}</Title>"
            f"<Description>{cdata(self.description)}</Description>"
            f"<PicUrl>{cdata(self.pic_url)}</PicUrl><Url>{cdata(self.url)}</Url></item>"
        )


def _articles(value: object) -> tuple[Article, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError("articles must be an iterable of Article")
    articles = tuple(value)
    for article in articles:
        if not isinstance(article, Article):
            raise TypeError(f"articles must hold Article, not {type(article).__name__}")
    return articles


@attrs.frozen(kw_only=True)
class NewsReply:
    """A passive news (图文) reply with 1 to ``max_articles`` articles."""

    to_user_name: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "to_user_name"))
    from_user_name: str = attrs.field(validator=lambda _s, _a, v: _non_empty(v, "from_user_name"))
    articles: tuple[Article, ...] = attrs.field(converter=_articles)
    create_time: datetime = attrs.field(validator=lambda _s, _a, v: _timestamp(v))
    max_articles: int = attrs.field(default=MAX_NEWS_ARTICLES, repr=False)

    def __attrs_post_init__(self) -> None:
        if not 1 <= len(self.articles) <= self.max_articles:
            raise ValueError(
                f"a news reply needs 1 to {self.max_articles} articles, got {len(self.articles)}"
            )

    def render(self) -> str:
        """The reply as WeChat's XML."""
        head = _header(self.to_user_name, self.from_user_name, self.create_time, "news")
        items = "".join(article.render() for article in self.articles)
        return (
            f"<xml>{head}<ArticleCount>{len(self.articles)}</ArticleCount>"
            f"<Articles>{items}</Articles></xml>"
        )
