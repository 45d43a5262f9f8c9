"""FakeWeChat's pushes: signed callback deliveries with WeChat's retries and reply checks.

A push is built as WeChat builds it (every field, ``CreateTime`` from the fake's clock, the
``Ticket`` of QR events), signed with the configured token, sealed in compatible or safe
mode, and delivered to an ASGI app, a WSGI app or a URL. No valid answer within
``FakeConfig.callback_timeout`` (or, optionally, an HTTP error) makes the fake deliver the same
request again, ``callback_tries`` times in all; ``callback_redeliver`` adds duplicates after a
good answer. A passive reply is checked as WeChat checks it.

Job-finish pushes (``MASSSENDJOBFINISH``, ``TEMPLATESENDJOBFINISH``) are queued when the job
is accepted and delivered later, as WeChat does: just before the fake answers its next API
request, or at `FakeWeChat.push_pending`. Follower actions push at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import inspect
import io
import random
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote, urlencode

import attrs
import httpx

from wxsegment.testing._fake_types import MassJob

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["FollowerActor", "PushAttempt", "PushMode", "PushResult"]

#: How pushes are sealed: 明文 (plain), 兼容 (compatible), 安全 (safe).
PushMode = Literal["plain", "compatible", "safe"]
_MODES: Final = ("plain", "compatible", "safe")
_REPLY_TYPES: Final = frozenset(
    {"text", "image", "voice", "video", "music", "news", "transfer_customer_service"}
)


# Pushes that WeChat wants answered with 'success' only: no message may go back to them.
_SUCCESS_ONLY: Final = frozenset({"location", "masssendjobfinish", "templatesendjobfinish"})


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: str | int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<{name}>{value}</{name}>"
    return f"<{name}>{_cdata(str(value))}</{name}>"


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


@attrs.frozen
class PushAttempt:
    """One delivery: the HTTP status and body, or ``status=None`` when no answer came."""

    status: int | None
    body: bytes
    error: str | None = None


@attrs.frozen
class PushResult:
    """A push and what became of it: every delivery, the reply WeChat read, any reply error.

    ``reply`` holds the passive reply's fields (decrypted), ``None`` for ``success`` / empty.
    ``reply_error`` says why WeChat would reject the answer (the follower would see "该公众号
    暂时无法提供服务"), ``None`` when it was fine.
    """

    xml: str
    kind: str
    attempts: tuple[PushAttempt, ...]
    reply: Mapping[str, str] | None
    reply_error: str | None

    @property
    def answered(self) -> bool:
        """True when some delivery got a valid answer."""
        return any(a.status == 200 for a in self.attempts) and self.reply_error is None


class _NoAnswer(Exception):
    """The target did not answer in time, or the connection failed."""


def _asgi_call(app: Any, method: str, path: str, query: str, body: bytes) -> tuple[int, bytes]:
    async def run() -> tuple[int, bytes]:
        sent = False
        status = 500
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": [(b"content-type", b"text/xml"), (b"host", b"callback.test")],
            "client": ("127.0.0.1", 0),
            "server": ("callback.test", 80),
        }
        await app(scope, receive, send)
        return status, b"".join(chunks)

    return asyncio.run(run())


def _wsgi_call(app: Any, method: str, path: str, query: str, body: bytes) -> tuple[int, bytes]:
    captured: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "callback.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
        captured.append(status)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return int(captured[0].split()[0]), data


class _Target:
    """Where pushes go: an in-process ASGI or WSGI app, or a URL."""

    def __init__(self, target: Any, timeout: float) -> None:
        self._timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="fake-wechat-push"
        )
        self._url: str | None = None
        self._call: Callable[[str, str, str, bytes], tuple[int, bytes]] | None = None
        if isinstance(target, str):
            if not target.startswith(("http://", "https://")):
                raise ValueError("a callback URL must start with http:// or https://")
            self._url = target
        elif callable(target):
            call = getattr(target, "__call__", target)  # noqa: B004
            is_asgi = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)
            runner = _asgi_call if is_asgi else _wsgi_call
            self._call = lambda m, p, q, b: runner(target, m, p, q, b)
        else:
            raise TypeError("target must be an ASGI app, a WSGI app or an http(s) URL")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def send(self, method: str, query: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        encoded = urlencode(query, quote_via=quote)
        if self._url is not None:
            try:
                with httpx.Client(timeout=self._timeout) as http:
                    answer = http.request(method, self._url, params=encoded, content=body)
            except httpx.HTTPError as error:
                raise _NoAnswer(type(error).__name__) from None
            return answer.status_code, answer.content
        assert self._call is not None
        future = self._pool.submit(self._call, method, "/", encoded, body)
        try:
            return future.result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            raise _NoAnswer("no answer in time") from None
        except Exception as error:  # the app crashed: WeChat sees a dropped connection
            raise _NoAnswer(type(error).__name__) from None


class EventPusher:
    """The push side of a `FakeWeChat` (``fake._events``)."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._target: _Target | None = None
        self._token = ""
        self._crypto: Any = None
        self._mode: PushMode = "plain"
        self._pending: list[str] = []
        self._results: list[PushResult] = []
        self._lock = threading.Lock()
        self._nonce = 0
        # Its own generator, so that pushes leave the fake's tokens and tickets unchanged.
        self._rng = random.Random(fake.config.seed + 1)

    def next_msg_id(self) -> int:
        """A fresh 64-bit ``MsgId`` for a message a follower sends."""
        with self._lock:
            return self._rng.getrandbits(63)

    @property
    def configured(self) -> bool:
        return self._target is not None

    @property
    def results(self) -> tuple[PushResult, ...]:
        with self._lock:
            return tuple(self._results)

    def set_callback(
        self, target: Any, *, token: str, encoding_aes_key: str | None, mode: PushMode
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if not isinstance(token, str) or not 3 <= len(token) <= 32 or not token.isalnum():
            raise ValueError("token must be 3 to 32 letters and digits, as WeChat requires")
        crypto = None
        if mode != "plain":
            if encoding_aes_key is None:
                raise ValueError(f"{mode} mode needs an encoding_aes_key")
            from wxsegment.api.callback import MessageCrypto

            crypto = MessageCrypto(token, encoding_aes_key, self._fake.appid)
        fresh = _Target(target, self._fake.config.callback_timeout)
        stamp, nonce = self._stamp()
        echostr = f"{self._rng.getrandbits(63)}"
        query = {"signature": _sign(token, stamp, nonce), "timestamp": stamp, "nonce": nonce}
        try:
            status, body = fresh.send("GET", query | {"echostr": echostr}, b"")
        except _NoAnswer as error:
            fresh.close()
            raise ValueError(f"callback URL did not answer the handshake: {error}") from None
        if status != 200 or body.decode("utf-8", "replace") != echostr:
            fresh.close()
            raise ValueError(f"callback URL failed the echostr handshake (HTTP {status})")
        with self._lock:
            if self._target is not None:
                self._target.close()
            self._target, self._token, self._crypto, self._mode = fresh, token, crypto, mode

    def _stamp(self) -> tuple[str, str]:
        with self._lock:
            self._nonce += 1
        stamp = str(int(self._fake.clock.now().timestamp()))
        return stamp, f"{self._rng.getrandbits(30)}{self._nonce}"

    # ------------------------------------------------------------------ building pushes

    def event_xml(self, openid: str, msg_type: str, fields: Iterable[tuple[str, Any]]) -> str:
        now = int(self._fake.clock.now().timestamp())
        head = (
            _element("ToUserName", self._fake.config.original_id)
            + _element("FromUserName", openid)
            + _element("CreateTime", now)
            + _element("MsgType", msg_type)
        )
        return "<xml>" + head + "".join(_element(k, v) for k, v in fields) + "</xml>"

    def queue(self, xml: str) -> None:
        with self._lock:
            if self._target is not None:
                self._pending.append(xml)

    def job_finished(self, job: MassJob) -> None:
        """Queue ``MASSSENDJOBFINISH`` for an accepted mass job (called under the fake's lock)."""
        if job.endpoint == "preview" or not self.configured:
            return
        if job.msgtype == "mpnews":
            url = f"http://mp.weixin.qq.com/s?__biz=fake&mid={job.msg_id}&idx=1"
            articles = (
                "<Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"
                f"<ArticleUrl>{_cdata(url)}</ArticleUrl></item></ResultList>"
            )
        else:
            articles = "<Count>0</Count><ResultList></ResultList>"
        copyright_block = "<Count>0</Count><ResultList></ResultList><CheckState>1</CheckState>"
        xml = self.event_xml(
            self._fake.config.mass_assistant_openid,
            "event",
            [
                ("Event", "MASSSENDJOBFINISH"),
                ("MsgID", job.msg_id),
                ("Status", "send success" if job.status != "SEND_FAIL" else "send fail"),
                ("TotalCount", job.total_count),
                ("FilterCount", job.filter_count),
                ("SentCount", job.sent_count),
                ("ErrorCount", job.error_count),
            ],
        )
        xml = xml.replace(
            "</xml>",
            f"<CopyrightCheckResult>{copyright_block}</CopyrightCheckResult>"
            f"<ArticleUrlResult>{articles}</ArticleUrlResult></xml>",
        )
        self.queue(xml)

    def template_sent(self, openid: str, msgid: int) -> None:
        """Queue ``TEMPLATESENDJOBFINISH`` for a delivered template message."""
        if self.configured:
            fields = [("Event", "TEMPLATESENDJOBFINISH"), ("MsgID", msgid), ("Status", "success")]
            self.queue(self.event_xml(openid, "event", fields))

    def take(self) -> list[str]:
        """Remove and return the queued pushes, oldest first."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def deliver(self, pending: list[str]) -> list[PushResult]:
        """Deliver pushes taken from the queue (never under the fake's lock)."""
        return [self.push(xml) for xml in pending]

    def flush(self) -> list[PushResult]:
        """Deliver every queued push now."""
        return self.deliver(self.take())

    # ------------------------------------------------------------------ delivering

    def _request(self, xml: str) -> tuple[dict[str, str], bytes]:
        stamp, nonce = self._stamp()
        query = {"signature": _sign(self._token, stamp, nonce), "timestamp": stamp, "nonce": nonce}
        if self._mode == "plain":
            return query, xml.encode("utf-8")
        encrypt = self._crypto.encrypt_payload(xml)
        query |= {"encrypt_type": "aes", "msg_signature": _sign(self._token, stamp, nonce, encrypt)}
        if self._mode == "safe":
            body = (
                "<xml>"
                + _element("ToUserName", self._fake.config.original_id)
                + _element("Encrypt", encrypt)
                + "</xml>"
            )
        else:
            body = xml[: -len("</xml>")] + _element("Encrypt", encrypt) + "</xml>"
        return query, body.encode("utf-8")

    def push(self, xml: str) -> PushResult:
        """Deliver one push with WeChat's retries; check the reply; keep the result."""
        target = self._target
        if target is None:
            raise ValueError("no callback is set: call FakeWeChat.set_callback first")
        config = self._fake.config
        query, body = self._request(xml)
        attempts: list[PushAttempt] = []
        good: PushAttempt | None = None
        for _ in range(config.callback_tries):
            attempt = self._deliver(target, query, body)
            attempts.append(attempt)
            if attempt.status == 200 or (
                attempt.status is not None and not config.callback_retry_on_error
            ):
                good = attempt
                break
        if good is not None:
            for _ in range(config.callback_redeliver):
                attempts.append(self._deliver(target, query, body))
        reply, error = (None, "no valid answer") if good is None else self._check(xml, good)
        root = ET.fromstring(xml)
        kind = root.findtext("Event") or root.findtext("MsgType") or ""
        result = PushResult(xml, kind, tuple(attempts), reply, error)
        with self._lock:
            self._results.append(result)
        return result

    @staticmethod
    def _deliver(target: _Target, query: Mapping[str, str], body: bytes) -> PushAttempt:
        try:
            status, answer = target.send("POST", query, body)
        except _NoAnswer as error:
            return PushAttempt(None, b"", str(error))
        return PushAttempt(status, answer)

    def _check(self, xml: str, attempt: PushAttempt) -> tuple[Mapping[str, str] | None, str | None]:
        if attempt.status != 200:
            return None, f"HTTP {attempt.status}"
        text = attempt.body.decode("utf-8", "replace").strip()
        if text in ("", "success"):
            return None, None
        event = (ET.fromstring(xml).findtext("Event") or "").lower()
        if event in _SUCCESS_ONLY:
            return None, f"WeChat expects 'success' to a {event} push, not a reply"
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return None, "reply is not XML"
        sealed = root.find("Encrypt") is not None
        if self._mode == "safe" and not sealed:
            return None, "safe mode needs an encrypted reply"
        if self._mode == "plain" and sealed:
            return None, "plain mode got an encrypted reply"
        if sealed:
            try:
                text = self._crypto.decrypt(
                    text,
                    msg_signature=root.findtext("MsgSignature") or "",
                    timestamp=root.findtext("TimeStamp") or "",
                    nonce=root.findtext("Nonce") or "",
                )
                root = ET.fromstring(text)
            except (ValueError, ET.ParseError) as error:
                return None, f"encrypted reply refused: {type(error).__name__}"
        fields = {child.tag: (child.text or "") for child in root}
        push = ET.fromstring(xml)
        if fields.get("ToUserName") != push.findtext("FromUserName"):
            return fields, "reply ToUserName is not the sender of the push"
        if fields.get("FromUserName") != push.findtext("ToUserName"):
            return fields, "reply FromUserName is not the account"
        if not fields.get("CreateTime", "").isdigit():
            return fields, "reply CreateTime is not an integer"
        kind = fields.get("MsgType", "")
        if kind not in _REPLY_TYPES:
            return fields, f"reply MsgType {kind!r} is not one WeChat accepts"
        if kind == "text" and not fields.get("Content"):
            return fields, "text reply without Content"
        return fields, None


class FollowerActor:
    """A simulated WeChat user: each action changes the fake's state, then pushes the event.

    Get one with `FakeWeChat.follower`. Every action returns the `PushResult` (or None when
    no callback is set).
    """

    def __init__(self, fake: FakeWeChat, openid: str) -> None:
        if not isinstance(openid, str) or not openid:
            raise ValueError("openid must be a non-empty string")
        self._fake = fake
        self.openid: Final = openid

    def __repr__(self) -> str:
        return f"FollowerActor({self.openid!r})"

    def _push(self, msg_type: str, fields: Iterable[tuple[str, Any]]) -> PushResult | None:
        events = self._fake._events
        if not events.configured:
            return None
        return events.push(events.event_xml(self.openid, msg_type, fields))

    def _ticket(self, scene: str | int) -> str:
        value = str(scene)
        now = self._fake.clock.now()
        for code in reversed(list(self._fake.qrcodes.values())):
            if code.expires_at is not None and now >= code.expires_at:
                continue
            if value in (code.ticket, code.scene_str, str(code.scene_id)):
                return code.ticket
        raise ValueError(f"no live QR code carries scene {value!r}: create one first")

    def subscribe(self, scene: str | int | None = None) -> PushResult | None:
        """Follow the account, through the QR code of ``scene`` (its value or ticket) if given.

        Someone already following who scans a code gets ``SCAN`` pushed instead, as in WeChat.
        """
        if scene is not None:
            return self.scan(scene)
        fake = self._fake
        with fake._lock:
            current = fake._user_store.records.get(self.openid)
            if current is not None and current.subscribed:
                raise ValueError(f"{self.openid!r} already follows the account")
            if current is None:
                fake.add_follower(self.openid, subscribe_scene="ADD_SCENE_SEARCH")
            else:
                current.subscribed = True
                current.subscribe_time = fake.clock.now()
                current.subscribe_scene = "ADD_SCENE_SEARCH"
                current.qr_scene, current.qr_scene_str = 0, ""
            fake.open_window(self.openid, "follow")
        return self._push("event", [("Event", "subscribe"), ("EventKey", "")])

    def scan(self, scene: str | int) -> PushResult | None:
        """Scan the QR code of ``scene``: ``SCAN`` if following, else a follow through it."""
        ticket = self._ticket(scene)
        kind, key = self._fake.scan(self.openid, ticket)
        return self._push("event", [("Event", kind), ("EventKey", key), ("Ticket", ticket)])

    def click(self, key: str) -> PushResult | None:
        """Click a ``click`` menu button (opens the short menu window)."""
        self._fake.open_window(self.openid, "menu")
        return self._push("event", [("Event", "CLICK"), ("EventKey", key)])

    def view(self, url: str, *, menu_id: int | None = None) -> PushResult | None:
        """Click a ``view`` menu button (opens no window)."""
        self._fake._user_store.known(self.openid)
        return self._push("event", [("Event", "VIEW"), ("EventKey", url), ("MenuId", menu_id)])

    def send_text(self, text: str) -> PushResult | None:
        """Send a text message (opens the 48-hour window)."""
        self._fake.open_window(self.openid, "message")
        msg_id = self._fake._events.next_msg_id()
        return self._push("text", [("Content", text), ("MsgId", msg_id)])

    def location(
        self, latitude: float, longitude: float, *, precision: float = 30.0
    ) -> PushResult | None:
        """Report a location (the ``LOCATION`` event on entering the chat; opens no window)."""
        self._fake._user_store.known(self.openid)
        fields = [("Latitude", latitude), ("Longitude", longitude), ("Precision", precision)]
        return self._push("event", [("Event", "LOCATION"), *fields])

    def unsubscribe(self) -> PushResult | None:
        """Unfollow: tags and windows go, ``user/info`` answers ``subscribe: 0``."""
        self._fake.unsubscribe(self.openid)
        return self._push("event", [("Event", "unsubscribe"), ("EventKey", "")])
