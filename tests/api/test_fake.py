"""Both clients against `wxsegment.testing.FakeWeChat`: every resource group, errors, faults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import START, Harness
from wxsegment import FixedClock
from wxsegment.api import (
    Button,
    CredentialError,
    DailyQuotaError,
    FollowerTagLimitError,
    InvalidOpenIDError,
    MatchRule,
    MenuError,
    MpNews,
    ServiceWindowClosedError,
    TemplateError,
    Text,
    TooManyTagsError,
)
from wxsegment.testing import FakeConfig, FakeWeChat


@pytest.fixture
def clock() -> FixedClock:
    """One clock for the fake and the client."""
    return FixedClock(START)


@pytest.fixture
def config() -> FakeConfig:
    """Small pages, so paging is exercised with few followers."""
    return FakeConfig(user_page_size=7, tag_members_page_size=5)


@pytest.fixture
def fake(clock: FixedClock, config: FakeConfig) -> FakeWeChat:
    """A fresh FakeWeChat on the shared clock."""
    return FakeWeChat(appid="wxfake0000000001", secret="fake-secret", clock=clock, config=config)


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, fake: FakeWeChat, clock: FixedClock) -> Harness:
    """A client of the parametrized kind over the fake's MockTransport handler."""
    return Harness(request.param, fake, clock=clock)


def _paths(fake: FakeWeChat, path: str) -> list[object]:
    return [c.json for c in fake.calls if c.path == path]


@pytest.mark.parametrize("mode", ["last", "empty"])
def test_iter_openids_end_of_list_modes(
    mode: str, clock: FixedClock, fake: FakeWeChat
) -> None:
    """Both end-of-list behaviours WeChat shows end the walk with every follower once."""
    quirky = FakeWeChat(
        appid=fake.appid,
        secret=fake.secret,
        clock=clock,
        config=FakeConfig(user_page_size=7, last_page_next_openid=mode),  # type: ignore[arg-type]
    )
    openids = quirky.add_followers(21)
    for kind in ("sync", "async"):
        harness = Harness(kind, quirky, clock=clock)
        assert harness.run(lambda c: c.users.iter_openids()) == openids


def test_users(api: Harness, fake: FakeWeChat) -> None:
    """get, get_many (chunked) and update_remark; an unknown openid is InvalidOpenIDError."""
    openids = fake.add_followers(250)
    user = api.run(lambda c: c.users.get(openids[3]))
    assert user.openid == openids[3]
    assert user.subscribed
    users = api.run(lambda c: c.users.get_many(openids))
    assert [u.openid for u in users] == openids
    api.run(lambda c: c.users.update_remark(openids[0], "老客户"))
    assert fake.followers[openids[0]].remark == "老客户"
    with pytest.raises(InvalidOpenIDError):
        api.run(lambda c: c.users.get("oNotAFollower000000000000000"))


def test_tags(api: Harness, fake: FakeWeChat) -> None:
    """CRUD, tagging in chunks, members across pages, tags of a follower."""
    openids = fake.add_followers(120)
    tag = api.run(lambda c: c.tags.create("广东"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids))
    assert sorted(api.run(lambda c: c.tags.iter_members(tag.id))) == sorted(openids)
    assert tag.id in api.run(lambda c: c.tags.tags_of(openids[5]))
    listed = {t.id: t for t in api.run(lambda c: c.tags.list())}
    assert listed[tag.id].count == 120
    api.run(lambda c: c.tags.untag_users(tag.id, openids[:60]))
    assert len(api.run(lambda c: c.tags.iter_members(tag.id))) == 60
    api.run(lambda c: c.tags.rename(tag.id, "广州"))
    assert fake.tags[tag.id].name == "广州"
    api.run(lambda c: c.tags.delete(tag.id))
    assert tag.id not in fake.tags


def test_tag_limits(api: Harness, fake: FakeWeChat) -> None:
    """The fake's 100-tag and 20-per-follower limits arrive as typed errors."""
    (openid,) = fake.add_followers(1)
    tags = [api.run(lambda c, i=i: c.tags.create(f"t{i}")) for i in range(100)]
    with pytest.raises(TooManyTagsError):
        api.run(lambda c: c.tags.create("t100"))
    for tag in tags[:20]:
        api.run(lambda c, tag=tag: c.tags.tag_users(tag.id, [openid]))
    with pytest.raises(FollowerTagLimitError):
        api.run(lambda c: c.tags.tag_users(tags[20].id, [openid]))


