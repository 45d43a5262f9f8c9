"""Access tokens of the fake WeChat: ``token`` and ``stable_token``, their lifetimes, the
grace period of a replaced classic token and the daily ``force_refresh`` budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment._clock import SHANGHAI
from wxsegment.testing._fake_wire import Reply

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["TOKEN_CHARS", "TOKEN_PATHS", "FakeTokens"]

TOKEN_PATHS: Final = frozenset({"/cgi-bin/token", "/cgi-bin/stable_token"})
TOKEN_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{32,512}")


@attrs.define
class _Token:
    expires_at: datetime
    invalid_after: datetime | None = None


class FakeTokens:
    """Issued tokens by value; the current classic and stable ones."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._tokens: dict[str, _Token] = {}
        self._classic: str | None = None
        self._stable: str | None = None
        self._forced: list[datetime] = []

    def expire_all(self, now: datetime) -> None:
        """Expire every issued token at ``now`` at the latest."""
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, now)

    def _issue(self, now: datetime) -> str:
        value = "".join(self._fake._rng.choices(TOKEN_CHARS, k=128))
        self._tokens[value] = _Token(now + timedelta(seconds=self._fake.config.token_ttl))
        return value

    def _check_credentials(self, appid: object, secret: object) -> None:
        if not appid:
            raise Reply(41002)
        if not secret:
            raise Reply(41004)
        if appid != self._fake.appid:
            raise Reply(40013)
        if secret != self._fake.secret:
            raise Reply(self._fake.config.bad_secret_errcode)

    def token(self, req: _Request) -> dict[str, Any]:
        """``token``: a new classic token; the previous one lives on for the grace period."""
        config = self._fake.config
        if req.query.get("grant_type") != "client_credential":
            raise Reply(40002)
        self._check_credentials(req.query.get("appid"), req.query.get("secret"))
        previous = self._tokens.get(self._classic or "")
        if previous is not None:
            grace = req.now + timedelta(seconds=config.token_grace)
            previous.invalid_after = min(previous.invalid_after or grace, grace)
        self._classic = self._issue(req.now)
        return {"access_token": self._classic, "expires_in": int(config.token_ttl)}

    def stable_token(self, req: _Request) -> dict[str, Any]:
        """``stable_token``: the current stable token, renewed near its end or when forced."""
        config = self._fake.config
        body = req.body
        if body.get("grant_type") != "client_credential":
            raise Reply(40002)
        self._check_credentials(body.get("appid"), body.get("secret"))
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise Reply(40035, "force_refresh must be a boolean")
        current = self._tokens.get(self._stable or "")
        if force:
            day = req.now.astimezone(SHANGHAI).date()
            today = [t for t in self._forced if t.astimezone(SHANGHAI).date() == day]
            interval = timedelta(seconds=config.stable_force_min_interval)
            if len(today) >= config.stable_force_per_day or (
                self._forced and req.now - self._forced[-1] < interval
            ):
                raise Reply(config.stable_force_errcode, "force_refresh limit")
            self._forced = [*today, req.now]
            if current is not None:
                current.invalid_after = req.now
            current = None
        rotate = timedelta(seconds=config.stable_rotate_before)
        if (
            current is None
            or current.invalid_after is not None
            or current.expires_at - req.now <= rotate
        ):
            self._stable = self._issue(req.now)
            current = self._tokens[self._stable]
        assert self._stable is not None
        remaining = int((current.expires_at - req.now).total_seconds())
        return {"access_token": self._stable, "expires_in": remaining}

    def check(self, query: Mapping[str, str], now: datetime) -> None:
        """The ``access_token`` of a call: 41001 missing, 40014 malformed, 40001, 42001."""
        value = query.get("access_token")
        if not value:
            raise Reply(41001)
        if not _TOKEN_SHAPE.fullmatch(value):
            raise Reply(40014)
        token = self._tokens.get(value)
        if token is None or (token.invalid_after is not None and now >= token.invalid_after):
            raise Reply(40001)
        if now >= token.expires_at:
            raise Reply(42001)
