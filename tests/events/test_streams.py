"""Random event streams from wxsegment.testing.event_strategies through the built-in handlers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import httpx
from hypothesis import HealthCheck, given, settings

from wxsegment import FixedClock
from wxsegment.api import Client
from wxsegment.api.callback import CallbackHandler, Event, dedup_key, parse, wsgi_app
from wxsegment.events import (
    EventHandlers,
    ExpectedSend,
    MassSendReconciler,
    MemoryFollowerUpdates,
)
from wxsegment.quota import Interaction, ServiceWindow
from wxsegment.tagging import (
    ClickRule,
    KeywordRule,
    MemoryTagStore,
    RuleSet,
    SceneCodec,
    TagSync,
)
from wxsegment.testing import FakeWeChat
from wxsegment.testing.event_strategies import Redeliver, Step, event_streams, play

START = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
TOKEN = "streamToken1"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_streams())
def test_any_stream_leaves_store_and_wechat_in_agreement(steps: list[Step]) -> None:
    """Whatever the interleaving and retries: each push runs once, store and WeChat agree."""
    clock = FixedClock(START)
    fake = FakeWeChat(clock=clock)
    client = Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=clock,
        sleep=lambda seconds: None,
    )
    updates = MemoryFollowerUpdates()
    window = ServiceWindow()
    reconciler = MassSendReconciler(lambda msg_id: ExpectedSend(count=0))
    rules = RuleSet(
        [
            KeywordRule(keyword="提醒", add={"提醒"}),
            ClickRule(event_key="SALE_ON", add={"闪购"}),
            ClickRule(event_key="SALE_OFF", remove={"闪购"}),
        ],
        codec=SceneCodec(),
    )
    endpoint = CallbackHandler(token=TOKEN, appid=fake.appid, clock=clock)
    EventHandlers(
        window=window,
        rules=rules,
        tag_sync=TagSync(client, store=MemoryTagStore()),
        updates=updates,
        reconciler=reconciler,
    ).install(endpoint)
    runs: Counter[str] = Counter()
    endpoint.add("*", lambda push: runs.update([dedup_key(push)]))
    fake.set_callback(wsgi_app(endpoint), token=TOKEN)
    try:
        results = play(fake, steps)
    finally:
        endpoint.close()
        client.close()

    assert all(r.answered for r in results)
    distinct = {dedup_key(parse(r.xml)) for r in results}
    assert set(runs) == distinct
    assert set(runs.values()) <= {1}
    redelivered = sum(isinstance(s, Redeliver) for s in steps)
    assert len(results) - len(distinct) <= redelivered
    tags = fake.tags
    for openid, follower in fake.followers.items():
        record = updates.get(openid)
        assert record is not None
        assert record.subscribed == follower.subscribed
        names = {tags[i].name for i in follower.tag_ids}
        assert record.tags == names
    pushes = {dedup_key(p): p for p in (parse(r.xml) for r in results)}
    opening = sum(
        1
        for p in pushes.values()
        if Interaction.from_callback(p.msg_type, p.event if isinstance(p, Event) else None)
    )
    interactions = sum(
        len(window.store.history(window.account, openid).interactions) for openid in fake.followers
    )
    assert interactions == opening
    jobs = [j for j in fake.jobs.values() if j.endpoint == "send"]
    assert set(reconciler.results) == {j.msg_id for j in jobs}
