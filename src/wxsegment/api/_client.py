"""`Client` and `AsyncClient`: the same core, driven by blocking or asyncio I/O."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

import httpx
import tenacity

from wxsegment._clock import Clock, SystemClock
from wxsegment.api._blacklist import AsyncBlacklist, Blacklist
from wxsegment.api._core import (
    DEFAULT_BASE_URL,
    Call,
    Pacer,
    RetryPolicy,
    Token,
    chain_retry,
    custom_call,
    decode_file_response,
    decode_response,
    dumps,
    should_retry,
    token_from_response,
    transport_error,
)
from wxsegment.api._datacube import AsyncDatacube, Datacube
from wxsegment.api._drafts import AsyncDrafts, Drafts
from wxsegment.api._errors import (
    CredentialError,
    InvalidTokenError,
    SendDeadlineError,
    WeChatError,
    WeChatValidationError,
)
from wxsegment.api._kf import AsyncCustomerService, CustomerService
from wxsegment.api._mass import AsyncMass, Mass
from wxsegment.api._media import AsyncMaterials, AsyncMedia, Materials, Media
from wxsegment.api._menus import AsyncMenus, Menus
from wxsegment.api._messaging import AsyncMessages, Messages
from wxsegment.api._publish import AsyncPublish, Publish
from wxsegment.api._qrcode import AsyncQRCodes, QRCodes
from wxsegment.api._quota_ops import AsyncQuotaOps, ClearQuotaLedger, QuotaOps
from wxsegment.api._subscribe import AsyncSubscribeMessages, SubscribeMessages
from wxsegment.api._tags import AsyncTags, Tags
from wxsegment.api._templates import AsyncTemplates, Templates
from wxsegment.api._tokens import MemoryTokenStore, SharedTokenStore, TokenStore
from wxsegment.api._users import AsyncUsers, Users

__all__ = ["AsyncClient", "Client", "TokenEndpoint"]

logger = logging.getLogger("wxsegment.api")

_SECRET_PARAMS = re.compile(r"((?:access_token|secret)=)[^&\s\"']*")


def _redact(value: object) -> object:
    if isinstance(value, (httpx.URL, str)):
        text = str(value)
        redacted = _SECRET_PARAMS.sub(r"\1***", text)
        return redacted if redacted != text else value
    return value


class _RedactSecretParams(logging.Filter):
    """Blank the token and secret query parameters in httpx's per-request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        record.msg = _redact(record.msg)
        return True


# WeChat takes the token (and /cgi-bin/token the secret) as query parameters, and httpx logs
# every request URL at INFO: without this filter, enabling INFO logging would leak them.
if not any(isinstance(f, _RedactSecretParams) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactSecretParams())

#: ``"stable"`` uses ``POST /cgi-bin/stable_token``; ``"classic"`` uses ``GET /cgi-bin/token``.
TokenEndpoint = Literal["stable", "classic"]

_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class _BaseClient:
    """Configuration and the pure parts both clients share."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str,
        token_store: TokenStore | None,
        token_endpoint: TokenEndpoint,
        token_margin: float,
        retry: RetryPolicy | None,
        mass_per_minute: int | None,
        clock: Clock | None,
    ) -> None:
        if not isinstance(appid, str) or not appid:
            raise WeChatValidationError("appid must be a non-empty string")
        if not isinstance(secret, str) or not secret:
            raise WeChatValidationError("secret must be a non-empty string")
        if token_margin < 0:
            raise WeChatValidationError(f"token_margin must be >= 0, got {token_margin}")
        if token_endpoint not in ("stable", "classic"):
            raise WeChatValidationError(
                f"token_endpoint must be 'stable' or 'classic', got {token_endpoint!r}"
            )
        self.appid = appid
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.token_endpoint: TokenEndpoint = token_endpoint
        self.token_margin = token_margin
        self.retry = retry or RetryPolicy()
        self._store: TokenStore = token_store if token_store is not None else MemoryTokenStore()
        self._token_key = f"{token_endpoint}:{appid}"
        self._cached: Token | None = None
        self._pacer = Pacer(mass_per_minute) if mass_per_minute is not None else None
        self._clock: Clock = clock or SystemClock()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _token_call(self, force: bool = False) -> Call:
        if self.token_endpoint == "stable":
            return Call(
                "POST",
                "/cgi-bin/stable_token",
                body={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self._secret,
                    "force_refresh": force,
                },
                token=False,
            )
        return Call(
            "GET",
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self._secret},
            token=False,
        )

    def _usable(self, token: Token | None, stale: str | None = None) -> bool:
        return (
            token is not None
            and token.value != stale
            and token.usable(self._now(), self.token_margin)
        )

    def _store_lock(self) -> AbstractContextManager[None]:
        if isinstance(self._store, SharedTokenStore):
            return self._store.refresh_lock(self._token_key)
        return contextlib.nullcontext()

    def _pace(self, call: Call) -> float:
        if not call.paced or self._pacer is None:
            return 0.0
        return self._pacer.reserve(self._now())

    def _check_deadline(self, call: Call) -> None:
        """Refuse to start an attempt at or after the call's ``not_after``."""
        if call.not_after is not None and self._clock.now() >= call.not_after:
            raise SendDeadlineError(call.path, call.not_after.isoformat())

    def _request_args(self, call: Call, token: str | None) -> dict[str, Any]:
        params = dict(call.params)
        if token is not None:
            params["access_token"] = token
        args: dict[str, Any] = {"params": params}
        if call.files is not None:
            args["files"] = dict(call.files)
            args["data"] = dict(call.form)
        elif call.body is not None:
            args["content"] = dumps(call.body)
            args["headers"] = _JSON_HEADERS
        return args

    def _decode(self, call: Call, response: httpx.Response) -> dict[str, Any]:
        if call.binary:
            return decode_file_response(
                response.status_code,
                response.content,
                response.headers.get("content-type", ""),
                call.path,
            )
        return decode_response(response.status_code, response.content, call.path)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(appid={self.appid!r}, base_url={self.base_url!r}, "
            f"token_endpoint={self.token_endpoint!r})"
        )


