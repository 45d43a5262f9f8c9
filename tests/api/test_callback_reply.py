"""Tests of passive replies: rendering, CDATA safety, limits and encrypted answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api.callback import (
    MAX_NEWS_ARTICLES,
    SUCCESS,
    Article,
    MessageCrypto,
    NewsReply,
    TextReply,
    parse,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
# Characters XML 1.0 can carry.
XML_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])),
    ),
    min_size=1,
    max_size=200,
)


def read(xml: str) -> ET.Element:
    """Parse a rendered reply with the standard library (independent of the code under test)."""
    root = ET.fromstring(xml)
    assert root.tag == "xml"
    return root


def test_success_is_the_no_reply_body() -> None:
    """SUCCESS is the literal body WeChat documents for "no reply"."""
    assert SUCCESS == "success"


def test_text_reply_renders() -> None:
    """A text reply carries both users, the time in seconds, the type and the content."""
    reply = TextReply(to_user_name="openid", from_user_name="gh_1", content="你好", create_time=NOW)
    root = read(reply.render())
    assert root.findtext("ToUserName") == "openid"
    assert root.findtext("FromUserName") == "gh_1"
    assert root.findtext("CreateTime") == str(int(NOW.timestamp())) == "1714564800"
    assert root.findtext("MsgType") == "text"
    assert root.findtext("Content") == "你好"


@given(content=XML_TEXT)
def test_text_reply_content_survives_any_text(content: str) -> None:
    """Any XML-representable content, "]]>" and "<" included, reads back unchanged."""
    reply = TextReply(to_user_name="u", from_user_name="gh", content=content, create_time=NOW)
    assert read(reply.render()).findtext("Content") == content


def test_cdata_terminator_does_not_break_the_document() -> None:
    """Content holding "]]>" and markup stays literal text, with no injected elements."""
    hostile = "a]]><MsgType>news</MsgType><![CDATA[b]]>]]>"
    root = read(
        TextReply(to_user_name="u", from_user_name="gh", content=hostile, create_time=NOW).render()
    )
    assert root.findtext("Content") == hostile
    assert [child.tag for child in root] == [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
    ]


def test_reply_to_swaps_users() -> None:
    """TextReply.to answers the sender from the account that received the push."""
    push = parse(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
        "<MsgId>1</MsgId></xml>"
    )
    reply = TextReply.to(push, "hello", now=NOW)
    assert (reply.to_user_name, reply.from_user_name, reply.content) == ("openid", "gh_1", "hello")


def test_news_reply_renders_every_article() -> None:
    """A news reply lists its articles in order with the right count."""
    articles = [
        Article(title=f"标题{i}", url=f"https://example.com/{i}", description="d", pic_url="p")
        for i in range(3)
    ]
    root = read(
        NewsReply(
            to_user_name="u", from_user_name="gh", articles=articles, create_time=NOW
        ).render()
    )
    assert root.findtext("MsgType") == "news"
    assert root.findtext("ArticleCount") == "3"
    items = root.findall("Articles/item")
    assert [item.findtext("Title") for item in items] == ["标题0", "标题1", "标题2"]
    assert [item.findtext("Url") for item in items] == [
        f"https://example.com/{i}" for i in range(3)
    ]
    assert items[0].findtext("Description") == "d"
    assert items[0].findtext("PicUrl") == "p"


def test_news_reply_article_limits() -> None:
    """Zero articles or more than the limit is a ValueError; the limit is configurable."""
    article = Article(title="t", url="https://example.com/")
    most = NewsReply(
        to_user_name="u",
        from_user_name="gh",
        articles=[article] * MAX_NEWS_ARTICLES,
        create_time=NOW,
    )
    assert len(read(most.render()).findall("Articles/item")) == MAX_NEWS_ARTICLES == 8
    for count in (0, MAX_NEWS_ARTICLES + 1):
        with pytest.raises(ValueError, match="articles"):
            NewsReply(
                to_user_name="u", from_user_name="gh", articles=[article] * count, create_time=NOW
            )
    with pytest.raises(ValueError, match="articles"):
        NewsReply(
            to_user_name="u",
            from_user_name="gh",
            articles=[article] * 2,
            create_time=NOW,
            max_articles=1,
        )
    with pytest.raises(TypeError):
        NewsReply(
            to_user_name="u",
            from_user_name="gh",
            articles=["not an article"],  # type: ignore[list-item]
            create_time=NOW,
        )


def test_bad_reply_fields_raise() -> None:
    """Empty or XML-unsafe text, or a naive time, fails at construction."""
    with pytest.raises(ValueError, match="content"):
        TextReply(to_user_name="u", from_user_name="gh", content="", create_time=NOW)
    with pytest.raises(ValueError, match="U\\+0000"):
        TextReply(to_user_name="u", from_user_name="gh", content="a\x00b", create_time=NOW)
    with pytest.raises(ValueError, match="timezone"):
        TextReply(
            to_user_name="u", from_user_name="gh", content="x", create_time=datetime(2024, 1, 1)
        )
    with pytest.raises(TypeError):
        TextReply(to_user_name="u", from_user_name="gh", content=1, create_time=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="title"):
        Article(title="", url="https://example.com/")


def test_encrypted_reply_round_trip() -> None:
    """A rendered reply sealed with MessageCrypto.encrypt opens to the same XML."""
    box = MessageCrypto("tok", "a1" * 21 + "b", "wxappid")
    xml = TextReply(to_user_name="u", from_user_name="gh", content="]]>", create_time=NOW).render()
    envelope = box.encrypt(xml, timestamp="1714564800", nonce="n0")
    root = read(envelope)
    signature = root.findtext("MsgSignature") or ""
    assert box.decrypt(envelope, msg_signature=signature, timestamp="1714564800", nonce="n0") == xml
