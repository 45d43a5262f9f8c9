"""sync_followers: WeChat's followers and tags into a SQLite follower store, resumably."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import AsyncClient, Client, User
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.segment import attr, tag
from wxsegment.tagging import (
    PULL_ID_ATTRIBUTE,
    SyncProgress,
    async_sync_followers,
    follower_from_user,
    refresh_followers,
    sync_followers,
)
from wxsegment.testing import FakeConfig, FakeWeChat

START = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
PAGE = 40


def _fake(count: int = 130) -> FakeWeChat:
    """A fake with ``count`` followers on pages of 40; every third carries the tag 会员."""
    fake = FakeWeChat(clock=FixedClock(START), config=FakeConfig(user_page_size=PAGE))
    for index in range(count):
        fake.add_follower(
            f"o{index:05d}", subscribe_time=START - timedelta(days=index), remark=f"r{index}"
        )
    return fake


def _client(fake: FakeWeChat) -> Client:
    return Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
        sleep=lambda s: None,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteFollowerStore]:
    """A SQLite follower store in a temporary file."""
    opened = SQLiteFollowerStore(tmp_path / "followers.sqlite3")
    yield opened
    opened.close()


def _tag_members(client: Client, name: str, openids: list[str]) -> int:
    created = client.tags.create(name)
    client.tags.tag_users(created.id, openids)
    return created.id


def test_full_pull_stores_every_follower_with_tags_by_name(store: SQLiteFollowerStore) -> None:
    """Every follower lands in the store, subscribed, with WeChat's tags named."""
    fake = _fake()
    with _client(fake) as client:
        vip = [f"o{i:05d}" for i in range(0, 130, 3)]
        _tag_members(client, "会员", vip)
        seen: list[SyncProgress] = []
        report = sync_followers(client, store, on_progress=seen.append, clock=fake.clock)
    assert report.pulled == 130
    assert report.pages == 4
    assert report.resumed_from is None
    assert report.unsubscribe_pass
    assert store.count(tag("会员"), now=START) == len(vip)
    assert store.count(attr("subscribed") == True, now=START) == 130  # noqa: E712
    first = store.get("o00001")
    assert first is not None
    assert first.subscribe_time == START - timedelta(days=1)
    assert first.attributes["remark"] == "r1"
    assert [p.done for p in seen] == [40, 80, 120, 130]
    assert seen[-1].total == 130
    assert store.next_openid() is None


def test_crm_attributes_and_local_tags_survive_a_pull(store: SQLiteFollowerStore) -> None:
    """CRM spend and a CRM-only tag stay across a pull; a WeChat tag removed on WeChat goes."""
    fake = _fake(10)
    store.declare({"spend": "float"})
    with _client(fake) as client:
        member = _tag_members(client, "会员", ["o00002"])
        sync_followers(client, store, clock=fake.clock)
        store.import_rows([{"openid": "o00002", "spend": 99.5, "tags": ["crm-高价值", "会员"]}])
        client.tags.untag_users(member, ["o00002"])
        sync_followers(client, store, clock=fake.clock)
    kept = store.get("o00002")
    assert kept is not None
    assert kept.attributes["spend"] == 99.5
    assert kept.tags == {"crm-高价值"}


def test_unsubscribed_followers_are_marked_not_deleted(store: SQLiteFollowerStore) -> None:
    """A follower who left between two pulls is kept, subscribed False."""
    fake = _fake(50)
    with _client(fake) as client:
        sync_followers(client, store, clock=fake.clock)
        fake.unsubscribe("o00007")
        report = sync_followers(client, store, clock=fake.clock)
    assert report.unsubscribed == 1
    gone = store.get("o00007")
    assert gone is not None
    assert gone.attributes["subscribed"] is False
    assert store.count(attr("subscribed") == True, now=START) == 49  # noqa: E712


class _Stop(Exception):
    pass


def test_a_crashed_pull_resumes_at_its_checkpoint(store: SQLiteFollowerStore) -> None:
    """After a crash on page 2, the next pull starts at page 3 and still marks the leavers."""
    fake = _fake()
    with _client(fake) as client:
        sync_followers(client, store, clock=fake.clock)
        fake.unsubscribe("o00003")

        def crash(progress: SyncProgress) -> None:
            if progress.done == 80:
                raise _Stop

        with pytest.raises(_Stop):
            sync_followers(client, store, on_progress=crash, clock=fake.clock)
        checkpoint = store.next_openid()
        assert checkpoint is not None
        calls_before = len(fake.calls)
        report = sync_followers(client, store, clock=fake.clock)
        pages_read = sum(1 for c in fake.calls[calls_before:] if c.path.endswith("/user/get"))
    assert report.resumed_from == checkpoint
    assert report.pages == 2
    assert pages_read == 3  # pages 3 and 4, then WeChat's empty end-of-list page
    assert report.unsubscribe_pass
    assert report.unsubscribed == 1
    assert store.count(attr("subscribed") == True, now=START) == 129  # noqa: E712