def test_qrcodes(api: Harness, fake: FakeWeChat) -> None:
    """Temporary and permanent codes land in the fake with their scenes."""
    temporary = api.run(lambda c: c.qrcode.create_temporary(123, expire_seconds=600))
    permanent = api.run(lambda c: c.qrcode.create_permanent("store:hz"))
    assert temporary.expire_seconds == 600
    assert permanent.expire_seconds is None
    assert temporary.ticket in fake.qrcodes
    assert permanent.ticket in fake.qrcodes


def test_mass(api: Harness, fake: FakeWeChat) -> None:
    """Sends to a tag, to all and to a split list; status, delete, preview and speed."""
    openids = fake.add_followers(20)
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, openids[:5]))
    to_tag = api.run(lambda c: c.mass.send_to_tag(tag.id, MpNews("media-1"), clientmsgid="t1"))
    assert fake.jobs[to_tag.msg_id].total_count == 5
    to_all = api.run(lambda c: c.mass.send_to_all(Text("大家好"), clientmsgid="a1"))
    assert not to_all.already_sent
    results = api.run(lambda c: c.mass.send_to_openids(openids, Text("hi"), clientmsgid="l1"))
    assert len(results) == 1
    assert api.run(lambda c: c.mass.status(to_tag.msg_id)).status == "SEND_SUCCESS"
    api.run(lambda c: c.mass.delete(to_tag.msg_id))
    assert api.run(lambda c: c.mass.status(to_tag.msg_id)).status == "DELETE"
    assert api.run(lambda c: c.mass.preview(Text("p"), openid=openids[0])) is not None
    api.run(lambda c: c.mass.set_speed(2))
    assert api.run(lambda c: c.mass.get_speed()).speed == 2


def test_large_list_split_and_replayed(api: Harness, fake: FakeWeChat) -> None:
    """20,001 openids go out in 3 calls; replaying the whole send is all already-sent."""
    openids = fake.add_followers(20_001)
    first = api.run(lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="big"))
    assert len(first) == 3
    assert sum(fake.jobs[r.msg_id].total_count for r in first) == 20_001
    again = api.run(lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="big"))
    assert [r.already_sent for r in again] == [True, True, True]
    assert [r.msg_id for r in again] == [r.msg_id for r in first]
    assert len(fake.jobs) == 3


def test_timeout_after_send_is_already_sent(api: Harness, fake: FakeWeChat) -> None:
    """A send whose answer is lost is retried with its id; 45065 reports it already sent."""
    fake.add_followers(3)
    fake.inject("timeout", path="/cgi-bin/message/mass/sendall", after_processing=True)
    result = api.run(lambda c: c.mass.send_to_all(Text("once"), clientmsgid="lost-1"))
    assert result.already_sent
    assert len(fake.jobs) == 1
    assert result.msg_id in fake.jobs
    assert len(api.sleeps) == 1


def test_pacing_avoids_45011(api: Harness, fake: FakeWeChat) -> None:
    """70 sends in a row are paced on the shared clock; the fake never answers 45011."""
    fake.add_followers(2)
    for i in range(70):
        api.run(lambda c, i=i: c.mass.send_to_all(Text(f"n{i}"), clientmsgid=f"pace-{i}"))
    assert len(fake.jobs) == 70
    assert not any(c.errcode == 45011 for c in fake.calls)
    assert sum(api.sleeps) >= 59


def test_quota_fault_not_retried(api: Harness, fake: FakeWeChat) -> None:
    """An injected 45009 is raised after one call."""
    fake.inject("rate_limited", times=3)
    with pytest.raises(DailyQuotaError):
        api.run(lambda c: c.tags.list())
    assert len(_paths(fake, "/cgi-bin/tags/get")) == 1


def test_busy_fault_retried(api: Harness, fake: FakeWeChat) -> None:
    """Two injected -1 answers on a read are retried; the third attempt succeeds."""
    fake.inject("busy", times=2, path="/cgi-bin/tags/get")
    api.run(lambda c: c.tags.list())
    assert len(api.sleeps) == 2


