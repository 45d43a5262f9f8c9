"""CallbackHandler: signatures, freshness, replays, the three modes, dispatch and replies."""

from __future__ import annotations

import hashlib
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from wxsegment import FixedClock
from wxsegment.api.callback import (
    CallbackHandler,
    ClickEvent,
    Deduplicator,
    Event,
    Message,
    MessageCrypto,
    SubscribeEvent,
    TextMessage,
    TextReply,
)

TOKEN = "handler-token"
KEY = "A" * 20 + "b" * 22 + "9"
OLD_KEY = "Z" * 43
APPID = "wxhandlerappid01"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
STAMP = str(int(NOW.timestamp()))


def sign(*parts: str) -> str:
    """WeChat's SHA-1 signature, computed independently of the library."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(msg_id: int, content: str = "你好", to: str = "gh_handler") -> str:
    """A plaintext text-message push."""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
        "<FromUserName><![CDATA[o_user]]></FromUserName>"
        f"<CreateTime>{STAMP}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def request(
    xml: str, *, mode: str = "plain", nonce: str = "n1", stamp: str = STAMP, key: str = KEY
) -> tuple[dict[str, str], bytes]:
    """The query and body WeChat sends for ``xml`` in ``mode``."""
    query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    if mode == "plain":
        return query, xml.encode()
    box = MessageCrypto(TOKEN, key, APPID)
    encrypt = box.encrypt_payload(xml)
    query |= {"encrypt_type": "aes", "msg_signature": sign(TOKEN, stamp, nonce, encrypt)}
    if mode == "safe":
        body = f"<xml><ToUserName>gh_handler</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
    else:
        body = xml.replace("</xml>", f"<Encrypt>{encrypt}</Encrypt></xml>")
    return query, body.encode()


@pytest.fixture
def clock() -> FixedClock:
    """A clock at NOW."""
    return FixedClock(NOW)


@pytest.fixture
def handler(clock: FixedClock) -> Iterator[CallbackHandler]:
    """An endpoint that knows both keys, with a recording text handler."""
    with CallbackHandler(
        token=TOKEN,
        appid=APPID,
        encoding_aes_key=KEY,
        previous_encoding_aes_key=OLD_KEY,
        clock=clock,
    ) as endpoint:
        yield endpoint


def test_handshake_echoes_and_refuses_forgeries(handler: CallbackHandler) -> None:
    """GET echoes echostr when signed; a forged or stale handshake is 403."""
    query = {"signature": sign(TOKEN, STAMP, "n"), "timestamp": STAMP, "nonce": "n"}
    answer = handler.handle("GET", query | {"echostr": "e123"}, b"")
    assert (answer.status, answer.text) == (200, "e123")
    assert handler.handle("GET", query | {"echostr": "e", "nonce": "x"}, b"").status == 403
    old = str(int(NOW.timestamp()) - 301)
    stale = {"signature": sign(TOKEN, old, "n"), "timestamp": old, "nonce": "n", "echostr": "e"}
    assert handler.handle("GET", stale, b"").status == 403
    assert handler.handle("GET", query, b"").status == 400


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_each_mode_dispatches_once_and_replies(handler: CallbackHandler, mode: str) -> None:
    """Every mode reaches the handler; the reply is sealed when the push was; a retry is skipped."""
    seen: list[Message | Event] = []

    @handler.on("text")
    def echo(push: Message | Event) -> TextReply:
        seen.append(push)
        assert isinstance(push, TextMessage)
        return TextReply.to(push, "收到 " + push.content, now=NOW)

    query, body = request(text_xml(1), mode=mode)
    answer = handler.handle("POST", query, body)
    assert answer.status == 200
    root = ET.fromstring(answer.text)
    if mode == "plain":
        assert root.findtext("Content") == "收到 你好"
    else:
        box = MessageCrypto(TOKEN, KEY, APPID)
        plain = box.decrypt(
            answer.body,
            msg_signature=root.findtext("MsgSignature") or "",
            timestamp=root.findtext("TimeStamp") or "",
            nonce=root.findtext("Nonce") or "",
        )
        assert ET.fromstring(plain).findtext("ToUserName") == "o_user"
    again = handler.handle("POST", query, body)
    assert (again.status, again.text) == (200, "success")
    assert len(seen) == 1


def test_previous_key_still_opens_and_answers(handler: CallbackHandler) -> None:
    """A push sealed with the previous key is read and answered with that key."""
    handler.add("text", lambda push: TextReply.to(push, "ok", now=NOW))
    query, body = request(text_xml(2), mode="safe", key=OLD_KEY)
    answer = handler.handle("POST", query, body)
    root = ET.fromstring(answer.text)
    old = MessageCrypto(TOKEN, OLD_KEY, APPID)
    assert "ok" in old.decrypt(
        answer.body,
        msg_signature=root.findtext("MsgSignature") or "",
        timestamp=root.findtext("TimeStamp") or "",
        nonce=root.findtext("Nonce") or "",
    )


def test_refusals_have_the_right_status_and_apply_nothing(handler: CallbackHandler) -> None:
    """Forged, stale, replayed, wrong-appid, oversized, XXE and malformed pushes never dispatch."""
    seen: list[object] = []
    handler.add("*", seen.append)
    query, body = request(text_xml(3))
    assert handler.handle("POST", query | {"signature": "0" * 40}, body).status == 403
    old = str(int(NOW.timestamp()) - 3600)
    assert handler.handle("POST", *request(text_xml(3), stamp=old)).status == 403
    other = MessageCrypto(TOKEN, KEY, "wxotherappid0000").encrypt_payload(text_xml(3))
    forged_query = query | {"encrypt_type": "aes", "msg_signature": sign(TOKEN, STAMP, "n1", other)}
    forged = f"<xml><Encrypt>{other}</Encrypt></xml>".encode()
    assert handler.handle("POST", forged_query, forged).status == 403
    assert handler.handle("POST", query, b"x" * (handler.max_size + 1)).status == 413
    xxe = b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>'
    assert handler.handle("POST", query, xxe).status == 400
    deep = b"<xml>" + b"<a>" * 40 + b"</a>" * 40 + b"</xml>"
    assert handler.handle("POST", query, deep).status == 400
    no_time = text_xml(4).replace(f"<CreateTime>{STAMP}</CreateTime>", "<CreateTime>x</CreateTime>")
    assert handler.handle("POST", query, no_time.encode()).status == 400
    assert handler.handle("PUT", query, body).status == 405
    assert seen == []


def test_a_reused_signature_cannot_carry_another_push(handler: CallbackHandler) -> None:
    """Plain mode signs only the query: reusing it for a new body is refused as a replay."""
    seen: list[object] = []
    handler.add("*", seen.append)
    query, body = request(text_xml(5))
    assert handler.handle("POST", query, body).status == 200
    assert handler.handle("POST", query, text_xml(6).encode()).status == 403
    assert len(seen) == 1


def test_wrong_account_is_refused(clock: FixedClock) -> None:
    """With original_id set, a push addressed elsewhere is 403."""
    endpoint = CallbackHandler(token=TOKEN, appid=APPID, original_id="gh_mine", clock=clock)
    assert endpoint.handle("POST", *request(text_xml(7))).status == 403
    assert endpoint.handle("POST", *request(text_xml(7, to="gh_mine"))).status == 200
    endpoint.close()


def test_required_encryption_refuses_plain(clock: FixedClock) -> None:
    """require_encryption refuses a plain push even with a valid signature."""
    with CallbackHandler(
        token=TOKEN, appid=APPID, encoding_aes_key=KEY, require_encryption=True, clock=clock
    ) as endpoint:
        assert endpoint.handle("POST", *request(text_xml(8))).status == 403
        assert endpoint.handle("POST", *request(text_xml(8), mode="safe")).status == 200


def test_failed_handler_answers_500_and_the_retry_runs_again(handler: CallbackHandler) -> None:
    """A failing chain releases the claim: WeChat's retry is processed, exactly once more."""
    calls: list[int] = []

    def flaky(push: Message | Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store down")

    handler.add("text", flaky)
    query, body = request(text_xml(9))
    assert handler.handle("POST", query, body).status == 500
    assert handler.handle("POST", query, body).status == 200
    assert handler.handle("POST", query, body).text == "success"
    assert len(calls) == 2


def test_slow_handler_never_blocks_the_answer(clock: FixedClock) -> None:
    """A handler still running at reply_timeout gets 'success' sent; it finishes afterwards."""
    release = threading.Event()
    done: list[str] = []

    def slow(push: Message | Event) -> TextReply:
        release.wait(10)
        done.append(push.from_user_name)
        return TextReply.to(push, "too late", now=NOW)

    endpoint = CallbackHandler(token=TOKEN, appid=APPID, clock=clock, reply_timeout=0.05)
    endpoint.add("text", slow)
    query, body = request(text_xml(10))
    answer = endpoint.handle("POST", query, body)
    assert (answer.status, answer.text) == (200, "success")
    assert endpoint.handle("POST", query, body).text == "success"  # claim held meanwhile
    release.set()
    endpoint.close()
    assert done == ["o_user"]


def test_async_and_background_handlers(handler: CallbackHandler) -> None:
    """Coroutine handlers are awaited; background ones run after the reply is decided."""
    order: list[str] = []

    async def reply(push: Message | Event) -> TextReply:
        order.append("async")
        return TextReply.to(push, "hi", now=NOW)

    handler.add(ClickEvent, reply)
    handler.add("click", lambda push: order.append("background"), background=True)
    click = (
        "<xml><ToUserName>gh_handler</ToUserName><FromUserName>o_user</FromUserName>"
        f"<CreateTime>{STAMP}</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>"
        "<EventKey>K</EventKey></xml>"
    )
    answer = handler.handle("POST", *request(click))
    assert ET.fromstring(answer.text).findtext("Content") == "hi"
    handler.close()
    assert order == ["async", "background"]


def test_unknown_event_is_logged_and_answered(
    handler: CallbackHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """An event this library does not model is logged, answered 'success', and still dispatched."""
    seen: list[object] = []
    handler.add("*", seen.append)
    handler.add(SubscribeEvent, lambda push: pytest.fail("not a subscribe"))
    odd = (
        "<xml><ToUserName>gh_handler</ToUserName><FromUserName>o_user</FromUserName>"
        f"<CreateTime>{STAMP}</CreateTime><MsgType>event</MsgType><Event>brand_new</Event></xml>"
    )
    with caplog.at_level(logging.INFO, logger="wxsegment.api.callback"):
        answer = handler.handle("POST", *request(odd))
    assert (answer.status, answer.text) == (200, "success")
    assert "brand_new" in caplog.text
    assert len(seen) == 1


def test_secrets_stay_out_of_repr_and_logs(
    handler: CallbackHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the token nor the keys show in the repr or in refusal logs."""
    with caplog.at_level(logging.DEBUG, logger="wxsegment.api.callback"):
        query, body = request(text_xml(11), mode="safe")
        handler.handle("POST", query | {"msg_signature": "0" * 40}, body)
    for secret in (TOKEN, KEY, OLD_KEY):
        assert secret not in repr(handler)
        assert secret not in caplog.text


def test_bad_configuration_is_refused() -> None:
    """Misuse raises at construction, not on the first push."""
    with pytest.raises(ValueError, match="token"):
        CallbackHandler(token="", appid=APPID)
    with pytest.raises(ValueError, match="require_encryption"):
        CallbackHandler(token=TOKEN, appid=APPID, require_encryption=True)
    with pytest.raises(ValueError, match="max_age"):
        CallbackHandler(token=TOKEN, appid=APPID, max_age=timedelta(0))
    endpoint = CallbackHandler(token=TOKEN, appid=APPID, dedup=Deduplicator())
    with pytest.raises(TypeError):
        endpoint.add(42, print)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        endpoint.on(" ")
    endpoint.close()


def test_a_handler_returning_junk_fails_the_request(handler: CallbackHandler) -> None:
    """A handler must return a reply or None; anything else is a 500, not a garbled answer."""
    junk: Any = 42
    handler.add("text", lambda push: junk)
    assert handler.handle("POST", *request(text_xml(12))).status == 500


def test_background_failure_releases_the_claim_and_reports(clock: FixedClock) -> None:
    """A background handler that fails calls on_error and lets the next delivery run again."""
    errors: list[str] = []
    attempts: list[int] = []

    def fragile(push: Message | Event) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("queue down")

    with CallbackHandler(
        token=TOKEN,
        appid=APPID,
        clock=clock,
        on_error=lambda push, error: errors.append(type(error).__name__),
    ) as endpoint:
        endpoint.add("text", fragile, background=True)
        query, body = request(text_xml(13))
        assert endpoint.handle("POST", query, body).text == "success"
        endpoint.close()
        assert errors == ["OSError"]
        assert endpoint.handle("POST", query, body).text == "success"
    assert len(attempts) == 2


def test_an_injected_executor_runs_the_handlers(clock: FixedClock) -> None:
    """Handlers run on the executor given, not on threads of the endpoint's own."""
    import concurrent.futures

    names: list[str] = []
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="app-queue")
    endpoint = CallbackHandler(token=TOKEN, appid=APPID, clock=clock, executor=pool)
    endpoint.add("text", lambda push: names.append(threading.current_thread().name))
    assert endpoint.handle("POST", *request(text_xml(14))).status == 200
    pool.shutdown(wait=True)
    assert endpoint.handle("POST", *request(text_xml(15), nonce="n2")).status == 500
    endpoint.close()
    assert len(names) == 1
    assert names[0].startswith("app-queue")


def test_concurrent_deliveries_run_the_handlers_once(clock: FixedClock) -> None:
    """Deliveries of one push racing on eight threads: one runs the chain, the rest get success."""
    started = threading.Barrier(8)
    runs: list[int] = []
    endpoint = CallbackHandler(token=TOKEN, appid=APPID, clock=clock)
    endpoint.add("text", lambda push: runs.append(1))
    query, body = request(text_xml(16))
    answers: list[int] = []

    def deliver() -> None:
        started.wait(5)
        answers.append(endpoint.handle("POST", query, body).status)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    endpoint.close()
    assert answers == [200] * 8
    assert runs == [1]