def _release_taken(taking: asyncio.Future[Any], lock: AbstractContextManager[None]) -> None:
    """Release a lock that a cancelled refresh's thread took after all."""
    if not taking.cancelled() and taking.exception() is None:
        lock.__exit__(None, None, None)


def _token_error(error: InvalidTokenError) -> CredentialError:
    # At a token endpoint 40001 means a wrong secret: refreshing again cannot help.
    return CredentialError(error.errcode, error.errmsg, error.endpoint, error.payload)


class Client(_BaseClient):
    """A blocking WeChat client over `httpx.Client`.

    Resource groups: `users`, `tags`, `qrcode`, `mass`, `messages`, `menus`; for content
    `media`, `materials`, `drafts`, `publish`, `templates`, `subscribe_messages`; and
    `datacube`, `quota`, `blacklist`, `kf`; `call` reaches any other endpoint. Tokens come from
    ``stable_token`` unless ``token_endpoint="classic"``; ``token_store`` shares them between
    processes; ``sleep`` is used for retries and pacing (tests pass a fake one).
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http_client: httpx.Client | None = None,
        timeout: float = 10.0,
        token_store: TokenStore | None = None,
        token_endpoint: TokenEndpoint = "stable",
        token_margin: float = 300.0,
        retry: RetryPolicy | None = None,
        mass_per_minute: int | None = 60,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clear_quota_ledger: ClearQuotaLedger | None = None,
    ) -> None:
        super().__init__(
            appid,
            secret,
            base_url=base_url,
            token_store=token_store,
            token_endpoint=token_endpoint,
            token_margin=token_margin,
            retry=retry,
            mass_per_minute=mass_per_minute,
            clock=clock,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        self._token_lock = threading.Lock()
        self._pace_lock = threading.Lock()
        self.users = Users(self)
        self.tags = Tags(self)
        self.qrcode = QRCodes(self)
        self.mass = Mass(self)
        self.messages = Messages(self)
        self.menus = Menus(self)
        self.media = Media(self)
        self.materials = Materials(self)
        self.drafts = Drafts(self)
        self.publish = Publish(self)
        self.templates = Templates(self)
        self.subscribe_messages = SubscribeMessages(self)
        self.datacube = Datacube(self)
        self.quota = QuotaOps(self, clear_quota_ledger)
        self.blacklist = Blacklist(self)
        self.kf = CustomerService(self)

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def access_token(self) -> str:
        """A valid access token (cached; fetched when missing or near expiry)."""
        cached = self._cached
        if cached is not None and self._usable(cached):
            return cached.value
        with self._token_lock, self._store_lock():
            return self._refresh_locked(None)

    def _refresh(self, stale: str) -> str:
        with self._token_lock, self._store_lock():
            return self._refresh_locked(stale)

    def _refresh_locked(self, stale: str | None) -> str:
        for candidate in (self._cached, self._store.get(self._token_key)):
            if candidate is not None and self._usable(candidate, stale):
                self._cached = candidate
                return candidate.value
        token = self._fetch_token(force=False)
        if token.value == stale and self.token_endpoint == "stable":
            # stable_token hands back the token WeChat just refused; only a forced refresh
            # (limited to 20 a day) replaces it.
            token = self._fetch_token(force=True)
        self._store.set(self._token_key, token)
        self._cached = token
        return token.value

    def _fetch_token(self, *, force: bool) -> Token:
        call = self._token_call(force)
        try:
            data = self._send(call, None)
        except InvalidTokenError as error:
            raise _token_error(error) from None
        logger.debug("fetched an access token from %s (force=%s)", call.path, force)
        return token_from_response(data, self._now(), call.path)

    def _send(self, call: Call, token: str | None) -> dict[str, Any]:
        try:
            response = self._http.request(
                call.method, self.base_url + call.path, **self._request_args(call, token)
            )
        except httpx.HTTPError as error:
            failure = transport_error(error, call.path, self._secret, token or "")
        else:
            return self._decode(call, response)
        # Raised outside the handler: even a suppressed __context__ would keep the httpx error,
        # whose request URL carries the token (and, for /cgi-bin/token, the secret).
        raise failure

    def _attempt(self, call: Call) -> dict[str, Any]:
        if call.paced:
            with self._pace_lock:
                wait = self._pace(call)
            if wait > 0:
                self._sleep(wait)
        self._check_deadline(call)
        if not call.token:
            return self._send(call, None)
        token = self.access_token()
        try:
            return self._send(call, token)
        except InvalidTokenError:
            logger.debug("token refused at %s; refreshing once", call.path)
            fresh = self._refresh(token)
            # No cause set here: the retry loop links this error to the attempt before it.
            self._check_deadline(call)
            return self._send(call, fresh)

    def call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        replayable: bool | None = None,
    ) -> dict[str, Any]:
        """Call an endpoint the library does not wrap; returns the decoded JSON answer.

        Tokens, retries, pacing and the errcode mapping apply as for the wrapped groups.
        ``replayable`` (default: GET yes, POST no) says whether a retry after an ambiguous
        failure is harmless.
        """
        return self._request(custom_call(method, path, params, json, replayable))

    def _request(self, call: Call) -> dict[str, Any]:
        # The first attempt runs outside tenacity: most calls succeed at once, and building
        # the retry machinery for each of them costs more than the call's own decoding.
        try:
            return self._attempt(call)
        except WeChatError as error:
            if self.retry.attempts == 1 or not should_retry(call, error):
                raise
            previous = [error]
        self._sleep(self.retry.delay(1, previous[0]))

        def attempt() -> dict[str, Any]:
            try:
                return self._attempt(call)
            except WeChatError as error:
                chain_retry(error, previous)
                raise

        retrying = tenacity.Retrying(sleep=self._sleep, **self.retry.tenacity_kwargs(call, done=1))
        result: dict[str, Any] = retrying(attempt)
        return result


class AsyncClient(_BaseClient):
    """The asyncio twin of `Client`, over `httpx.AsyncClient`; same groups and methods.

    ``concurrency`` bounds how many requests one batch operation keeps in flight. Requests are
    spread round-robin over ``pools`` connection pools: on loopback benchmarks several small
    `httpx.AsyncClient` pools sustain more calls per second than one large pool. An injected
    ``http_client`` may be one client or a sequence of clients used the same way.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http_client: httpx.AsyncClient | Sequence[httpx.AsyncClient] | None = None,
        timeout: float = 10.0,
        token_store: TokenStore | None = None,
        token_endpoint: TokenEndpoint = "stable",
        token_margin: float = 300.0,
        retry: RetryPolicy | None = None,
        mass_per_minute: int | None = 60,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = 16,
        pools: int = 4,
        clear_quota_ledger: ClearQuotaLedger | None = None,
    ) -> None:
        super().__init__(
            appid,
            secret,
            base_url=base_url,
            token_store=token_store,
            token_endpoint=token_endpoint,
            token_margin=token_margin,
            retry=retry,
            mass_per_minute=mass_per_minute,
            clock=clock,
        )
        if concurrency < 1:
            raise WeChatValidationError(f"concurrency must be >= 1, got {concurrency}")
        if pools < 1:
            raise WeChatValidationError(f"pools must be >= 1, got {pools}")
        self.concurrency = concurrency
        self._owns_http = http_client is None
        if http_client is None:
            self._pools = [httpx.AsyncClient(timeout=timeout) for _ in range(pools)]
        elif isinstance(http_client, httpx.AsyncClient):
            self._pools = [http_client]
        else:
            self._pools = list(http_client)
            if not self._pools:
                raise WeChatValidationError("http_client must not be an empty sequence")
        self._turn = itertools.count()
        self._sleep = sleep
        self._token_lock: asyncio.Lock | None = None
        self.users = AsyncUsers(self)
        self.tags = AsyncTags(self)
        self.qrcode = AsyncQRCodes(self)
        self.mass = AsyncMass(self)
        self.messages = AsyncMessages(self)
        self.menus = AsyncMenus(self)
        self.media = AsyncMedia(self)
        self.materials = AsyncMaterials(self)
        self.drafts = AsyncDrafts(self)
        self.publish = AsyncPublish(self)
        self.templates = AsyncTemplates(self)
        self.subscribe_messages = AsyncSubscribeMessages(self)
        self.datacube = AsyncDatacube(self)
        self.quota = AsyncQuotaOps(self, clear_quota_ledger)
        self.blacklist = AsyncBlacklist(self)
        self.kf = AsyncCustomerService(self)

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            for pool in self._pools:
                await pool.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _lock(self) -> asyncio.Lock:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        return self._token_lock

    async def access_token(self) -> str:
        """A valid access token (cached; fetched when missing or near expiry)."""
        cached = self._cached
        if cached is not None and self._usable(cached):
            return cached.value
        return await self._refresh_shared(None)

    async def _refresh(self, stale: str) -> str:
        return await self._refresh_shared(stale)

    async def _refresh_shared(self, stale: str | None) -> str:
        async with self._lock():
            if not isinstance(self._store, SharedTokenStore):
                return await self._refresh_locked(stale)
            shared = self._store.refresh_lock(self._token_key)
            # A cross-process lock may block; wait for it off the event loop.
            taking = asyncio.ensure_future(asyncio.to_thread(shared.__enter__))
            try:
                await asyncio.shield(taking)
            except asyncio.CancelledError:
                # The thread goes on and may still take the lock: give it back once it has.
                taking.add_done_callback(lambda done: _release_taken(done, shared))
                raise
            try:
                return await self._refresh_locked(stale)
            finally:
                shared.__exit__(None, None, None)

    async def _refresh_locked(self, stale: str | None) -> str:
        for candidate in (self._cached, self._store.get(self._token_key)):
            if candidate is not None and self._usable(candidate, stale):
                self._cached = candidate
                return candidate.value
        token = await self._fetch_token(force=False)
        if token.value == stale and self.token_endpoint == "stable":
            token = await self._fetch_token(force=True)
        self._store.set(self._token_key, token)
        self._cached = token
        return token.value

    async def _fetch_token(self, *, force: bool) -> Token:
        call = self._token_call(force)
        try:
            data = await self._send(call, None)
        except InvalidTokenError as error:
            raise _token_error(error) from None
        logger.debug("fetched an access token from %s (force=%s)", call.path, force)
        return token_from_response(data, self._now(), call.path)

    async def _send(self, call: Call, token: str | None) -> dict[str, Any]:
        try:
            pool = self._pools[next(self._turn) % len(self._pools)]
            response = await pool.request(
                call.method, self.base_url + call.path, **self._request_args(call, token)
            )
        except httpx.HTTPError as error:
            failure = transport_error(error, call.path, self._secret, token or "")
        else:
            return self._decode(call, response)
        raise failure

    async def _attempt(self, call: Call) -> dict[str, Any]:
        wait = self._pace(call)
        if wait > 0:
            await self._sleep(wait)
        self._check_deadline(call)
        if not call.token:
            return await self._send(call, None)
        token = await self.access_token()
        try:
            return await self._send(call, token)
        except InvalidTokenError:
            logger.debug("token refused at %s; refreshing once", call.path)
            fresh = await self._refresh(token)
            # No cause set here: the retry loop links this error to the attempt before it.
            self._check_deadline(call)
            return await self._send(call, fresh)

    async def call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        replayable: bool | None = None,
    ) -> dict[str, Any]:
        """Call an endpoint the library does not wrap; returns the decoded JSON answer.

        Tokens, retries, pacing and the errcode mapping apply as for the wrapped groups.
        ``replayable`` (default: GET yes, POST no) says whether a retry after an ambiguous
        failure is harmless.
        """
        return await self._request(custom_call(method, path, params, json, replayable))

    async def _request(self, call: Call) -> dict[str, Any]:
        try:
            return await self._attempt(call)
        except WeChatError as error:
            if self.retry.attempts == 1 or not should_retry(call, error):
                raise
            previous = [error]
        await self._sleep(self.retry.delay(1, previous[0]))

        async def attempt() -> dict[str, Any]:
            try:
                return await self._attempt(call)
            except WeChatError as error:
                chain_retry(error, previous)
                raise

        retrying = tenacity.AsyncRetrying(
            sleep=self._sleep, **self.retry.tenacity_kwargs(call, done=1)
        )
        result: dict[str, Any] = await retrying(attempt)
        return result

    async def _gather(self, calls: list[Call]) -> list[dict[str, Any]]:
        """Run independent calls with at most ``concurrency`` in flight, results in order."""
        if len(calls) <= 1:
            return [await self._request(call) for call in calls]
        semaphore = asyncio.Semaphore(self.concurrency)

        async def run(call: Call) -> dict[str, Any]:
            async with semaphore:
                return await self._request(call)

        tasks = [asyncio.ensure_future(run(call)) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
