"""Fault injection: busy, 5xx, timeouts, rate limits and token faults, by count and chance."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.testing.conftest import APPID, SECRET, Wire, errcode
from wxsegment.testing import FakeWeChat


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("busy", -1),
        ("rate_limited", 45009),
        ("mass_rate", 45011),
        ("token_expired", 42001),
        ("token_invalid", 40001),
        ("clientmsgid_too_fast", 45066),
    ],
)
def test_errcode_faults_hit_the_next_call_only(wire: Wire, kind: str, code: int) -> None:
    """An errcode fault answers the next call with its code; the call after is normal."""
    wire.fake.inject(kind, times=1)  # type: ignore[arg-type]
    answer = wire.post("/cgi-bin/tags/create", {"tag": {"name": "a"}})
    assert answer["errcode"] == code
    assert "rid:" in answer["errmsg"]
    assert len(wire.fake.tags) == 1
    assert "tag" in wire.post("/cgi-bin/tags/create", {"tag": {"name": "a"}})
    assert [c.fault for c in wire.fake.calls[-2:]] == [kind, None]


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502)])
def test_http_faults(wire: Wire, kind: str, status: int) -> None:
    """5xx faults answer that HTTP status, twice when times=2."""
    wire.fake.inject(kind, times=2)  # type: ignore[arg-type]
    for _ in range(2):
        assert (
            wire.http.get("/cgi-bin/tags/get", params={"access_token": wire.token}).status_code
            == status
        )
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0


def test_timeout_raises_read_timeout(wire: Wire) -> None:
    """A timeout fault raises httpx.ReadTimeout and the request has no effect."""
    wire.fake.inject("timeout")
    with pytest.raises(httpx.ReadTimeout):
        wire.post("/cgi-bin/tags/create", {"tag": {"name": "a"}})
    assert len(wire.fake.tags) == 1


def test_fault_after_processing(wire: Wire) -> None:
    """With after_processing the request takes effect but the answer is lost."""
    wire.fake.inject("timeout", after_processing=True)
    with pytest.raises(httpx.ReadTimeout):
        wire.post("/cgi-bin/tags/create", {"tag": {"name": "a"}})
    assert [t.name for t in wire.fake.tags.values()] == ["星标组", "a"]
    wire.fake.inject("http_502", after_processing=True)
    body = {"touser": ["oA", "oB"], "msgtype": "text", "text": {"content": "x"}, "clientmsgid": "k"}
    response = wire.http.post(
        "/cgi-bin/message/mass/send", params={"access_token": wire.token}, json=body
    )
    assert response.status_code == 502
    retry = wire.post("/cgi-bin/message/mass/send", body)
    assert retry["errcode"] == 45065
    assert retry["msg_id"] in wire.fake.jobs


def test_path_filter_and_token_endpoints(wire: Wire) -> None:
    """path limits a fault to one endpoint; path=None never hits the token endpoints."""
    wire.fake.inject("busy", path="tags/get")
    assert errcode(wire.post("/cgi-bin/tags/create", {"tag": {"name": "a"}})) == 0
    assert errcode(wire.get("/cgi-bin/tags/get")) == -1
    wire.fake.inject("busy")
    assert "access_token" in wire.fetch_token()
    assert errcode(wire.get("/cgi-bin/tags/get")) == -1
    wire.fake.inject("busy", path="/cgi-bin/stable_token")
    assert errcode(wire.fetch_token()) == -1
    wire.fake.inject("http_502")
    showqrcode = "https://mp.weixin.qq.com/cgi-bin/showqrcode"
    assert wire.http.get(showqrcode, params={"ticket": "t"}).status_code == 404
    wire.fake.clear_faults()
    wire.fake.inject("http_502", path="showqrcode")
    assert wire.http.get(showqrcode, params={"ticket": "t"}).status_code == 502


def test_probability_faults_are_seeded(wire: Wire) -> None:
    """probability fails a reproducible fraction of calls until cleared."""
    wire.fake.inject("busy", times=None, probability=0.5)
    codes = [errcode(wire.get("/cgi-bin/tags/get")) for _ in range(200)]
    assert 40 < codes.count(-1) < 160
    assert set(codes) == {0, -1}
    wire.fake.clear_faults()
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0


def test_inject_validation(fake: FakeWeChat) -> None:
    """Unknown kinds, bad counts and probabilities are refused."""
    with pytest.raises(ValueError, match="unknown fault"):
        fake.inject("gremlins")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        fake.inject("busy", times=0)
    with pytest.raises(ValueError, match="probability"):
        fake.inject("busy", probability=1.5)
    with pytest.raises(ValueError, match="probability"):
        fake.inject("busy", times=None)


def test_async_client_over_mock_transport(fake: FakeWeChat) -> None:
    """The same handler serves httpx.AsyncClient, faults included."""

    async def scenario() -> list[int]:
        transport = httpx.MockTransport(fake.handler)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://api.weixin.qq.com"
        ) as http:
            body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
            token = (await http.post("/cgi-bin/stable_token", json=body)).json()["access_token"]
            fake.inject("http_500")
            first = await http.get("/cgi-bin/tags/get", params={"access_token": token})
            second = await http.get("/cgi-bin/tags/get", params={"access_token": token})
            return [first.status_code, second.status_code]

    assert asyncio.run(scenario()) == [500, 200]
