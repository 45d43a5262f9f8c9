"""Errors raised by the WeChat client, and the one table mapping errcodes to them.

Every error WeChat answers carries its ``errcode``, its ``errmsg`` and the ``endpoint`` path;
none ever carries the access token or the app secret. The tree::

    WeChatError                         .errcode .errmsg .endpoint (root; unknown errcodes)
    ├── WeChatTransportError            no answer: timeout, connection, HTTP status, bad body
    │   └── WeChatHTTPStatusError       a non-2xx HTTP status (.status_code)
    ├── SendDeadlineError               a retry would start after the call's not_after
    ├── BusyError                       -1, 9500002: system busy, retry later
    ├── CredentialError                 appid / secret / IP whitelist / OAuth codes
    │   └── InvalidTokenError           40001 40014 42001: refresh the token once, replay once
    ├── RateLimitError                  quotas
    │   ├── DailyQuotaError             45009
    │   ├── MinuteQuotaError            45011
    │   ├── MassQuotaError              45028
    │   └── ClearQuotaExhaustedError    48006: the month's 10 clear_quota resets are used
    ├── ClientMsgIdError                the idempotency key of a send
    │   ├── DuplicateClientMsgIdError   45065 (.msg_id of the original send)
    │   ├── ClientMsgIdRetryTooFastError 45066
    │   └── ClientMsgIdTooLongError     45067
    ├── InvalidOpenIDError              40003 49003 43004 50005 ...: not a follower of this app
    ├── RecipientRefusedError           43019 48002 43101 ...: blacklisted or refusing messages
    ├── ServiceWindowError              customer-service window
    │   ├── ServiceWindowClosedError    45015 45080
    │   └── ServiceWindowExhaustedError 45047
    ├── TagError                        45058 45157 45158 45159
    │   └── TagLimitError
    │       ├── TooManyTagsError        45056: 100 tags per account
    │       ├── FollowerTagLimitError   45059: 20 tags per follower
    │       └── TagTooLargeError        45057: a tag with > 100,000 followers
    ├── MenuError                       40015-40028 65301-65320 45010 46003 ...
    ├── MediaError                      media ids, sizes and formats
    ├── TemplateError                   template ids, data, industry
    ├── PermissionDeniedError           API not authorized, banned, agreement missing
    └── InvalidRequestError             other malformed requests (sizes, formats, parameters)

Misuse caught before any call is made raises `WeChatValidationError`, a `ValueError` that
is not a `WeChatError` (nothing was sent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "ERRCODE_FAMILIES",
    "BusyError",
    "ClearQuotaExhaustedError",
    "ClientMsgIdError",
    "ClientMsgIdRetryTooFastError",
    "ClientMsgIdTooLongError",
    "CredentialError",
    "DailyQuotaError",
    "DuplicateClientMsgIdError",
    "FollowerTagLimitError",
    "InvalidOpenIDError",
    "InvalidRequestError",
    "InvalidTokenError",
    "MassQuotaError",
    "MediaError",
    "MenuError",
    "MinuteQuotaError",
    "PermissionDeniedError",
    "RateLimitError",
    "RecipientRefusedError",
    "SendDeadlineError",
    "ServiceWindowClosedError",
    "ServiceWindowError",
    "ServiceWindowExhaustedError",
    "TagError",
    "TagLimitError",
    "TagTooLargeError",
    "TemplateError",
    "TooManyTagsError",
    "WeChatError",
    "WeChatHTTPStatusError",
    "WeChatTransportError",
    "WeChatValidationError",
    "error_for",
]


class WeChatValidationError(ValueError):
    """Bad input refused locally, before any request was sent."""


class WeChatError(Exception):
    """Root of every error WeChat (or the way to it) answered; also used for unknown errcodes.

    ``errcode`` is None for transport failures. ``payload`` is the decoded answer (it never
    holds credentials: WeChat does not echo them).
    """

    def __init__(
        self,
        errcode: int | None,
        errmsg: str,
        endpoint: str,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(errcode, errmsg, endpoint)
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint
        self.payload: Mapping[str, Any] = MappingProxyType(dict(payload or {}))

    def __str__(self) -> str:
        code = "" if self.errcode is None else f"errcode {self.errcode}: "
        return f"{code}{self.errmsg} ({self.endpoint})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(errcode={self.errcode!r}, errmsg={self.errmsg!r}, "
            f"endpoint={self.endpoint!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; rebuild from the state instead, so errors
        # survive pickling (multiprocessing, task queues).
        state = dict(self.__dict__)
        state["payload"] = dict(self.payload)
        return (_rebuild, (type(self), self.args, state))


def _rebuild(cls: type[WeChatError], args: tuple[Any, ...], state: dict[str, Any]) -> WeChatError:
    error = cls.__new__(cls)
    error.args = args
    state["payload"] = MappingProxyType(state["payload"])
    error.__dict__.update(state)
    return error


class WeChatTransportError(WeChatError):
    """No usable answer: a timeout, a connection failure, an HTTP error status or a bad body."""

    def __init__(self, message: str, endpoint: str, *, kind: str = "transport") -> None:
        super().__init__(None, message, endpoint)
        self.kind = kind


class WeChatHTTPStatusError(WeChatTransportError):
    """WeChat (or a proxy) answered a non-2xx HTTP status."""

    def __init__(self, status_code: int, endpoint: str) -> None:
        super().__init__(f"HTTP status {status_code}", endpoint, kind="http_status")
        self.status_code = status_code


class BusyError(WeChatError):
    """WeChat is busy (-1); retried automatically for calls that are safe to replay."""


class CredentialError(WeChatError):
    """The appid, secret, caller IP or an OAuth credential was refused."""


class InvalidTokenError(CredentialError):
    """The access token is invalid, expired or superseded; the client refreshes it once."""


class RateLimitError(WeChatError):
    """A WeChat quota is exhausted; raised at once, never hammered."""


class DailyQuotaError(RateLimitError):
    """45009: the daily quota of this API is reached."""


class MinuteQuotaError(RateLimitError):
    """45011: the per-minute quota is reached; slow down."""


class MassQuotaError(RateLimitError):
    """45028: the account has no mass-send quota left."""


class ClearQuotaExhaustedError(RateLimitError):
    """48006: this month's ``clear_quota`` resets are used up (also raised locally, unsent)."""


