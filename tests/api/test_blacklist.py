"""`client.blacklist` against `FakeWeChat`: paging, 20-openid batches, and what blocking does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    BLACKLIST_BATCH_MAX,
    InvalidOpenIDError,
    PageLimitError,
    RecipientRefusedError,
    Text,
)
from wxsegment.testing import FakeConfig, FakeWeChat

BLOCK = "/cgi-bin/tags/members/batchblacklist"


def _bodies(fake: FakeWeChat, path: str) -> list[object]:
    return [c.json for c in fake.calls if c.path == path]


def test_block_in_batches_of_20_and_list(kind: str, clock: FixedClock) -> None:
    """45 openids go out as balanced calls of at most 20; the walk returns them in order."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(blacklist_page_size=7))
    api = Harness(kind, fake, clock=clock)
    openids = fake.add_followers(45)
    api.run(lambda c: c.blacklist.block([*openids, openids[0]]))
    sizes = [len(b["openid_list"]) for b in _bodies(fake, BLOCK)]  # type: ignore[index]
    assert max(sizes) <= BLACKLIST_BATCH_MAX
    assert sum(sizes) == 45
    assert api.run(lambda c: c.blacklist.iter_openids()) == openids
    assert fake.blacklist == tuple(openids)


def test_unblock(api: Harness, fake: FakeWeChat) -> None:
    """Unblocked users leave the list."""
    openids = fake.add_followers(3)
    api.run(lambda c: c.blacklist.block(openids))
    api.run(lambda c: c.blacklist.unblock(openids[:2]))
    assert api.run(lambda c: c.blacklist.iter_openids()) == openids[2:]


def test_empty_blacklist(api: Harness) -> None:
    """An empty blacklist yields nothing."""
    assert api.run(lambda c: c.blacklist.iter_openids()) == []


def test_page_cap(kind: str, clock: FixedClock) -> None:
    """The walk stops with PageLimitError after max_pages pages."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(blacklist_page_size=2))
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.blacklist.block(fake.add_followers(5)))
    with pytest.raises(PageLimitError):
        api.run(lambda c: c.blacklist.iter_openids(max_pages=2))


def test_blacklisted_users_get_no_messages(api: Harness, fake: FakeWeChat) -> None:
    """A blacklisted follower gets 43019 for customer-service messages and is filtered from
    mass sends."""
    openids = fake.add_followers(3)
    fake.open_window(openids[0], "message")
    api.run(lambda c: c.blacklist.block([openids[0]]))
    with pytest.raises(RecipientRefusedError) as caught:
        api.run(lambda c: c.messages.send(openids[0], Text("hi")))
    assert caught.value.errcode == 43019
    api.run(lambda c: c.mass.send_to_all(Text("news"), clientmsgid="n1"))
    (job,) = fake.jobs.values()
    assert openids[0] in job.filtered
    assert fake.mass_received(openids[0]) == 0


def test_unknown_and_foreign_openids(make: Callable[..., Harness], fake: FakeWeChat) -> None:
    """An unknown openid answers 40003; one of another account 49003; nothing is blocked."""
    api = make()
    openid = fake.add_followers(1)[0]
    fake.add_foreign_openid("oOTHERACCOUNT00000000000000x")
    with pytest.raises(InvalidOpenIDError) as unknown:
        api.run(lambda c: c.blacklist.block([openid, "oNOBODY"]))
    with pytest.raises(InvalidOpenIDError) as foreign:
        api.run(lambda c: c.blacklist.block([openid, "oOTHERACCOUNT00000000000000x"]))
    assert (unknown.value.errcode, foreign.value.errcode) == (40003, 49003)
    assert fake.blacklist == ()


def test_foreign_openid_in_tagging(api: Harness, fake: FakeWeChat) -> None:
    """Tagging an openid of another account answers 49003, not 40003."""
    tag = api.run(lambda c: c.tags.create("VIP"))
    fake.add_foreign_openid("oOTHER")
    with pytest.raises(InvalidOpenIDError) as caught:
        api.run(lambda c: c.tags.tag_users(tag.id, ["oOTHER"]))
    assert caught.value.errcode == 49003
