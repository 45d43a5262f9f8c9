"""The fake's API quotas and diagnostics: daily and per-minute quotas (45009, 45011),
``openapi/quota/get``, ``clear_quota`` (10 a month, 48006), ``openapi/rid/get`` and its
request log, the IP lists and ``callback/check``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment._clock import SHANGHAI, month_key
from wxsegment.testing._fake_wire import Reply, dumps, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["FakeOps"]

#: How long WeChat keeps a rid for ``openapi/rid/get``.
_RID_TTL: Final = timedelta(days=7)
#: The daily limit ``quota/get`` reports for an API without a configured quota (UNCONFIRMED).
_UNLISTED_DAILY_LIMIT: Final = 10_000_000
_ACTIONS: Final = frozenset({"dns", "ping", "all"})
_OPERATORS: Final = frozenset({"CHINANET", "UNICOM", "CAP", "DEFAULT"})


@attrs.frozen
class _Logged:
    at: datetime
    query: str
    body: str
    answer: str


class FakeOps:
    """Per-API counters and the request log behind the quota and diagnostics endpoints."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._day: date | None = None
        self._used: dict[str, int] = {}
        self._minute: dict[str, deque[datetime]] = {}
        self._clears: dict[str, int] = {}
        self._rids: dict[str, _Logged] = {}

    # ------------------------------------------------------------------ counting

    def count(self, path: str, now: datetime) -> None:
        """Count one call of ``path``; answer 45011 / 45009 when a quota is already used up."""
        config = self._fake.config
        per_minute = config.minute_quotas.get(path)
        if per_minute is not None:
            times = self._minute.setdefault(path, deque())
            while times and times[0] <= now - timedelta(minutes=1):
                times.popleft()
            if len(times) >= per_minute:
                raise Reply(45011)
            times.append(now)
        self._roll(now)
        limit = config.daily_quotas.get(path)
        used = self._used.get(path, 0)
        if limit is not None and used >= limit:
            raise Reply(45009)
        self._used[path] = used + 1

    def _roll(self, now: datetime) -> None:
        today = now.astimezone(SHANGHAI).date()
        if today != self._day:
            self._day = today
            self._used.clear()

    def used(self, path: str, now: datetime) -> int:
        """Calls of ``path`` counted today (Asia/Shanghai)."""
        self._roll(now)
        return self._used.get(path, 0)

    def remember(
        self,
        rid: str,
        at: datetime,
        query: Mapping[str, str],
        body: bytes,
        answer: Mapping[str, Any],
    ) -> None:
        """Keep what ``openapi/rid/get`` will tell about a failed request."""
        self._rids[rid] = _Logged(
            at,
            "&".join(f"{k}={v}" for k, v in query.items()),
            body.decode("utf-8", errors="replace"),
            dumps(dict(answer)).decode("utf-8"),
        )

    # ------------------------------------------------------------------ handlers

    def quota_get(self, body: Mapping[str, Any], now: datetime, routed: frozenset[str]) -> Any:
        """``openapi/quota/get``."""
        cgi_path = get_str(body, "cgi_path", 76021)
        if not cgi_path.startswith("/") or "://" in cgi_path:
            raise Reply(76003, "cgi_path must start with /")
        if cgi_path.startswith("/sns/"):
            raise Reply(76022)
        if cgi_path not in routed:
            raise Reply(76021)
        limit = self._fake.config.daily_quotas.get(cgi_path, _UNLISTED_DAILY_LIMIT)
        used = self.used(cgi_path, now)
        answer: dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "quota": {"daily_limit": limit, "used": used, "remain": max(0, limit - used)},
        }
        per_minute = self._fake.config.minute_quotas.get(cgi_path)
        if per_minute is not None:
            answer["rate_limit"] = {"call_count": per_minute, "refresh_second": 60}
        return answer

    def _clear(self, now: datetime) -> dict[str, Any]:
        month = month_key(now)
        if self._clears.get(month, 0) >= self._fake.config.clear_quota_per_month:
            raise Reply(48006)
        self._clears[month] = self._clears.get(month, 0) + 1
        self._used.clear()
        self._minute.clear()
        return {"errcode": 0, "errmsg": "ok"}

    def clear_quota(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``clear_quota``: the token's own appid, 10 per natural month."""
        appid = get_str(body, "appid", 40013, missing=41002)
        if appid != self._fake.appid:
            raise Reply(40013)
        return self._clear(now)

    def clear_quota_v2(self, query: Mapping[str, str], now: datetime) -> dict[str, Any]:
        """``clear_quota/v2``: appid and appsecret in the query, no token; the same pool."""
        appid, secret = query.get("appid"), query.get("appsecret")
        if not appid:
            raise Reply(41002)
        if not secret:
            raise Reply(41004)
        if appid != self._fake.appid:
            raise Reply(40013)
        if secret != self._fake.secret:
            raise Reply(self._fake.config.bad_secret_errcode)
        return self._clear(now)

    def clears(self, month: str) -> int:
        """Resets done in a month (``YYYY-MM``)."""
        return self._clears.get(month, 0)

    def record_clear(self, month: str) -> None:
        """A reset made elsewhere (the web console) that shares the monthly pool."""
        self._clears[month] = self._clears.get(month, 0) + 1

    def rid_get(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``openapi/rid/get``: requests answered with an errcode, kept 7 days."""
        rid = body.get("rid")
        if not isinstance(rid, str) or not rid or " " in rid:
            raise Reply(76002)
        logged = self._rids.get(rid)
        if logged is None or now - logged.at > _RID_TTL:
            raise Reply(76001)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "request": {
                "invoke_time": int(logged.at.timestamp()),
                "cost_in_ms": 1,
                "request_url": logged.query,
                "request_body": logged.body,
                "response_body": logged.answer,
                "client_ip": "127.0.0.1",
            },
        }

    def callback_ips(self) -> dict[str, Any]:
        """``getcallbackip``."""
        return {"ip_list": list(self._fake.config.callback_ips)}

    def api_domain_ips(self) -> dict[str, Any]:
        """``get_api_domain_ip``."""
        return {"ip_list": list(self._fake.config.api_domain_ips)}

    def callback_check(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``callback/check``: 40201 without a callback URL, 40202 / 40203 for bad choices."""
        if self._fake.config.callback_url is None:
            raise Reply(40201)
        action = body.get("action")
        if action not in _ACTIONS:
            raise Reply(40202)
        operator = body.get("check_operator", "DEFAULT")
        if operator not in _OPERATORS:
            raise Reply(40203)
        carrier = "CHINANET" if operator == "DEFAULT" else operator
        dns = [{"ip": "203.0.113.10", "real_operator": carrier}]
        ping = [
            {
                "ip": "203.0.113.10",
                "from_operator": carrier,
                "package_loss": "0%",
                "time": "23.079ms",
            }
        ]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "dns": dns if action in ("dns", "all") else [],
            "ping": ping if action in ("ping", "all") else [],
        }
