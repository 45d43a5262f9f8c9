"""Checking writes before they reach a database: followers and import rows become `Write`s.

Every check runs before the first statement, so a call with one bad row changes nothing. A
`Write` either replaces a whole follower (from a `Follower`) or merges the fields a row names
into the stored follower (from an import row, where a missing or empty value leaves the stored
one alone).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple, TypeVar

from wxsegment._clock import ensure_aware
from wxsegment._model import AttributeValue, Follower
from wxsegment.followers._errors import ImportRejectedError
from wxsegment.followers._report import RejectedRow
from wxsegment.followers._schema import AttributeSchema

__all__ = ["MAX_OPENID_LENGTH", "Write", "check_openid", "check_text", "prepare"]

#: Longest openid the store accepts. WeChat's are 28 characters; other platforms' run longer.
MAX_OPENID_LENGTH: Final = 64
#: Rejections listed in one error at most: enough to fix a file, bounded for a huge one.
MAX_REJECTIONS: Final = 100
_INT64: Final = 2**63
_FIELDS: Final = frozenset({"openid", "subscribe_time", "unionid", "last_interaction_at", "tags"})
_TRUE: Final = frozenset({"true", "1", "yes", "y", "t"})
_FALSE: Final = frozenset({"false", "0", "no", "n", "f"})

_INFINITY: Final = math.inf
T = TypeVar("T")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: Non-ASCII texts already found storable. Tag names and CRM values repeat across millions of
#: rows, and the answer depends on the text alone, so it is remembered (up to a bound).
_STORABLE: set[str] = set()
_STORABLE_MAX: Final = 65536


def _storable(text: str) -> bool:
    if text in _STORABLE:
        return True
    if "\x00" in text or not _encodable(text):
        return False
    if len(_STORABLE) < _STORABLE_MAX:
        _STORABLE.add(text)
    return True


def _NAME_OK(name: str) -> bool:
    return bool(name) and (("\x00" not in name) if name.isascii() else _storable(name))


def check_text(value: object, what: str) -> str:
    """A string both backends store and compare exactly: no NUL, no lone surrogate."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate)") from None
    return value


def check_openid(value: object) -> str:
    """An openid: a non-empty string of at most `MAX_OPENID_LENGTH` characters."""
    if (
        type(value) is str
        and 0 < len(value) <= MAX_OPENID_LENGTH
        and value.isascii()
        and "\x00" not in value
    ):
        return value
    openid = check_text(value, "openid")
    if not openid or len(openid) > MAX_OPENID_LENGTH:
        raise ValueError(f"openid must have 1 to {MAX_OPENID_LENGTH} characters, got {len(openid)}")
    return openid


def _check_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError("tags must be an iterable of tag names, not a single string")
    names = frozenset(tags)
    try:
        if all(map(_NAME_OK, names)):
            return names
    except TypeError:
        pass
    for name in names:
        if not check_text(name, "tag name"):
            raise ValueError("tag names must be non-empty")
    return names


def _check_attribute(schema: AttributeSchema, name: str, value: object) -> AttributeValue:
    # Fast paths for exact built-in values of the declared kind: imports check millions.
    kind = schema.kinds.get(name)
    exact = type(value)
    if kind == "str" and isinstance(value, str) and exact is str:
        if ("\x00" not in value) if value.isascii() else _storable(value):
            return value
    elif kind == "float" and exact is float:
        if -_INFINITY < value < _INFINITY:  # type: ignore[operator]
            return value  # type: ignore[return-value]
    elif kind == "int" and exact is int:
        if -_INT64 <= value < _INT64:  # type: ignore[operator]
            return value  # type: ignore[return-value]
    elif (kind == "bool" and exact is bool) or (
        kind == "datetime" and exact is datetime and type(value.tzinfo) is timezone  # type: ignore[attr-defined]
    ):
        return value  # type: ignore[return-value]
    check_text(name, "attribute name")
    checked = schema.value(name, value)
    if isinstance(checked, str):
        check_text(checked, f"attribute {name!r}")
    elif (
        isinstance(checked, int)
        and not isinstance(checked, bool)
        and not -_INT64 <= checked < _INT64
    ):
        raise ValueError(f"attribute {name!r}: {checked} lies outside the signed 64-bit range")
    return checked


class Write(NamedTuple):
    """One checked follower write; ``replace`` writes the whole follower, else only what is set."""

    row: int
    openid: str
    replace: bool
    subscribe_time: datetime | None
    unionid: str | None
    last_interaction_at: datetime | None
    tags: frozenset[str] | None
    attributes: Mapping[str, AttributeValue]


