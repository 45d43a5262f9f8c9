"""asgi_app under uvicorn and wsgi_app under wsgiref, on free loopback ports."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest

from tests.api.test_callback_handler import NOW, TOKEN, request, sign, text_xml
from wxsegment import FixedClock
from wxsegment.api.callback import CallbackHandler, TextReply, asgi_app, wsgi_app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app with wsgiref in a thread; yield its base URL."""
    with make_server("127.0.0.1", 0, app, handler_class=_Quiet) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(10)


def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yield its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


SERVERS: dict[str, tuple[Callable[[CallbackHandler], Any], Callable[[Any], Iterator[str]]]] = {
    "asgi": (asgi_app, serve_asgi),
    "wsgi": (wsgi_app, serve_wsgi),
}


@pytest.fixture(params=sorted(SERVERS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[CallbackHandler, str]]:
    """A CallbackHandler served by a real server of each kind."""
    adapt, serve = SERVERS[request.param]
    handler = CallbackHandler(
        token=TOKEN, appid="wxhandlerappid01", clock=FixedClock(datetime.now(timezone.utc))
    )
    handler.add("text", lambda push: TextReply.to(push, "pong", now=NOW))
    yield from ((handler, url) for url in serve(adapt(handler)))
    handler.close()


def test_served_endpoint_answers_handshake_push_and_refusals(
    served: tuple[CallbackHandler, str],
) -> None:
    """Over real HTTP: the handshake, a reply, a retry, a forgery and an oversized body."""
    handler, url = served
    stamp = str(int(handler.clock.now().timestamp()))
    with httpx.Client(base_url=url, timeout=10) as http:
        hello = {"signature": sign(TOKEN, stamp, "h"), "timestamp": stamp, "nonce": "h"}
        answer = http.get("/wechat", params=hello | {"echostr": "echo-1"})
        assert (answer.status_code, answer.text) == (200, "echo-1")
        query, body = request(text_xml(1), stamp=stamp)
        first = http.post("/wechat", params=query, content=body)
        assert first.status_code == 200
        assert ET.fromstring(first.text).findtext("Content") == "pong"
        assert http.post("/wechat", params=query, content=body).text == "success"
        forged = http.post("/wechat", params=query | {"signature": "0" * 40}, content=body)
        assert forged.status_code == 403
        huge = http.post("/wechat", params=query, content=b"<" * (handler.max_size + 10))
        assert huge.status_code == 413
