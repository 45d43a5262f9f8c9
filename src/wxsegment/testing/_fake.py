"""FakeWeChat: an in-process emulator of the WeChat service-account HTTP API.

It answers exactly as WeChat's wire does: the same paths, JSON shapes and errcodes, HTTP 200
for errcode answers. It serves `httpx.MockTransport` (``fake.handler``) and ASGI
(``fake.asgi``). Time comes from an injected clock. All state changes happen under one lock.

This module is the facade: set-up and inspection methods, the route table, dispatch and the
transports. Each domain keeps its state and endpoints in its own module, as the client does:
followers in ``_fake_users``, tags in ``_fake_tags``, mass jobs in ``_fake_mass``, messages in
``_fake_messages``, QR codes in ``_fake_qrcode``, menus in ``_fake_menu``, tokens in
``_fake_tokens``, faults in ``_fake_faults``, and so on.

The fake never accepts what WeChat documents it refuses; where WeChat's behaviour is
undocumented, `FakeConfig` has an option.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

import attrs
import httpx

from wxsegment._clock import Clock, SystemClock, ensure_aware, month_key
from wxsegment.testing._fake_blacklist import FakeBlacklist
from wxsegment.testing._fake_content import FakeContent
from wxsegment.testing._fake_datacube import DATACUBE_SPANS, FakeDatacube, article_url
from wxsegment.testing._fake_events import EventPusher, FollowerActor, PushMode, PushResult
from wxsegment.testing._fake_faults import FakeFaults
from wxsegment.testing._fake_kf import FakeCustomerService, FakeKfAccount
from wxsegment.testing._fake_mass import FakeMass
from wxsegment.testing._fake_media import FakeFile, FakeMedia, retired
from wxsegment.testing._fake_menu import FakeMenus
from wxsegment.testing._fake_messages import FakeMessages
from wxsegment.testing._fake_multipart import UploadedFile, parse_multipart
from wxsegment.testing._fake_ops import FakeOps
from wxsegment.testing._fake_qrcode import FakeQRCodes
from wxsegment.testing._fake_tags import FakeTags
from wxsegment.testing._fake_templates import FakeTemplates
from wxsegment.testing._fake_tokens import TOKEN_PATHS, FakeTokens
from wxsegment.testing._fake_types import (
    FakeCall,
    FakeConfig,
    FakeFollower,
    FakeMessage,
    FakeQRCode,
    FakeTag,
    FaultKind,
    MassJob,
)
from wxsegment.testing._fake_users import FakeUsers
from wxsegment.testing._fake_wire import Reply, dumps, parse_json

__all__ = ["FakeASGIApp", "FakeWeChat"]

_SHOWQRCODE: Final = "/cgi-bin/showqrcode"
# Endpoint families WeChat serves outside /cgi-bin.
_OUTSIDE_CGI_BIN: Final = ("/datacube/", "/customservice/")


@attrs.frozen
class _Route:
    method: Literal["GET", "POST"]
    handler: Callable[[FakeWeChat, _Request], dict[str, Any] | FakeFile]
    token: bool = True
    paced: bool = False
    empty_body: bool = False
    multipart: bool = False
    #: Also answer GET with the query string (legacy SDKs call some POST endpoints so).
    also_get: bool = False


@attrs.frozen
class _Incoming:
    """A request reduced to what WeChat looks at, from httpx or from ASGI alike."""

    method: str
    path: str
    query: Mapping[str, str]
    content: bytes
    content_type: str = ""


@attrs.frozen
class _Request:
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now: datetime
    files: Mapping[str, UploadedFile] = attrs.field(factory=dict)


class _Timeout(Exception):
    """The fault ``timeout``: the caller never sees an answer."""


def _norm_path(path: str) -> str:
    path = "/" + path.strip("/")
    if path.startswith(_OUTSIDE_CGI_BIN):
        return path
    return path if path.startswith("/cgi-bin/") else "/cgi-bin" + path


class FakeWeChat:
    """An emulator of WeChat's service-account API with state and fault injection.

    Use ``httpx.MockTransport(fake.handler)`` for in-process tests (sync or async clients) or
    serve ``fake.asgi`` on a loopback server. See ``docs/testing.md`` for what is emulated.
    """

    def __init__(
        self,
        *,
        appid: str = "wxfake0000000001",
        secret: str = "fake-secret",
        clock: Clock | None = None,
        config: FakeConfig | None = None,
    ) -> None:
        if not isinstance(appid, str) or not appid:
            raise ValueError("appid must be a non-empty string")
        if not isinstance(secret, str) or not secret:
            raise ValueError("secret must be a non-empty string")
        self.appid: Final = appid
        self._secret = secret
        self.clock: Final[Clock] = clock if clock is not None else SystemClock()
        self.config: Final[FakeConfig] = config if config is not None else FakeConfig()
        self._lock = threading.RLock()
        self._rng = random.Random(self.config.seed)
        self._user_store = FakeUsers(self)
        self._tag_store = FakeTags(self)
        self._tokens = FakeTokens(self)
        self._faults = FakeFaults(self, TOKEN_PATHS | {_SHOWQRCODE})
        self._calls: list[FakeCall] = []
        self._rid = 0
        self._mass = FakeMass(self)
        self._message_store = FakeMessages(self)
        self._qr_store = FakeQRCodes(self)
        self._menu_store = FakeMenus(self)
        self._asgi = FakeASGIApp(self)
        self._parsed: Any = None
        self._media_store = FakeMedia(self.config, self._lock, self.clock.now)
        self._content_store = FakeContent(
            self.config, self._lock, self.clock.now, self._media_store
        )
        self._template_store = FakeTemplates(self.config, self._lock, self.clock.now)
        self._events = EventPusher(self)
        self._datacube = FakeDatacube(self)
        self._ops = FakeOps(self)
        self._blacklist = FakeBlacklist(self)
        self._kf = FakeCustomerService(self)
        self._media: dict[str, datetime | None] = {}

    def __repr__(self) -> str:
        return f"FakeWeChat(appid={self.appid!r}, followers={len(self._user_store.records)})"

    # ------------------------------------------------------------------ state set-up

    def add_follower(
        self,
        openid: str,
        *,
        subscribe_time: datetime | None = None,
        unionid: str | None = None,
        language: str = "zh_CN",
        remark: str = "",
        subscribe_scene: str = "ADD_SCENE_QR_CODE",
        qr_scene: int = 0,
        qr_scene_str: str = "",
        platform: int = 2,
    ) -> None:
        """Add a current follower (no follow event: use `open_window` for its window).

        ``platform`` is the ``client_platform_type`` conditional menus see (1 iOS, 2 Android,
        3 others). A duplicate openid raises ``ValueError``.
        """
        if not isinstance(openid, str) or not openid:
            raise ValueError(f"openid must be a non-empty string, got {openid!r}")
        if platform not in (1, 2, 3):
            raise ValueError(f"platform must be 1, 2 or 3, got {platform!r}")
        when = (
            ensure_aware(subscribe_time, "subscribe_time")
            if subscribe_time is not None
            else self.clock.now()
        )
        with self._lock:
            self._user_store.add(
                openid,
                when,
                unionid=unionid,
                language=language,
                remark=remark,
                subscribe_scene=subscribe_scene,
                qr_scene=qr_scene,
                qr_scene_str=qr_scene_str,
                platform=platform,
            )
            self._datacube.follow(openid, when, subscribe_scene)

    def add_followers(self, n_or_openids: int | Iterable[str]) -> list[str]:
        """Add many followers at once: ``n`` generated openids or the given ones; returns them."""
        with self._lock:
            openids = self._user_store.new_openids(n_or_openids)
            for openid in openids:
                self.add_follower(openid)
        return openids

    def unsubscribe(self, openid: str) -> None:
        """The follower unfollows: user/info then answers ``subscribe: 0``; tags are dropped."""
        with self._lock:
            follower = self._user_store.known(openid)
            if follower.subscribed:
                self._datacube.unfollow(openid, self.clock.now(), follower.subscribe_scene)
            follower.subscribed = False
            self._tag_store.untag_all(follower)
            self._message_store.close_windows(openid)

    def scan(self, openid: str, ticket: str, *, at: datetime | None = None) -> tuple[str, str]:
        """A user scans a QR code: follows through it, or just scans if already following.

        Returns the event WeChat would push, ``("subscribe", "qrscene_<scene>")`` or
        ``("SCAN", "<scene>")``, and opens the matching 1-minute window. A follower who
        follows through a code gets ``subscribe_scene=ADD_SCENE_QR_CODE`` and its scene.
        """
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            return self._qr_store.scan(openid, ticket, when)

    @property
    def secret(self) -> str:
        """The AppSecret the fake accepts (a test value; never shown in reprs)."""
        return self._secret

    def open_window(self, openid: str, kind: str = "message", at: datetime | None = None) -> None:
        """Record an interaction that opens a customer-service window (see `FakeConfig`).

        ``kind`` is one of the configured window rules: ``message``, ``menu``, ``follow``,
        ``scan``, ``payment``. A new interaction of a kind replaces that kind's previous window.
        """
        rule = self.config.window_rules.get(kind)
        if rule is None:
            raise ValueError(f"unknown interaction kind {kind!r}")
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            follower = self._user_store.known(openid)
            if not follower.subscribed:
                raise ValueError(f"follower {openid!r} does not follow the account")
            self._message_store.open_window(openid, kind, rule, when)
            if kind == "message":
                self._datacube.message(openid, when)

    def record_mass_push(self, openid: str, at: datetime | None = None) -> None:
        """Count a push sent outside the API (e.g. from the web console) for that month."""
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            self._user_store.known(openid)
            key = (openid, month_key(when))
            self._mass.monthly[key] = self._mass.monthly.get(key, 0) + 1

    # ------------------------------------------------------------------ pushes (_fake_events)

    def set_callback(
        self,
        target: Any,
        *,
        token: str,
        encoding_aes_key: str | None = None,
        mode: PushMode = "plain",
    ) -> None:
        """Push events to ``target`` (an ASGI app, a WSGI app or a URL), after the handshake.

        ``mode`` seals pushes as WeChat does: ``plain``, ``compatible`` or ``safe``.
        """
        self._events.set_callback(target, token=token, encoding_aes_key=encoding_aes_key, mode=mode)

    def follower(self, openid: str) -> FollowerActor:
        """A user who follows, scans, clicks, writes... each action pushing its event."""
        return FollowerActor(self, openid)

    @property
    def pushes(self) -> tuple[PushResult, ...]:
        """Every push delivered so far, with its attempts and the checked reply."""
        return self._events.results

    def push_pending(self) -> list[PushResult]:
        """Deliver the queued job-finish pushes now (else they go before the next API answer)."""
        return self._events.flush()

    def read_article(
        self,
        openid: str,
        msg_id: int,
        *,
        index: int = 1,
        source: int = 0,
        at: datetime | None = None,
    ) -> str:
        """A user reads article ``index`` (1-based) of mass job ``msg_id``; returns its msgid.

        ``source`` is the datacube ``user_source`` (0 session, 1 friends, 2 moments, 4 history
        page, 5 other, 6 look, 7 search). The read shows up in the article statistics.
        """
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            self._user_store.known(openid)
            msgid = self._datacube.article_msgid(msg_id, index)
            self._datacube.read(openid, msgid, when, source)
            return msgid

    def share_article(
        self,
        openid: str,
        msg_id: int,
        *,
        index: int = 1,
        scene: int = 1,
        at: datetime | None = None,
    ) -> str:
        """A user shares article ``index`` of mass job ``msg_id`` (``scene``: 1 friend,
        2 moments, 255 other); returns its msgid."""
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            self._user_store.known(openid)
            msgid = self._datacube.article_msgid(msg_id, index)
            self._datacube.share(openid, msgid, when, scene)
            return msgid

    def article_url(self, msg_id: int, index: int = 1) -> str:
        """The link of article ``index`` (1-based) of mass job ``msg_id`` (for delete by url)."""
        with self._lock:
            job = self._mass.jobs.get(msg_id)
            if job is None or job.msg_data_id is None:
                raise ValueError(f"no mass-sent article job with msg_id {msg_id!r}")
            return article_url(job.msg_data_id, index)

    def record_callback(
        self, *, ok: bool = True, cost_ms: int = 20, at: datetime | None = None
    ) -> None:
        """Count one passive reply to a push in the interface statistics."""
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            self._datacube.callback(when, ok, cost_ms)

    def add_foreign_openid(self, openid: str) -> None:
        """Make ``openid`` an openid of another account: tagging and blacklist calls naming it
        answer 49003 (an unknown openid answers 40003)."""
        if not isinstance(openid, str) or not openid:
            raise ValueError(f"openid must be a non-empty string, got {openid!r}")
        with self._lock:
            if openid in self._user_store.records:
                raise ValueError(f"{openid!r} is a follower of this account")
            self._user_store.foreign.add(openid)

    @property
    def blacklist(self) -> tuple[str, ...]:
        """Blacklisted openids, oldest first."""
        with self._lock:
            return self._blacklist.openids

    def add_media(self, media_id: str, *, expires_at: datetime | None = None) -> None:
        """Register a media id messages may use (with `FakeConfig.check_media_ids`).

        Temporary media expire (WeChat: three days after upload); permanent ones do not.
        """
        if not isinstance(media_id, str) or not media_id:
            raise ValueError(f"media_id must be a non-empty string, got {media_id!r}")
        when = ensure_aware(expires_at, "expires_at") if expires_at is not None else None
        with self._lock:
            self._media[media_id] = when

    @property
    def kf_accounts(self) -> Mapping[str, FakeKfAccount]:
        """Customer-service accounts by ``kf_account``."""
        with self._lock:
            return MappingProxyType(dict(self._kf.accounts))

    def accept_kf_invite(self, kf_account: str) -> None:
        """The WeChat user invited to ``kf_account`` accepts and now operates it."""
        with self._lock:
            self._kf.accept(kf_account, self.clock.now())

    def set_kf_online(self, kf_account: str, online: bool = True, accepted_case: int = 0) -> None:
        """Put a customer-service account online (or offline), serving ``accepted_case``."""
        with self._lock:
            account = self._kf.accounts.get(kf_account)
            if account is None:
                raise ValueError(f"unknown kf_account {kf_account!r}")
            self._kf.accounts[kf_account] = attrs.evolve(
                account, online=online, accepted_case=accepted_case
            )

    def record_clear_quota(self, at: datetime | None = None) -> None:
        """Count a ``clear_quota`` reset made elsewhere (the web console): it shares the pool."""
        when = ensure_aware(at, "at") if at is not None else self.clock.now()
        with self._lock:
            self._ops.record_clear(month_key(when))

    # ------------------------------------------------------------------ read-only views

    @property
    def followers(self) -> Mapping[str, FakeFollower]:
        """Every follower ever added (``subscribed`` says whether it still follows)."""
        with self._lock:
            records = self._user_store.records
            return MappingProxyType({o: f.snapshot() for o, f in records.items()})

    @property
    def tags(self) -> Mapping[int, FakeTag]:
        """Every tag by id, reserved ones included."""
        with self._lock:
            return MappingProxyType(self._tag_store.views())

    @property
    def jobs(self) -> Mapping[int, MassJob]:
        """Accepted mass jobs (and previews) by msg_id."""
        with self._lock:
            return MappingProxyType(dict(self._mass.jobs))

    @property
    def messages(self) -> tuple[FakeMessage, ...]:
        """Customer-service and template messages delivered, oldest first."""
        with self._lock:
            return tuple(self._message_store.delivered)

    @property
    def qrcodes(self) -> Mapping[str, FakeQRCode]:
        """QR codes created, by ticket."""
        with self._lock:
            return MappingProxyType(dict(self._qr_store.codes))

    @property
    def calls(self) -> list[FakeCall]:
        """Every request answered (a copy), tokens and secrets redacted."""
        with self._lock:
            return list(self._calls)

    @property
    def speed(self) -> int:
        """The mass-send speed level (0-4)."""
        return self._mass.speed

    def mass_received(self, openid: str, month: str | datetime | None = None) -> int:
        """Mass pushes delivered to ``openid`` in a natural month (default: the clock's month)."""
        if month is None:
            key = month_key(self.clock.now())
        elif isinstance(month, datetime):
            key = month_key(month)
        else:
            key = month
        with self._lock:
            return self._mass.monthly.get((openid, key), 0)

    @property
    def media(self) -> FakeMedia:
        """Temporary media and permanent materials (views and set-up helpers)."""
        return self._media_store

    @property
    def content(self) -> FakeContent:
        """Drafts, publish tasks and published articles (views and test controls)."""
        return self._content_store

    @property
    def templates(self) -> FakeTemplates:
        """Template-message and subscribe templates, subscriptions (views and controls)."""
        return self._template_store

    def set_job_status(self, msg_id: int, status: str) -> None:
        """Give a mass job its final status (``SEND_SUCCESS``, ``SEND_FAIL``, ``SENDING``,
        ``DELETE``), as mass/get will answer it; ``SENDING`` keeps it sending for good."""
        with self._lock:
            self._mass.set_status(msg_id, status)

    def menu_for(self, openid: str) -> list[dict[str, Any]] | None:
        """The buttons trymatch would answer for a follower, or None without a default menu."""
        with self._lock:
            return self._menu_store.match(self._user_store.known(openid))

    # ------------------------------------------------------------------ tokens and faults

    def expire_tokens(self) -> None:
        """Expire every issued token now: the next API call answers 42001."""
        with self._lock:
            self._tokens.expire_all(self.clock.now())

    def inject(
        self,
        kind: FaultKind,
        *,
        times: int | None = 1,
        path: str | None = None,
        probability: float | None = None,
        after_processing: bool = False,
    ) -> None:
        """Make the next ``times`` matching calls fail with ``kind`` (or a random fraction).

        Kinds: ``busy`` (-1), ``http_500``, ``http_502``, ``timeout``, ``rate_limited``
        (45009), ``mass_rate`` (45011), ``token_expired`` (42001), ``token_invalid`` (40001),
        ``mass_quota`` (45028), ``mass_agreement`` (48003), ``mass_busy`` (9500002),
        ``clientmsgid_too_fast`` (45066).
        ``path=None`` matches every endpoint but the token ones. With ``probability``, each
        matching call fails with that chance (``times=None``: without end). With
        ``after_processing``, the fault replaces the answer of a request that took effect.
        """
        normalized = None if path is None else _norm_path(path)
        with self._lock:
            self._faults.add(kind, times, normalized, probability, after_processing)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ transports

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request; for ``httpx.MockTransport`` (sync and async clients alike)."""
        incoming = _Incoming(
            request.method,
            request.url.path,
            dict(request.url.params),
            request.content,
            request.headers.get("content-type", ""),
        )
        try:
            status, content, content_type = self._answer(incoming)
        except _Timeout:
            raise httpx.ReadTimeout("timed out (injected fault)", request=request) from None
        return httpx.Response(status, content=content, headers={"Content-Type": content_type})

    @property
    def asgi(self) -> FakeASGIApp:
        """An ASGI-3 application with the same behaviour, plus ``FakeConfig.latency``."""
        return self._asgi

    # ------------------------------------------------------------------ dispatch

    def _answer(self, request: _Incoming) -> tuple[int, bytes, str]:
        """Status, body and content type for one request; raises `_Timeout` for that fault."""
        # Job events queued by earlier requests arrive now, before this answer: "later".
        self._events.deliver(self._events.take())
        with self._lock:
            now = self.clock.now()
            self._parsed = None
            status, payload, fault_name = self._dispatch(request, request.path, request.query, now)
            if self.config.record_calls:
                self._record(request, now, status, payload, fault_name)
        if fault_name == "timeout":
            raise _Timeout
        if isinstance(payload, bytes):
            return status, payload, "image/jpg"
        if isinstance(payload, FakeFile):
            return status, payload.content, payload.content_type
        if payload is None:
            return status, b"", "text/plain"
        return status, dumps(payload), "application/json; encoding=utf-8"

    def _dispatch(
        self, request: _Incoming, path: str, query: Mapping[str, str], now: datetime
    ) -> tuple[int, dict[str, Any] | bytes | FakeFile | None, str | None]:
        if path == _SHOWQRCODE:
            fault = self._faults.take(path)
            if fault is not None:
                return (*self._faults.answer(fault), fault.kind)
            return (*self._qr_store.show(query, now), None)
        route = _ROUTES.get(path)
        if route is None:
            return 404, None, None
        fault = self._faults.take(path)
        if fault is not None and not fault.after_processing:
            return (*self._faults.answer(fault), fault.kind)
        try:
            self._check_method(request.method, route)
            if route.token:
                self._tokens.check(query, now)
            if route.paced:
                self._mass.pace(now)
            self._ops.count(path, now)
            body: Mapping[str, Any] = {}
            files: Mapping[str, UploadedFile] = {}
            if route.multipart:
                body, files = parse_multipart(request.content_type, request.content)
                self._parsed = {**body, **{name: f.filename for name, f in files.items()}}
            elif request.method == "POST" and (request.content or not route.empty_body):
                body = parse_json(request.content, self.config.reject_unicode_escapes)
                self._parsed = body
            payload = route.handler(self, _Request(query, body, now, files))
        except Reply as reply:
            rid = self._next_rid()
            payload = reply.body(rid)
            self._ops.remember(rid, now, query, request.content, payload)
        if fault is not None:
            return (*self._faults.answer(fault), fault.kind)
        return 200, payload, None

    def _next_rid(self) -> str:
        self._rid += 1
        return f"{self._rid:08x}-fake"

    def _record(
        self,
        request: _Incoming,
        now: datetime,
        status: int,
        payload: object,
        fault: str | None,
    ) -> None:
        redacted = {
            k: ("***" if k in ("access_token", "secret") else v) for k, v in request.query.items()
        }
        body = self._parsed
        if body is None and request.content:
            try:
                body = json.loads(request.content.decode("utf-8"))
            except ValueError:
                body = None
        if isinstance(body, dict) and "secret" in body:
            body = {**body, "secret": "***"}
        errcode = None
        if isinstance(payload, dict):
            errcode = payload.get("errcode")
        self._calls.append(
            FakeCall(
                method=request.method,
                path=request.path,
                query=MappingProxyType(redacted),
                json=body,
                at=now,
                status=status,
                errcode=errcode,
                fault=fault,
            )
        )

    @staticmethod
    def _check_method(method: str, route: _Route) -> None:
        if method != route.method and not (route.also_get and method == "GET"):
            raise Reply(43001 if route.method == "GET" else 43002)


class FakeASGIApp:
    """The ASGI-3 face of a `FakeWeChat` (``fake.asgi``): same state, same answers.

    Adds ``FakeConfig.latency`` per request with ``asyncio.sleep``; the ``timeout`` fault
    drops the connection after the response has started.
    """

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake

    def __repr__(self) -> str:
        return f"FakeASGIApp({self._fake!r})"

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        """Serve one ASGI connection scope (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        query = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        content_type = next(
            (
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if name.lower() == b"content-type"
            ),
            "",
        )
        request = _Incoming(scope["method"], scope["path"], query, b"".join(chunks), content_type)
        if self._fake.config.latency:
            await asyncio.sleep(self._fake.config.latency)
        try:
            status, content, content_type = self._fake._answer(request)
        except _Timeout:
            # Start a response that promises a body, then abort: the client sees the
            # connection drop mid-answer, as after a server-side timeout.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"64")],
                }
            )
            raise ConnectionAbortedError("connection dropped (injected fault)") from None
        headers = [
            (b"content-type", content_type.encode("ascii")),
            (b"content-length", str(len(content)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _ops_route(
    method: Literal["GET", "POST"],
    answer: Callable[[FakeOps, _Request], dict[str, Any]],
    *,
    token: bool = True,
) -> _Route:
    def handle(fake: FakeWeChat, req: _Request) -> dict[str, Any]:
        return answer(fake._ops, req)

    return _Route(method, handle, token=token)


def _datacube_handler(name: str) -> Callable[[FakeWeChat, _Request], dict[str, Any]]:
    def handle(fake: FakeWeChat, req: _Request) -> dict[str, Any]:
        return fake._datacube.answer(name, req.body, req.now)

    return handle


_ROUTES: Final[Mapping[str, _Route]] = {
    "/cgi-bin/token": _Route("GET", lambda f, r: f._tokens.token(r), token=False),
    "/cgi-bin/stable_token": _Route("POST", lambda f, r: f._tokens.stable_token(r), token=False),
    "/cgi-bin/user/get": _Route("GET", lambda f, r: f._user_store.get(r)),
    "/cgi-bin/user/info": _Route("GET", lambda f, r: f._user_store.info(r)),
    "/cgi-bin/user/info/batchget": _Route("POST", lambda f, r: f._user_store.batchget(r)),
    "/cgi-bin/user/info/updateremark": _Route("POST", lambda f, r: f._user_store.update_remark(r)),
    "/cgi-bin/tags/create": _Route("POST", lambda f, r: f._tag_store.create(r)),
    "/cgi-bin/tags/get": _Route("GET", lambda f, r: f._tag_store.get(r)),
    "/cgi-bin/tags/update": _Route("POST", lambda f, r: f._tag_store.update(r)),
    "/cgi-bin/tags/delete": _Route("POST", lambda f, r: f._tag_store.delete(r)),
    "/cgi-bin/tags/members/batchtagging": _Route("POST", lambda f, r: f._tag_store.batchtagging(r)),
    "/cgi-bin/tags/members/batchuntagging": _Route(
        "POST", lambda f, r: f._tag_store.batchuntagging(r)
    ),
    "/cgi-bin/tags/getidlist": _Route("POST", lambda f, r: f._tag_store.getidlist(r)),
    "/cgi-bin/user/tag/get": _Route("POST", lambda f, r: f._tag_store.members(r)),
    "/cgi-bin/qrcode/create": _Route("POST", lambda f, r: f._qr_store.create(r)),
    "/cgi-bin/message/mass/sendall": _Route("POST", lambda f, r: f._mass.sendall(r), paced=True),
    "/cgi-bin/message/mass/send": _Route("POST", lambda f, r: f._mass.send(r), paced=True),
    "/cgi-bin/message/mass/preview": _Route("POST", lambda f, r: f._mass.preview(r), paced=True),
    "/cgi-bin/message/mass/delete": _Route("POST", lambda f, r: f._mass.delete(r)),
    "/cgi-bin/message/mass/get": _Route("POST", lambda f, r: f._mass.get(r)),
    "/cgi-bin/message/mass/speed/get": _Route(
        "POST", lambda f, r: f._mass.speed_get(r), empty_body=True
    ),
    "/cgi-bin/message/mass/speed/set": _Route("POST", lambda f, r: f._mass.speed_set(r)),
    "/cgi-bin/message/custom/send": _Route("POST", lambda f, r: f._message_store.custom_send(r)),
    "/cgi-bin/message/custom/typing": _Route("POST", lambda f, r: f._message_store.typing(r)),
    "/cgi-bin/message/template/send": _Route(
        "POST", lambda f, r: f._message_store.template_send(r)
    ),
    "/cgi-bin/menu/create": _Route("POST", lambda f, r: f._menu_store.create(r)),
    "/cgi-bin/menu/get": _Route("GET", lambda f, r: f._menu_store.get(r)),
    "/cgi-bin/menu/delete": _Route("GET", lambda f, r: f._menu_store.delete(r)),
    "/cgi-bin/menu/addconditional": _Route("POST", lambda f, r: f._menu_store.add_conditional(r)),
    "/cgi-bin/menu/delconditional": _Route("POST", lambda f, r: f._menu_store.del_conditional(r)),
    "/cgi-bin/menu/trymatch": _Route("POST", lambda f, r: f._menu_store.trymatch(r)),
    # Content APIs; their state lives in _fake_media, _fake_content and _fake_templates.
    "/cgi-bin/media/upload": _Route("POST", lambda f, r: f._media_store.upload(r), multipart=True),
    "/cgi-bin/media/get": _Route("GET", lambda f, r: f._media_store.get(r)),
    "/cgi-bin/media/uploadimg": _Route(
        "POST", lambda f, r: f._media_store.upload_image(r), multipart=True
    ),
    "/cgi-bin/material/add_material": _Route(
        "POST", lambda f, r: f._media_store.add_material(r), multipart=True
    ),
    "/cgi-bin/material/get_material": _Route("POST", lambda f, r: f._media_store.get_material(r)),
    "/cgi-bin/material/del_material": _Route("POST", lambda f, r: f._media_store.del_material(r)),
    "/cgi-bin/material/get_materialcount": _Route("GET", lambda f, r: f._media_store.count(r)),
    "/cgi-bin/material/batchget_material": _Route("POST", lambda f, r: f._media_store.batchget(r)),
    "/cgi-bin/material/add_news": _Route("POST", lambda f, r: retired(r)),
    "/cgi-bin/material/update_news": _Route("POST", lambda f, r: retired(r)),
    "/cgi-bin/media/uploadnews": _Route("POST", lambda f, r: retired(r)),
    "/cgi-bin/draft/add": _Route("POST", lambda f, r: f._content_store.add(r)),
    "/cgi-bin/draft/get": _Route("POST", lambda f, r: f._content_store.get(r)),
    "/cgi-bin/draft/update": _Route("POST", lambda f, r: f._content_store.update(r)),
    "/cgi-bin/draft/delete": _Route("POST", lambda f, r: f._content_store.delete(r)),
    "/cgi-bin/draft/count": _Route("GET", lambda f, r: f._content_store.count(r)),
    "/cgi-bin/draft/batchget": _Route("POST", lambda f, r: f._content_store.batchget(r)),
    "/cgi-bin/freepublish/submit": _Route("POST", lambda f, r: f._content_store.submit(r)),
    "/cgi-bin/freepublish/get": _Route("POST", lambda f, r: f._content_store.status(r)),
    "/cgi-bin/freepublish/delete": _Route(
        "POST", lambda f, r: f._content_store.delete_published(r)
    ),
    "/cgi-bin/freepublish/getarticle": _Route("POST", lambda f, r: f._content_store.get_article(r)),
    "/cgi-bin/freepublish/batchget": _Route(
        "POST", lambda f, r: f._content_store.batchget_published(r)
    ),
    "/cgi-bin/template/api_set_industry": _Route(
        "POST", lambda f, r: f._template_store.set_industry(r)
    ),
    "/cgi-bin/template/get_industry": _Route("GET", lambda f, r: f._template_store.get_industry(r)),
    "/cgi-bin/template/api_add_template": _Route(
        "POST", lambda f, r: f._template_store.add_template(r)
    ),
    "/cgi-bin/template/get_all_private_template": _Route(
        "GET", lambda f, r: f._template_store.list_templates(r)
    ),
    "/cgi-bin/template/del_private_template": _Route(
        "POST", lambda f, r: f._template_store.delete_template(r)
    ),
    "/wxaapi/newtmpl/getcategory": _Route("GET", lambda f, r: f._template_store.categories(r)),
    "/wxaapi/newtmpl/getpubtemplatetitles": _Route("GET", lambda f, r: f._template_store.titles(r)),
    "/wxaapi/newtmpl/getpubtemplatekeywords": _Route(
        "GET", lambda f, r: f._template_store.keywords(r)
    ),
    "/wxaapi/newtmpl/addtemplate": _Route("POST", lambda f, r: f._template_store.add_subscribe(r)),
    "/wxaapi/newtmpl/gettemplate": _Route("GET", lambda f, r: f._template_store.list_subscribe(r)),
    "/wxaapi/newtmpl/deltemplate": _Route(
        "POST", lambda f, r: f._template_store.delete_subscribe(r)
    ),
    "/cgi-bin/message/subscribe/bizsend": _Route("POST", lambda f, r: f._message_store.bizsend(r)),
    **{f"/datacube/{name}": _Route("POST", _datacube_handler(name)) for name in DATACUBE_SPANS},
    "/cgi-bin/tags/members/getblacklist": _Route(
        "POST", lambda fake, req: fake._blacklist.page(req.body)
    ),
    "/cgi-bin/tags/members/batchblacklist": _Route(
        "POST", lambda fake, req: fake._blacklist.block(req.body)
    ),
    "/cgi-bin/tags/members/batchunblacklist": _Route(
        "POST", lambda fake, req: fake._blacklist.unblock(req.body)
    ),
    "/customservice/kfaccount/add": _Route("POST", lambda fake, req: fake._kf.add(req.body)),
    "/customservice/kfaccount/update": _Route("POST", lambda fake, req: fake._kf.update(req.body)),
    "/customservice/kfaccount/del": _Route(
        "POST", lambda fake, req: fake._kf.delete(req.query, req.body), also_get=True
    ),
    "/customservice/kfaccount/inviteworker": _Route(
        "POST", lambda fake, req: fake._kf.invite(req.body, req.now)
    ),
    "/cgi-bin/customservice/getkflist": _Route("GET", lambda fake, req: fake._kf.list(req.now)),
    "/cgi-bin/customservice/getonlinekflist": _Route("GET", lambda fake, req: fake._kf.online()),
    "/cgi-bin/openapi/quota/get": _ops_route(
        "POST", lambda ops, req: ops.quota_get(req.body, req.now, _ROUTED)
    ),
    "/cgi-bin/clear_quota": _ops_route("POST", lambda ops, req: ops.clear_quota(req.body, req.now)),
    "/cgi-bin/clear_quota/v2": _ops_route(
        "POST", lambda ops, req: ops.clear_quota_v2(req.query, req.now), token=False
    ),
    "/cgi-bin/openapi/rid/get": _ops_route("POST", lambda ops, req: ops.rid_get(req.body, req.now)),
    "/cgi-bin/getcallbackip": _ops_route("GET", lambda ops, req: ops.callback_ips()),
    "/cgi-bin/get_api_domain_ip": _ops_route("GET", lambda ops, req: ops.api_domain_ips()),
    "/cgi-bin/callback/check": _ops_route("POST", lambda ops, req: ops.callback_check(req.body)),
}
_ROUTED: Final[frozenset[str]] = frozenset(_ROUTES)