def test_token_expiry_and_invalidation(api: Harness, fake: FakeWeChat, clock: FixedClock) -> None:
    """Expired tokens are refreshed once and the call replayed; wrong secrets are typed."""
    api.run(lambda c: c.tags.list())
    fake.expire_tokens()
    api.run(lambda c: c.tags.list())
    fake.inject("token_expired", path="/cgi-bin/tags/get")
    api.run(lambda c: c.tags.list())
    clock.advance(timedelta(hours=3))
    api.run(lambda c: c.tags.list())
    wrong = Harness(api.kind, _WrongSecret(fake), clock=clock)
    with pytest.raises(CredentialError):
        wrong.run(lambda c: c.tags.list())


class _WrongSecret:
    def __init__(self, fake: FakeWeChat) -> None:
        self.appid = fake.appid
        self.secret = "not-the-secret"
        self.handler = fake.handler


def test_messages(api: Harness, fake: FakeWeChat) -> None:
    """Customer-service sends need a window; typing; templates dedup on client_msg_id."""
    (openid,) = fake.add_followers(1)
    with pytest.raises(ServiceWindowClosedError):
        api.run(lambda c: c.messages.send(openid, Text("hi")))
    fake.open_window(openid, "message")
    api.run(lambda c: c.messages.typing(openid))
    api.run(lambda c: c.messages.send(openid, Text("您好")))
    assert fake.messages[-1].openid == openid
    first = api.run(
        lambda c: c.messages.send_template(openid, "tpl", {"thing1": "到货"}, client_msg_id="m1")
    )
    again = api.run(
        lambda c: c.messages.send_template(openid, "tpl", {"thing1": "到货"}, client_msg_id="m1")
    )
    assert first.msgid == again.msgid


def test_template_errors(clock: FixedClock) -> None:
    """An unknown template id is a TemplateError (40037)."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(templates=frozenset({"known"})))
    (openid,) = fake.add_followers(1)
    for kind in ("sync", "async"):
        harness = Harness(kind, fake, clock=clock)
        with pytest.raises(TemplateError):
            harness.run(lambda c: c.messages.send_template(openid, "unknown", {"a": "b"}))


def test_menus(api: Harness, fake: FakeWeChat) -> None:
    """Default and conditional menus, trymatch by tag, deletion."""
    (openid,) = fake.add_followers(1)
    default = [Button("首页", type="view", url="https://example.com")]
    with pytest.raises(MenuError):
        api.run(lambda c: c.menus.get())
    api.run(lambda c: c.menus.create(default))
    tag = api.run(lambda c: c.tags.create("vip"))
    api.run(lambda c: c.tags.tag_users(tag.id, [openid]))
    vip = [Button("会员", type="click", key="VIP")]
    menuid = api.run(lambda c: c.menus.add_conditional(vip, MatchRule(tag_id=tag.id)))
    assert [b.name for b in api.run(lambda c: c.menus.trymatch(openid))] == ["会员"]
    info = api.run(lambda c: c.menus.get())
    assert [m.menuid for m in info.conditional] == [menuid]
    api.run(lambda c: c.menus.delete_conditional(menuid))
    api.run(lambda c: c.menus.delete())
    with pytest.raises(MenuError):
        api.run(lambda c: c.menus.get())


def test_template_retried_only_with_client_msg_id(api: Harness, fake: FakeWeChat) -> None:
    """A busy answer is retried for a template carrying client_msg_id, raised without one."""
    from wxsegment.api import BusyError

    (openid,) = fake.add_followers(1)
    fake.inject("busy", path="/cgi-bin/message/template/send")
    with pytest.raises(BusyError):
        api.run(lambda c: c.messages.send_template(openid, "tpl", {"thing1": "a"}))
    fake.inject("busy", path="/cgi-bin/message/template/send")
    sent = api.run(
        lambda c: c.messages.send_template(openid, "tpl", {"thing1": "a"}, client_msg_id="t-1")
    )
    assert sent.msgid is not None
    assert len(api.sleeps) == 1


def test_single_attempt_policy_never_retries(fake: FakeWeChat, clock: FixedClock) -> None:
    """RetryPolicy(attempts=1) raises the first transient error."""
    from wxsegment.api import BusyError, RetryPolicy

    for kind in ("sync", "async"):
        harness = Harness(kind, fake, clock=clock, retry=RetryPolicy(attempts=1))
        fake.inject("busy", path="/cgi-bin/tags/get")
        with pytest.raises(BusyError):
            harness.run(lambda c: c.tags.list())
        assert harness.sleeps == []
