"""Review regressions: secrets in exception chains, and what a retried send's error proves."""

from __future__ import annotations

import logging

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import (
    MinuteQuotaError,
    Text,
    WeChatError,
    WeChatHTTPStatusError,
    WeChatTransportError,
)
from wxsegment.testing import FakeConfig, FakeWeChat

from .conftest import Harness

SECRET = "SENTINEL-SECRET-7f3a"


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _texts(error: BaseException) -> list[str]:
    texts: list[str] = []
    for link in _chain(error):
        texts += [str(link), repr(link)]
        request = getattr(link, "_request", None)
        if isinstance(request, httpx.Request):
            texts.append(str(request.url))
    return texts


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_transport_errors_keep_no_token_in_their_chain(
    kind: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No link of a transport error's cause/context chain, nor any log line, holds a secret."""
    fake = FakeWeChat(secret=SECRET, clock=clock)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(("/stable_token", "/token")):
            return fake.handler(request)
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    class Leaky:
        appid = fake.appid
        secret = SECRET

        def __init__(self) -> None:
            self.handler = handler

    harness = Harness(kind, Leaky(), clock=clock)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WeChatError) as caught:
        harness.run(lambda c: c.tags.list())
    token = harness.client._cached.value
    for text in [*_texts(caught.value), caplog.text]:
        assert token not in text
        assert SECRET not in text


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("endpoint", ["stable", "classic"])
def test_httpx_request_logs_hold_no_secret(
    kind: str, endpoint: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx's INFO line per request ("HTTP Request: GET <url>") shows neither token nor secret."""
    fake = FakeWeChat(secret=SECRET, clock=clock)
    harness = Harness(kind, fake, clock=clock, token_endpoint=endpoint)
    caplog.set_level(logging.DEBUG)
    harness.run(lambda c: c.tags.list())
    token = harness.client._cached.value
    assert "HTTP Request" in caplog.text
    assert "access_token=" in caplog.text
    assert token not in caplog.text
    assert SECRET not in caplog.text


def test_a_retried_calls_error_names_the_earlier_attempts(api: Harness, fake: FakeWeChat) -> None:
    """A refusal on a retry has the ambiguous failures before it as its __cause__ chain."""
    openids = fake.add_followers(3)
    path = "/cgi-bin/message/mass/send"
    fake.inject("timeout", path=path, after_processing=True)
    fake.inject("http_502", path=path)
    fake.inject("mass_rate", path=path)
    with pytest.raises(MinuteQuotaError) as caught:
        api.run(lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="k"))
    earlier = caught.value.__cause__
    assert isinstance(earlier, WeChatHTTPStatusError)
    assert isinstance(earlier.__cause__, WeChatTransportError)
    assert earlier.__cause__.kind == "timeout"
    assert earlier.__cause__.__cause__ is None


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_retry_after_a_lost_answer_waits_out_45066(kind: str, clock: FixedClock) -> None:
    """WeChat answers 45066 to the same clientmsgid within a minute: the retry waits, gets 45065."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(clientmsgid_min_retry=60))
    openids = fake.add_followers(3)
    harness = Harness(kind, fake, clock=clock)
    fake.inject("timeout", path="/cgi-bin/message/mass/send", after_processing=True)
    (result,) = harness.run(
        lambda c: c.mass.send_to_openids(openids, Text("x"), clientmsgid="lost")
    )
    assert result.already_sent
    assert len(fake.jobs) == 1
    assert all(fake.mass_received(o) == 1 for o in openids)
    assert sum(harness.sleeps) >= 60
