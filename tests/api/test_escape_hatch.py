"""`Client.call` / `AsyncClient.call`: endpoints the library does not wrap, with its machinery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.conftest import Harness
from wxsegment.api import BusyError, TagError, WeChatValidationError
from wxsegment.testing import FakeWeChat


def test_call_returns_the_decoded_answer(api: Harness, fake: FakeWeChat) -> None:
    """A GET through the escape hatch returns WeChat's JSON object as a dict."""
    fake.add_followers(3)
    answer = api.run(lambda c: c.call("GET", "/cgi-bin/user/get"))
    assert answer["total"] == 3
    assert answer["count"] == 3


def test_call_maps_errcodes(api: Harness, fake: FakeWeChat) -> None:
    """An errcode answer raises the mapped error class, as wrapped calls do."""
    api.run(lambda c: c.call("POST", "/cgi-bin/tags/create", json={"tag": {"name": "VIP"}}))
    with pytest.raises(TagError) as caught:
        api.run(lambda c: c.call("POST", "/cgi-bin/tags/create", json={"tag": {"name": "VIP"}}))
    assert caught.value.errcode == 45157


def test_call_refreshes_an_expired_token(api: Harness, fake: FakeWeChat) -> None:
    """A token refused mid-way is refreshed once and the call replayed."""
    api.run(lambda c: c.call("GET", "/cgi-bin/tags/get"))
    fake.expire_tokens()
    answer = api.run(lambda c: c.call("GET", "/cgi-bin/tags/get"))
    assert "tags" in answer
    assert [c.errcode for c in fake.calls if c.path == "/cgi-bin/tags/get"] == [None, 42001, None]


def test_get_is_retried_post_is_not_unless_replayable(api: Harness, fake: FakeWeChat) -> None:
    """Busy answers are retried for reads and for POSTs declared replayable, never otherwise."""
    fake.inject("busy", path="/cgi-bin/tags/get")
    assert "tags" in api.run(lambda c: c.call("GET", "/cgi-bin/tags/get"))
    fake.inject("busy", path="/cgi-bin/tags/getidlist")
    openid = fake.add_followers(1)[0]
    with pytest.raises(BusyError):
        api.run(lambda c: c.call("POST", "/cgi-bin/tags/getidlist", json={"openid": openid}))
    fake.inject("busy", path="/cgi-bin/tags/getidlist")
    answer = api.run(
        lambda c: c.call(
            "POST", "/cgi-bin/tags/getidlist", json={"openid": openid}, replayable=True
        )
    )
    assert answer == {"tagid_list": []}


def test_mass_paths_are_paced(make: Callable[..., Harness], fake: FakeWeChat) -> None:
    """A mass send through the escape hatch books a pacing slot like the wrapped send."""
    api = make(mass_per_minute=1)
    fake.add_followers(4)
    body = {"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": "hi"}}
    api.run(lambda c: c.call("POST", "/cgi-bin/message/mass/sendall", json=body))
    body2 = {**body, "text": {"content": "again"}}
    api.run(lambda c: c.call("POST", "/cgi-bin/message/mass/sendall", json=body2))
    assert api.sleeps
    assert api.sleeps[-1] >= 59


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (("PUT", "/cgi-bin/tags/get"), {}),
        (("GET", "cgi-bin/tags/get"), {}),
        (("GET", "/cgi-bin/tags/get?x=1"), {}),
        (("GET", "/cgi-bin/token"), {}),
        (("GET", "/cgi-bin/tags/get"), {"params": {"access_token": "x"}}),
        (("GET", "/cgi-bin/tags/get"), {"json": {"a": 1}}),
    ],
)
def test_bad_calls_are_refused_locally(
    api: Harness, fake: FakeWeChat, args: tuple[str, str], options: dict[str, Any]
) -> None:
    """Malformed escape-hatch calls raise WeChatValidationError and send nothing."""
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.call(*args, **options))
    assert fake.calls == []
