"""`CallbackHandler`: the whole callback URL behind one framework-free call.

``handle(method, query, body)`` answers WeChat's ``GET`` handshake and every ``POST``::

    size -> signature -> freshness -> decrypt (compatible / safe) -> parse -> account
         -> claim (dedup) -> replay check -> handlers -> reply (sealed in safe mode)

Invariant C1: a push takes effect at most once per dedup window. Its claim is taken before any
handler runs and is released only when a handler fails, so that WeChat's next delivery runs
the chain again (handlers must therefore be idempotent, as the built-in ones are).
Invariant C2: the answer leaves within ``reply_timeout``; handlers still running then keep
running and settle the claim when they finish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import inspect
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Final, Protocol, TypeAlias, TypeVar, overload

import attrs

from wxsegment._clock import Clock, SystemClock
from wxsegment.api.callback._crypto import MessageCrypto
from wxsegment.api.callback._dedup import Deduplicator, DedupStore, MemoryDedupStore
from wxsegment.api.callback._errors import (
    AppIdMismatch,
    CallbackError,
    CallbackParseError,
    PayloadTooLarge,
    ReplayedRequest,
    SignatureError,
    StaleRequest,
    WrongAccount,
)
from wxsegment.api.callback._messages import (
    Event,
    Message,
    UnknownEvent,
    UnknownMessage,
    parse,
)
from wxsegment.api.callback._reply import SUCCESS
from wxsegment.api.callback._signature import echostr_response, verify_signature
from wxsegment.api.callback._xml import DEFAULT_MAX_SIZE, check_size

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_REPLY_TIMEOUT",
    "CallbackHandler",
    "CallbackResponse",
    "Executor",
    "PushHandler",
    "Renderable",
]

_log = logging.getLogger("wxsegment.api.callback")

#: How far a signed timestamp may be from now before the request is refused as stale.
DEFAULT_MAX_AGE: Final = timedelta(seconds=300)

#: WeChat waits 5 s; answering within 4 s leaves a second for the network.
DEFAULT_REPLY_TIMEOUT: Final = 4.0

_T = TypeVar("_T")


class Renderable(Protocol):
    """A passive reply: anything with ``render() -> str`` (`TextReply`, `NewsReply`, ...)."""

    def render(self) -> str:
        """The reply's XML."""
        ...


_Result: TypeAlias = "Renderable | str | None"
#: A handler: takes the parsed push, returns a reply (or None), directly or as an awaitable.
PushHandler: TypeAlias = Callable[
    [Message | Event], "Renderable | str | Awaitable[Renderable | str | None] | None"
]


class Executor(Protocol):
    """Where handlers run: ``concurrent.futures.Executor`` or anything with its ``submit``."""

    def submit(
        self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[_T]:
        """Schedule ``fn(*args)`` and return its future."""
        ...


@attrs.frozen
class CallbackResponse:
    """What to answer: an HTTP status, headers and the body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def reason(self) -> str:
        """The status line's phrase (``OK``, ``Forbidden``...)."""
        return HTTPStatus(self.status).phrase

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header's value, for frameworks that take it separately."""
        return next((v for k, v in self.headers if k.lower() == "content-type"), "text/plain")


def _response(status: int, body: str = "", content_type: str = "text/plain") -> CallbackResponse:
    data = body.encode("utf-8")
    headers = (
        ("Content-Type", f"{content_type}; charset=utf-8"),
        ("Content-Length", str(len(data))),
    )
    return CallbackResponse(status, headers, data)


def _status_of(error: CallbackError) -> int:
    if isinstance(error, (SignatureError, AppIdMismatch, WrongAccount)):
        return 403
    if isinstance(error, PayloadTooLarge):
        return 413
    return 400


@attrs.frozen
class _Registration:
    kind: str | type[Message | Event]
    handler: PushHandler
    background: bool

    def matches(self, push: Message | Event) -> bool:
        if not isinstance(self.kind, str):
            return isinstance(push, self.kind)
        if self.kind == "*":
            return True
        name = push.event if isinstance(push, Event) else push.msg_type
        return name.strip().lower() == self.kind


def _kind(kind: object) -> str | type[Message | Event]:
    if isinstance(kind, str):
        name = kind.strip().lower()
        if not name:
            raise ValueError("kind must name an event or a message type, or be '*'")
        return name
    if isinstance(kind, type) and issubclass(kind, (Message, Event)):
        return kind
    raise TypeError(f"kind must be a str or a Message/Event class, not {kind!r}")


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"{name} must be a positive number of seconds or timedelta")
    return float(seconds)


