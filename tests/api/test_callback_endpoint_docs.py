"""Runs the endpoint examples of docs/callbacks.md: FakeWeChat, FastAPI, Flask and Django."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_callback_adapters import serve_asgi, serve_wsgi
from wxsegment.api.callback import MessageCrypto

PAGE = Path(__file__).resolve().parents[2] / "docs" / "callbacks.md"
TOKEN = "docsToken99"
KEY = "d" * 21 + "O" * 21 + "5"
APPID = "wxdocsendpoint01"
PUSH = (
    "<xml><ToUserName>gh_doc</ToUserName><FromUserName>o_doc</FromUserName>"
    "<CreateTime>{stamp}</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>"
    "<EventKey>K</EventKey></xml>"
)


def block(marker: str) -> str:
    """The one python block of the page containing ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    (found,) = [b for b in blocks if marker in b]
    return found


def run(source: str, name: str) -> dict[str, Any]:
    """Execute a block as a module; return its namespace."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(source, str(PAGE), "exec"), namespace)
    return namespace


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the framework examples read."""
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APPID", APPID)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", KEY)


def sign(*parts: str) -> str:
    """WeChat's signature."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def exercise(send: Callable[[str, dict[str, str], bytes], tuple[int, bytes]]) -> None:
    """A handshake, a safe-mode push and a forgery, through ``send``."""
    stamp = str(int(datetime.now(timezone.utc).timestamp()))
    base = {"signature": sign(TOKEN, stamp, "n"), "timestamp": stamp, "nonce": "n"}
    assert send("GET", base | {"echostr": "hello"}, b"") == (200, b"hello")
    box = MessageCrypto(TOKEN, KEY, APPID)
    encrypt = box.encrypt_payload(PUSH.format(stamp=stamp))
    query = base | {"encrypt_type": "aes", "msg_signature": sign(TOKEN, stamp, "n", encrypt)}
    body = f"<xml><ToUserName>gh_doc</ToUserName><Encrypt>{encrypt}</Encrypt></xml>".encode()
    assert send("POST", query, body) == (200, b"success")
    status, _ = send("POST", query | {"msg_signature": "0" * 40}, body)
    assert status == 403


def over_http(url: str) -> Callable[[str, dict[str, str], bytes], tuple[int, bytes]]:
    """A sender over real HTTP to ``url``."""

    def send(method: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        answer = httpx.request(method, url, params=query, content=body, timeout=10)
        return answer.status_code, answer.content

    return send


def test_fake_wechat_example_runs() -> None:
    """The built-in handlers example runs as written (its asserts included)."""
    namespace = run(block("EventHandlers("), "events_example")
    assert namespace["pushed"].reply_error is None


def test_fastapi_example_under_uvicorn(env: None) -> None:
    """The FastAPI route answers a handshake, a safe-mode push and a forgery over HTTP."""
    pytest.importorskip("fastapi")
    namespace = run(block("FastAPI()"), "fastapi_example")
    for url in serve_asgi(namespace["app"]):
        exercise(over_http(url + "/wechat"))
    namespace["endpoint"].close()


def test_flask_example_under_wsgiref(env: None) -> None:
    """The Flask route does the same under wsgiref."""
    pytest.importorskip("flask")
    namespace = run(block("Flask(__name__)"), "flask_example")
    for url in serve_wsgi(namespace["flask_app"]):
        exercise(over_http(url + "/wechat"))
    namespace["endpoint"].close()


@pytest.fixture
def django_settings() -> None:
    """A minimal Django configuration, once per process."""
    pytest.importorskip("django")
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=[])
        django.setup()


def test_django_view(env: None, django_settings: None) -> None:
    """The Django view does the same through Django's request factory."""
    from django.test import RequestFactory

    namespace = run(block("csrf_exempt"), "django_example")
    view = namespace["wechat"]
    factory = RequestFactory()

    def send(method: str, query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        path = f"/wechat?{httpx.QueryParams(query)}"
        if method == "GET":
            request = factory.get(path)
        else:
            request = factory.post(path, data=body, content_type="text/xml")
        response = view(request)
        return response.status_code, response.content

    exercise(send)
    namespace["endpoint"].close()