def follower_write(row: int, follower: object, schema: AttributeSchema) -> Write:
    """The write that stores ``follower`` whole."""
    if not isinstance(follower, Follower):
        raise TypeError(f"expected a Follower, got {type(follower).__name__}")
    return Write(
        row=row,
        openid=check_openid(follower.openid),
        replace=True,
        subscribe_time=follower.subscribe_time,
        unionid=None if follower.unionid is None else check_text(follower.unionid, "unionid"),
        last_interaction_at=follower.last_interaction_at,
        tags=_check_tags(follower.tags),
        attributes={
            name: _check_attribute(schema, name, value)
            for name, value in follower.attributes.items()
        },
    )


def _moment(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if type(value) is datetime and type(value.tzinfo) is timezone:
        return value
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be an aware datetime, got {type(value).__name__}")
    return ensure_aware(value, what)


def mapping_write(row: int, mapping: object, schema: AttributeSchema) -> Write:
    """The write that merges one import row (a mapping of typed values) into the store."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"expected a mapping, got {type(mapping).__name__}")
    if mapping.get("openid") is None:
        raise ValueError("the row has no openid")
    tags = mapping.get("tags")
    unionid = mapping.get("unionid")
    attributes: dict[str, AttributeValue] = {}
    for name, value in mapping.items():
        if name in _FIELDS or value is None:
            continue
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
        attributes[name] = _check_attribute(schema, name, value)
    return Write(
        row=row,
        openid=check_openid(mapping["openid"]),
        replace=False,
        subscribe_time=_moment(mapping.get("subscribe_time"), "subscribe_time"),
        unionid=None if unionid is None else check_text(unionid, "unionid"),
        last_interaction_at=_moment(mapping.get("last_interaction_at"), "last_interaction_at"),
        tags=None if tags is None else _check_tags(tags),
        attributes=attributes,
    )


def prepare(items: Iterable[T], make: Callable[[int, T], Write], first_row: int = 1) -> list[Write]:
    """Check every item; raise `ImportRejectedError` listing the bad rows, if there are any.

    An openid written twice in one call is rejected too: which write should win is the
    caller's decision, not the store's.
    """
    writes: list[Write] = []
    rejected: list[RejectedRow] = []
    seen: dict[str, int] = {}
    for row, item in enumerate(items, start=first_row):
        try:
            write = make(row, item)
        except (TypeError, ValueError) as error:
            rejected.append(RejectedRow(row, str(error)))
        else:
            earlier = seen.setdefault(write.openid, row)
            if earlier != row:
                rejected.append(RejectedRow(row, f"openid {write.openid!r} repeats row {earlier}"))
            else:
                writes.append(write)
        if len(rejected) >= MAX_REJECTIONS:
            break
    if rejected:
        raise ImportRejectedError(tuple(rejected))
    return writes


# -- CSV -----------------------------------------------------------------------------------------


def parse_text(text: str, kind: str | None, what: str) -> AttributeValue:
    """One CSV cell as a value of ``kind`` (an undeclared attribute stays a string)."""
    if kind is None or kind == "str":
        return text
    if kind == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not an integer") from None
    if kind == "float":
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{what}: {text!r} is not a finite number")
        return number
    if kind == "bool":
        folded = text.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueError(f"{what}: {text!r} is not a boolean (true/false, 1/0, yes/no)")
    if kind == "datetime":
        return parse_moment(text, what)
    raise ValueError(f"{what}: unknown kind {kind!r}")


def parse_moment(text: str, what: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (``Z`` allowed); a naive one is refused."""
    stripped = text.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an ISO 8601 datetime") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what}: {text!r} has no UTC offset (naive datetimes are refused)")
    return moment.astimezone(timezone.utc)


def csv_rows(
    path: str | os.PathLike[str],
    schema: AttributeSchema,
    *,
    columns: Mapping[str, str] | None,
    delimiter: str,
    tag_separator: str,
    encoding: str,
) -> Iterator[Mapping[str, Any] | Exception]:
    """The rows of a CSV file as typed mappings; a row that does not parse is the error instead."""
    renames = dict(columns or {})
    with open(path, newline="", encoding=encoding) as stream:
        reader = csv.reader(stream, delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        names = [renames.get(name, name) for name in header]
        if "openid" not in names:
            raise ValueError(f"the CSV header names no openid column: {header}")
        for cells in reader:
            if len(cells) != len(names):
                yield ValueError(f"the row has {len(cells)} cells, the header {len(names)}")
                continue
            try:
                yield _typed(dict(zip(names, cells, strict=True)), schema, tag_separator)
            except ValueError as error:
                yield error


def _typed(cells: dict[str, str], schema: AttributeSchema, separator: str) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, text in cells.items():
        if text == "":
            continue
        if name == "tags":
            typed[name] = frozenset(t.strip() for t in text.split(separator) if t.strip())
        elif name in ("openid", "unionid"):
            typed[name] = text
        else:
            typed[name] = parse_text(text, schema.kind(name), f"column {name!r}")
    return typed
