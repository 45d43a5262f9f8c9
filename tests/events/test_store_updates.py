"""StoreUpdates: the built-in event handlers writing to a real SQLite follower store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import Client
from wxsegment.api.callback import CallbackHandler, asgi_app
from wxsegment.events import Attribution, EventHandlers, StoreUpdates
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.quota import ServiceWindow
from wxsegment.segment import attr, tag
from wxsegment.tagging import (
    FollowerTagStore,
    MemorySceneRegistry,
    RuleSet,
    Scene,
    SceneCodec,
    SceneRule,
    TagSync,
    create_tagging_qrcode,
)
from wxsegment.testing import FakeWeChat

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
TOKEN = "storeToken42"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteFollowerStore]:
    """A SQLite follower store in a temporary file."""
    opened = SQLiteFollowerStore(tmp_path / "followers.sqlite3")
    yield opened
    opened.close()


def test_follow_unfollow_and_retries_converge(store: SQLiteFollowerStore) -> None:
    """A retried old follow after a newer unfollow changes nothing; a later follow wins."""
    updates = StoreUpdates(store)
    updates.mark_subscribed("oA", at=T0)
    updates.mark_subscribed("oA", at=T0)
    updates.touch("oA", at=T0 + timedelta(minutes=5))
    updates.touch("oA", at=T0 + timedelta(minutes=1))
    kept = store.get("oA")
    assert kept is not None
    assert kept.subscribe_time == T0
    assert kept.last_interaction_at == T0 + timedelta(minutes=5)
    updates.mark_unsubscribed("oA", at=T0 + timedelta(hours=1))
    updates.mark_subscribed("oA", at=T0)  # WeChat redelivers the old follow
    gone = store.get("oA")
    assert gone is not None
    assert gone.attributes["subscribed"] is False
    updates.mark_subscribed("oA", at=T0 + timedelta(hours=2))
    back = store.get("oA")
    assert back is not None
    assert back.attributes["subscribed"] is True
    assert back.subscribe_time == T0 + timedelta(hours=2)


def test_earliest_attribution_is_kept_and_selectable(store: SQLiteFollowerStore) -> None:
    """The first QR scene a follower came through stays; a segment selects on it."""
    updates = StoreUpdates(store)
    updates.mark_subscribed("oA", at=T0)
    later = Attribution(scene="s2", at=T0 + timedelta(days=1), channel="朋友圈")
    first = Attribution(scene="s1", at=T0, channel="门店", store="西湖店", via="subscribe")
    updates.set_attribution("oA", later)
    updates.set_attribution("oA", first)
    updates.set_attribution("oA", later)
    follower = store.get("oA")
    assert follower is not None
    assert follower.attributes["attribution_channel"] == "门店"
    assert follower.attributes["attribution_store"] == "西湖店"
    assert store.count(attr("attribution_channel") == "门店", now=T0) == 1
    with pytest.raises(TypeError, match="Attribution"):
        updates.set_attribution("oA", "门店")  # type: ignore[arg-type]


def test_a_scan_to_follow_lands_in_the_store(store: SQLiteFollowerStore) -> None:
    """A 3-tag QR follow pushed by FakeWeChat: tags, window, attribution and state in the store."""
    clock = FixedClock(T0)
    fake = FakeWeChat(clock=clock)
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(
        fake.appid, fake.secret, http_client=http, clock=clock, sleep=lambda s: None
    ) as client:
        codec = SceneCodec(registry=MemorySceneRegistry())
        endpoint = CallbackHandler(token=TOKEN, appid=fake.appid, clock=clock)
        window = ServiceWindow()
        EventHandlers(
            window=window,
            rules=RuleSet([SceneRule()], codec=codec),
            tag_sync=TagSync(client, store=FollowerTagStore(store)),
            updates=StoreUpdates(store),
        ).install(endpoint)
        try:
            fake.set_callback(asgi_app(endpoint), token=TOKEN)
            scene = Scene(channel="poster", tags={"闪购", "杭州", "新客"}, store="西湖店")
            code = create_tagging_qrcode(client, scene, permanent=False, codec=codec)
            clock.advance(timedelta(seconds=1))
            result = fake.follower("oNew").subscribe(scene=code.ticket)
            assert result is not None
            assert result.reply_error is None
        finally:
            endpoint.close()
    follower = store.get("oNew")
    assert follower is not None
    assert follower.tags == {"闪购", "杭州", "新客"}
    assert follower.attributes["subscribed"] is True
    assert follower.attributes["attribution_channel"] == "poster"
    assert follower.last_interaction_at == clock.now()
    assert store.select(tag("杭州") & (attr("attribution_store") == "西湖店"), now=clock.now()) == [
        "oNew"
    ]
    assert window.window_open("oNew", now=clock.now())
