"""`client.kf` against `FakeWeChat`: accounts, invitations, online list, sending as an account."""

from __future__ import annotations

import pytest

from tests.api.conftest import Harness
from wxsegment.api import InvalidRequestError, KfAccount, KfOnline, Text, WeChatValidationError
from wxsegment.testing import FakeWeChat

ACCOUNT = "alice@fakeaccount"


def test_account_lifecycle(api: Harness, fake: FakeWeChat) -> None:
    """Add, rename, list and delete a customer-service account."""
    api.run(lambda c: c.kf.add(ACCOUNT, "小爱"))
    api.run(lambda c: c.kf.update(ACCOUNT, "客服小爱"))
    (account,) = api.run(lambda c: c.kf.list())
    assert (account.kf_account, account.kf_nick, account.kf_wx) == (ACCOUNT, "客服小爱", "")
    api.run(lambda c: c.kf.delete(ACCOUNT))
    assert api.run(lambda c: c.kf.list()) == []
    assert fake.kf_accounts == {}


def test_duplicate_and_unknown_accounts(api: Harness) -> None:
    """Adding twice answers 65406; updating an unknown account 65401."""
    api.run(lambda c: c.kf.add(ACCOUNT, "a"))
    with pytest.raises(InvalidRequestError) as twice:
        api.run(lambda c: c.kf.add(ACCOUNT, "a"))
    with pytest.raises(InvalidRequestError) as unknown:
        api.run(lambda c: c.kf.update("bob@fakeaccount", "b"))
    assert (twice.value.errcode, unknown.value.errcode) == (65406, 65401)


def test_account_of_another_wechat_id(api: Harness) -> None:
    """An account whose suffix is not this account's WeChat ID answers 65404."""
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.kf.add("alice@someoneelse", "a"))
    assert caught.value.errcode == 65404


@pytest.mark.parametrize(
    "bad", ["alice", "@fakeaccount", "alice@", "way_too_long_prefix@fakeaccount", "a b@x", "x" * 31]
)
def test_kf_account_format_checked_locally(api: Harness, fake: FakeWeChat, bad: str) -> None:
    """A kf_account that is not prefix@wechat_id is refused before any call."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.kf.add(bad, "nick"))
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.messages.send("oX", Text("hi"), kf_account=bad))
    assert fake.calls == []


def test_nickname_length_checked_locally(api: Harness, fake: FakeWeChat) -> None:
    """A nickname beyond 16 characters (or empty) is refused before any call."""
    for nickname in ("", "客" * 17):
        with pytest.raises(WeChatValidationError):
            api.run(lambda c, n=nickname: c.kf.add(ACCOUNT, n))
    assert fake.calls == []


def test_invite_accept_and_online(api: Harness, fake: FakeWeChat) -> None:
    """An invitation waits until accepted; then the account is bound and can go online."""
    api.run(lambda c: c.kf.add(ACCOUNT, "a"))
    api.run(lambda c: c.kf.invite(ACCOUNT, "alice_wx"))
    (waiting,) = api.run(lambda c: c.kf.list())
    assert (waiting.invite_wx, waiting.invite_status) == ("alice_wx", "waiting")
    assert waiting.invite_expire_time is not None
    fake.accept_kf_invite(ACCOUNT)
    fake.set_kf_online(ACCOUNT, accepted_case=2)
    (bound,) = api.run(lambda c: c.kf.list())
    assert isinstance(bound, KfAccount)
    assert (bound.kf_wx, bound.invite_status) == ("alice_wx", "")
    assert api.run(lambda c: c.kf.online()) == [KfOnline(ACCOUNT, 1, bound.kf_id, 2)]


def test_send_as_an_account(api: Harness, fake: FakeWeChat) -> None:
    """A message naming an existing account goes out; an unknown account answers 65401."""
    fake.add_follower("oX")
    fake.open_window("oX", "message")
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.messages.send("oX", Text("hi"), kf_account=ACCOUNT))
    assert caught.value.errcode == 65401
    api.run(lambda c: c.kf.add(ACCOUNT, "a"))
    api.run(lambda c: c.messages.send("oX", Text("hi"), kf_account=ACCOUNT))
    assert fake.messages[-1].body["customservice"] == {"kf_account": ACCOUNT}


def test_kf_typing(api: Harness, fake: FakeWeChat) -> None:
    """kf.typing drives message/custom/typing like messages.typing."""
    fake.add_follower("oX")
    fake.open_window("oX", "message")
    api.run(lambda c: c.kf.typing("oX"))
    assert [c.json for c in fake.calls if c.path.endswith("/typing")] == [
        {"touser": "oX", "command": "Typing"}
    ]
