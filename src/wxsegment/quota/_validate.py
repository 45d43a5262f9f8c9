"""Input validation shared by every ledger backend: all checks happen before any write."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import NamedTuple

from wxsegment._clock import ensure_aware, month_key
from wxsegment.quota._types import MAX_ID_LENGTH, MAX_LIMIT, MAX_OPENID_LENGTH

__all__ = [
    "Batch",
    "check_account",
    "check_at",
    "check_batch",
    "check_id",
    "check_limit",
    "check_openids",
    "check_optional_key",
]

def check_id(value: object, what: str) -> str:
    """A campaign id, external id or content key: a non-empty string of at most 128 chars."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    _check_storable(value, what)
    return value


def _check_storable(text: str, what: str) -> None:
    """Refuse what a backend cannot store (NUL for PostgreSQL, lone surrogates for UTF-8).

    Checked up front: a backend failing on it mid-batch would leave earlier chunks written.
    """
    if "\x00" in text:
        raise ValueError(f"{what} must not contain NUL characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{what} must be valid Unicode (no lone surrogates)") from error


def check_optional_key(value: object) -> str | None:
    """A content key, or ``None``."""
    return None if value is None else check_id(value, "content_key")


def check_account(value: object) -> str:
    """The account a ledger is bound to."""
    return check_id(value, "account")


def check_limit(value: object) -> int:
    """A monthly limit: an int from 1 to `MAX_LIMIT`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"limit must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}, got {value}")
    return value


def check_openids(openids: Iterable[str] | None) -> list[str] | None:
    """Unique openids in input order (``None`` passes through); each a str of 1 to 64 chars."""
    if openids is None:
        return None
    if isinstance(openids, (str, bytes)):
        raise TypeError("openids must be an iterable of openid strings, not a single string")
    unique = list(dict.fromkeys(openids))
    # The common case is checked at C speed; anything unusual gets the precise message.
    if set(map(type, unique)) - {str}:
        for openid in unique:
            if not isinstance(openid, str):
                raise TypeError(f"openids must be strings, got {type(openid).__name__}")
    if "" in unique:
        raise ValueError("openids must not be empty strings")
    longest = max(map(len, unique), default=0)
    if longest > MAX_OPENID_LENGTH:
        raise ValueError(
            f"openids must be at most {MAX_OPENID_LENGTH} characters, got one of {longest}"
        )
    # One pass over the joined text keeps a million-follower batch check in milliseconds.
    _check_storable("".join(unique), "openids")
    return unique


def check_at(at: datetime) -> tuple[datetime, str]:
    """The instant (timezone-aware) and its Asia/Shanghai month key."""
    ensure_aware(at, "at")
    try:
        # Backends store the instant in UTC; both conversions must exist.
        at.astimezone(timezone.utc)
        return at, month_key(at)
    except OverflowError as error:
        raise ValueError(f"at is out of the supported range: {at.isoformat()}") from error


class Batch(NamedTuple):
    """A validated reserve or record_external call: who, when, and with which content key."""

    content_key: str | None
    at: datetime
    month: str
    openids: list[str]


def check_batch(
    identifier: object, what: str, openids: Iterable[str], at: datetime, content_key: object
) -> Batch:
    """Validate every argument of a call that writes a batch, before anything is written."""
    check_id(identifier, what)
    if openids is None:
        raise TypeError("openids must be an iterable of openid strings, not None")
    key = check_optional_key(content_key)
    at, month = check_at(at)
    return Batch(key, at, month, check_openids(openids) or [])
