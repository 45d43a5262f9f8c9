"""TagSync against FakeWeChat over MockTransport: minimal calls, limits, idempotence, pull."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tagging.conftest import START
from wxsegment import FixedClock
from wxsegment.api import Client, FollowerTagLimitError
from wxsegment.segment import matches, tag
from wxsegment.tagging import (
    MemoryTagStore,
    TagChanges,
    TagSync,
    TooManyAccountTagsError,
    TooManyFollowerTagsError,
)
from wxsegment.testing import FakeWeChat

WRITES = {
    "/cgi-bin/tags/create",
    "/cgi-bin/tags/members/batchtagging",
    "/cgi-bin/tags/members/batchuntagging",
}


def paths(fake: FakeWeChat, since: int = 0) -> Counter[str]:
    """How many calls the fake answered per path (after the first ``since``)."""
    return Counter(call.path for call in fake.calls[since:])


def writes(fake: FakeWeChat, since: int = 0) -> Counter[str]:
    """The write calls only."""
    return Counter({p: n for p, n in paths(fake, since).items() if p in WRITES})


def memberships(fake: FakeWeChat) -> dict[str, frozenset[str]]:
    """Each current follower's tag names, as the fake holds them."""
    names = {t.id: t.name for t in fake.tags.values()}
    return {
        openid: frozenset(names[i] for i in f.tag_ids)
        for openid, f in fake.followers.items()
        if f.subscribed
    }


def test_apply_groups_per_tag_with_the_fewest_calls(fake: FakeWeChat, client: Client) -> None:
    """120 followers + 3 get 'vip', 3 get 'cn': one create per tag, ceil(n/50) batches per tag."""
    openids = fake.add_followers(123)
    changes = [TagChanges(openid=o, add={"vip"}) for o in openids]
    changes += [TagChanges(openid=o, add={"cn"}) for o in openids[:3]]
    report = TagSync(client).apply(changes)
    assert set(report.created) == {"vip", "cn"}
    assert report.tagged == 126
    assert writes(fake) == Counter(
        {
            "/cgi-bin/tags/create": 2,
            "/cgi-bin/tags/members/batchtagging": math.ceil(123 / 50) + 1,
        }
    )
    assert paths(fake)["/cgi-bin/tags/getidlist"] == 123
    assert paths(fake)["/cgi-bin/tags/get"] == 1
    state = memberships(fake)
    assert all(state[o] == ({"vip", "cn"} if o in openids[:3] else {"vip"}) for o in openids)


def test_plan_counts_the_writes_apply_makes(fake: FakeWeChat, client: Client) -> None:
    """plan() writes nothing; apply() then makes exactly plan.write_calls writes."""
    openids = fake.add_followers(75)
    client.tags.tag_users(client.tags.create("old").id, openids[:55])
    changes = [TagChanges(openid=o, add={"new"}, remove={"old"}) for o in openids]
    sync = TagSync(client)
    since = len(fake.calls)
    plan = sync.plan(changes)
    assert writes(fake, since) == Counter()
    assert plan.create == ("new",)
    assert len(plan.untag["old"]) == 55
    assert len(plan.tag["new"]) == 75
    assert plan.write_calls == 1 + math.ceil(55 / 50) + math.ceil(75 / 50)
    since = len(fake.calls)
    sync.apply(changes)
    assert sum(writes(fake, since).values()) == plan.write_calls


def test_reapplying_is_a_no_op(fake: FakeWeChat, client: Client) -> None:
    """Applying the same changes twice writes nothing the second time and changes nothing."""
    openids = fake.add_followers(60)
    changes = [TagChanges(openid=o, add={"a", "b"}, remove={"c"}) for o in openids]
    sync = TagSync(client)
    sync.apply(changes)
    before, since = memberships(fake), len(fake.calls)
    report = sync.apply(changes)
    assert writes(fake, since) == Counter()
    assert (report.tagged, report.untagged, dict(report.created)) == (0, 0, {})
    assert memberships(fake) == before