class ClientMsgIdError(WeChatError):
    """A problem with the idempotency key (``clientmsgid``) of a send."""


class DuplicateClientMsgIdError(ClientMsgIdError):
    """45065: a send with this clientmsgid already exists; ``msg_id`` names it."""

    @property
    def msg_id(self) -> int | None:
        """The msg_id of the earlier send WeChat returned, if any."""
        value = self.payload.get("msg_id")
        return int(value) if value is not None else None


class SendDeadlineError(WeChatError):
    """An attempt of a call would have started after its ``not_after``: it was not sent.

    Raised on the first attempt, nothing was sent; raised on a retry, its ``__cause__`` chain
    holds the earlier attempts, whose outcome may be unknown.
    """

    def __init__(self, endpoint: str, not_after: object) -> None:
        super().__init__(None, f"not sent: the attempt would start after {not_after}", endpoint)


class ClientMsgIdRetryTooFastError(ClientMsgIdError):
    """45066: the same clientmsgid was retried within a minute."""


class ClientMsgIdTooLongError(ClientMsgIdError):
    """45067: the clientmsgid is too long."""


class InvalidOpenIDError(WeChatError):
    """An openid (or WeChat id) is invalid, not a follower, or belongs to another account."""


class RecipientRefusedError(WeChatError):
    """The recipient blocked the account or turned off messages."""


class ServiceWindowError(WeChatError):
    """The customer-service window does not allow this message."""


class ServiceWindowClosedError(ServiceWindowError):
    """45015 / 45080: no recent interaction opened a window (or the user unfollowed)."""


class ServiceWindowExhaustedError(ServiceWindowError):
    """45047: the window's message count is used up."""


class TagError(WeChatError):
    """A tag operation was refused: bad name, system tag, unknown tag."""


class TagLimitError(TagError):
    """A documented tag limit was hit."""


class TooManyTagsError(TagLimitError):
    """45056: the account already has 100 tags."""


class FollowerTagLimitError(TagLimitError):
    """45059: a follower already has 20 tags."""


class TagTooLargeError(TagLimitError):
    """45057: the tag has more than 100,000 followers and cannot be deleted."""


class MenuError(WeChatError):
    """A menu or conditional menu was refused."""


class MediaError(WeChatError):
    """A media id, size or format was refused."""


class TemplateError(WeChatError):
    """A template message was refused (template id, data or industry)."""


