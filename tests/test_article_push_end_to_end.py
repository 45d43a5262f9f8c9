"""An article push with the library alone: image, draft, segment, delivery, statistics."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import httpx

from wxsegment import FixedClock, Follower
from wxsegment._clock import SHANGHAI
from wxsegment.api import Client, DraftArticle, MpNews
from wxsegment.delivery import Campaign, execute, resolve_audience
from wxsegment.quota import MemoryLedger
from wxsegment.segment import attr, tag
from wxsegment.testing import FakeWeChat

START = datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)
JPEG = b"\xff\xd8\xff\xe0" + bytes(2048) + b"\xff\xd9"


def test_upload_draft_send_to_a_segment_and_read_the_statistics() -> None:
    """The cover and an inline image are uploaded, the draft goes to 杭州 members, reads count."""
    clock = FixedClock(START)
    fake = FakeWeChat(clock=clock)
    rng = random.Random(5)
    followers = [
        Follower(
            f"o{i:04d}",
            START - timedelta(days=30),
            tags={"会员"} if i % 2 else set(),
            attributes={"city": rng.choice(["杭州", "上海"])},
        )
        for i in range(120)
    ]
    fake.add_followers([f.openid for f in followers])
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(
        fake.appid,
        fake.secret,
        http_client=http,
        clock=clock,
        sleep=lambda s: None,
        mass_per_minute=None,
    ) as client:
        cover = client.materials.add("image", JPEG, filename="cover.jpg")
        inline = client.media.upload_image(JPEG, filename="inline.jpg")
        draft = client.drafts.add(
            [
                DraftArticle(
                    title="双十一会员日",
                    content=f'<p>会员专享</p><img src="{inline}">',
                    thumb_media_id=cover.media_id,
                    digest="今晚八点",
                )
            ]
        )
        assert client.drafts.get(draft).articles[0].title == "双十一会员日"
        segment = tag("会员") & (attr("city") == "杭州")
        audience = resolve_audience(segment, followers, now=START)
        ledger = MemoryLedger(account=fake.appid)
        campaign = Campaign("nov1-members", segment, MpNews(draft), "nov1-members")
        report = execute(client, ledger, campaign, audience, clock=clock)
        assert report.sent == len(audience) > 10
        (batch,) = report.batches
        assert batch.msg_id is not None
        assert batch.msg_data_id is not None
        readers = audience[: len(audience) // 2]
        for openid in readers:
            fake.read_article(openid, batch.msg_id)
        clock.advance(timedelta(days=1))
        totals = {t.msg_data_id: t for t in client.datacube.article_total(date(2026, 11, 1))}
    latest = totals[batch.msg_data_id].latest
    assert latest is not None
    assert latest.int_page_read_user == len(readers)
    for follower in followers:
        expected = 1 if follower.openid in set(audience) else 0
        assert fake.mass_received(follower.openid, "2026-11") == expected
    assert {job.msgtype for job in fake.jobs.values()} == {"mpnews"}