class _LoopThread:
    """One event loop in a daemon thread, for async handlers called from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, awaitable: Awaitable[_T]) -> _T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="wxsegment-callback-loop", daemon=True
                )
                self._thread.start()
            loop = self._loop

        async def wrapped() -> _T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


class CallbackHandler:
    """The callback endpoint of one account: verify, decrypt, dedup, dispatch, reply.

    Register handlers with ``@handler.on("subscribe")`` (an event name, a message type, a
    push class, or ``"*"``) or `add`; ``background=True`` ones run after the answer. The
    token and keys never appear in the repr, in logs or in error messages.
    """

    def __init__(
        self,
        *,
        token: str,
        appid: str,
        encoding_aes_key: str | None = None,
        previous_encoding_aes_key: str | None = None,
        original_id: str | None = None,
        dedup: Deduplicator | None = None,
        replay_store: DedupStore | None = None,
        max_age: float | timedelta | None = DEFAULT_MAX_AGE,
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        require_encryption: bool = False,
        max_size: int = DEFAULT_MAX_SIZE,
        executor: Executor | None = None,
        clock: Clock | None = None,
        on_error: Callable[[Message | Event, BaseException], None] | None = None,
    ) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty str")
        if not isinstance(appid, str) or not appid:
            raise ValueError("appid must be a non-empty str")
        if require_encryption and encoding_aes_key is None:
            raise ValueError("require_encryption needs an encoding_aes_key")
        self._token = token
        self._appid = appid
        self._crypto = (
            None
            if encoding_aes_key is None
            else MessageCrypto(
                token,
                encoding_aes_key,
                appid,
                previous_encoding_aes_key=previous_encoding_aes_key,
                max_size=max_size,
            )
        )
        self._original_id = original_id
        self._dedup = dedup if dedup is not None else Deduplicator()
        self._replays: DedupStore = replay_store if replay_store is not None else MemoryDedupStore()
        self._max_age = None if max_age is None else _seconds(max_age, "max_age")
        self._reply_timeout = _seconds(reply_timeout, "reply_timeout")
        self._require_encryption = require_encryption
        self._max_size = max_size
        self._owned_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor = executor
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_error = on_error
        self._registrations: list[_Registration] = []
        self._loop = _LoopThread()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "plain" if self._crypto is None else "encrypted"
        return (
            f"CallbackHandler(appid={self._appid!r}, {mode}, handlers={len(self._registrations)})"
        )

    def __enter__(self) -> CallbackHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def appid(self) -> str:
        """The AppID encrypted pushes must be sealed for."""
        return self._appid

    @property
    def max_size(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_size

    @property
    def clock(self) -> Clock:
        """The clock freshness checks and replies use."""
        return self._clock

    def close(self) -> None:
        """Wait for running handlers, then stop the threads this handler started."""
        with self._lock:
            owned, self._owned_executor = self._owned_executor, None
        if owned is not None:
            owned.shutdown(wait=True)
        self._loop.close()

    # ------------------------------------------------------------------ registration

    def add(
        self,
        kind: str | type[Message | Event],
        handler: PushHandler,
        *,
        background: bool = False,
    ) -> None:
        """Run ``handler`` for every push of ``kind``, in registration order."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._registrations.append(_Registration(_kind(kind), handler, bool(background)))

    @overload
    def on(self, kind: str | type[Message | Event]) -> Callable[[PushHandler], PushHandler]: ...

    @overload
    def on(
        self, kind: str | type[Message | Event], *, background: bool
    ) -> Callable[[PushHandler], PushHandler]: ...

    def on(
        self, kind: str | type[Message | Event], *, background: bool = False
    ) -> Callable[[PushHandler], PushHandler]:
        """Decorator form of `add`: ``@handler.on("text")``."""
        checked = _kind(kind)

        def register(handler: PushHandler) -> PushHandler:
            self.add(checked, handler, background=background)
            return handler

        return register

    # ------------------------------------------------------------------ the entry point

    def handle(self, method: str, query: Mapping[str, str], body: bytes) -> CallbackResponse:
        """Answer one request to the callback URL; never raises for a bad request."""
        verb = method.upper() if isinstance(method, str) else ""
        if verb not in ("GET", "POST"):
            allow = _response(405)
            return attrs.evolve(allow, headers=(*allow.headers, ("Allow", "GET, POST")))
        try:
            if verb == "GET":
                return self._handshake(query)
            return self._post(query, body)
        except CallbackError as error:
            _log.info("callback refused: %s: %s", type(error).__name__, error)
            return _response(_status_of(error))

    def _fresh(self, query: Mapping[str, str], now: datetime) -> None:
        stamp = query.get("timestamp", "")
        if not (stamp.isascii() and stamp.isdigit()):
            raise CallbackParseError("timestamp must be a non-negative integer")
        if self._max_age is not None and abs(now.timestamp() - int(stamp)) > self._max_age:
            raise StaleRequest(f"timestamp is more than {self._max_age:g} s from now")

    def _handshake(self, query: Mapping[str, str]) -> CallbackResponse:
        if "echostr" not in query:
            raise CallbackParseError("handshake without echostr")
        echo = echostr_response(
            self._token,
            signature=query.get("signature", ""),
            timestamp=query.get("timestamp", ""),
            nonce=query.get("nonce", ""),
            echostr=query["echostr"],
        )
        self._fresh(query, self._clock.now())
        return _response(200, echo)

    def _post(self, query: Mapping[str, str], body: bytes) -> CallbackResponse:
        raw = check_size(body, self._max_size)
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        signature = query.get("signature", "")
        if not verify_signature(self._token, timestamp, nonce, signature):
            raise SignatureError("signature does not match token, timestamp and nonce")
        now = self._clock.now()
        self._fresh(query, now)
        encrypted = query.get("encrypt_type", "raw").strip().lower() == "aes"
        previous_key = False
        if encrypted:
            if self._crypto is None:
                raise CallbackParseError("encrypted push, but no encoding_aes_key is configured")
            opened = self._crypto.decrypt_detailed(
                raw, msg_signature=query.get("msg_signature", ""), timestamp=timestamp, nonce=nonce
            )
            xml: str | bytes = opened.xml
            previous_key = opened.used_previous_key
        elif self._require_encryption:
            raise SignatureError("plain push refused: this endpoint requires encryption")
        else:
            xml = raw
        push = parse(xml, max_size=self._max_size)
        if self._original_id is not None and push.to_user_name != self._original_id:
            raise WrongAccount("push is addressed to another account")
        if self._dedup.seen(push, now=now):
            return _response(200, SUCCESS)
        replay = self._replay_key(query)
        ttl = timedelta(seconds=2 * (self._max_age or DEFAULT_MAX_AGE.total_seconds()))
        if not self._replays.add(replay, now=now, ttl=ttl):
            self._dedup.forget(push)
            raise ReplayedRequest("nonce, timestamp and signature were already used")
        reply = self._dispatch(push, replay)
        if reply is _FAILED:
            return _response(500)
        if not isinstance(reply, str) or reply in ("", SUCCESS):
            return _response(200, SUCCESS)
        if encrypted and self._crypto is not None:
            reply = self._crypto.encrypt(
                reply,
                timestamp=str(int(now.timestamp())),
                nonce=secrets.token_hex(8),
                use_previous_key=previous_key,
            )
        return _response(200, reply, "application/xml")

    @staticmethod
    def _replay_key(query: Mapping[str, str]) -> str:
        parts = [query.get(name, "") for name in ("timestamp", "nonce", "signature")]
        parts.append(query.get("msg_signature", ""))
        encoded = json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return "replay:" + hashlib.sha256(encoded).hexdigest()[:32]

    # ------------------------------------------------------------------ dispatch

    def _executor_now(self) -> Executor:
        if self._executor is not None:
            return self._executor
        with self._lock:
            if self._owned_executor is None:
                self._owned_executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=8, thread_name_prefix="wxsegment-callback"
                )
            return self._owned_executor

    def _call(self, registration: _Registration, push: Message | Event) -> _Result:
        result = registration.handler(push)
        if inspect.isawaitable(result):
            result = self._loop.run(result)
        if result is not None and not isinstance(result, str) and not hasattr(result, "render"):
            raise TypeError(f"a handler returned {type(result).__name__}, not a reply or None")
        return result

    def _release(self, push: Message | Event, replay: str, error: BaseException) -> None:
        # Both marks go, so WeChat's next delivery (same query or not) runs the chain again.
        self._dedup.forget(push)
        self._replays.discard(replay)
        _log.error(
            "callback handler failed for %s from %s: %s",
            type(push).__name__,
            push.from_user_name,
            type(error).__name__,
        )
        if self._on_error is not None:
            self._on_error(push, error)

    def _run(
        self,
        push: Message | Event,
        replay: str,
        inline: list[_Registration],
        background: list[_Registration],
        answer: concurrent.futures.Future[str | None],
    ) -> None:
        reply: str | None = None
        try:
            for registration in inline:
                result = self._call(registration, push)
                if reply is None and result is not None:
                    reply = result if isinstance(result, str) else result.render()
        except Exception as error:
            self._release(push, replay, error)
            answer.set_exception(error)
            return
        answer.set_result(reply)
        try:
            for registration in background:
                self._call(registration, push)
        except Exception as error:
            self._release(push, replay, error)

    def _dispatch(self, push: Message | Event, replay: str) -> str | object | None:
        chosen = [r for r in self._registrations if r.matches(push)]
        if isinstance(push, (UnknownEvent, UnknownMessage)):
            kind = push.event if isinstance(push, Event) else push.msg_type
            _log.info("unknown push type %r from %s", kind, push.from_user_name)
        if not chosen:
            return None
        inline = [r for r in chosen if not r.background]
        background = [r for r in chosen if r.background]
        answer: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        try:
            self._executor_now().submit(self._run, push, replay, inline, background, answer)
        except RuntimeError as error:  # an executor that was shut down
            self._release(push, replay, error)
            return _FAILED
        try:
            return answer.result(timeout=self._reply_timeout)
        except concurrent.futures.TimeoutError:
            _log.warning("callback handlers still running after %g s", self._reply_timeout)
            return None
        except Exception:
            return _FAILED


_FAILED: Final = object()
