"""Time helpers shared by every part: aware datetimes, the clock protocol, quota months.

Nothing in wxsegment reads the wall clock deep inside; functions that depend on "now" take a
`Clock` or an explicit ``at``/``now`` argument.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final, Protocol

__all__ = [
    "SHANGHAI",
    "Clock",
    "FixedClock",
    "SystemClock",
    "ensure_aware",
    "month_key",
    "month_start",
]

#: WeChat counts mass pushes per natural month in China Standard Time. A fixed +08:00 offset is
#: exact for every date since 1991 (China has no daylight saving time) and needs no tz database.
SHANGHAI: Final = timezone(timedelta(hours=8), "Asia/Shanghai")


def ensure_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` unchanged if it is timezone-aware; raise ``ValueError`` if it is naive."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def month_key(at: datetime) -> str:
    """The natural month of ``at`` in Asia/Shanghai, as ``"YYYY-MM"``."""
    local = ensure_aware(at, "at").astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def month_start(at: datetime) -> datetime:
    """The first instant of the Asia/Shanghai natural month containing ``at``."""
    local = ensure_aware(at, "at").astimezone(SHANGHAI)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class Clock(Protocol):
    """Something that tells the current time as an aware datetime."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start, "start")

    def now(self) -> datetime:
        """The clock's current instant."""
        return self._now

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (which may be earlier than now)."""
        self._now = ensure_aware(at, "at")

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new instant."""
        self._now = self._now + delta
        return self._now

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"