class PermissionDeniedError(WeChatError):
    """The account may not use this API or message type."""


class InvalidRequestError(WeChatError):
    """WeChat refused the request as malformed (sizes, formats, parameters)."""


def _codes(*items: int | range) -> Iterable[int]:
    for item in items:
        if isinstance(item, range):
            yield from item
        else:
            yield item


_FAMILIES: Final[tuple[tuple[type[WeChatError], Iterable[int]], ...]] = (
    (BusyError, _codes(-1, 9500002)),
    (InvalidTokenError, _codes(40001, 40014, 42001)),
    (
        CredentialError,
        _codes(
            40002,
            40013,
            40029,
            40030,
            40125,
            40163,
            40164,
            41001,
            41002,
            41003,
            41004,
            41008,
            42002,
            42003,
            42007,
            76022,
            89501,
            89503,
            89506,
            89507,
        ),
    ),
    (DailyQuotaError, _codes(45009)),
    (MinuteQuotaError, _codes(45011)),
    (MassQuotaError, _codes(45028)),
    (ClearQuotaExhaustedError, _codes(48006)),
    (DuplicateClientMsgIdError, _codes(45065)),
    (ClientMsgIdRetryTooFastError, _codes(45066)),
    (ClientMsgIdTooLongError, _codes(45067)),
    (InvalidOpenIDError, _codes(40003, 40031, 40132, 41009, 43004, 46004, 49003, 50005)),
    (RecipientRefusedError, _codes(43005, 43019, 43101, 48002, 50002)),
    (ServiceWindowClosedError, _codes(45015, 45080)),
    (ServiceWindowExhaustedError, _codes(45047)),
    (TooManyTagsError, _codes(45056)),
    (FollowerTagLimitError, _codes(45059)),
    (TagTooLargeError, _codes(45057)),
    (TagError, _codes(45058, 45157, 45158, 45159)),
    (
        MenuError,
        _codes(
            range(40015, 40029),
            40054,
            40055,
            40119,
            40120,
            41007,
            45010,
            45064,
            46002,
            46003,
            range(65301, 65315),
            65316,
            65317,
            65320,
        ),
    ),
    (
        MediaError,
        _codes(
            range(40004, 40008),
            range(40009, 40013),
            40118,
            40121,
            40137,
            41005,
            41006,
            44001,
            45001,
            45007,
            46001,
            48005,
        ),
    ),
    (TemplateError, _codes(40037, 40102, 43100, 45026, 45027, 47003)),
    (
        PermissionDeniedError,
        _codes(40155, 43001, 43002, 43003, 48001, 48003, 48004, 48008, 50001, 65400, 76003),
    ),
    (
        InvalidRequestError,
        _codes(
            40008,
            40032,
            40033,
            40035,
            40038,
            40039,
            40048,
            40050,
            40051,
            40053,
            40059,
            40060,
            40092,
            40117,
            40130,
            44002,
            44003,
            44004,
            range(45002, 45007),
            45008,
            range(45016, 45019),
            45072,
            45081,
            45083,
            45084,
            45166,
            47001,
            range(61450, 61458),
            61500,
            61501,
            range(40201, 40204),
            range(65401, 65409),
            76001,
            76002,
            76021,
        ),
    ),
    # Content APIs: industries, category and subscribe templates, subscribe page paths, and
    # the retired article-material endpoints ("This API has been unsupported").
    (TemplateError, _codes(40103, 40246, range(200011, 200015), range(200016, 200022))),
    (InvalidRequestError, _codes(41030)),
    (PermissionDeniedError, _codes(45103, 45106)),
)


def _build_table() -> Mapping[int, type[WeChatError]]:
    table: dict[int, type[WeChatError]] = {}
    for family, codes in _FAMILIES:
        for code in codes:
            if code in table:
                raise AssertionError(f"errcode {code} mapped twice")
            table[code] = family
    return MappingProxyType(table)


#: Every errcode wxsegment knows, mapped to the error class raised for it.
ERRCODE_FAMILIES: Final[Mapping[int, type[WeChatError]]] = _build_table()


def error_for(
    errcode: int, errmsg: str, endpoint: str, payload: Mapping[str, Any] | None = None
) -> WeChatError:
    """The error for an errcode WeChat answered; unknown codes give the root `WeChatError`."""
    family = ERRCODE_FAMILIES.get(errcode, WeChatError)
    return family(errcode, errmsg, endpoint, payload)
