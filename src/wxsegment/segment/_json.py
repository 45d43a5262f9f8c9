"""The versioned JSON form of a segment (documented in docs/segment.md).

A document is ``{"wxsegment": "segment", "version": 1, "expr": EXPR}``. Every value is tagged
with its kind (``{"kind": "int", "value": 1}``), so ``True``, ``1``, ``1.0`` and a datetime
string stay distinct; durations are whole seconds. `from_json` accepts exactly this schema,
builds through the smart constructors, and reports any problem as `SegmentJSONError` naming
the JSON path of the offending part (``$.expr.children[2].value``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from wxsegment._model import AttributeValue
from wxsegment._typing import assert_never
from wxsegment.segment._nodes import (
    EVERYONE,
    NOBODY,
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Op,
    Or,
    Segment,
    Tag,
    Within,
    and_,
    as_node,
    not_,
    or_,
)
from wxsegment.segment._parse import MAX_DEPTH, parse_datetime
from wxsegment.segment._render import render

__all__ = ["JSON_VERSION", "SegmentJSONError", "from_json", "to_json"]

#: The schema version `to_json` writes and the newest one `from_json` reads.
JSON_VERSION: Final = 1
#: Deepest expression nesting `from_json` accepts: room for every segment `parse` accepts (two
#: nodes per parenthesis), and far from Python's recursion limit when trees are compared.
MAX_JSON_DEPTH: Final = 2 * MAX_DEPTH + 10

_FORMAT: Final = "segment"


class SegmentJSONError(ValueError):
    """A JSON document that is not a valid segment; ``path`` locates the problem."""

    def __init__(self, message: str, path: str) -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.path))


def to_json(segment: Segment) -> dict[str, Any]:
    """The versioned JSON document of ``segment``; ``json.dumps`` accepts it as is.

    Children and values come out in a stable order, so equal segments give equal documents.
    """
    return {"wxsegment": _FORMAT, "version": JSON_VERSION, "expr": _expr(segment)}


def _expr(segment: Segment) -> dict[str, Any]:
    node = as_node(segment)
    match node:
        case Constant(value=value):
            return {"type": "everyone" if value else "nobody"}
        case Tag(name=name):
            return {"type": "tag", "name": name}
        case Compare(attr=name, op=op, value=value):
            return {"type": "compare", "attr": name, "op": op.value, "value": _value(value)}
        case In(attr=name, values=values):
            return {"type": "in", "attr": name, "values": [_value(v) for v in values]}
        case Between(attr=name, lo=lo, hi=hi):
            return {"type": "between", "attr": name, "lo": _value(lo), "hi": _value(hi)}
        case Exists(attr=name):
            return {"type": "exists", "attr": name}
        case Within(attr=name, duration=duration):
            return {"type": "within", "attr": name, "seconds": int(duration.total_seconds())}
        case And(children=children) | Or(children=children):
            kind = "and" if isinstance(node, And) else "or"
            return {"type": kind, "children": [_expr(c) for c in sorted(children, key=render)]}
        case Not(child=child):
            return {"type": "not", "child": _expr(child)}
        case _:
            assert_never(node)


def _value(value: AttributeValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, int):
        return {"kind": "int", "value": value}
    if isinstance(value, float):
        return {"kind": "float", "value": value}
    if isinstance(value, str):
        return {"kind": "str", "value": value}
    if isinstance(value, datetime):
        # The base method: a subclass may override isoformat with another format.
        return {"kind": "datetime", "value": datetime.isoformat(value)}
    assert_never(value)


def from_json(data: object) -> Segment:
    """The segment of a document written by `to_json` (any version up to `JSON_VERSION`).

    Raises `SegmentJSONError` (a ``ValueError``) for a malformed document, an unknown node type,
    a value of the wrong type, or a version newer than this library understands.
    """
    document = _object(data, "$", {"wxsegment", "version", "expr"}, {"wxsegment", "version"})
    if document["wxsegment"] != _FORMAT:
        raise SegmentJSONError(f"expected {_FORMAT!r}", "$.wxsegment")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SegmentJSONError("expected a positive integer version", "$.version")
    if version > JSON_VERSION:
        raise SegmentJSONError(
            f"version {version} is newer than this library reads (up to {JSON_VERSION})",
            "$.version",
        )
    if "expr" not in document:
        raise SegmentJSONError("missing key 'expr'", "$")
    return _read_expr(document["expr"], "$.expr", 0)


def _object(data: object, path: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SegmentJSONError(f"expected an object, got {_type_name(data)}", path)
    for key in data:
        if key not in allowed:
            raise SegmentJSONError(f"unknown key {key!r}", path)
    for key in sorted(required):
        if key not in data:
            raise SegmentJSONError(f"missing key {key!r}", path)
    return data


def _type_name(data: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if data is None:
        return "null"
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return "a number"
    return names.get(type(data), type(data).__name__)


def _string(data: object, path: str) -> str:
    if not isinstance(data, str):
        raise SegmentJSONError(f"expected a string, got {_type_name(data)}", path)
    return data


def _list(data: object, path: str) -> list[Any]:
    if not isinstance(data, list):
        raise SegmentJSONError(f"expected an array, got {_type_name(data)}", path)
    return data


_KEYS: Final = {
    "everyone": set[str](),
    "nobody": set[str](),
    "tag": {"name"},
    "compare": {"attr", "op", "value"},
    "in": {"attr", "values"},
    "between": {"attr", "lo", "hi"},
    "exists": {"attr"},
    "within": {"attr", "seconds"},
    "and": {"children"},
    "or": {"children"},
    "not": {"child"},
}


def _read_expr(data: object, path: str, depth: int) -> Segment:
    if depth > MAX_JSON_DEPTH:
        raise SegmentJSONError(f"expressions nested deeper than {MAX_JSON_DEPTH}", path)
    if not isinstance(data, dict):
        raise SegmentJSONError(f"expected an object, got {_type_name(data)}", path)
    if "type" not in data:
        raise SegmentJSONError("missing key 'type'", path)
    kind = _string(data["type"], f"{path}.type")
    if kind not in _KEYS:
        raise SegmentJSONError(f"unknown node type {kind!r}", f"{path}.type")
    node = _object(data, path, {"type"} | _KEYS[kind], {"type"} | _KEYS[kind])
    if kind in ("everyone", "nobody"):
        return EVERYONE if kind == "everyone" else NOBODY
    if kind in ("and", "or"):
        items = _list(node["children"], f"{path}.children")
        # A loop, not a comprehension: one stack frame per level keeps deep documents safe.
        children = []
        for index, item in enumerate(items):
            children.append(_read_expr(item, f"{path}.children[{index}]", depth + 1))
        return and_(*children) if kind == "and" else or_(*children)
    if kind == "not":
        return not_(_read_expr(node["child"], f"{path}.child", depth + 1))
    if kind == "tag":
        return _build(path, Tag, _string(node["name"], f"{path}.name"))
    name = _string(node["attr"], f"{path}.attr")
    if kind == "compare":
        op = _string(node["op"], f"{path}.op")
        if op not in Op._value2member_map_:
            raise SegmentJSONError(f"unknown operator {op!r}", f"{path}.op")
        return _build(path, Compare, name, Op(op), _read_value(node["value"], f"{path}.value"))
    if kind == "in":
        items = _list(node["values"], f"{path}.values")
        values = [_read_value(v, f"{path}.values[{i}]") for i, v in enumerate(items)]
        return _build(f"{path}.values", In, name, values)
    if kind == "between":
        lo = _read_value(node["lo"], f"{path}.lo")
        return _build(path, Between, name, lo, _read_value(node["hi"], f"{path}.hi"))
    if kind == "within":
        seconds = node["seconds"]
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            raise SegmentJSONError("expected a positive whole number", f"{path}.seconds")
        try:
            duration = timedelta(seconds=seconds)
        except OverflowError:
            raise SegmentJSONError("duration too long", f"{path}.seconds") from None
        return _build(path, Within, name, duration)
    return _build(path, Exists, name)


def _build(path: str, factory: Callable[..., Segment], *args: object) -> Segment:
    try:
        return factory(*args)
    except (ValueError, TypeError, OverflowError) as exc:
        raise SegmentJSONError(str(exc), path) from None


_VALUE_KINDS: Final = ("bool", "int", "float", "str", "datetime")


def _read_value(data: object, path: str) -> AttributeValue:
    value = _object(data, path, {"kind", "value"}, {"kind", "value"})
    kind = _string(value["kind"], f"{path}.kind")
    if kind not in _VALUE_KINDS:
        raise SegmentJSONError(f"unknown value kind {kind!r}", f"{path}.kind")
    raw = value["value"]
    path = f"{path}.value"
    if kind == "bool" and isinstance(raw, bool):
        return raw
    if kind == "str" and isinstance(raw, str):
        return raw
    if kind == "datetime" and isinstance(raw, str):
        try:
            return parse_datetime(raw)
        except ValueError as exc:
            raise SegmentJSONError(str(exc), path) from None
    if isinstance(raw, bool) or kind not in ("int", "float"):
        raise SegmentJSONError(f"expected a value of kind {kind!r}, got {_type_name(raw)}", path)
    if kind == "int" and isinstance(raw, int):
        return raw
    # A float may arrive as an integer literal from JSON writers that drop ".0".
    if kind == "float" and isinstance(raw, (int, float)):
        try:
            number = float(raw)
        except OverflowError:
            raise SegmentJSONError("number out of range", path) from None
        if not math.isfinite(number):
            raise SegmentJSONError("expected a finite number", path)
        return number
    raise SegmentJSONError(f"expected a value of kind {kind!r}, got {_type_name(raw)}", path)