def test_untag_only_followers_who_carry_the_tag(fake: FakeWeChat, client: Client) -> None:
    """Removal untags holders only; removing an unknown tag costs no call at all."""
    a, b, c = fake.add_followers(3)
    promo = client.tags.create("promo").id
    client.tags.tag_users(promo, [a, b])
    since = len(fake.calls)
    report = TagSync(client).apply(
        [
            TagChanges(openid=a, remove={"promo"}),
            TagChanges(openid=c, remove={"promo"}),
            TagChanges(openid=b, remove={"never-created"}),
        ]
    )
    assert report.untagged == 1
    assert writes(fake, since) == Counter({"/cgi-bin/tags/members/batchuntagging": 1})
    assert paths(fake, since)["/cgi-bin/tags/getidlist"] == 2
    assert memberships(fake) == {a: frozenset(), b: {"promo"}, c: frozenset()}


def test_later_changes_of_a_follower_win(fake: FakeWeChat, client: Client) -> None:
    """Several changes for one follower merge in order: the last word on a tag counts."""
    (o,) = fake.add_followers(1)
    TagSync(client).apply(
        [
            TagChanges(openid=o, add={"x", "y"}),
            TagChanges(openid=o, remove={"x"}),
            TagChanges(openid=o, add={"z"}, remove={"y"}),
            TagChanges(openid=o, add={"y"}),
        ]
    )
    assert memberships(fake)[o] == {"y", "z"}


def test_account_tag_limit_is_refused_before_any_write(fake: FakeWeChat, client: Client) -> None:
    """With 99 own tags, needing 2 new ones raises TooManyAccountTagsError; nothing changes."""
    (o,) = fake.add_followers(1)
    for i in range(99):
        client.tags.create(f"t{i}")
    before_tags, since = dict(fake.tags), len(fake.calls)
    with pytest.raises(TooManyAccountTagsError, match="100") as caught:
        TagSync(client).apply([TagChanges(openid=o, add={"new1", "new2", "t0"})])
    assert caught.value.missing == ("new1", "new2")
    assert caught.value.existing == 99
    assert writes(fake, since) == Counter()
    assert dict(fake.tags) == before_tags
    assert memberships(fake)[o] == frozenset()
    TagSync(client).apply([TagChanges(openid=o, add={"new1", "t0"})])
    assert memberships(fake)[o] == {"new1", "t0"}
    assert sum(1 for t in fake.tags.values() if not t.reserved) == 100


def test_follower_tag_limit_names_the_follower(fake: FakeWeChat, client: Client) -> None:
    """A 21st tag for one follower refuses the whole batch, naming that follower only."""
    full, other = fake.add_followers(["o_full", "o_other"])
    ids = [client.tags.create(f"t{i}").id for i in range(19)]
    for tag_id in ids:
        client.tags.tag_users(tag_id, [full])
    before, since = memberships(fake), len(fake.calls)
    with pytest.raises(TooManyFollowerTagsError, match="o_full") as caught:
        TagSync(client).apply(
            [TagChanges(openid=full, add={"x", "y"}), TagChanges(openid=other, add={"x"})]
        )
    assert caught.value.openids == ("o_full",)
    assert caught.value.counts["o_full"] == 21
    assert writes(fake, since) == Counter()
    assert memberships(fake) == before
    TagSync(client).apply([TagChanges(openid=full, add={"x", "y"}, remove={"t0"})])
    assert len(memberships(fake)[full]) == 20


def test_pull_fills_a_store_that_rebuilds_followers(fake: FakeWeChat, client: Client) -> None:
    """pull records every tag's members; the store gives Follower objects segments can match."""
    a, b, c = fake.add_followers(3)
    vip, cn = client.tags.create("vip").id, client.tags.create("广东").id
    client.tags.tag_users(vip, [a, b])
    client.tags.tag_users(cn, [b])
    store = TagSync(client).pull(MemoryTagStore())
    assert isinstance(store, MemoryTagStore)
    assert store.names_of(a) == {"vip"}
    assert store.names_of(b) == {"vip", "广东"}
    assert store.names_of(c) == frozenset()
    assert store.openids() == {a, b}
    assert TagSync(client).pull(MemoryTagStore(), followers=True).openids() == {a, b, c}
    audience = tag("vip") & tag("广东")
    followers = [store.follower(o, subscribe_time=START) for o in (a, b, c)]
    assert [matches(audience, f, now=START) for f in followers] == [False, True, False]


