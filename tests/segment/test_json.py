"""Tests of the versioned JSON form of segments: round trips, the schema, and bad documents."""

from __future__ import annotations

import copy
import json
import math
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from wxsegment.segment import (
    Compare,
    Segment,
    SegmentJSONError,
    and_,
    attr,
    from_json,
    or_,
    parse,
    render,
    tag,
    to_json,
)
from wxsegment.segment._parse import MAX_DEPTH
from wxsegment.testing.strategies import any_segments, segments

CST = timezone(timedelta(hours=8))


@given(segments())
def test_from_json_inverts_to_json(segment: Segment) -> None:
    """from_json(to_json(s)) == s over the default vocabulary."""
    assert from_json(to_json(segment)) == segment


@given(any_segments())
def test_round_trip_through_json_text(segment: Segment) -> None:
    """Documents survive json.dumps/json.loads, keeping value kinds and datetime offsets."""
    text = json.dumps(to_json(segment))
    back = from_json(json.loads(text))
    assert back == segment
    # The rendering pins int vs float and offsets, which segment equality ignores.
    assert render(back) == render(segment)


@given(st.lists(segments(max_leaves=6), min_size=2, max_size=4))
def test_document_order_does_not_depend_on_construction_order(parts: list[Segment]) -> None:
    """to_json lists children in a stable order: building in reverse gives the same document."""
    forward, backward = and_(*parts), and_(*reversed(parts))
    # Values equal as instants or numbers (+08:00 vs +00:00, 1 vs 1.0) deduplicate to whichever
    # came first; only compare when that choice did not happen.
    assume(render(forward) == render(backward))
    assert json.dumps(to_json(forward)) == json.dumps(to_json(backward))
    either, either_back = or_(*parts), or_(*reversed(parts))
    # The same choice can happen inside `or` alone (its children deduplicate separately).
    assume(render(either) == render(either_back))
    assert json.dumps(to_json(either)) == json.dumps(to_json(either_back))


def test_children_are_sorted_by_their_text() -> None:
    """The children of and/or appear sorted by their DSL text."""
    expr = to_json(tag("b") | tag("c") | tag("a"))["expr"]
    assert [child["name"] for child in expr["children"]] == ["a", "b", "c"]


def value_of(segment: Segment) -> Any:
    return to_json(segment)["expr"]["value"]


def test_value_kinds_stay_distinct() -> None:
    """True, 1, 1.0, "1" and a datetime are tagged with distinct kinds and come back typed."""
    moment = datetime(2026, 1, 1, tzinfo=CST)
    cases = [
        (True, {"kind": "bool", "value": True}),
        (1, {"kind": "int", "value": 1}),
        (1.0, {"kind": "float", "value": 1.0}),
        ("1", {"kind": "str", "value": "1"}),
        (moment, {"kind": "datetime", "value": "2026-01-01T00:00:00+08:00"}),
    ]
    for value, expected in cases:
        segment = attr("x") == value
        assert value_of(segment) == expected
        back = from_json(to_json(segment))
        assert isinstance(back, Compare)
        assert type(back.value) is type(value)


def test_documented_example() -> None:
    """The example document of docs/segment.md reads as the builder-built segment."""
    document = {
        "wxsegment": "segment",
        "version": 1,
        "expr": {
            "type": "and",
            "children": [
                {
                    "type": "in",
                    "attr": "city",
                    "values": [{"kind": "str", "value": "上海"}, {"kind": "str", "value": "杭州"}],
                },
                {"type": "not", "child": {"type": "tag", "name": "已购"}},
                {
                    "type": "compare",
                    "attr": "spend",
                    "op": ">=",
                    "value": {"kind": "int", "value": 100},
                },
                {"type": "within", "attr": "subscribe_time", "seconds": 15552000},
                {"type": "tag", "name": "90后"},
            ],
        },
    }  # fmt: skip
    audience = (
        tag("90后")
        & attr("city").isin(["杭州", "上海"])
        & ~tag("已购")
        & attr("subscribe_time").within(timedelta(days=180))
        & (attr("spend") >= 100)
    )
    assert from_json(document) == audience
    assert to_json(audience) == document


