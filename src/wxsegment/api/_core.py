"""The I/O-free core shared by `Client` and `AsyncClient`.

Request description (`Call`), body encoding, envelope decoding, errcode mapping, retry
decisions, token freshness, mass-call pacing and the validation of identifiers all live here;
the two clients only send, sleep and lock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

import attrs
import httpx

from wxsegment.api._errors import (
    BusyError,
    ClientMsgIdRetryTooFastError,
    WeChatError,
    WeChatHTTPStatusError,
    WeChatTransportError,
    WeChatValidationError,
    error_for,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "FILE_CONTENT",
    "FILE_CONTENT_TYPE",
    "QRCODE_IMAGE_URL",
    "TOKEN_RECHECK_INTERVAL",
    "Call",
    "Pacer",
    "RetryPolicy",
    "Token",
    "chain_retry",
    "chunked",
    "custom_call",
    "decode_file_response",
    "decode_response",
    "derive_clientmsgid",
    "dumps",
    "should_retry",
    "transport_error",
    "validate_clientmsgid",
]

#: WeChat's API host; every endpoint path below starts with ``/cgi-bin/``.
DEFAULT_BASE_URL: Final = "https://api.weixin.qq.com"
#: QR images are served by another host and need no token.
QRCODE_IMAGE_URL: Final = "https://mp.weixin.qq.com/cgi-bin/showqrcode"
#: WeChat documents 64 bytes but answers 45067 beyond 32 in practice; 32 ASCII bytes is safe.
MAX_CLIENTMSGID_BYTES: Final = 32
#: After 45066 WeChat wants at least a minute before the same clientmsgid comes again.
CLIENTMSGID_RETRY_AFTER: Final = 60.0

_T = TypeVar("_T")


@attrs.frozen
class Call:
    """One WeChat request, described before any I/O.

    ``replayable`` says whether sending it twice is harmless (a read, an idempotent write, or a
    send carrying an idempotency key); only replayable calls are retried after an ambiguous
    failure. ``paced`` calls go through the mass-send pacer.
    """

    method: Literal["GET", "POST"]
    path: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    body: Mapping[str, Any] | None = None
    replayable: bool = True
    paced: bool = False
    token: bool = True
    #: A multipart upload: form files (``{"media": (filename, stream, content_type)}``) and
    #: plain form fields; ``body`` is then None. httpx rewinds each stream on every attempt.
    files: Mapping[str, tuple[str, Any, str]] | None = None
    form: Mapping[str, str] = attrs.field(factory=dict)
    #: The answer may be a file instead of JSON (see `decode_file_response`).
    binary: bool = False
    #: No attempt may start at or after this instant (`SendDeadlineError`); None: no limit.
    not_after: datetime | None = None


#: Paths the mass-send pacer governs, also when reached through `custom_call`.
PACED_PATHS: Final = frozenset(
    {
        "/cgi-bin/message/mass/sendall",
        "/cgi-bin/message/mass/send",
        "/cgi-bin/message/mass/preview",
        "/cgi-bin/message/mass/delete",
    }
)
_TOKEN_PATHS: Final = frozenset({"/cgi-bin/token", "/cgi-bin/stable_token"})


def custom_call(
    method: str,
    path: str,
    params: Mapping[str, str] | None,
    body: Mapping[str, Any] | None,
    replayable: bool | None,
) -> Call:
    """A `Call` for an endpoint the library does not wrap, checked before any I/O.

    Reads (GET) are replayable unless said otherwise; POSTs are not, because the library
    cannot know whether sending one twice is harmless.
    """
    if method not in ("GET", "POST"):
        raise WeChatValidationError(f"method must be 'GET' or 'POST', got {method!r}")
    if not isinstance(path, str) or not path.startswith("/") or "?" in path or "#" in path:
        raise WeChatValidationError(
            f"path must start with '/' and carry no query string, got {path!r}"
        )
    if path in _TOKEN_PATHS:
        raise WeChatValidationError(f"{path} is the token endpoint; the client calls it itself")
    query: dict[str, str] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("params must map str to str")
        if key == "access_token":
            raise WeChatValidationError("params must not carry access_token; the client adds it")
        query[key] = value
    if body is not None and not isinstance(body, Mapping):
        raise TypeError(f"json must be a mapping, not {type(body).__name__}")
    if method == "GET" and body is not None:
        raise WeChatValidationError("a GET call takes no json body")
    verb: Literal["GET", "POST"] = "GET" if method == "GET" else "POST"
    return Call(
        verb,
        path,
        params=query,
        body=dict(body) if body is not None else ({} if method == "POST" else None),
        replayable=method == "GET" if replayable is None else bool(replayable),
        paced=path in PACED_PATHS,
    )


def dumps(body: Mapping[str, Any]) -> bytes:
    """Encode a JSON body as raw UTF-8: WeChat refuses ``\\uXXXX`` escapes with 40033."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_response(status_code: int, content: bytes, endpoint: str) -> dict[str, Any]:
    """Decode WeChat's answer, raising the mapped error for a non-zero errcode.

    WeChat answers errors with HTTP 200 and ``{"errcode": N, "errmsg": ...}``; a missing
    errcode means success. String errcodes are coerced to int.
    """
    if not 200 <= status_code < 300:
        raise WeChatHTTPStatusError(status_code, endpoint)
    try:
        data = json.loads(content.decode("utf-8", errors="replace"), strict=False)
    except ValueError:
        raise WeChatTransportError("the answer is not JSON", endpoint, kind="decode") from None
    if not isinstance(data, dict):
        raise WeChatTransportError("the answer is not a JSON object", endpoint, kind="decode")
    raw = data.get("errcode", 0)
    try:
        errcode = int(raw)
    except (TypeError, ValueError):
        raise WeChatTransportError(f"unreadable errcode {raw!r}", endpoint, kind="decode") from None
    if errcode != 0:
        raise error_for(errcode, str(data.get("errmsg", "")), endpoint, data)
    return data


