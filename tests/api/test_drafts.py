"""Drafts, publishing and mpnews mass sends, sync and async, against the fake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    DraftArticle,
    InvalidRequestError,
    MediaError,
    MpNews,
    PermissionDeniedError,
    WeChatTransportError,
    WeChatValidationError,
)
from wxsegment.testing import FakeConfig, FakeWeChat

JPEG = b"\xff\xd8\xff\xe0 cover"


def _cover(api: Harness) -> str:
    return str(api.run(lambda c: c.materials.add("thumb", JPEG, filename="c.jpg")).media_id)


def _article(thumb: str, **fields: Any) -> DraftArticle:
    return DraftArticle(
        **{"title": "标题", "content": "<p>正文</p>", "thumb_media_id": thumb, **fields}
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "题" * 33},
        {"title": " "},
        {"author": "作" * 17},
        {"digest": "摘" * 129},
        {"content": ""},
        {"content": "字" * 20_000},
        {"content": "<p>" + "x" * (1024 * 1024) + "</p>"},
        {"content_source_url": "https://example.com/" + "a" * 1024},
        {"thumb_media_id": ""},
        {"pic_crop_235_1": "0.1_0_1"},
        {"pic_crop_1_1": "0.1234567_0_1_1"},
        {"pic_crop_1_1": "0_0_1.5_1"},
        {"article_type": "newspic", "thumb_media_id": ""},
        {"article_type": "video"},
    ],
)
def test_article_limits_are_checked_when_built(fields: dict[str, Any]) -> None:
    """Every documented article limit is refused locally with a typed error."""
    with pytest.raises((WeChatValidationError, TypeError)):
        _article("thumb-id", **fields)


def test_article_at_its_limits_is_accepted() -> None:
    """Values exactly at the limits and a valid crop build."""
    article = _article(
        "thumb-id",
        title="题" * 32,
        author="作" * 16,
        digest="摘" * 128,
        content="字" * 19_999,
        content_source_url="https://e.com/" + "a" * (1024 - 14),
        pic_crop_235_1="0.1945_0_1_0.5236",
    )
    assert article.payload()["pic_crop_235_1"] == "0.1945_0_1_0.5236"
    assert article.payload()["need_open_comment"] == 0


def test_draft_lifecycle(api: Harness, fake: FakeWeChat) -> None:
    """add, get, update (0-based index), count, delete (twice is fine), unknown id 40007."""
    thumb = _cover(api)
    media_id = api.run(lambda c: c.drafts.add([_article(thumb), _article(thumb, title="二")]))
    draft = api.run(lambda c: c.drafts.get(media_id))
    assert [a.title for a in draft.articles] == ["标题", "二"]
    assert draft.articles[0].thumb_media_id == thumb
    assert draft.create_time is not None
    api.run(lambda c: c.drafts.update(media_id, 1, _article(thumb, title="改")))
    assert api.run(lambda c: c.drafts.get(media_id)).articles[1].title == "改"
    body = next(c.json for c in fake.calls if c.path == "/cgi-bin/draft/update")
    assert body["index"] == 1
    assert isinstance(body["articles"], dict)
    assert api.run(lambda c: c.drafts.count()) == 1
    api.run(lambda c: c.drafts.delete(media_id))
    api.run(lambda c: c.drafts.delete(media_id))
    assert api.run(lambda c: c.drafts.count()) == 0
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.drafts.get(media_id))
    assert caught.value.errcode == 40007


def test_multi_article_draft_refuses_digest(api: Harness) -> None:
    """digest applies to single-article drafts only."""
    with pytest.raises(WeChatValidationError, match="digest"):
        api.run(lambda c: c.drafts.add([_article("t", digest="d"), _article("t")]))


def test_cover_must_be_a_permanent_material(api: Harness) -> None:
    """A temporary thumb as cover answers 40007 (MediaError), as WeChat does."""
    temp = api.run(lambda c: c.media.upload("thumb", JPEG, filename="t.jpg"))
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.drafts.add([_article(temp.media_id)]))
    assert caught.value.errcode == 40007


def test_too_many_articles(api: Harness) -> None:
    """More articles than the fake allows (8 by default, UNCONFIRMED) answer 45008."""
    thumb = _cover(api)
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.drafts.add([_article(thumb)] * 9))
    assert caught.value.errcode == 45008


def test_drafts_iterate_lazily(api: Harness, fake: FakeWeChat) -> None:
    """iter walks pages of 20; no_content leaves content out; batchget bounds are local."""
    thumb = _cover(api)
    for index in range(21):
        api.run(lambda c, i=index: c.drafts.add([_article(thumb, title=f"第{i}篇")]))
    items = api.run(lambda c: c.drafts.iter(no_content=True))
    assert len({item.media_id for item in items}) == 21
    assert all(item.articles[0].content == "" for item in items)
    assert [c.json["no_content"] for c in fake.calls if c.path == "/cgi-bin/draft/batchget"] == [
        1,
        1,
    ]
    page = api.run(lambda c: c.drafts.batchget(offset=0, count=3))
    assert page.total_count == 21
    assert page.items[0].articles[0].content == "<p>正文</p>"
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.drafts.batchget(count=0))


def test_mpnews_mass_send_needs_a_draft(api: Harness, fake: FakeWeChat) -> None:
    """An unknown media_id answers 40007; a draft is sent (with reprint flag) and leaves the box."""
    openids = fake.add_followers(3)
    thumb = _cover(api)
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.mass.send_to_all(MpNews("not-a-draft"), clientmsgid="n-1"))
    assert caught.value.errcode == 40007
    media_id = api.run(lambda c: c.drafts.add([_article(thumb)]))
    api.run(lambda c: c.mass.preview(MpNews(media_id), openid=openids[0]))
    assert media_id in fake.content.drafts
    sent = api.run(
        lambda c: c.mass.send_to_openids(
            openids, MpNews(media_id), clientmsgid="n-2", send_ignore_reprint=True
        )
    )
    assert sent[0].msg_data_id is not None
    body = [c.json for c in fake.calls if c.path == "/cgi-bin/message/mass/send"][-1]
    assert (body["mpnews"], body["send_ignore_reprint"]) == ({"media_id": media_id}, 1)
    assert media_id not in fake.content.drafts
    legacy = fake.media.add_news_material([{"title": "旧", "content": "x"}])
    assert api.run(lambda c: c.mass.send_to_all(MpNews(legacy), clientmsgid="n-3")).msg_id


def test_publish_lifecycle(api: Harness, fake: FakeWeChat, clock: FixedClock) -> None:
    """submit queues a task; it publishes after publish_seconds; the draft leaves the box."""
    thumb = _cover(api)
    media_id = api.run(lambda c: c.drafts.add([_article(thumb), _article(thumb, title="二")]))
    task = api.run(lambda c: c.publish.submit(media_id))
    assert task.msg_data_id is not None
    status = api.run(lambda c: c.publish.status(task.publish_id))
    assert status.publishing
    assert not status.succeeded
    clock.advance(timedelta(seconds=60))
    status = api.run(lambda c: c.publish.status(task.publish_id))
    assert status.succeeded
    assert status.article_id is not None
    assert len(status.article_urls) == 2
    assert media_id not in fake.content.drafts
    published = api.run(lambda c: c.publish.iter())
    assert [p.article_id for p in published] == [status.article_id]
    api.run(lambda c: c.publish.delete(status.article_id, index=2))
    articles = api.run(lambda c: c.publish.get_article(status.article_id))
    assert [a.is_deleted for a in articles] == [False, True]
    api.run(lambda c: c.publish.delete(status.article_id))
    assert api.run(lambda c: c.publish.status(int(task.publish_id))).status == 5
    event = fake.content.publish_jobs[int(task.publish_id)].finish_event()
    assert event["Event"] == "PUBLISHJOBFINISH"


def test_failed_publish_keeps_the_draft(api: Harness, fake: FakeWeChat) -> None:
    """A planned original-declaration failure (2) ends with fail_idx; the draft stays."""
    thumb = _cover(api)
    media_id = api.run(lambda c: c.drafts.add([_article(thumb)]))
    fake.content.plan_publish(2, fail_idx=[1])
    task = api.run(lambda c: c.publish.submit(media_id))
    fake.content.finish_publish(int(task.publish_id))
    status = api.run(lambda c: c.publish.status(task.publish_id))
    assert (status.status, status.fail_idx, status.article_id) == (2, (1,), None)
    assert media_id in fake.content.drafts


def test_publish_needs_permission(kind: str, clock: FixedClock) -> None:
    """Accounts without publishing rights get 48001 (PermissionDeniedError)."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(can_publish=False))
    api = Harness(kind, fake, clock=clock)
    media_id = fake.content.add_draft()
    with pytest.raises(PermissionDeniedError) as caught:
        api.run(lambda c: c.publish.submit(media_id))
    assert caught.value.errcode == 48001


