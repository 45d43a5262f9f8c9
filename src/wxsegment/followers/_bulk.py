"""Checking a batch of plain import rows column by column instead of row by row.

`import_rows` checks millions of rows; most batches are plain dicts of exact built-in values
of the declared kinds. Such a batch is checked one column at a time with C-level passes (the
set of value types, one ``join`` for the text checks, ``min``/``max`` for ranges) and bound as
plain tuples. Anything else (another mapping type, an undeclared or untyped attribute, a value
of another type, any value a check would refuse) returns ``None``: the row-by-row path then
handles the whole batch, so errors, conversions and rejections stay exactly as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from typing import Any, Final, NamedTuple

from wxsegment.followers._codec import set_columns, tag_lists
from wxsegment.followers._rows import MAX_OPENID_LENGTH
from wxsegment.followers._schema import AttributeSchema
from wxsegment.segment import SqlColumn

__all__ = ["BulkRows", "bulk_rows"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
_INT64: Final = 2**63
_NONE: Final = type(None)
_FIELDS: Final = ("openid", "subscribe_time", "unionid", "last_interaction_at", "tags")
_TZINFO: Final = attrgetter("tzinfo")
_TEXT: Final[frozenset[type]] = frozenset({str, _NONE})
_MOMENT: Final[frozenset[type]] = frozenset({datetime, _NONE})
_KIND_TYPES: Final[Mapping[str, frozenset[type]]] = {
    "str": _TEXT,
    "int": frozenset({int, _NONE}),
    "float": frozenset({float, _NONE}),
    "bool": frozenset({bool, _NONE}),
    "datetime": _MOMENT,
}
_TAG_TYPES: Final = frozenset({frozenset, set, list, tuple, _NONE})


class BulkRows(NamedTuple):
    """A checked batch ready to load: the typed columns it sets and the rows to load.

    With ``json_tags`` each row carries its tags as a JSON array (see `tag_lists`) that the
    database expands, and ``tag_rows`` is empty; else the tags come as (openid, tag) rows.
    """

    typed: list[SqlColumn]
    #: The load-table columns each follower row fills, in order.
    columns: list[str]
    follower_rows: Iterable[tuple[Any, ...]]
    tag_rows: Iterable[tuple[str, str]]


def _texts_storable(texts: Sequence[Any]) -> bool:
    """No NUL and no lone surrogate in any of ``texts`` (all strings), checked in one pass."""
    joined = "".join(texts)
    if "\x00" in joined:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _moments(values: list[Any]) -> list[int | None] | None:
    """Aware datetimes (a fixed offset) as stored microseconds; ``None`` if any is not one."""
    if not set(map(type, values)) <= _MOMENT:
        return None
    present = [v for v in values if v is not None]
    if not set(map(type, map(_TZINFO, present))) <= {timezone}:
        return None
    return [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]


def _column(values: list[Any], kind: str, exact: bool) -> list[Any] | None:
    """One declared attribute's values as its typed column binds them, if all pass the check."""
    if kind == "datetime":
        return _moments(values)
    if not set(map(type, values)) <= _KIND_TYPES[kind]:
        return None
    if kind == "bool":
        # As ints: the driver binds an int directly, a bool only after a protocol lookup.
        return [v if v is None else int(v) for v in values]
    present = [v for v in values if v is not None]
    if not present:
        return values
    if kind == "str":
        return values if _texts_storable(present) else None
    if kind == "float":
        if not all(map(math.isfinite, present)):
            return None
    elif not (min(present) >= -_INT64 and max(present) < _INT64):
        return None
    return [None if v is None else Decimal(v) for v in values] if exact else values


def _tags(values: list[Any]) -> list[frozenset[str] | None] | None:
    if not set(map(type, values)) <= _TAG_TYPES:
        return None
    try:
        sets = [v if v is None or type(v) is frozenset else frozenset(v) for v in values]
    except TypeError:  # an unhashable tag name
        return None
    names = list(frozenset().union(*(s for s in sets if s)))
    if not set(map(type, names)) <= {str} or "" in names or not _texts_storable(names):
        return None
    return sets


def bulk_rows(
    rows: list[Any],
    schema: AttributeSchema,
    every: Mapping[str, SqlColumn],
    *,
    exact: bool,
    json_tags: bool = True,
) -> BulkRows | None:
    """The batch checked and bound column by column, or ``None`` for the row-by-row path."""
    if not rows or set(map(type, rows)) != {dict}:
        return None
    names = frozenset().union(*rows)
    if not set(map(type, names)) <= {str}:
        return None
    attributes = sorted(names.difference(_FIELDS))
    if any(name not in every for name in attributes):
        return None
    count = len(rows)
    openids: list[Any] = list(map(dict.get, rows, repeat("openid")))
    if set(map(type, openids)) != {str} or len(set(openids)) != count:
        return None
    lengths = list(map(len, openids))
    if min(lengths) < 1 or max(lengths) > MAX_OPENID_LENGTH or not _texts_storable(openids):
        return None
    named: list[tuple[str, Sequence[Any]]] = [
        ("row_no", range(1, count + 1)),
        ("openid", openids),
    ]
    for name in ("subscribe_time", "last_interaction_at"):
        if name in names:
            moment = _moments(list(map(dict.get, rows, repeat(name))))
            if moment is None:
                return None
            named.append((name, moment))
    if "unionid" in names:
        unionids = list(map(dict.get, rows, repeat("unionid")))
        if not set(map(type, unionids)) <= _TEXT:
            return None
        if not _texts_storable([u for u in unionids if u is not None]):
            return None
        named.append(("unionid", unionids))
    tags: list[frozenset[str] | None] = [None] * count
    if "tags" in names:
        checked = _tags(list(map(dict.get, rows, repeat("tags"))))
        if checked is None:
            return None
        tags = checked
    if json_tags:
        # ``tags IS NOT NULL`` then says the row replaces its tags.
        named.append(("tags", tag_lists(tags)))
    else:
        named.append(("has_tags", [None if t is None else 1 for t in tags]))
    typed: list[SqlColumn] = []
    for name in attributes:
        values = list(map(dict.get, rows, repeat(name)))
        kind = schema.kinds[name]
        column = _column(values, kind, exact)
        if column is None:
            return None
        if any(v is not None for v in values):
            typed.append(every[name])
            named.append((every[name].column, column))
    lead, follower_rows = set_columns(named)
    tag_rows: Iterable[tuple[str, str]] = ()
    if not json_tags:
        tag_rows = ((o, t) for o, ts in zip(openids, tags, strict=True) if ts for t in ts)
    return BulkRows(typed, lead, follower_rows, tag_rows)
