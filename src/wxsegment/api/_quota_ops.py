"""API quotas and diagnostics: ``openapi/quota/get``, ``clear_quota``, ``openapi/rid/get``,
WeChat's IP lists and ``callback/check``.

``clear_quota`` may succeed only 10 times per account per natural month (web-console resets
included). The client books each reset in a `ClearQuotaLedger` before calling, so it refuses
the eleventh locally instead of spending a call on a certain 48006.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

import attrs

from wxsegment._clock import month_key
from wxsegment.api._core import Call
from wxsegment.api._errors import ClearQuotaExhaustedError, WeChatError, WeChatValidationError

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "CLEAR_QUOTA_PER_MONTH",
    "ApiQuota",
    "AsyncQuotaOps",
    "CallbackCheck",
    "ClearQuotaLedger",
    "DnsResult",
    "MemoryClearQuotaLedger",
    "PingResult",
    "QuotaOps",
    "RidInfo",
    "rid_of",
]

#: ``clear_quota`` resets per account per natural month (48006 beyond).
CLEAR_QUOTA_PER_MONTH: Final = 10

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CheckAction = Literal["dns", "ping", "all"]
CheckOperator = Literal["CHINANET", "UNICOM", "CAP", "DEFAULT"]

_RID: Final = re.compile(r"rid:\s*([0-9A-Za-z-]+)")
_SECRET_QUERY: Final = re.compile(r"((?:access_token|secret)=)[^&\s]*")


def rid_of(error: WeChatError | str) -> str | None:
    """The request id (``rid: …``) WeChat appends to an errmsg, for `QuotaOps.rid`."""
    text = error.errmsg if isinstance(error, WeChatError) else str(error)
    found = _RID.search(text)
    return found.group(1) if found else None


@runtime_checkable
class ClearQuotaLedger(Protocol):
    """Counts ``clear_quota`` resets per appid and month; share one between processes.

    `take` books a reset atomically if fewer than ``limit`` are booked; `give_back` undoes a
    booking whose call certainly failed; `exhaust` records that WeChat says none are left.
    """

    def take(self, appid: str, month: str, limit: int) -> bool:
        """Book one reset unless ``limit`` are already booked; whether it was booked."""
        ...

    def give_back(self, appid: str, month: str) -> None:
        """Undo one booking of this month."""
        ...

    def exhaust(self, appid: str, month: str, limit: int) -> None:
        """Mark the month as used up."""
        ...

    def used(self, appid: str, month: str) -> int:
        """Resets booked this month."""
        ...


class MemoryClearQuotaLedger:
    """A `ClearQuotaLedger` in this process's memory (the default)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def take(self, appid: str, month: str, limit: int) -> bool:
        """Book one reset unless ``limit`` are already booked; whether it was booked."""
        with self._lock:
            count = self._counts.get((appid, month), 0)
            if count >= limit:
                return False
            self._counts[(appid, month)] = count + 1
            return True

    def give_back(self, appid: str, month: str) -> None:
        """Undo one booking of this month."""
        with self._lock:
            count = self._counts.get((appid, month), 0)
            self._counts[(appid, month)] = max(0, count - 1)

    def exhaust(self, appid: str, month: str, limit: int) -> None:
        """Mark the month as used up."""
        with self._lock:
            self._counts[(appid, month)] = max(limit, self._counts.get((appid, month), 0))

    def used(self, appid: str, month: str) -> int:
        """Resets booked this month."""
        with self._lock:
            return self._counts.get((appid, month), 0)

    def __repr__(self) -> str:
        return f"MemoryClearQuotaLedger(entries={len(self._counts)})"


@attrs.frozen
class ApiQuota:
    """``openapi/quota/get``: one API's daily quota, and its rate limit when WeChat gives one."""

    cgi_path: str
    daily_limit: int
    used: int
    remain: int
    rate_limit_calls: int | None = None
    rate_limit_seconds: int | None = None

    @classmethod
    def from_wechat(cls, cgi_path: str, data: Mapping[str, Any]) -> ApiQuota:
        """Parse an answer."""
        quota = data.get("quota") or {}
        rate = data.get("rate_limit") or {}
        calls = rate.get("call_count")
        seconds = rate.get("refresh_second")
        return cls(
            cgi_path,
            int(quota.get("daily_limit", 0)),
            int(quota.get("used", 0)),
            int(quota.get("remain", 0)),
            None if calls is None else int(calls),
            None if seconds is None else int(seconds),
        )


@attrs.frozen(repr=False)
class RidInfo:
    """``openapi/rid/get``: what WeChat recorded of one request (kept 7 days).

    ``request_url`` is the query string WeChat saw, access token included: it never prints.
    """

    invoke_time: datetime
    cost_in_ms: int
    request_url: str
    request_body: str
    response_body: str
    client_ip: str

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> RidInfo:
        """Parse an answer."""
        request = data.get("request") or {}
        return cls(
            datetime.fromtimestamp(int(request.get("invoke_time", 0)), timezone.utc),
            int(request.get("cost_in_ms", 0)),
            str(request.get("request_url", "")),
            str(request.get("request_body", "")),
            str(request.get("response_body", "")),
            str(request.get("client_ip", "")),
        )

    def __repr__(self) -> str:
        url = _SECRET_QUERY.sub(r"\1***", self.request_url)
        return (
            f"RidInfo(invoke_time={self.invoke_time!r}, cost_in_ms={self.cost_in_ms!r}, "
            f"request_url={url!r}, client_ip={self.client_ip!r})"
        )


