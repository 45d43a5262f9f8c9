"""Hypothesis strategies for followers and segments, for property tests here and downstream.

The default vocabulary is deliberately small (a handful of tags and attributes of every kind)
so that random segments and random followers actually interact. Pass your own names to
target your application's vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Final

from hypothesis import strategies as st

from wxsegment._clock import SHANGHAI
from wxsegment._model import AttributeValue, Follower
from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    Between,
    Compare,
    Exists,
    In,
    Op,
    Segment,
    Tag,
    Within,
    and_,
    not_,
    or_,
)

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "DEFAULT_NOW",
    "DEFAULT_TAGS",
    "attribute_values",
    "aware_datetimes",
    "followers",
    "openids",
    "predicates",
    "segments",
]

DEFAULT_TAGS: Final = ("90后", "已购", "vip", "杭州门店", "t-4")

#: Attribute name -> kind of the values it usually holds (followers sometimes hold another kind).
DEFAULT_ATTRIBUTES: Final = {
    "city": "str",
    "spend": "number",
    "member": "bool",
    "last_order_at": "datetime",
    "subscribe_time": "datetime",
}

#: An instant around which generated datetimes cluster, so relative predicates bite.
DEFAULT_NOW: Final = datetime(2026, 3, 1, 12, 0, tzinfo=SHANGHAI)

_CITIES: Final = ("杭州", "上海", "北京", 'a"b', "")
_OFFSETS: Final = (timezone.utc, SHANGHAI, timezone(timedelta(hours=-5)))


def aware_datetimes(
    around: datetime = DEFAULT_NOW, span: timedelta = timedelta(days=400)
) -> st.SearchStrategy[datetime]:
    """Aware datetimes within ``span`` of ``around``, whole seconds, in a few UTC offsets."""
    seconds = int(span.total_seconds())
    return st.builds(
        lambda delta, tz: (around + timedelta(seconds=delta)).astimezone(tz),
        st.integers(-seconds, seconds),
        st.sampled_from(_OFFSETS),
    )


def attribute_values(kind: str) -> st.SearchStrategy[AttributeValue]:
    """Values of one kind (``str``, ``number``, ``bool`` or ``datetime``) from a small pool."""
    if kind == "str":
        return st.sampled_from(_CITIES)
    if kind == "number":
        return st.one_of(st.integers(-5, 300), st.sampled_from([0.5, 99.5, 100.0, -0.0]))
    if kind == "bool":
        return st.booleans()
    if kind == "datetime":
        return aware_datetimes()
    raise ValueError(f"unknown kind {kind!r}")


_ANY_VALUE: Final = st.one_of(
    attribute_values("str"),
    attribute_values("number"),
    attribute_values("bool"),
    attribute_values("datetime"),
)


@st.composite
def followers(
    draw: st.DrawFn,
    tags: Sequence[str] = DEFAULT_TAGS,
    attributes: dict[str, str] | None = None,
) -> Follower:
    """Followers over the given vocabulary; attributes may be missing or of an unexpected kind."""
    schema = DEFAULT_ATTRIBUTES if attributes is None else attributes
    values: dict[str, AttributeValue] = {}
    for name, kind in schema.items():
        if name in ("subscribe_time", "last_interaction_at"):
            continue
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue
        values[name] = draw(_ANY_VALUE if choice == 1 else attribute_values(kind))
    return Follower(
        openid=draw(st.from_regex(r"o[A-Za-z0-9_-]{6,10}", fullmatch=True)),
        subscribe_time=draw(aware_datetimes()),
        tags=draw(st.frozensets(st.sampled_from(tuple(tags)))),
        attributes=values,
        last_interaction_at=draw(st.none() | aware_datetimes(span=timedelta(days=4))),
    )


def openids() -> st.SearchStrategy[str]:
    """Openids shaped like WeChat's: 28 characters, ``o`` then URL-safe Base64 characters."""
    return st.from_regex(r"o[A-Za-z0-9_-]{27}", fullmatch=True)


def predicates(
    tags: Sequence[str] = DEFAULT_TAGS,
    attributes: dict[str, str] | None = None,
) -> st.SearchStrategy[Segment]:
    """Leaf segments over the vocabulary: tags, comparisons, in, between, exists, within."""
    schema = DEFAULT_ATTRIBUTES if attributes is None else attributes
    names = tuple(schema)

    @st.composite
    def attribute_predicate(draw: st.DrawFn) -> Segment:
        name = draw(st.sampled_from(names))
        kind = (
            schema[name]
            if draw(st.integers(0, 5))
            else draw(st.sampled_from(("str", "number", "bool", "datetime")))
        )
        shape = draw(st.integers(0, 4 if kind == "datetime" else 3))
        if shape == 0:
            return Compare(name, draw(st.sampled_from(list(Op))), draw(attribute_values(kind)))
        if shape == 1:
            return In(name, draw(st.lists(attribute_values(kind), min_size=1, max_size=3)))
        if shape == 2:
            lo, hi = sorted([draw(attribute_values(kind)), draw(attribute_values(kind))])
            return Between(name, lo, hi)
        if shape == 3:
            return Exists(name)
        return Within(name, timedelta(seconds=draw(st.integers(1, 200 * 86400))))

    return st.one_of(st.sampled_from(tuple(tags)).map(Tag), attribute_predicate())


def segments(
    tags: Sequence[str] = DEFAULT_TAGS,
    attributes: dict[str, str] | None = None,
    max_leaves: int = 12,
) -> st.SearchStrategy[Segment]:
    """Random segment trees built with the smart constructors (so always canonical)."""
    leaves = st.one_of(st.just(EVERYONE), st.just(NOBODY), predicates(tags, attributes))

    def extend(children: st.SearchStrategy[Segment]) -> st.SearchStrategy[Segment]:
        many = st.lists(children, min_size=1, max_size=4)
        return st.one_of(
            children.map(not_),
            many.map(lambda parts: and_(*parts)),
            many.map(lambda parts: or_(*parts)),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)
