"""A follower's journey, pushed by FakeWeChat through a real server into the built-in handlers.

Scan a 3-tag QR code and follow; the push goes over loopback HTTP to the endpoint (ASGI under
uvicorn, or WSGI under wsgiref), in each encryption mode; every push is delivered three times.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.api.test_callback_adapters import serve_asgi, serve_wsgi
from wxsegment import FixedClock
from wxsegment.api import Client, Text
from wxsegment.api.callback import (
    CallbackHandler,
    Event,
    Message,
    TextReply,
    asgi_app,
    dedup_key,
    wsgi_app,
)
from wxsegment.events import (
    EventHandlers,
    ExpectedSend,
    Finding,
    FindingKind,
    MassSendReconciler,
    MemoryFollowerUpdates,
)
from wxsegment.quota import Interaction, MemoryLedger, ServiceWindow
from wxsegment.tagging import (
    ClickRule,
    KeywordRule,
    MemorySceneRegistry,
    MemoryTagStore,
    RuleSet,
    Scene,
    SceneCodec,
    SceneRule,
    TagSync,
    create_tagging_qrcode,
)
from wxsegment.testing import FakeConfig, FakeWeChat

START = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
TOKEN = "e2eToken42"
KEY = "k" * 20 + "E" * 22 + "2"
SCENE = Scene(
    channel="poster",
    tags={"闪购", "杭州", "新客"},
    store="西湖店",
    activity="双11",
    referrer="r42",
)


class World:
    """Everything one test wires together."""

    def __init__(self, adapter: str, mode: str) -> None:
        self.clock = FixedClock(START)
        self.fake = FakeWeChat(clock=self.clock, config=FakeConfig(callback_redeliver=2))
        self.client = Client(
            self.fake.appid,
            self.fake.secret,
            http_client=httpx.Client(transport=httpx.MockTransport(self.fake.handler)),
            clock=self.clock,
            sleep=lambda seconds: None,
        )
        self.codec = SceneCodec(registry=MemorySceneRegistry())
        self.tag_store = MemoryTagStore()
        self.window = ServiceWindow()
        self.updates = MemoryFollowerUpdates()
        self.ledger = MemoryLedger()
        self.sent: dict[int, ExpectedSend] = {}
        self.findings: list[Finding] = []
        self.reconciler = MassSendReconciler(
            self.sent.get,
            ledger=self.ledger,
            record_unexplained=True,
            on_finding=self.findings.append,
        )
        rules = RuleSet(
            [
                SceneRule(),
                KeywordRule(keyword="提醒", add={"闪购提醒"}),
                ClickRule(event_key="UNSUB_SALE", remove={"闪购提醒"}),
            ],
            codec=self.codec,
        )
        self.endpoint = CallbackHandler(
            token=TOKEN,
            appid=self.fake.appid,
            encoding_aes_key=None if mode == "plain" else KEY,
            original_id=self.fake.config.original_id,
            clock=self.clock,
        )
        EventHandlers(
            window=self.window,
            rules=rules,
            tag_sync=TagSync(self.client, store=self.tag_store),
            updates=self.updates,
            reconciler=self.reconciler,
        ).install(self.endpoint)
        self.runs: Counter[str] = Counter()
        self.endpoint.add("*", lambda push: self.runs.update([dedup_key(push)]))
        self.endpoint.add("text", self.reply)
        self.app = asgi_app(self.endpoint) if adapter == "asgi" else wsgi_app(self.endpoint)
        self.mode = mode

    def reply(self, push: Message | Event) -> TextReply:
        """A passive reply to every text message."""
        return TextReply.to(push, "已订阅闪购提醒", now=self.clock.now())

    def close(self) -> None:
        """Stop the endpoint's threads and the client."""
        self.endpoint.close()
        self.client.close()

    def tick(self) -> None:
        """Let a second pass, so two actions never share a CreateTime."""
        self.clock.advance(timedelta(seconds=1))

    def tag_names_in_wechat(self, openid: str) -> set[str]:
        """The follower's tag names as the fake holds them."""
        tags = self.fake.tags
        return {tags[i].name for i in self.fake.followers[openid].tag_ids}