def test_publish_id_as_string(kind: str, clock: FixedClock) -> None:
    """A publish_id answered as a string (the doc's type) works the same."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(publish_id_type="string", publish_seconds=0))
    api = Harness(kind, fake, clock=clock)
    task = api.run(lambda c: c.publish.submit(fake.content.add_draft()))
    assert api.run(lambda c: c.publish.status(task.publish_id)).succeeded


def test_submit_is_not_replayed(api: Harness, fake: FakeWeChat) -> None:
    """A timeout after the task was queued is raised; no second task is submitted."""
    media_id = fake.content.add_draft()
    fake.inject("timeout", path="/cgi-bin/freepublish/submit", after_processing=True)
    with pytest.raises(WeChatTransportError):
        api.run(lambda c: c.publish.submit(media_id))
    assert len(fake.content.publish_jobs) == 1


def test_retired_article_material_endpoints(api: Harness, fake: FakeWeChat) -> None:
    """add_news, update_news and uploadnews answer 45106 on the fake, as WeChat does today."""
    from wxsegment.api._core import Call

    for path in ("/cgi-bin/material/add_news", "/cgi-bin/media/uploadnews"):
        with pytest.raises(PermissionDeniedError) as caught:
            api.run(lambda c, p=path: c._request(Call("POST", p, body={"articles": []})))
        assert caught.value.errcode == 45106


@pytest.mark.parametrize("reusable", [True, False])
def test_mass_sent_draft_in_later_batches(kind: str, clock: FixedClock, reusable: bool) -> None:
    """UNCONFIRMED: a mass-sent draft's id works for later batches unless configured not to."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(mpnews_reusable_after_send=reusable))
    api = Harness(kind, fake, clock=clock)
    openids = fake.add_followers(4)
    media_id = fake.content.add_draft()
    api.run(lambda c: c.mass.send_to_openids(openids[:2], MpNews(media_id), clientmsgid="b-0"))
    assert media_id not in fake.content.drafts
    if reusable:
        later = api.run(
            lambda c: c.mass.send_to_openids(openids[2:], MpNews(media_id), clientmsgid="b-1")
        )
        assert later[0].msg_id is not None
    else:
        with pytest.raises(MediaError):
            api.run(
                lambda c: c.mass.send_to_openids(openids[2:], MpNews(media_id), clientmsgid="b-1")
            )
