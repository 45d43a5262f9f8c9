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
    """Read openids, fields, typed columns, tags and attributes in bulk for ``from_columns``."""
    import numpy as np

    from wxsegment.segment import SegmentIndex

    typed = store._layout(schema).columns
    selected = "".join(f', "{c.column}"' for c in typed.values())
    cursor.execute(
        f"SELECT openid, subscribe_time, unionid, last_interaction_at{selected} "
        f"FROM {store._followers} ORDER BY openid"
    )
    rows = cursor.fetchall()
    columns: list[tuple[Any, ...]] = (
        list(zip(*rows, strict=True)) if rows else [() for _ in range(4 + len(typed))]
    )
    openids = list(columns[0])
    position = {openid: i for i, openid in enumerate(openids)}
    subscribed = np.array(columns[1], dtype=np.int64).astype("datetime64[us]")
    seen = np.array(
        [_NAT if value is None else value for value in columns[3]], dtype=np.int64
    ).astype("datetime64[us]")
    unionids = list(columns[2])
    attributes: dict[str, Any] = {
        name: _typed_column(values, schema.kinds[name], np)
        for name, values in zip(typed, columns[4:], strict=True)
    }
    tags: dict[str, list[int]] = {}
    cursor.execute(f"SELECT tag, openid FROM {store._tags}")
    for tag, openid in cursor.fetchall():
        at = position.get(openid)
        if at is not None:
            tags.setdefault(tag, []).append(at)
    cursor.execute(
        "SELECT name, openid, str_value, num_value, bool_value, time_value "
        f"FROM {store._attributes}"
    )
    loose: dict[str, list[Any]] = {}
    for name, openid, s, n, b, t in cursor.fetchall():
        at = position.get(openid)
        if at is None:
            continue
        column = loose.get(name)
        if column is None:
            column = loose[name] = [None] * len(openids)
        if s is not None:
            column[at] = str(s)
        elif n is not None:
            column[at] = number_of(n, schema.kinds.get(name))
        elif b is not None:
            column[at] = bool(b)
        else:
            column[at] = from_micros(t)
    attributes.update(loose)
    return SegmentIndex.from_columns(
        openids=openids,
        subscribe_time=subscribed,
        tags=tags,
        attributes=attributes,
        unionid=unionids if any(u is not None for u in unionids) else None,
        last_interaction_at=seen,
    )


def _typed_column(values: tuple[Any, ...], kind: str, np: Any) -> Any:
    """One typed column as ``from_columns`` takes it: numpy where missing values allow it."""
    if kind == "float":
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if kind == "datetime":
        micros = [_NAT if v is None else int(v) for v in values]
        return np.array(micros, dtype=np.int64).astype("datetime64[us]")
    if kind in ("int", "bool"):
        if None not in values:
            return np.array(values, dtype=np.int64 if kind == "int" else np.bool_)
        convert = int if kind == "int" else bool
        return [None if v is None else convert(v) for v in values]
    # Strings go dictionary-encoded: one code per follower, each distinct value indexed once.
    categories = sorted({v for v in values if v is not None})
    lookup = {value: code for code, value in enumerate(categories)}
    lookup[None] = -1
    codes = np.array([lookup[v] for v in values], dtype=np.int64)
    return codes, categories