def test_store_replaces_getidlist_and_stays_current(fake: FakeWeChat, client: Client) -> None:
    """With a pulled store, apply reads no follower's tags from WeChat and updates the store."""
    a, b = fake.add_followers(2)
    client.tags.tag_users(client.tags.create("old").id, [a])
    store = MemoryTagStore()
    sync = TagSync(client, store=store)
    sync.pull()
    since = len(fake.calls)
    sync.apply(
        [TagChanges(openid=a, add={"new"}, remove={"old"}), TagChanges(openid=b, add={"new"})]
    )
    assert paths(fake, since)["/cgi-bin/tags/getidlist"] == 0
    assert store.names_of(a) == store.names_of(b) == {"new"}
    assert {o: store.names_of(o) for o in (a, b)} == memberships(fake)


def test_stale_store_still_gets_wechats_limit_error(fake: FakeWeChat, client: Client) -> None:
    """A store that missed tags added elsewhere: WeChat 45059 is FollowerTagLimitError."""
    (o,) = fake.add_followers(1)
    store = MemoryTagStore()
    sync = TagSync(client, store=store)
    sync.pull()
    for i in range(20):
        client.tags.tag_users(client.tags.create(f"t{i}").id, [o])
    with pytest.raises(FollowerTagLimitError):
        sync.apply([TagChanges(openid=o, add={"t-late"})])


def test_bad_arguments() -> None:
    """Non-Client clients, negative limits, non-changes and a pull without a store are refused."""
    with pytest.raises(TypeError):
        TagSync(object())  # type: ignore[arg-type]
    fake = FakeWeChat(clock=FixedClock(START))
    with Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
        sleep=lambda s: None,
    ) as client:
        with pytest.raises(ValueError, match="max_tags"):
            TagSync(client, max_tags=-1)
        with pytest.raises(TypeError):
            TagSync(client).apply(["o1"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="store"):
            TagSync(client).pull()
    assert fake.calls == []


_OPENIDS = ("o1", "o2", "o3", "o4")
_TAGS = ("a", "b", "c", "广东")
_changes = st.builds(
    lambda o, add, remove: TagChanges(openid=o, add=add, remove=remove - add),
    st.sampled_from(_OPENIDS),
    st.frozensets(st.sampled_from(_TAGS)),
    st.frozensets(st.sampled_from(_TAGS)),
)


def _expected(
    start: Mapping[str, frozenset[str]], changes: list[TagChanges]
) -> dict[str, frozenset[str]]:
    state = {o: set(tags) for o, tags in start.items()}
    for change in changes:
        state[change.openid] = (state[change.openid] - change.remove) | change.add
    return {o: frozenset(tags) for o, tags in state.items()}


@given(
    st.fixed_dictionaries({o: st.frozensets(st.sampled_from(_TAGS[:2])) for o in _OPENIDS}),
    st.lists(_changes, max_size=12),
    st.booleans(),
)
def test_apply_reaches_the_sequential_result(
    start: dict[str, frozenset[str]], changes: list[TagChanges], with_store: bool
) -> None:
    """WeChat ends as if the changes were applied one by one; a second apply writes nothing."""
    fake = FakeWeChat(clock=FixedClock(START))
    fake.add_followers(_OPENIDS)
    with Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
        sleep=lambda s: None,
    ) as client:
        ids = {name: client.tags.create(name).id for name in _TAGS[:2]}
        for openid, tags in start.items():
            for name in tags:
                client.tags.tag_users(ids[name], [openid])
        sync = TagSync(client, store=MemoryTagStore()) if with_store else TagSync(client)
        if with_store:
            sync.pull()
        sync.apply(changes)
        assert memberships(fake) == _expected(start, changes)
        since = len(fake.calls)
        sync.apply(changes)
        assert writes(fake, since) == Counter()


def test_follower_limit_error_lists_every_follower() -> None:
    """The error keeps every refused follower sorted and names the first five in its message."""
    error = TooManyFollowerTagsError({f"o{i}": 21 for i in range(7, 0, -1)}, 20)
    assert error.openids == tuple(f"o{i}" for i in range(1, 8))
    assert "'o1' (21)" in str(error)
    assert "and 2 more" in str(error)
    assert "'o6'" not in str(error)
