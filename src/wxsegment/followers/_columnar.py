"""Building a `SegmentIndex` straight from the store's tables, one column at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wxsegment.followers._codec import from_micros, number_of
from wxsegment.followers._schema import AttributeSchema

if TYPE_CHECKING:
    from wxsegment.followers._base import SqlFollowerStore

__all__ = ["build_index"]

_NAT = -(2**63)


def build_index(store: SqlFollowerStore, cursor: Any, schema: AttributeSchema) -> Any:
    """Read openids, fields, tags and attributes in bulk and hand them to ``from_columns``."""
    import numpy as np

    from wxsegment.segment import SegmentIndex

    cursor.execute(
        "SELECT openid, subscribe_time, unionid, last_interaction_at "
        f"FROM {store._followers} ORDER BY openid"
    )
    rows = cursor.fetchall()
    openids = [row[0] for row in rows]
    position = {openid: i for i, openid in enumerate(openids)}
    subscribed = np.array([row[1] for row in rows], dtype=np.int64).astype("datetime64[us]")
    seen = np.array([_NAT if row[3] is None else row[3] for row in rows], dtype=np.int64).astype(
        "datetime64[us]"
    )
    unionids = [row[2] for row in rows]
    tags: dict[str, list[int]] = {}
    cursor.execute(f"SELECT tag, openid FROM {store._tags}")
    for tag, openid in cursor.fetchall():
        at = position.get(openid)
        if at is not None:
            tags.setdefault(tag, []).append(at)
    attributes: dict[str, list[Any]] = {}
    cursor.execute(
        "SELECT name, openid, str_value, num_value, bool_value, time_value "
        f"FROM {store._attributes}"
    )
    for name, openid, s, n, b, t in cursor.fetchall():
        at = position.get(openid)
        if at is None:
            continue
        column = attributes.get(name)
        if column is None:
            column = attributes[name] = [None] * len(openids)
        if s is not None:
            column[at] = str(s)
        elif n is not None:
            column[at] = number_of(n, schema.kinds.get(name))
        elif b is not None:
            column[at] = bool(b)
        else:
            column[at] = from_micros(t)
    return SegmentIndex.from_columns(
        openids=openids,
        subscribe_time=subscribed,
        tags=tags,
        attributes=attributes,
        unionid=unionids if any(u is not None for u in unionids) else None,
        last_interaction_at=seen,
    )
