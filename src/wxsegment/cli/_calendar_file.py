"""Read a campaign calendar from a TOML file of ``[[campaign]]`` tables.

Every problem is reported as one `CalendarFileError` naming the campaign (its ``id``, or its
position when the id itself is the problem) and the field, so a usage error can point at it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from wxsegment.api import MpNews, Text
from wxsegment.delivery import Calendar, Campaign
from wxsegment.segment import SegmentSyntaxError, parse

__all__ = ["CalendarFileError", "load_calendar"]

_FIELDS: Final = ("id", "send_at", "segment", "text", "mpnews", "content_key", "priority")


class CalendarFileError(ValueError):
    """The calendar file cannot be read, or one of its campaigns is malformed."""


def _toml(path: Path) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError as error:
            raise CalendarFileError(
                "reading TOML on Python 3.10 needs `pip install tomli`"
            ) from error
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except OSError as error:
        raise CalendarFileError(f"cannot read {path.name}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise CalendarFileError(f"{path.name} is not valid TOML: {error}") from None


def _send_at(value: object, where: str) -> datetime:
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise CalendarFileError(f"{where}, send_at: {value!r} is not ISO 8601") from None
    if not isinstance(value, datetime):
        kind = "a date without a time" if isinstance(value, date) else type(value).__name__
        raise CalendarFileError(f"{where}, send_at: expected a date and time, got {kind}")
    if value.tzinfo is None:
        raise CalendarFileError(
            f"{where}, send_at: {value.isoformat()} has no UTC offset (add +08:00 or Z)"
        )
    return value


def _string(table: Mapping[str, Any], name: str, where: str) -> str | None:
    value = table.get(name)
    if value is not None and not isinstance(value, str):
        raise CalendarFileError(f"{where}, {name}: expected a string, got {type(value).__name__}")
    return value


def _campaign(table: object, position: int) -> Campaign:
    where = f"campaign #{position}"
    if not isinstance(table, Mapping):
        raise CalendarFileError(f"{where}: expected a [[campaign]] table")
    campaign_id = _string(table, "id", where)
    if not campaign_id:
        raise CalendarFileError(f"{where}, id: every campaign needs an id")
    where = f"campaign {campaign_id!r}"
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise CalendarFileError(
            f"{where}, {unknown[0]}: unknown field; expected one of {', '.join(_FIELDS)}"
        )
    if "send_at" not in table:
        raise CalendarFileError(f"{where}, send_at: missing")
    send_at = _send_at(table["send_at"], where)
    dsl = _string(table, "segment", where)
    if dsl is None:
        raise CalendarFileError(f"{where}, segment: missing")
    try:
        segment = parse(dsl)
    except SegmentSyntaxError as error:
        raise CalendarFileError(f"{where}, segment:\n{error}") from None
    text, media_id = _string(table, "text", where), _string(table, "mpnews", where)
    if (text is None) == (media_id is None):
        raise CalendarFileError(f"{where}, text: give either text or mpnews (a media_id)")
    priority = table.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise CalendarFileError(f"{where}, priority: expected an integer")
    try:
        message = Text(text) if text is not None else MpNews(str(media_id))
        return Campaign(
            campaign_id,
            segment,
            message,
            content_key=_string(table, "content_key", where),
            priority=priority,
            send_at=send_at,
        )
    except (TypeError, ValueError) as error:
        raise CalendarFileError(f"{where}: {error}") from None


def load_calendar(path: Path) -> Calendar:
    """The `Calendar` of the ``[[campaign]]`` tables in ``path`` (a TOML file)."""
    data = _toml(path)
    extra = sorted(set(data) - {"campaign"})
    if extra:
        raise CalendarFileError(f"{path.name}: unknown top-level key {extra[0]!r}")
    tables = data.get("campaign")
    if not isinstance(tables, list) or not tables:
        raise CalendarFileError(f"{path.name}: no [[campaign]] tables")
    campaigns = [_campaign(table, n) for n, table in enumerate(tables, start=1)]
    try:
        return Calendar(campaigns)
    except (TypeError, ValueError) as error:
        raise CalendarFileError(f"{path.name}: {error}") from None
