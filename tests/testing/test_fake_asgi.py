"""The ASGI app on a real loopback server (uvicorn), driven with plain httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import uvicorn

from tests.testing.conftest import APPID, SECRET
from wxsegment.api import Client
from wxsegment.testing import FakeConfig, FakeWeChat


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """A fake with 10 ms latency served by uvicorn on 127.0.0.1, a free port."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, config=FakeConfig(latency=0.01))
    fake.add_followers(["oA", "oB"])
    config = uvicorn.Config(
        fake.asgi, host="127.0.0.1", port=0, lifespan="on", log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_over_real_http(served: tuple[FakeWeChat, str]) -> None:
    """Token, UTF-8 JSON bodies, errcodes, 404 and the QR image travel over real HTTP."""
    fake, base = served
    with httpx.Client(base_url=base) as http:
        body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
        token = http.post("/cgi-bin/stable_token", json=body).json()["access_token"]
        params = {"access_token": token}
        created = http.post(
            "/cgi-bin/tags/create", params=params, content='{"tag":{"name":"广东"}}'.encode()
        )
        assert created.json() == {"tag": {"id": 100, "name": "广东"}}
        assert "广东".encode() in created.content
        again = http.post("/cgi-bin/tags/create", params=params, json={"tag": {"name": "广东"}})
        assert again.json()["errcode"] == 45157
        assert http.get("/cgi-bin/nowhere", params=params).status_code == 404
        qr = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "s"}}}
        ticket = http.post("/cgi-bin/qrcode/create", params=params, json=qr).json()["ticket"]
        image = http.get("/cgi-bin/showqrcode", params={"ticket": ticket})
        assert (image.status_code, image.headers["content-type"]) == (200, "image/jpg")
        fake.inject("http_502")
        assert http.get("/cgi-bin/tags/get", params=params).status_code == 502
    assert [c.path for c in fake.calls][:2] == ["/cgi-bin/stable_token", "/cgi-bin/tags/create"]


def test_timeout_fault_drops_the_connection(served: tuple[FakeWeChat, str]) -> None:
    """A timeout fault over real HTTP ends in a transport error, and the server keeps serving."""
    fake, base = served
    with httpx.Client(base_url=base) as http:
        fake.inject("timeout", path="/cgi-bin/stable_token")
        body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
        with pytest.raises(httpx.TransportError):
            http.post("/cgi-bin/stable_token", json=body)
        assert "access_token" in http.post("/cgi-bin/stable_token", json=body).json()


def test_async_client_concurrently(served: tuple[FakeWeChat, str]) -> None:
    """Concurrent async requests over loopback all land (the fake is thread-safe)."""
    fake, base = served

    async def scenario() -> set[int]:
        async with httpx.AsyncClient(base_url=base) as http:
            body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
            token = (await http.post("/cgi-bin/stable_token", json=body)).json()["access_token"]
            tasks = [
                http.post(
                    "/cgi-bin/tags/create",
                    params={"access_token": token},
                    json={"tag": {"name": f"t{i}"}},
                )
                for i in range(20)
            ]
            answers = await asyncio.gather(*tasks)
            return {a.json()["tag"]["id"] for a in answers}

    assert asyncio.run(scenario()) == set(range(100, 120))
    assert len(fake.tags) == 21


def test_paths_outside_cgi_bin_over_real_http(served: tuple[FakeWeChat, str]) -> None:
    """/datacube/ and /customservice/ endpoints answer over the loopback server too."""
    fake, base = served
    with Client(APPID, SECRET, base_url=base) as client:
        client.kf.add("alice@fakeaccount", "Alice")
        yesterday = fake.clock.now().date() - timedelta(days=2)
        assert client.datacube.user_cumulate(yesterday, yesterday)[0].cumulate_user == 0
    assert list(fake.kf_accounts) == ["alice@fakeaccount"]
