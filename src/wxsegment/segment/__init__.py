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

`matches` is the reference semantics; every other evaluator agrees with it.
"""

from __future__ import annotations

from wxsegment.segment._builders import Attr, attr, tag
from wxsegment.segment._equivalence import Counterexample, counterexample, equivalent
from wxsegment.segment._evaluate import matches
from wxsegment.segment._explain import Explanation, explain
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
    "Exists",
    "Explanation",
    "In",
    "Node",
    "Not",
    "Op",
    "Or",
    "Predicate",
    "Segment",
    "SqlColumn",
    "SqlInsert",
    "SqlParam",
    "SqlSchema",
    "Tag",
    "Within",
    "and_",
    "attr",
    "counterexample",
    "equivalent",
    "explain",
    "follower_inserts",
    "matches",
    "normalize",
    "not_",
    "or_",
    "render",
    "sql_schema_ddl",
    "tag",
    "to_nnf",
    "to_sql",
]