def test_non_canonical_documents_are_canonicalized() -> None:
    """from_json builds through the smart constructors: one-child ands fold, constants fold."""
    one = {"type": "and", "children": [{"type": "tag", "name": "a"}]}
    nested = {"type": "or", "children": [one, {"type": "nobody"}, {"type": "tag", "name": "b"}]}
    document = {"wxsegment": "segment", "version": 1, "expr": nested}
    assert from_json(document) == tag("a") | tag("b")
    float_as_int = {"kind": "float", "value": 2}
    document = {
        "wxsegment": "segment",
        "version": 1,
        "expr": {"type": "compare", "attr": "x", "op": "<", "value": float_as_int},
    }
    back = from_json(document)
    assert isinstance(back, Compare)
    assert type(back.value) is float


def document(expr: object) -> dict[str, object]:
    return {"wxsegment": "segment", "version": 1, "expr": expr}


def compare(value: object) -> dict[str, object]:
    return {"type": "compare", "attr": "x", "op": "==", "value": value}


TAG = {"type": "tag", "name": "a"}
INT1 = {"kind": "int", "value": 1}


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ("tag:a", "$", "expected an object, got a string"),
        ([], "$", "expected an object, got an array"),
        ({"version": 1, "expr": TAG}, "$", "missing key 'wxsegment'"),
        ({"wxsegment": "query", "version": 1, "expr": TAG}, "$.wxsegment", "'segment'"),
        ({"wxsegment": "segment", "version": 2, "expr": TAG}, "$.version", "newer"),
        ({"wxsegment": "segment", "version": "1", "expr": TAG}, "$.version", "integer"),
        ({"wxsegment": "segment", "version": True, "expr": TAG}, "$.version", "integer"),
        ({"wxsegment": "segment", "version": 0, "expr": TAG}, "$.version", "positive"),
        ({"wxsegment": "segment", "version": 1}, "$", "missing key 'expr'"),
        ({**document(TAG), "extra": 1}, "$", "unknown key 'extra'"),
        (document(None), "$.expr", "got null"),
        (document({"name": "a"}), "$.expr", "missing key 'type'"),
        (document({"type": "regex"}), "$.expr.type", "unknown node type 'regex'"),
        (document({"type": ["tag"]}), "$.expr.type", "expected a string"),
        (document({"type": "tag"}), "$.expr", "missing key 'name'"),
        (document({"type": "tag", "name": "a", "x": 1}), "$.expr", "unknown key 'x'"),
        (document({"type": "tag", "name": 5}), "$.expr.name", "expected a string"),
        (document({"type": "tag", "name": ""}), "$.expr", "non-empty"),
        (
            document({"type": "and", "children": [TAG, TAG, compare({**INT1, "value": "1"})]}),
            "$.expr.children[2].value.value",
            "expected a value of kind 'int', got a string",
        ),
        (
            document({"type": "or", "children": [TAG, TAG, compare(1)]}),
            "$.expr.children[2].value",
            "expected an object, got a number",
        ),
        (document({"type": "and", "children": TAG}), "$.expr.children", "expected an array"),
        (document({"type": "not", "child": []}), "$.expr.child", "expected an object"),
        (document(compare({"kind": "int", "value": True})), "$.expr.value.value", "got a boolean"),
        (document(compare({"kind": "int", "value": 1.5})), "$.expr.value.value", "got a number"),
        (document(compare({"kind": "bool", "value": 1})), "$.expr.value.value", "got a number"),
        (document(compare({"kind": "float", "value": math.nan})), "$.expr.value.value", "finite"),
        (document(compare({"kind": "float", "value": 10**400})), "$.expr.value.value", "range"),
        (document(compare({"kind": "dec", "value": "1"})), "$.expr.value.kind", "unknown value"),
        (document(compare({"kind": "str"})), "$.expr.value", "missing key 'value'"),
        (
            document(compare({"kind": "datetime", "value": "2026-01-01T00:00:00"})),
            "$.expr.value.value",
            "UTC offset",
        ),
        (
            document(compare({"kind": "datetime", "value": "next monday"})),
            "$.expr.value.value",
            "not an ISO 8601 datetime",
        ),
        (
            document({"type": "compare", "attr": "x", "op": "~", "value": INT1}),
            "$.expr.op",
            "unknown operator",
        ),
        (document({"type": "exists", "attr": "and"}), "$.expr", "reserved word"),
        (document({"type": "exists", "attr": "two words"}), "$.expr", "identifiers"),
        (document({"type": "in", "attr": "x", "values": []}), "$.expr.values", "at least one"),
        (
            document({
                "type": "between", "attr": "x",
                "lo": {"kind": "int", "value": 5}, "hi": {"kind": "int", "value": 1},
            }),
            "$.expr",
            "lo <= hi",
        ),
        (
            document({
                "type": "between", "attr": "x",
                "lo": {"kind": "int", "value": 5}, "hi": {"kind": "str", "value": "a"},
            }),
            "$.expr",
            "one kind",
        ),
        (document({"type": "within", "attr": "x", "seconds": 0}), "$.expr.seconds", "positive"),
        (document({"type": "within", "attr": "x", "seconds": 1.5}), "$.expr.seconds", "whole"),
        (document({"type": "within", "attr": "x", "seconds": True}), "$.expr.seconds", "whole"),
        (document({"type": "within", "attr": "x", "seconds": 10**20}), "$.expr.seconds", "long"),
    ],
)  # fmt: skip
def test_bad_documents(data: object, path: str, message: str) -> None:
    """Malformed documents raise SegmentJSONError naming the JSON path of the problem."""
    with pytest.raises(SegmentJSONError) as info:
        from_json(data)
    assert isinstance(info.value, ValueError)
    assert info.value.path == path
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_nesting_limit() -> None:
    """Absurdly deep documents are refused with SegmentJSONError, not RecursionError."""
    expr: dict[str, object] = TAG
    for _ in range(5000):
        expr = {"type": "and", "children": [expr]}
    with pytest.raises(SegmentJSONError, match="nested deeper"):
        from_json(document(expr))