#: The key under which `decode_file_response` returns a file answer's bytes.
FILE_CONTENT: Final = "__file_content__"
FILE_CONTENT_TYPE: Final = "__file_content_type__"


def decode_file_response(
    status_code: int, content: bytes, content_type: str, endpoint: str
) -> dict[str, Any]:
    """Like `decode_response`, but a non-JSON answer is a file.

    Media downloads answer the file itself, or JSON (an error, or a video's ``video_url``): only
    the Content-Type tells them apart. A file comes back as ``{FILE_CONTENT: bytes,
    FILE_CONTENT_TYPE: str}``.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if not 200 <= status_code < 300 or kind in ("application/json", "text/plain", "text/json"):
        return decode_response(status_code, content, endpoint)
    return {FILE_CONTENT: content, FILE_CONTENT_TYPE: kind}


def transport_error(error: httpx.HTTPError, endpoint: str, *secrets: str) -> WeChatTransportError:
    """Wrap an httpx error without its URL, scrubbing any secret from the message."""
    message = str(error) or type(error).__name__
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        kind = "connect"
    elif isinstance(error, httpx.TimeoutException):
        kind = "timeout"
    else:
        kind = "transport"
    return WeChatTransportError(f"{type(error).__name__}: {message}", endpoint, kind=kind)


def should_retry(call: Call, error: BaseException) -> bool:
    """Whether ``error`` from ``call`` deserves another attempt.

    Busy (-1), transport failures and 5xx are retried for replayable calls; a connection that
    never opened is retried for any call (nothing reached WeChat). 45066 (the same clientmsgid
    within a minute, typically the retry of a send whose answer was lost) is retried after a
    minute, when WeChat answers 45065 with the original msg_id. Quotas, credentials and every
    other errcode are not retried here.
    """
    if isinstance(error, ClientMsgIdRetryTooFastError):
        return call.replayable
    if isinstance(error, WeChatHTTPStatusError):
        return call.replayable and error.status_code >= 500
    if isinstance(error, WeChatTransportError):
        if error.kind == "connect":
            return True
        return call.replayable and error.kind != "decode"
    if isinstance(error, BusyError):
        return call.replayable
    return False


def chain_retry(error: WeChatError, previous: list[WeChatError]) -> None:
    """Make the failure of the attempt before ``error`` its ``__cause__``; track ``error``.

    A retry follows an ambiguous failure (the request may have taken effect), so the final
    error alone does not tell what happened: a 45011 on the retry of a timed-out send proves
    nothing about the first attempt. Callers walk ``__cause__`` to see every attempt.
    """
    if error is not previous[-1] and error.__cause__ is None:
        error.__cause__ = previous[-1]
    previous[-1] = error


@attrs.frozen
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    ``attempts`` counts the first try; waits grow ``initial * 2**n`` up to ``maximum``, plus up
    to ``jitter`` seconds of random jitter.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    initial: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    maximum: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))

    def wait(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        base = min(self.maximum, self.initial * 2.0 ** (retry_number - 1))
        return base + self.jitter * rng()

    def delay(
        self,
        retry_number: int,
        error: BaseException | None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """`wait`, but at least a minute after 45066 (WeChat's own minimum for that code)."""
        wait = self.wait(retry_number, rng)
        if isinstance(error, ClientMsgIdRetryTooFastError):
            return max(wait, CLIENTMSGID_RETRY_AFTER)
        return wait

    def tenacity_kwargs(self, call: Call, *, done: int = 0) -> dict[str, Any]:
        """Arguments for `tenacity.Retrying` / `AsyncRetrying` (without the sleep).

        ``done`` attempts were already made outside tenacity; the remaining ones keep the
        same wait sequence.
        """
        import tenacity

        return {
            "stop": tenacity.stop_after_attempt(self.attempts - done),
            "wait": lambda state: self.delay(
                state.attempt_number + done,
                state.outcome.exception() if state.outcome is not None else None,
            ),
            "retry": tenacity.retry_if_exception(lambda error: should_retry(call, error)),
            "reraise": True,
        }


#: After the token endpoint answers, the answer is trusted this long even inside the margin:
#: ``stable_token`` keeps returning the same token until WeChat rotates it (about five minutes
#: before expiry), so asking again on every call would only repeat the same answer.
TOKEN_RECHECK_INTERVAL: Final = 60.0


@attrs.frozen(repr=False)
class Token:
    """An access token and the instant (POSIX seconds) it expires; the value never prints.

    ``fetched_at`` is when the token endpoint last returned it (None when unknown, as in
    tokens stored by earlier versions).
    """

    value: str
    expires_at: float
    fetched_at: float | None = None

    def fresh(self, now: float, margin: float) -> bool:
        """Whether the token is still good for at least ``margin`` seconds."""
        return now < self.expires_at - margin

    def usable(self, now: float, margin: float, recheck: float = TOKEN_RECHECK_INTERVAL) -> bool:
        """Whether to use the token rather than ask the endpoint again.

        Fresh tokens are usable; so is an unexpired one fetched less than ``recheck`` seconds
        ago, since asking again so soon would return the same token.
        """
        if self.fresh(now, margin):
            return True
        return (
            self.fetched_at is not None
            and now < self.fetched_at + recheck
            and now < self.expires_at
        )

    def to_json(self) -> str:
        """Serialize for a token store."""
        data: dict[str, Any] = {"access_token": self.value, "expires_at": self.expires_at}
        if self.fetched_at is not None:
            # An extra key: readers that only know the first two keys ignore it.
            data["fetched_at"] = self.fetched_at
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Token:
        """Parse what `to_json` wrote (with or without ``fetched_at``)."""
        data = json.loads(text)
        fetched_at = data.get("fetched_at")
        return cls(
            str(data["access_token"]),
            float(data["expires_at"]),
            None if fetched_at is None else float(fetched_at),
        )

    def __repr__(self) -> str:
        return f"Token(value='***', expires_at={self.expires_at!r})"


def token_from_response(data: Mapping[str, Any], now: float, endpoint: str) -> Token:
    """Build a token from a token-endpoint answer received at ``now``."""
    value = data.get("access_token")
    if not isinstance(value, str) or not value:
        raise WeChatError(None, "token answer without access_token", endpoint)
    return Token(value, now + float(data.get("expires_in", 7200)), now)


class Pacer:
    """A sliding-window limit: at most ``per_minute`` paced calls in any 60 seconds.

    `reserve` returns how long the caller must wait before sending and books that slot, so
    concurrent callers line up instead of bursting past WeChat's limit (45011).
    """

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        if per_minute < 1:
            raise WeChatValidationError(f"per_minute must be >= 1, got {per_minute}")
        self.per_minute = per_minute
        self.window = window
        self._slots: deque[float] = deque(maxlen=per_minute)

    def reserve(self, now: float) -> float:
        """Book the next slot at or after ``now``; return the seconds to wait for it."""
        at = now
        if len(self._slots) == self.per_minute:
            at = max(now, self._slots[0] + self.window)
        if self._slots:
            at = max(at, self._slots[-1])
        self._slots.append(at)
        return at - now

    def __repr__(self) -> str:
        return f"Pacer(per_minute={self.per_minute})"


def chunked(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def balanced_chunks(items: Sequence[_T], maximum: int) -> list[Sequence[_T]]:
    """Split into the fewest chunks of at most ``maximum``, sizes differing by at most one."""
    if not items:
        return []
    count = math.ceil(len(items) / maximum)
    size, extra = divmod(len(items), count)
    chunks: list[Sequence[_T]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def validate_clientmsgid(value: str, name: str = "clientmsgid") -> str:
    """Check an idempotency key: 1..32 printable ASCII bytes without spaces."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value or len(value) > MAX_CLIENTMSGID_BYTES:
        raise WeChatValidationError(
            f"{name} must be 1..{MAX_CLIENTMSGID_BYTES} ASCII characters, got {len(value)}"
        )
    if not value.isascii() or not value.isprintable() or " " in value:
        raise WeChatValidationError(f"{name} must be printable ASCII without spaces: {value!r}")
    return value


def derive_clientmsgid(base: str, index: int, count: int) -> str:
    """The clientmsgid of chunk ``index`` of ``count`` for a send keyed ``base``.

    One chunk keeps ``base``. Several chunks get ``base`` (shortened with a hash of the whole
    base when needed) plus ``.index``: deterministic, so replaying the whole send reuses every id,
    and distinct per chunk, so WeChat never dedups one chunk against another.
    """
    validate_clientmsgid(base)
    if count == 1:
        return base
    suffix = f".{index}"
    if len(base) + len(suffix) <= MAX_CLIENTMSGID_BYTES:
        return base + suffix
    digest = hashlib.blake2b(base.encode("ascii"), digest_size=4).hexdigest()
    keep = MAX_CLIENTMSGID_BYTES - len(suffix) - len(digest) - 1
    return f"{base[:keep]}~{digest}{suffix}"


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes, the unit WeChat's limits use."""
    return len(text.encode("utf-8"))


def check_utf8_length(text: str, name: str, maximum: int, *, minimum: int = 1) -> str:
    """Refuse a string outside ``minimum..maximum`` UTF-8 bytes."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, not {type(text).__name__}")
    size = utf8_len(text)
    if not minimum <= size <= maximum:
        raise WeChatValidationError(
            f"{name} must be {minimum}..{maximum} UTF-8 bytes, got {size}: {text!r}"
        )
    return text


def check_openid(openid: str, name: str = "openid") -> str:
    """Refuse an empty or non-string openid."""
    if not isinstance(openid, str):
        raise TypeError(f"{name} must be a str, not {type(openid).__name__}")
    if not openid or openid != openid.strip():
        raise WeChatValidationError(f"{name} must be a non-empty string without spaces")
    return openid


#: ``prefix@wechat_id``: a prefix of 1..10 letters, digits or ``_``; at most 30 characters.
KF_ACCOUNT_MAX_CHARS: Final = 30
_KF_ACCOUNT: Final = re.compile(r"[A-Za-z0-9_]{1,10}@[A-Za-z0-9_-]+")


def check_kf_account(kf_account: str) -> str:
    """Refuse a customer-service account that is not ``prefix@wechat_id``."""
    if not isinstance(kf_account, str):
        raise TypeError(f"kf_account must be a str, not {type(kf_account).__name__}")
    if len(kf_account) > KF_ACCOUNT_MAX_CHARS or not _KF_ACCOUNT.fullmatch(kf_account):
        raise WeChatValidationError(
            "kf_account must be prefix@wechat_id (prefix: 1..10 letters, digits or _; "
            f"at most {KF_ACCOUNT_MAX_CHARS} characters), got {kf_account!r}"
        )
    return kf_account


def unique_openids(openids: Sequence[str] | Any) -> list[str]:
    """Validate openids and drop duplicates, keeping the first occurrence's order."""
    if isinstance(openids, str):
        raise TypeError("openids must be a sequence of strings, not a single string")
    seen: dict[str, None] = {}
    for openid in openids:
        seen.setdefault(check_openid(openid), None)
    return list(seen)