def test_async_pull_matches_the_blocking_one(tmp_path: Path) -> None:
    """async_sync_followers stores the same followers as sync_followers."""
    fake = _fake()
    stores = [SQLiteFollowerStore(tmp_path / f"{n}.sqlite3") for n in ("sync", "async")]
    try:
        with _client(fake) as client:
            _tag_members(client, "会员", ["o00001", "o00100"])
            sync_followers(client, stores[0], clock=fake.clock)

        async def pull() -> None:
            http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
            async with AsyncClient(
                fake.appid, fake.secret, http_client=http, clock=fake.clock
            ) as client:
                await async_sync_followers(client, stores[1], clock=fake.clock)

        asyncio.run(pull())
        everyone = attr("subscribed") == True  # noqa: E712
        assert stores[0].select(everyone, now=START) == stores[1].select(everyone, now=START)
        assert stores[1].select(tag("会员"), now=START) == ["o00001", "o00100"]
    finally:
        for opened in stores:
            opened.close()


def test_wrong_client_or_store_is_refused_before_any_call(store: SQLiteFollowerStore) -> None:
    """An AsyncClient for the blocking sync, or a non-store, is a TypeError; WeChat sees nothing."""
    fake = _fake(3)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    client = AsyncClient(fake.appid, fake.secret, http_client=http)
    with pytest.raises(TypeError, match=r"wxsegment\.api\.Client"):
        sync_followers(client, store)  # type: ignore[arg-type]
    with _client(fake) as blocking, pytest.raises(TypeError, match="FollowerStore"):
        sync_followers(blocking, {})  # type: ignore[arg-type]
    assert fake.calls == []
    asyncio.run(http.aclose())


def test_refresh_rereads_named_followers(store: SQLiteFollowerStore) -> None:
    """refresh_followers picks up a new remark and an unsubscribe for the openids given."""
    fake = _fake(5)
    with _client(fake) as client:
        sync_followers(client, store, clock=fake.clock)
        client.users.update_remark("o00001", "新备注")
        fake.unsubscribe("o00002")
        assert refresh_followers(client, store, ["o00001", "o00002"], clock=fake.clock) == 2
    one, two = store.get("o00001"), store.get("o00002")
    assert one is not None
    assert two is not None
    assert one.attributes["remark"] == "新备注"
    assert two.attributes["subscribed"] is False


def test_follower_from_user_needs_a_subscribe_time() -> None:
    """An unsubscribed user with nothing kept has no subscribe time: ValueError naming them."""
    with pytest.raises(ValueError, match="oGone"):
        follower_from_user(User("oGone", False), {})
    made = follower_from_user(
        User("oA", True, START, tag_ids=(101, 999), language="en"), {101: "会员"}, local_tags={"x"}
    )
    assert made.tags == {"会员", "x"}
    assert made.attributes["language"] == "en"
    assert PULL_ID_ATTRIBUTE not in made.attributes


_CHILD = """
import os, signal, sys
from datetime import datetime, timedelta, timezone
import httpx
sys.path.insert(0, {tests!r})
from test_follower_sync import _fake, _client
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.tagging import sync_followers

store = SQLiteFollowerStore({path!r})
fake = _fake()
def kill(progress):
    if progress.done == 80:
        os.kill(os.getpid(), signal.SIGKILL)
with _client(fake) as client:
    sync_followers(client, store, on_progress=kill, clock=fake.clock)
"""


def test_sigkill_mid_sync_loses_nothing_committed(tmp_path: Path) -> None:
    """A pull killed by SIGKILL after page 2 keeps pages 1-2 and resumes at page 3."""
    path = tmp_path / "followers.sqlite3"
    code = _CHILD.format(tests=str(Path(__file__).parent), path=str(path))
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL
    store = SQLiteFollowerStore(path)
    try:
        everyone = attr("subscribed") == True  # noqa: E712
        assert store.count(everyone, now=START) == 80
        assert store.next_openid() == "o00079"
        fake = _fake()
        with _client(fake) as client:
            report = sync_followers(client, store, clock=fake.clock)
        assert report.resumed_from == "o00079"
        assert store.count(everyone, now=START) == 130
    finally:
        store.close()


def test_events_during_a_pull_are_not_overwritten_by_its_older_answer(
    store: SQLiteFollowerStore,
) -> None:
    """WeChat answers a page's profiles, then events arrive before the pull writes them.

    The unsubscribe, the scan's tag and the interaction are newer than the answer, so they stay;
    the pull's unsubscribe pass does not take the tagged follower for one who left.
    """
    fake = _fake(50)
    with _client(fake) as client:
        sync_followers(client, store, clock=fake.clock)
    later = START + timedelta(minutes=5)
    fired: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        if request.url.path.endswith("user/info/batchget") and not fired:
            fired.append("events")
            fake.unsubscribe("o00007")
            store.mark_unsubscribed(["o00007"], at=later)
            store.add_tags(["o00005"], ["门店扫码"])
            store.touch(["o00005"], at=later)
        return response

    blocking = Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=fake.clock,
        sleep=lambda s: None,
    )
    with blocking:
        report = sync_followers(blocking, store, clock=fake.clock)
    assert fired
    left, scanned = store.get("o00007"), store.get("o00005")
    assert left is not None
    assert scanned is not None
    assert left.attributes["subscribed"] is False
    assert "门店扫码" in scanned.tags
    assert scanned.last_interaction_at == later
    assert scanned.attributes["subscribed"] is True
    assert report.unsubscribed == 0
    # The next pull, with nothing arriving meanwhile, brings WeChat's view of both again.
    with _client(fake) as client:
        sync_followers(client, store, clock=fake.clock)
    again = store.get("o00005")
    assert again is not None
    assert again.attributes["subscribed"] is True
    assert store.count(attr("subscribed") == True, now=START) == 49  # noqa: E712
