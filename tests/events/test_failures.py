"""A push whose handling fails takes effect on WeChat's retry, fully and exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import Client, RetryPolicy
from wxsegment.api.callback import CallbackHandler, wsgi_app
from wxsegment.events import Attribution, EventHandlers, MemoryFollowerUpdates
from wxsegment.quota import ServiceWindow
from wxsegment.tagging import (
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
TOKEN = "failToken7"
SCENE = Scene(channel="flyer", tags={"a", "b", "c"})


class FlakyUpdates(MemoryFollowerUpdates):
    """A follower store whose ``set_attribution`` fails the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def set_attribution(self, openid: str, attribution: Attribution) -> None:
        """Fail, then work."""
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store unavailable")
        super().set_attribution(openid, attribution)


class Rig:
    """A fake pushing to an in-process WSGI endpoint running the built-in handlers."""

    def __init__(self, updates: MemoryFollowerUpdates, **config: object) -> None:
        self.fake = FakeWeChat(clock=FixedClock(START), config=FakeConfig(**config))  # type: ignore[arg-type]
        self.client = Client(
            self.fake.appid,
            self.fake.secret,
            http_client=httpx.Client(transport=httpx.MockTransport(self.fake.handler)),
            clock=self.fake.clock,
            sleep=lambda seconds: None,
            retry=RetryPolicy(attempts=1),
        )
        self.codec = SceneCodec(registry=MemorySceneRegistry())
        self.window = ServiceWindow()
        self.updates = updates
        self.tag_store = MemoryTagStore()
        self.endpoint = CallbackHandler(token=TOKEN, appid=self.fake.appid, clock=self.fake.clock)
        EventHandlers(
            window=self.window,
            rules=RuleSet([SceneRule()], codec=self.codec),
            tag_sync=TagSync(self.client, store=self.tag_store),
            updates=updates,
        ).install(self.endpoint)
        self.fake.set_callback(wsgi_app(self.endpoint), token=TOKEN)

    def close(self) -> None:
        """Stop the endpoint and the client."""
        self.endpoint.close()
        self.client.close()

    def interactions(self, openid: str) -> int:
        """How many interactions the window store holds for ``openid``."""
        return len(self.window.store.history(self.window.account, openid).interactions)


@pytest.fixture
def flaky() -> Iterator[Rig]:
    """A rig whose store fails once."""
    rig = Rig(FlakyUpdates(failures=1))
    yield rig
    rig.close()


def test_a_failing_store_is_retried_by_wechat_and_applied_once(flaky: Rig) -> None:
    """First delivery: 500; WeChat's retry completes the push; tags are written once."""
    code = create_tagging_qrcode(flaky.client, SCENE, permanent=False, codec=flaky.codec)
    result = flaky.fake.follower("o1").subscribe(scene=code.ticket)
    assert result is not None
    assert [a.status for a in result.attempts] == [500, 200]
    record = flaky.updates.get("o1")
    assert record is not None
    assert record.tags == {"a", "b", "c"}
    assert record.attribution is not None
    assert record.attribution.channel == "flyer"
    assert flaky.interactions("o1") == 1
    tagging = [c for c in flaky.fake.calls if c.path.endswith("/batchtagging")]
    assert len(tagging) == 3


def test_a_wechat_failure_applies_nothing_locally() -> None:
    """When WeChat's tagging fails on every delivery, neither the window nor the store moves."""
    rig = Rig(MemoryFollowerUpdates())
    try:
        code = create_tagging_qrcode(rig.client, SCENE, permanent=False, codec=rig.codec)
        rig.fake.inject("busy", times=3, path="/cgi-bin/tags/members/batchtagging")
        result = rig.fake.follower("o2").subscribe(scene=code.ticket)
        assert result is not None
        assert [a.status for a in result.attempts] == [500, 500, 500]
        assert rig.interactions("o2") == 0
        assert rig.updates.get("o2") is None
        assert rig.fake.followers["o2"].subscribed  # WeChat's own state moved regardless
    finally:
        rig.close()