@attrs.frozen
class DnsResult:
    """One resolution of the callback host: the IP and the carrier it belongs to."""

    ip: str
    real_operator: str


@attrs.frozen
class PingResult:
    """One ping of the callback host; ``package_loss`` like ``"0%"``, ``time`` like ``"23ms"``."""

    ip: str
    from_operator: str
    package_loss: str
    time: str


@attrs.frozen
class CallbackCheck:
    """``callback/check``: how WeChat's servers resolve and reach the callback URL."""

    dns: tuple[DnsResult, ...]
    ping: tuple[PingResult, ...]

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> CallbackCheck:
        """Parse an answer."""
        return cls(
            tuple(
                DnsResult(str(d.get("ip", "")), str(d.get("real_operator", "")))
                for d in data.get("dns", ())
            ),
            tuple(
                PingResult(
                    str(p.get("ip", "")),
                    str(p.get("from_operator", "")),
                    str(p.get("package_loss", "")),
                    str(p.get("time", "")),
                )
                for p in data.get("ping", ())
            ),
        )


def quota_call(cgi_path: str) -> Call:
    """``POST /cgi-bin/openapi/quota/get``; the path starts with ``/`` and names no host."""
    if not isinstance(cgi_path, str):
        raise TypeError(f"cgi_path must be a str, not {type(cgi_path).__name__}")
    if not cgi_path.startswith("/") or "://" in cgi_path or "?" in cgi_path:
        raise WeChatValidationError(
            f"cgi_path must be a path like '/cgi-bin/user/info', got {cgi_path!r}"
        )
    return Call("POST", "/cgi-bin/openapi/quota/get", body={"cgi_path": cgi_path})


def rid_call(rid: str) -> Call:
    """``POST /cgi-bin/openapi/rid/get``."""
    if not isinstance(rid, str):
        raise TypeError(f"rid must be a str, not {type(rid).__name__}")
    if not rid or not re.fullmatch(r"[0-9A-Za-z-]+", rid):
        raise WeChatValidationError(f"rid must look like '61725984-6126f6f9-040f19c4': {rid!r}")
    return Call("POST", "/cgi-bin/openapi/rid/get", body={"rid": rid})


def check_call(action: str, operator: str) -> Call:
    """``POST /cgi-bin/callback/check``."""
    if action not in ("dns", "ping", "all"):
        raise WeChatValidationError(f"action must be 'dns', 'ping' or 'all', got {action!r}")
    if operator not in ("CHINANET", "UNICOM", "CAP", "DEFAULT"):
        raise WeChatValidationError(
            f"operator must be CHINANET, UNICOM, CAP or DEFAULT, got {operator!r}"
        )
    body = {"action": action, "check_operator": operator}
    return Call("POST", "/cgi-bin/callback/check", body=body)


def parse_ips(data: Mapping[str, Any]) -> list[IPNetwork]:
    """``ip_list`` entries as networks (WeChat mixes single IPs and CIDR ranges)."""
    return [ipaddress.ip_network(str(entry), strict=False) for entry in data.get("ip_list", ())]


def _clear_call(appid: str) -> Call:
    # Not replayable: a lost answer may hide a reset that was spent.
    return Call("POST", "/cgi-bin/clear_quota", body={"appid": appid}, replayable=False)


def _clear_v2_call(appid: str, secret: str) -> Call:
    return Call(
        "POST",
        "/cgi-bin/clear_quota/v2",
        params={"appid": appid, "appsecret": secret},
        body={},
        replayable=False,
        token=False,
    )


def _refused(appid: str, month: str, endpoint: str) -> ClearQuotaExhaustedError:
    return ClearQuotaExhaustedError(
        48006,
        f"refused locally: {CLEAR_QUOTA_PER_MONTH} clear_quota resets already booked for "
        f"{appid} in {month}",
        endpoint,
    )


class _Booking:
    """Book a reset, then settle it from the call's outcome."""

    def __init__(self, ledger: ClearQuotaLedger, appid: str, month: str, endpoint: str) -> None:
        self.ledger, self.appid, self.month, self.endpoint = ledger, appid, month, endpoint

    def __enter__(self) -> None:
        if not self.ledger.take(self.appid, self.month, CLEAR_QUOTA_PER_MONTH):
            raise _refused(self.appid, self.month, self.endpoint)

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, ClearQuotaExhaustedError):
            self.ledger.exhaust(self.appid, self.month, CLEAR_QUOTA_PER_MONTH)
        elif isinstance(error, WeChatError) and error.errcode is not None:
            # WeChat answered with another errcode: no reset was spent.
            self.ledger.give_back(self.appid, self.month)


