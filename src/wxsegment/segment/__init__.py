"""Segment expressions: who, among a service account's followers, a push should reach.

Build segments with `tag` and `attr` and combine them with ``&``, ``|`` and ``~``::

    from datetime import timedelta
    from wxsegment.segment import attr, tag

    audience = (
        tag("90后")
        & attr("city").isin(["杭州", "上海"])
        & ~tag("已购")
        & attr("subscribe_time").within(timedelta(days=180))
        & (attr("spend") >= 100)
    )

`matches` is the reference semantics; every other evaluator agrees with it. `render` and
`parse` convert to and from the text DSL, `to_json` and `from_json` to and from a versioned
JSON document. `SegmentIndex` evaluates segments over millions of followers with roaring
bitmaps; it and its companions need the optional ``bitmap`` extra and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wxsegment.segment._builders import Attr, attr, tag
from wxsegment.segment._equivalence import Counterexample, counterexample, equivalent
from wxsegment.segment._evaluate import matches
from wxsegment.segment._explain import Explanation, explain
from wxsegment.segment._funnel import Funnel, FunnelStep, funnel
from wxsegment.segment._json import SegmentJSONError, from_json, to_json
from wxsegment.segment._nodes import (
    EVERYONE,
    NOBODY,
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Node,
    Not,
    Op,
    Or,
    Predicate,
    Segment,
    Tag,
    Within,
    and_,
    not_,
    or_,
)
from wxsegment.segment._normalize import normalize, to_nnf
from wxsegment.segment._parse import SegmentSyntaxError, parse
from wxsegment.segment._render import render
from wxsegment.segment._sql import (
    Dialect,
    SqlColumn,
    SqlInsert,
    SqlParam,
    SqlSchema,
    follower_inserts,
    sql_schema_ddl,
    to_sql,
)

if TYPE_CHECKING:
    from wxsegment.segment._index import (
        DuplicateFollowerError,
        IndexFormatError,
        SegmentIndex,
        SegmentResult,
        UnknownFollowerError,
    )

__all__ = [
    "EVERYONE",
    "NOBODY",
    "And",
    "Attr",
    "Between",
    "Compare",
    "Constant",
    "Counterexample",
    "Dialect",
    "DuplicateFollowerError",
    "Exists",
    "Explanation",
    "Funnel",
    "FunnelStep",
    "In",
    "IndexFormatError",
    "Node",
    "Not",
    "Op",
    "Or",
    "Predicate",
    "Segment",
    "SegmentIndex",
    "SegmentJSONError",
    "SegmentResult",
    "SegmentSyntaxError",
    "SqlColumn",
    "SqlInsert",
    "SqlParam",
    "SqlSchema",
    "Tag",
    "UnknownFollowerError",
    "Within",
    "and_",
    "attr",
    "counterexample",
    "equivalent",
    "explain",
    "follower_inserts",
    "from_json",
    "funnel",
    "matches",
    "normalize",
    "not_",
    "or_",
    "parse",
    "render",
    "sql_schema_ddl",
    "tag",
    "to_json",
    "to_nnf",
    "to_sql",
]

_INDEX_NAMES = frozenset(
    {
        "DuplicateFollowerError",
        "IndexFormatError",
        "SegmentIndex",
        "SegmentResult",
        "UnknownFollowerError",
    }
)


def __getattr__(name: str) -> Any:
    # The index needs numpy and pyroaring (the 'bitmap' extra): import it only when asked for,
    # so that the rest of the package works without them.
    if name in _INDEX_NAMES:
        from wxsegment.segment import _index

        return getattr(_index, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