@pytest.fixture(params=["asgi", "wsgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    """Which server adapter to use."""
    return str(request.param)


@pytest.fixture(params=["plain", "compatible", "safe"])
def world(request: pytest.FixtureRequest, adapter: str) -> Iterator[World]:
    """A World served by a real loopback server, with the fake pushing to it."""
    built = World(adapter, str(request.param))
    serve = serve_asgi if adapter == "asgi" else serve_wsgi
    try:
        for url in serve(built.app):
            built.fake.set_callback(
                url + "/wechat",
                token=TOKEN,
                encoding_aes_key=None if built.mode == "plain" else KEY,
                mode=built.mode,  # type: ignore[arg-type]
            )
            yield built
    finally:
        built.close()


def test_scan_follow_tag_window_followup_mass_send_reconcile(world: World) -> None:
    """The whole journey, with every push delivered three times and applied once."""
    fake, client = world.fake, world.client
    code = create_tagging_qrcode(client, SCENE, permanent=False, codec=world.codec)
    world.tick()
    newcomer = fake.follower("o_newcomer")
    result = newcomer.subscribe(scene=code.ticket)
    assert result is not None
    assert result.kind == "subscribe"
    assert [a.status for a in result.attempts] == [200, 200, 200]
    assert result.reply_error is None

    expected_tags = {"闪购", "杭州", "新客"}
    assert world.tag_names_in_wechat("o_newcomer") == expected_tags
    assert world.tag_store.names_of("o_newcomer") == expected_tags
    record = world.updates.get("o_newcomer")
    assert record is not None
    assert record.subscribed
    assert record.tags == expected_tags
    assert record.attribution is not None
    assert (record.attribution.channel, record.attribution.store) == ("poster", "西湖店")
    assert (record.attribution.activity, record.attribution.referrer) == ("双11", "r42")
    assert record.attribution.ticket == code.ticket

    now = world.clock.now()
    assert world.window.window_open("o_newcomer", now=now)
    assert world.window.consume("o_newcomer", now=now).granted
    client.messages.send("o_newcomer", Text("欢迎光临西湖店"))
    assert fake.messages[-1].openid == "o_newcomer"

    world.tick()
    texted = newcomer.send_text("提醒")
    assert texted is not None
    assert texted.reply_error is None
    assert texted.reply is not None
    assert texted.reply["Content"] == "已订阅闪购提醒"
    assert world.tag_names_in_wechat("o_newcomer") == {*expected_tags, "闪购提醒"}
    world.tick()
    newcomer.click("UNSUB_SALE")
    assert "闪购提醒" not in world.updates.get("o_newcomer").tags  # type: ignore[union-attr]
    assert world.tag_names_in_wechat("o_newcomer") == expected_tags

    interactions = world.window.store.history(world.window.account, "o_newcomer").interactions
    assert [kind for _, kind in interactions] == [
        Interaction.SUBSCRIBE,
        Interaction.MESSAGE,
        Interaction.CLICK,
    ]
    tagging_calls = [c for c in fake.calls if c.path.endswith("/batchtagging")]
    assert len(tagging_calls) == 4  # three scene tags, one keyword tag: never repeated

    world.tick()
    fake.follower("o_regular").subscribe()
    for _ in range(4):
        fake.record_mass_push("o_regular")
    world.tick()
    (sent,) = client.mass.send_to_openids(
        ["o_newcomer", "o_regular"], Text("闪购开始"), clientmsgid="sale-1"
    )
    assert sent.msg_id is not None
    world.sent[sent.msg_id] = ExpectedSend(openids={"o_newcomer", "o_regular"})
    (finished,) = fake.push_pending()
    assert finished.kind == "MASSSENDJOBFINISH"
    assert len(finished.attempts) == 3
    outcome = world.reconciler.results[sent.msg_id]
    assert (outcome.total_count, outcome.filter_count) == (2, 1)
    assert [f.kind for f in outcome.findings] == [FindingKind.UNEXPLAINED_FILTER]
    assert [f.kind for f in world.findings] == [FindingKind.UNEXPLAINED_FILTER]
    assert world.ledger.usage("o_regular", at=world.clock.now()).committed == 1

    assert len(world.runs) == len(fake.pushes) == 5
    assert set(world.runs.values()) == {1}  # three deliveries each, one run each
    for push in fake.pushes:
        assert push.answered, push.kind
        assert all(a.body in (b"success", b"") for a in push.attempts[1:]), push.kind