def test_deepest_parsable_segment_round_trips() -> None:
    """A segment nested as deeply as parse allows survives to_json and from_json."""
    text = "not (tag:a and " * MAX_DEPTH + "not tag:b" + ")" * MAX_DEPTH
    segment = parse(text)
    assert from_json(json.loads(json.dumps(to_json(segment)))) == segment


def test_error_survives_pickling() -> None:
    """SegmentJSONError pickles with its path and message."""
    with pytest.raises(SegmentJSONError) as info:
        from_json(document({"type": "regex"}))
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.path, str(back)) == (info.value.path, str(info.value))


def check_from_json_total(data: object) -> None:
    """from_json returns a segment or raises SegmentJSONError, nothing else."""
    outcome: Segment | SegmentJSONError
    try:
        outcome = from_json(data)
    except SegmentJSONError as error:
        outcome = error
    if isinstance(outcome, SegmentJSONError):
        assert outcome.path.startswith("$")
    else:
        assert isinstance(outcome, Segment)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(
        ["segment", "and", "or", "not", "tag", "compare", "in", "between", "exists", "within",
         "int", "float", "str", "bool", "datetime", "==", "x", "2026-01-01T00:00:00Z"]
    ),
)  # fmt: skip
_KEYS = st.sampled_from(
    ["wxsegment", "version", "expr", "type", "children", "child", "name", "attr", "op",
     "value", "values", "lo", "hi", "seconds", "kind"]
) | st.text(max_size=5)  # fmt: skip
_GARBAGE = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=20,
)


@given(_GARBAGE)
def test_fuzz_garbage(data: object) -> None:
    """Random JSON-like data either reads as a segment or raises SegmentJSONError."""
    check_from_json_total(data)


@given(_GARBAGE.map(lambda expr: {"wxsegment": "segment", "version": 1, "expr": expr}))
def test_fuzz_garbage_expressions(data: object) -> None:
    """Random expressions inside a valid envelope read as a segment or raise SegmentJSONError."""
    check_from_json_total(data)


def containers(node: object) -> list[dict[str, Any] | list[Any]]:
    """Every dict and list inside a document, outermost first."""
    found: list[dict[str, Any] | list[Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for child in node.values():
            found.extend(containers(child))
    elif isinstance(node, list):
        found.append(node)
        for child in node:
            found.extend(containers(child))
    return found


@given(any_segments(max_leaves=6), st.data())
def test_fuzz_mutated_documents(segment: Segment, data: st.DataObject) -> None:
    """Valid documents with one part replaced or removed read or raise SegmentJSONError."""
    doc = copy.deepcopy(to_json(segment))
    target = data.draw(st.sampled_from(containers(doc)))
    if isinstance(target, dict):
        key = data.draw(st.sampled_from(sorted(target)))
        if data.draw(st.booleans()):
            del target[key]
        else:
            target[key] = data.draw(_GARBAGE)
    elif target:
        index = data.draw(st.integers(0, len(target) - 1))
        target[index] = data.draw(_GARBAGE)
    else:
        target.append(data.draw(_GARBAGE))
    check_from_json_total(doc)
