"""Fixtures for the FakeWeChat tests: a fixed clock, a fake, and a raw wire client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat

APPID = "wxfake0000000001"
SECRET = "fake-secret"
START = datetime(2026, 5, 20, 4, 0, tzinfo=timezone.utc)


class Wire:
    """Raw HTTP against the fake: JSON in, JSON out, the token passed as WeChat wants it."""

    def __init__(self, fake: FakeWeChat) -> None:
        self.fake = fake
        self.http = httpx.Client(
            transport=httpx.MockTransport(fake.handler), base_url="https://api.weixin.qq.com"
        )
        self.token = ""

    def fetch_token(self, **extra: Any) -> dict[str, Any]:
        """Call stable_token and remember the token it returns."""
        body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **extra}
        answer = self.post("/cgi-bin/stable_token", body, token=False)
        if "access_token" in answer:
            self.token = answer["access_token"]
        return answer

    def params(self, token: bool, extra: dict[str, str] | None) -> dict[str, str]:
        params = dict(extra or {})
        if token:
            params["access_token"] = self.token
        return params

    def get(self, path: str, token: bool = True, **params: str) -> Any:
        """GET and decode the JSON answer."""
        response = self.http.get(path, params=self.params(token, params))
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any, token: bool = True, **params: str) -> Any:
        """POST raw UTF-8 JSON (no \\u escapes) and decode the JSON answer."""
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self.http.post(path, params=self.params(token, params), content=content)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def clock() -> FixedClock:
    """A clock that moves only when a test says so."""
    return FixedClock(START)


@pytest.fixture
def config() -> FakeConfig:
    """Default configuration; tests override by parametrizing this fixture."""
    return FakeConfig()


@pytest.fixture
def fake(clock: FixedClock, config: FakeConfig) -> FakeWeChat:
    """A fake with three followers a, b, c."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock, config=config)
    fake.add_followers(["oA", "oB", "oC"])
    return fake


@pytest.fixture
def wire(fake: FakeWeChat) -> Iterator[Wire]:
    """A raw client holding a valid stable token."""
    wire = Wire(fake)
    wire.fetch_token()
    yield wire
    wire.http.close()


def errcode(answer: Any) -> int:
    """The errcode of an answer (0 when WeChat omits it on success)."""
    return int(answer.get("errcode", 0))
