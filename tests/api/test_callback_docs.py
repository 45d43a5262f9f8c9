"""Runs the examples of docs/callbacks.md: the standard-library handler and the replies."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults

import pytest

from wxsegment.api.callback import MessageCrypto

PAGE = Path(__file__).resolve().parents[2] / "docs" / "callbacks.md"
TOKEN = "doc-token"
KEY = "Q" * 21 + "r" * 21 + "7"
APPID = "wxdocsappid"
PLAIN_TEXT = (
    "<xml><ToUserName>gh_doc</ToUserName><FromUserName>o_follower</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>{}</MsgId></xml>"
)


def blocks() -> list[str]:
    """The python code blocks of the page, in order."""
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The handler example, loaded as a module (its server is not started)."""
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", KEY)
    monkeypatch.setenv("WECHAT_APPID", APPID)
    (source,) = [block for block in blocks() if "make_server" in block]
    namespace: dict[str, Any] = {"__name__": "callback_example"}
    exec(compile(source, str(PAGE), "exec"), namespace)
    return namespace


def sign(*parts: str) -> str:
    """WeChat's signature, computed here."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def call(app: Any, method: str, query: dict[str, str], body: bytes = b"") -> tuple[str, str]:
    """Call the WSGI app directly; return the status and the body."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": "&".join(f"{k}={urllib.request.quote(v)}" for k, v in query.items()),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    seen: list[str] = []
    chunks = app(environ, lambda status, headers: seen.append(status))
    return seen[0], b"".join(chunks).decode()


def signed_query(**extra: str) -> dict[str, str]:
    """signature, timestamp and nonce for TOKEN, plus extra parameters."""
    return {
        "signature": sign(TOKEN, "1700000000", "n1"),
        "timestamp": "1700000000",
        "nonce": "n1",
    } | extra


def test_handshake(example: dict[str, Any]) -> None:
    """GET with a valid signature echoes echostr; a forged one is 403."""
    assert call(example["app"], "GET", signed_query(echostr="abc123")) == ("200 OK", "abc123")
    forged = signed_query(echostr="abc123") | {"nonce": "other"}
    assert call(example["app"], "GET", forged)[0].startswith("403")


def test_plain_push_is_answered_and_queued_once(example: dict[str, Any]) -> None:
    """A plain text push gets a text reply and is queued; its retry gets success only."""
    body = PLAIN_TEXT.format(1).encode()
    status, reply = call(example["app"], "POST", signed_query(), body)
    assert status == "200 OK"
    root = ET.fromstring(reply)
    assert root.findtext("ToUserName") == "o_follower"
    assert root.findtext("Content") == "收到：你好"
    assert call(example["app"], "POST", signed_query(), body) == ("200 OK", "success")
    assert example["WORK"].qsize() == 1


def test_encrypted_push_gets_encrypted_reply(example: dict[str, Any]) -> None:
    """A safe-mode push is decrypted, and the reply is sealed for WeChat."""
    box = MessageCrypto(TOKEN, KEY, APPID)
    sealed = box.encrypt(PLAIN_TEXT.format(2), timestamp="1700000000", nonce="n1")
    encrypt = ET.fromstring(sealed).findtext("Encrypt") or ""
    body = f"<xml><ToUserName>gh_doc</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    query = signed_query(encrypt_type="aes", msg_signature=sign(TOKEN, "1700000000", "n1", encrypt))
    status, reply = call(example["app"], "POST", query, body.encode())
    assert status == "200 OK"
    envelope = ET.fromstring(reply)
    plain = box.decrypt(
        reply,
        msg_signature=envelope.findtext("MsgSignature") or "",
        timestamp=envelope.findtext("TimeStamp") or "",
        nonce=envelope.findtext("Nonce") or "",
    )
    assert ET.fromstring(plain).findtext("Content") == "收到：你好"


def test_bad_requests_are_refused(example: dict[str, Any]) -> None:
    """A forged signature is 403; an XXE body or a tampered envelope is 400."""
    body = PLAIN_TEXT.format(3).encode()
    assert (
        call(example["app"], "POST", signed_query() | {"signature": "0" * 40}, body)[0]
        == "403 Forbidden"
    )
    xxe = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>'
    assert call(example["app"], "POST", signed_query(), xxe)[0] == "400 Bad Request"
    query = signed_query(encrypt_type="aes", msg_signature=sign(TOKEN, "1700000000", "n1", "AAAA"))
    tampered = b"<xml><Encrypt>AAAA</Encrypt></xml>"
    assert call(example["app"], "POST", query, tampered)[0] == "400 Bad Request"
    assert example["WORK"].qsize() == 0


def test_served_over_loopback(example: dict[str, Any]) -> None:
    """The app answers a real HTTP request through wsgiref's server."""

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean."""

    with make_server("127.0.0.1", 0, example["app"], handler_class=Quiet) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            query = "&".join(f"{k}={v}" for k, v in signed_query().items())
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.server_port}/?{query}",
                data=PLAIN_TEXT.format(4).encode(),
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                assert "收到：你好" in response.read().decode()
        finally:
            server.shutdown()
            thread.join()


def test_reply_example_runs() -> None:
    """The replies example runs and renders XML."""
    (source,) = [
        block for block in blocks() if "NewsReply(" in block and "make_server" not in block
    ]
    namespace: dict[str, Any] = {"__name__": "reply_example"}
    exec(compile(source, str(PAGE), "exec"), namespace)
    assert ET.fromstring(namespace["xml"]).findtext("ArticleCount") == "1"
    assert ET.fromstring(namespace["text"]).findtext("Content") == "a ]]> stays literal"


@pytest.mark.parametrize("length", ["abc", "-1", "²", str(2**40)])
def test_bad_content_length_is_refused_not_crashing(example: dict[str, Any], length: str) -> None:
    """A malformed, negative or huge Content-Length gets a 4xx answer, not an exception."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "QUERY_STRING": "&".join(f"{k}={v}" for k, v in signed_query().items()),
        "CONTENT_LENGTH": length,
        "wsgi.input": io.BytesIO(PLAIN_TEXT.format(5).encode()),
    }
    setup_testing_defaults(environ)
    seen: list[str] = []
    example["app"](environ, lambda status, headers: seen.append(status))
    assert seen[0][:1] == "4"
    assert example["WORK"].qsize() == 0