class QuotaOps:
    """Quotas and diagnostics (blocking)."""

    def __init__(self, client: Client, ledger: ClearQuotaLedger | None = None) -> None:
        self._client = client
        self._ledger = ledger if ledger is not None else MemoryClearQuotaLedger()

    def _booking(self, endpoint: str) -> _Booking:
        month = month_key(self._client._clock.now())
        return _Booking(self._ledger, self._client.appid, month, endpoint)

    def resets_booked(self) -> int:
        """``clear_quota`` resets the ledger has booked this month (of 10)."""
        return self._ledger.used(self._client.appid, month_key(self._client._clock.now()))

    def get(self, cgi_path: str) -> ApiQuota:
        """The daily quota of one API (``POST /cgi-bin/openapi/quota/get``)."""
        return ApiQuota.from_wechat(cgi_path, self._client._request(quota_call(cgi_path)))

    def clear(self) -> None:
        """Reset today's API counters (``POST /cgi-bin/clear_quota``; 10 per month)."""
        call = _clear_call(self._client.appid)
        with self._booking(call.path):
            self._client._request(call)

    def clear_with_secret(self) -> None:
        """Reset counters without a token (``POST /cgi-bin/clear_quota/v2``; same 10)."""
        call = _clear_v2_call(self._client.appid, self._client._secret)
        with self._booking(call.path):
            self._client._request(call)

    def rid(self, rid: str) -> RidInfo:
        """What WeChat recorded of a request, by its rid (``POST /cgi-bin/openapi/rid/get``)."""
        return RidInfo.from_wechat(self._client._request(rid_call(rid)))

    def callback_ips(self) -> list[IPNetwork]:
        """The addresses WeChat pushes from (``GET /cgi-bin/getcallbackip``)."""
        return parse_ips(self._client._request(Call("GET", "/cgi-bin/getcallbackip")))

    def api_domain_ips(self) -> list[IPNetwork]:
        """The addresses of api.weixin.qq.com (``GET /cgi-bin/get_api_domain_ip``)."""
        return parse_ips(self._client._request(Call("GET", "/cgi-bin/get_api_domain_ip")))

    def check_callback(
        self, action: CheckAction = "all", operator: CheckOperator = "DEFAULT"
    ) -> CallbackCheck:
        """Have WeChat resolve and ping the callback URL (``POST /cgi-bin/callback/check``)."""
        return CallbackCheck.from_wechat(self._client._request(check_call(action, operator)))


class AsyncQuotaOps:
    """Quotas and diagnostics (asyncio)."""

    def __init__(self, client: AsyncClient, ledger: ClearQuotaLedger | None = None) -> None:
        self._client = client
        self._ledger = ledger if ledger is not None else MemoryClearQuotaLedger()

    def _booking(self, endpoint: str) -> _Booking:
        month = month_key(self._client._clock.now())
        return _Booking(self._ledger, self._client.appid, month, endpoint)

    async def resets_booked(self) -> int:
        """``clear_quota`` resets the ledger has booked this month (of 10)."""
        return self._ledger.used(self._client.appid, month_key(self._client._clock.now()))

    async def get(self, cgi_path: str) -> ApiQuota:
        """The daily quota of one API (``POST /cgi-bin/openapi/quota/get``)."""
        return ApiQuota.from_wechat(cgi_path, await self._client._request(quota_call(cgi_path)))

    async def clear(self) -> None:
        """Reset today's API counters (``POST /cgi-bin/clear_quota``; 10 per month)."""
        call = _clear_call(self._client.appid)
        with self._booking(call.path):
            await self._client._request(call)

    async def clear_with_secret(self) -> None:
        """Reset counters without a token (``POST /cgi-bin/clear_quota/v2``; same 10)."""
        call = _clear_v2_call(self._client.appid, self._client._secret)
        with self._booking(call.path):
            await self._client._request(call)

    async def rid(self, rid: str) -> RidInfo:
        """What WeChat recorded of a request, by its rid (``POST /cgi-bin/openapi/rid/get``)."""
        return RidInfo.from_wechat(await self._client._request(rid_call(rid)))

    async def callback_ips(self) -> list[IPNetwork]:
        """The addresses WeChat pushes from (``GET /cgi-bin/getcallbackip``)."""
        return parse_ips(await self._client._request(Call("GET", "/cgi-bin/getcallbackip")))

    async def api_domain_ips(self) -> list[IPNetwork]:
        """The addresses of api.weixin.qq.com (``GET /cgi-bin/get_api_domain_ip``)."""
        return parse_ips(await self._client._request(Call("GET", "/cgi-bin/get_api_domain_ip")))

    async def check_callback(
        self, action: CheckAction = "all", operator: CheckOperator = "DEFAULT"
    ) -> CallbackCheck:
        """Have WeChat resolve and ping the callback URL (``POST /cgi-bin/callback/check``)."""
        return CallbackCheck.from_wechat(await self._client._request(check_call(action, operator)))
