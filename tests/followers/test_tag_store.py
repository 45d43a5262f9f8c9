"""A follower store serves as TagSync's TagStore: pulls and applies land in the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.followers.conftest import StoreFactory
from wxsegment import Follower
from wxsegment._clock import SHANGHAI, FixedClock
from wxsegment.api import Client
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.segment import tag
from wxsegment.tagging import FollowerTagStore, TagChanges, TagStore, TagSync
from wxsegment.testing import FakeWeChat

START = datetime(2026, 3, 1, 12, tzinfo=SHANGHAI)


@pytest.fixture
def fake() -> FakeWeChat:
    """A fake WeChat account."""
    return FakeWeChat(clock=FixedClock(START))


@pytest.fixture
def client(fake: FakeWeChat) -> Iterator[Client]:
    """A client talking to the fake."""
    with Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
    ) as client:
        yield client


def test_the_adapter_is_a_tag_store(make_store: StoreFactory) -> None:
    """FollowerTagStore satisfies the TagStore protocol."""
    assert isinstance(FollowerTagStore(make_store()), TagStore)


def test_pull_and_apply_keep_the_follower_store_current(
    make_store: StoreFactory, fake: FakeWeChat, client: Client
) -> None:
    """A pull fills the store's tags; apply changes WeChat and the store alike."""
    store: SqlFollowerStore = make_store()
    a, b, c = fake.add_followers(3)
    store.upsert(Follower(o, START, tags={"crm-only"}) for o in (a, b, c))
    vip = client.tags.create("vip").id
    client.tags.tag_users(vip, [a, b])
    tags = FollowerTagStore(store)
    sync = TagSync(client, store=tags)
    sync.pull()
    assert tags.tags()[vip] == "vip"
    assert tags.tag_ids_of(a) == {vip}
    assert store.select(tag("vip"), now=START) == sorted([a, b])
    assert store.select(tag("crm-only"), now=START) == sorted([a, b, c]), "CRM tags stay"
    sync.apply([TagChanges(openid=a, remove={"vip"}), TagChanges(openid=c, add={"新客"})])
    new = {name: i for i, name in tags.tags().items()}["新客"]
    assert store.select(tag("vip"), now=START) == [b]
    assert store.select(tag("新客"), now=START) == [c]
    assert tags.tag_ids_of(c) == {new}
    client.tags.rename(vip, "VIP")
    tags.set_tag(vip, "VIP")
    assert store.select(tag("VIP"), now=START) == [b], "a rename keeps the members"
    assert store.count(tag("vip"), now=START) == 0


def test_unknown_tag_ids_are_refused(make_store: StoreFactory) -> None:
    """Changing memberships of a tag id the store never saw is a LookupError."""
    tags = FollowerTagStore(make_store())
    with pytest.raises(LookupError, match="tag id 7"):
        tags.change(["o1"], add=7)
