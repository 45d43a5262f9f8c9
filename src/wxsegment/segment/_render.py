"""The canonical text form of a segment (the DSL accepted by `parse`).

Grammar (``parse`` accepts this plus a few synonyms listed in `wxsegment.segment._parse`;
``render`` emits its canonical subset)::

    segment   := disjunct ("or" disjunct)*
    disjunct  := unary ("and" unary)*
    unary     := "not" unary | atom
    atom      := "(" segment ")" | "everyone" | "nobody" | "tag:" TAGNAME | predicate
    predicate := NAME OP value                      OP is one of == != < <= > >=
               | NAME "in" "[" value ("," value)* "]"
               | NAME "between" value "and" value  (inclusive)
               | NAME "exists"
               | NAME "within" DURATION            e.g. 180d, 48h, 1d12h, 90m, 30s, 2w
               | NAME "before" DATETIME | NAME "after" DATETIME
    value     := STRING | NUMBER | "true" | "false" | DATETIME
    TAGNAME   := a bare word (letters, digits, "_" and "-", any script) or a STRING
    STRING    := a double-quoted JSON string
    DATETIME  := ISO 8601 with a UTC offset, e.g. 2025-06-01T00:00:00+08:00

Canonical output sorts the children of ``and``/``or`` by their text, parenthesizes ``or``
inside ``and`` and any combinator under ``not``, and writes ``before``/``after`` as ``<``/``>``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Final

from wxsegment._model import AttributeValue
from wxsegment._typing import assert_never
from wxsegment.segment._nodes import (
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Or,
    Segment,
    Tag,
    Within,
    as_node,
)

__all__ = ["is_bare_word", "render", "render_duration", "render_shared", "render_value"]

_DURATION_UNITS: Final = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def is_bare_word(text: str) -> bool:
    """Whether ``text`` can be written without quotes after ``tag:``."""
    return bool(text) and all(ch.isalnum() or ch in "_-" for ch in text)


def render_value(value: AttributeValue) -> str:
    """The DSL literal for a constant value."""
    # The base classes' methods: a subclass (an IntEnum, say) may override repr or isoformat.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return datetime.isoformat(value)
    assert_never(value)


def render_duration(duration: timedelta) -> str:
    """The DSL literal for a whole-second positive duration, e.g. ``1d12h``."""
    remaining = int(duration.total_seconds())
    parts = []
    for unit, seconds in _DURATION_UNITS:
        count, remaining = divmod(remaining, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def render(segment: Segment) -> str:
    """The canonical DSL text of ``segment``; ``parse(render(s)) == s`` for every segment."""
    return render_shared(segment, {})


def render_shared(segment: Segment, texts: dict[int, str]) -> str:
    """`render`, reusing and filling ``texts`` (keyed by node ``id``) for every sub-tree.

    Lets a caller that needs the text of every sub-tree pay for each node once. ``texts`` is
    only valid while the nodes it was filled from are alive.
    """
    known = texts.get(id(segment))
    if known is None:
        known = texts[id(segment)] = _render(segment, texts)
    return known


def _render(segment: Segment, texts: dict[int, str]) -> str:
    node = as_node(segment)
    match node:
        case Constant(value=value):
            return "everyone" if value else "nobody"
        case Tag(name=name):
            return f"tag:{name}" if is_bare_word(name) else f"tag:{render_value(name)}"
        case Compare(attr=name, op=op, value=value):
            return f"{name} {op.value} {render_value(value)}"
        case In(attr=name, values=values):
            return f"{name} in [{', '.join(render_value(v) for v in values)}]"
        case Between(attr=name, lo=lo, hi=hi):
            return f"{name} between {render_value(lo)} and {render_value(hi)}"
        case Exists(attr=name):
            return f"{name} exists"
        case Within(attr=name, duration=duration):
            return f"{name} within {render_duration(duration)}"
        case And(children=children):
            parts = (
                f"({render_shared(c, texts)})" if isinstance(c, Or) else render_shared(c, texts)
                for c in children
            )
            return " and ".join(sorted(parts))
        case Or(children=children):
            return " or ".join(sorted(render_shared(c, texts) for c in children))
        case Not(child=child):
            text = render_shared(child, texts)
            return f"not ({text})" if isinstance(child, (And, Or)) else f"not {text}"
        case _:
            assert_never(node)
