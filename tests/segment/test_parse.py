"""Tests of the segment DSL parser: round trips, operator-style examples, errors and fuzzing."""

from __future__ import annotations

import enum
import json
import pickle
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    Compare,
    Exists,
    Op,
    Segment,
    SegmentSyntaxError,
    and_,
    attr,
    equivalent,
    from_json,
    not_,
    parse,
    render,
    tag,
    to_json,
)
from wxsegment.segment._parse import MAX_DEPTH, MAX_LENGTH
from wxsegment.testing.strategies import any_segments, segments

CST = timezone(timedelta(hours=8))


@given(segments())
def test_parse_inverts_render(segment: Segment) -> None:
    """parse(render(s)) == s for segments over the default vocabulary."""
    assert parse(render(segment)) == segment


@given(any_segments())
def test_parse_inverts_render_for_any_names_and_values(segment: Segment) -> None:
    """parse(render(s)) == s, and renders back to the same text, for hostile names and values."""
    text = render(segment)
    parsed = parse(text)
    assert parsed == segment
    # Text equality also pins value kinds (1 vs 1.0) and datetime offsets, which == ignores.
    assert render(parsed) == text


@given(any_segments(max_leaves=4), st.sampled_from([" ", "\n", "\t", "  \r\n "]))
def test_whitespace_is_insignificant(segment: Segment, space: str) -> None:
    """Extra whitespace around tokens does not change the result."""
    text = render(segment)
    padded = space + text.replace(" ", space) + space
    # Spaces inside string literals are part of values, so only check texts without any.
    if '"' not in text:
        assert parse(padded) == segment


def test_issue_example() -> None:
    """The operator-style example of the issue parses to the builder-built audience."""
    text = (
        'tag:90后 and city in ["杭州", "上海"] and not tag:已购 '
        "and subscribe_time within 180d and spend >= 100"
    )
    expected = (
        tag("90后")
        & attr("city").isin(["杭州", "上海"])
        & ~tag("已购")
        & attr("subscribe_time").within(timedelta(days=180))
        & (attr("spend") >= 100)
    )
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:90后", tag("90后")),
        ("tag:杭州门店 or tag:t-4", tag("杭州门店") | tag("t-4")),
        ('tag:"双 11"', tag("双 11")),
        ('tag:"say \\"hi\\""', tag('say "hi"')),
        ('tag:"a\\\\b"', tag("a\\b")),
        ('tag:"tag:x"', tag("tag:x")),
        ("tag:and", tag("and")),
        ('城市 == "杭州"', attr("城市") == "杭州"),
        ('name == "\\u00e9\\n"', attr("name") == "é\n"),
        ("spend between 100 and 500", attr("spend").between(100, 500)),
        ("member_level exists", attr("member_level").exists()),
        ("last_order_at within 1d12h", attr("last_order_at").within(timedelta(hours=36))),
        ("last_order_at within 2w", attr("last_order_at").within(timedelta(days=14))),
        ("x within 90m", attr("x").within(timedelta(minutes=90))),
        ("x within 1s", attr("x").within(timedelta(seconds=1))),
        (
            "t before 2026-01-01T00:00:00+08:00",
            attr("t").before(datetime(2026, 1, 1, tzinfo=CST)),
        ),
        (
            "t after 2026-01-01T00:00:00.5Z",
            attr("t").after(datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)),
        ),
        ("t < 2025-12-31T16:00+00:00", attr("t") < datetime(2026, 1, 1, tzinfo=CST)),
        ("x != false", attr("x") != False),  # noqa: E712
        ("x > -5", attr("x") > -5),
        ("x<=-0.5", attr("x") <= -0.5),
        ("x = 1e-07", attr("x") == 1e-07),
        ("x == 1E+20", attr("x") == 1e20),
        ('x in [3, 1, "a", true, 1]', attr("x").isin([1, 3, "a", True])),
        ("everyone", EVERYONE),
        ("nobody", NOBODY),
        ("tag:a and everyone", tag("a")),
        ("tag:a or everyone", EVERYONE),
        ("not nobody", EVERYONE),
        ("not not tag:a", tag("a")),
        ("tag:a or tag:b and tag:c", tag("a") | (tag("b") & tag("c"))),
        ("(tag:a or tag:b) and tag:c", (tag("a") | tag("b")) & tag("c")),
        ("not tag:a and tag:b", ~tag("a") & tag("b")),
        ("not (tag:a and tag:b)", ~(tag("a") & tag("b"))),
        ("tag:a AND tag:b Or NOT tag:c", (tag("a") & tag("b")) | ~tag("c")),
        ("x between 1 AND 2", attr("x").between(1, 2)),
        ("NOT exists", attr("NOT").exists()),
        ("not NOT == 1", ~(attr("NOT") == 1)),
        ("AND > 1 and Or exists", (attr("AND") > 1) & attr("Or").exists()),
        ("tag:a and\n  (tag:b or\ttag:c)\n", tag("a") & (tag("b") | tag("c"))),
    ],
)
def test_operator_style_examples(text: str, expected: Segment) -> None:
    """Hand-written DSL text parses to the segment built with the builders."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [("x == 1", int), ("x == 1.0", float), ("x == 1e3", float), ("x == true", bool)],
)
def test_numbers_keep_their_python_type(text: str, kind: type) -> None:
    """An integer literal stays an int, a literal with a fraction or exponent is a float."""
    parsed = parse(text)
    assert isinstance(parsed, Compare)
    assert type(parsed.value) is kind


def test_datetime_keeps_its_offset() -> None:
    """A datetime literal keeps its UTC offset and microseconds, so it renders back as written."""
    text = "t == 2026-03-01T12:00:00.000250-05:30"
    parsed = parse(text)
    assert isinstance(parsed, Compare)
    assert isinstance(parsed.value, datetime)
    assert parsed.value.utcoffset() == -timedelta(hours=5, minutes=30)
    assert parsed.value.microsecond == 250
    assert render(parsed) == text


def test_parse_results_are_equivalent_to_builder_segments() -> None:
    """Parsed segments are equivalent to differently written builder segments."""
    spend = attr("spend")
    assert equivalent(parse("spend between 10 and 20"), (spend >= 10) & (spend <= 20))
    assert equivalent(parse("not (tag:a or tag:b)"), ~tag("a") & ~tag("b"))
    assert equivalent(
        parse("tag:a and (tag:b or tag:c)"), (tag("a") & tag("b")) | (tag("a") & tag("c"))
    )
    assert not equivalent(parse("spend < 10 or spend >= 10"), spend.exists())


def error_of(text: str) -> SegmentSyntaxError:
    with pytest.raises(SegmentSyntaxError) as info:
        parse(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "position", "expected", "message"),
    [
        ("", 0, "an attribute name", "found end of input"),
        ("city in []", 9, "a string", "expected a string"),
        ("city in [1, ]", 12, "a number", "expected a string"),
        ("city in [1 2]", 11, "']'", "expected ',' or ']'"),
        ("x between 5 and 1", 16, "a value >= 5", "lower bound first"),
        ('x between 5 and "a"', 16, "a number value", "both be number values"),
        ("x between 5 or 6", 12, "'and'", "expected 'and'"),
        ("in == 1", 0, "an attribute name", "'in' is a reserved word"),
        ("tag == 1", 0, "an attribute name", "'tag' is a reserved word"),
        ("x > 2025-01-01T00:00:00", 4, "a datetime", "UTC offset"),
        ("x > 2025-01-01", 4, "a datetime", "UTC offset"),
        ("x before 2025-13-01T00:00:00Z", 9, "a datetime", "invalid datetime"),
        ("x before 2025-01-01T00:00:00+24:00", 9, "a datetime", "invalid datetime"),
        ("x before 5", 9, "a datetime", "expected a datetime"),
        ("x within 0d", 9, "a duration", "positive"),
        ("x within 180", 9, "a duration", "expected a duration"),
        ("x within 1h1d", 11, None, "largest first"),
        ("x within 180days", 13, None, "malformed duration"),
        ("x == 1e999", 5, None, "out of range"),
        ("x == inf", 5, "a number", "found 'inf'"),
        ("x == 1.5.3", 8, None, "malformed number"),
        ("x == 007", 6, None, "malformed number"),
        ('x == "ab', 5, "'\"'", "unterminated string"),
        ('x == "a\\qb"', 7, None, "invalid string"),
        ('x == "a\nb"', 7, None, "control characters"),
        ("x ! 1", 2, "!=", "expected '!='"),
        ("x == 1 & y", 7, None, "unexpected character '&'"),
        ("x == 1 and", 10, "an attribute name", "found end of input"),
        ("tag:a tag:b", 6, "end of input", "expected 'and', 'or' or end of input"),
        ("(tag:a", 6, "')'", "found end of input"),
        ("tag:a)", 5, "end of input", "found ')'"),
        ("tag:", 4, "a tag name", "expected a tag name"),
        ('tag:""', 4, "a tag name", "non-empty"),
        ("x", 1, "'exists'", "found end of input"),
        ("x is 1", 2, "==", "found 'is'"),
        ("x == everyone", 5, "a string", "found 'everyone'"),
        ("Tag:a", 3, None, "unexpected character ':'"),
    ],
)
def test_error_positions(text: str, position: int, expected: str | None, message: str) -> None:
    """Bad input raises SegmentSyntaxError at the exact spot, saying what was expected."""
    error = error_of(text)
    assert isinstance(error, ValueError)
    assert error.position == position
    assert error.text == text
    if expected is not None:
        assert expected in error.expected
    assert message in str(error)
    assert f"at position {position}" in str(error)


def test_caret_points_at_the_spot() -> None:
    """The last two lines of the message show the text and a caret under the bad token."""
    lines = str(error_of("spend >= 100 and city in []")).splitlines()
    assert lines[-2] == "  spend >= 100 and city in []"
    assert lines[-1] == "  " + " " * 26 + "^"


def test_caret_accounts_for_wide_characters() -> None:
    """Chinese characters take two columns, so the caret moves two spaces for each."""
    lines = str(error_of("tag:已购 and and")).splitlines()
    assert lines[-2] == "  tag:已购 and and"
    # "tag:" is 4 columns, "已购" 4 and " and " 5.
    assert lines[-1] == "  " + " " * 13 + "^"


def test_caret_shows_the_line_of_the_error() -> None:
    """In multi-line text the caret line shows only the line holding the error."""
    lines = str(error_of("tag:a and\n  city in []\nand tag:b")).splitlines()
    assert lines[-2] == "    city in []"
    assert lines[-1] == "  " + " " * 11 + "^"


def test_long_lines_are_cut_around_the_error() -> None:
    """A long line is shown as an excerpt around the error, marked with ellipses."""
    text = " or ".join(f"tag:t{i}" for i in range(100)) + " or"
    lines = str(error_of(text)).splitlines()
    assert lines[-2].startswith("  ...")
    assert len(lines[-2]) < 100
    assert lines[-1].index("^") == len(lines[-2])


def test_nesting_limit() -> None:
    """Parentheses nest up to MAX_DEPTH levels; one more is a syntax error, not a crash."""
    deep = "(" * MAX_DEPTH + "tag:a" + ")" * MAX_DEPTH
    assert parse(deep) == tag("a")
    alternating = "not (tag:a and " * MAX_DEPTH + "tag:b" + ")" * MAX_DEPTH
    assert isinstance(parse(alternating), Segment)
    error = error_of("(" * (MAX_DEPTH + 1) + "tag:a" + ")" * (MAX_DEPTH + 1))
    assert error.position == MAX_DEPTH
    assert "nested deeper" in str(error)
    assert isinstance(parse("not " * 10_000 + "tag:a"), Segment)


def test_length_limit() -> None:
    """Text longer than MAX_LENGTH characters is refused before parsing."""
    error = error_of("tag:a or " * (MAX_LENGTH // 9 + 1) + "tag:b")
    assert error.position == MAX_LENGTH
    assert "longer than" in str(error)


def test_non_string_input_is_a_type_error() -> None:
    """parse() of something other than a str is a TypeError, not a syntax error."""
    with pytest.raises(TypeError):
        parse(b"tag:a")  # type: ignore[arg-type]


def test_error_survives_pickling() -> None:
    """SegmentSyntaxError pickles with its position, expectations and text."""
    error = error_of("city in []")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.position, copy.expected, copy.text, str(copy)) == (
        error.position,
        error.expected,
        error.text,
        str(error),
    )


def check_parse_total(text: str) -> None:
    """parse returns a segment or raises SegmentSyntaxError with a position inside the text."""
    outcome: Segment | SegmentSyntaxError
    try:
        outcome = parse(text)
    except SegmentSyntaxError as error:
        outcome = error
    if isinstance(outcome, SegmentSyntaxError):
        assert 0 <= outcome.position <= len(text)
        assert outcome.text == text
        assert all(isinstance(item, str) for item in outcome.expected)
    else:
        assert isinstance(outcome, Segment)


_FRAGMENTS = st.sampled_from(
    [
        "tag:", "tag:a", 'tag:"x y"', "and", "or", "not", "AND", "(", ")", "[", "]", ",",
        "x", "city", "in", "between", "exists", "within", "before", "after", "==", "=", "!=",
        "<", "<=", ">", ">=", "1", "-2.5", "1e-07", "1e999", '"s"', '"', "\\", "true",
        "false", "everyone", "nobody", "180d", "1d12h", "0s", "2026-01-01T00:00:00+08:00",
        "2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "90后", "已购", " ", "\n", ":",
    ]
)  # fmt: skip


@given(st.text())
def test_fuzz_random_text(text: str) -> None:
    """Random text either parses or raises SegmentSyntaxError, nothing else."""
    check_parse_total(text)


@given(st.lists(_FRAGMENTS, max_size=30).map(" ".join))
def test_fuzz_token_soup(text: str) -> None:
    """Random sequences of DSL fragments either parse or raise SegmentSyntaxError."""
    check_parse_total(text)


@given(any_segments(), st.data())
def test_fuzz_mutated_renderings(segment: Segment, data: st.DataObject) -> None:
    """Rendered segments with characters deleted, inserted or replaced never crash parse."""
    text = render(segment)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = data.draw(st.one_of(st.characters(), _FRAGMENTS))
        if action == "delete":
            text = text[:index] + text[index + 1 :]
        elif action == "insert":
            text = text[:index] + piece + text[index:]
        else:
            text = text[:index] + piece + text[index + 1 :]
    check_parse_total(text)


def test_render_is_canonical_for_synonyms() -> None:
    """Synonyms parse to the same segment, and render writes the canonical spelling."""
    synonym = parse("x = 1 AND NOT t after 2026-01-01T00:00:00Z")
    assert render(synonym) == "not t > 2026-01-01T00:00:00+00:00 and x == 1"
    after = attr("t").after(datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert synonym == and_(attr("x") == 1, not_(after))
    assert parse("x = 1 or y exists") == (Compare("x", Op.EQ, 1) | Exists("y"))


def test_dsl_and_json_names_are_exported() -> None:
    """parse, to_json, from_json and their errors are public names of wxsegment.segment."""
    import wxsegment.segment as package

    names = {"parse", "SegmentSyntaxError", "to_json", "from_json", "SegmentJSONError"}
    assert names <= set(package.__all__)
    assert all(getattr(package, name).__module__.startswith("wxsegment.segment.") for name in names)


class _Level(enum.IntEnum):
    GOLD = 3


class _Ratio(float):
    def __repr__(self) -> str:
        return "Ratio(0.5)"


class _Stamp(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "a Stamp"


@pytest.mark.parametrize(
    "segment",
    [
        attr("level") == _Level.GOLD,
        attr("level").isin([_Level.GOLD, 5]),
        attr("ratio") > _Ratio(0.5),
        attr("at") < _Stamp(2026, 1, 1, tzinfo=timezone.utc),
    ],
)
def test_values_of_int_float_and_datetime_subclasses_round_trip(segment: Segment) -> None:
    """An IntEnum or a subclass with its own repr/isoformat renders as a plain literal."""
    assert parse(render(segment)) == segment
    assert from_json(json.loads(json.dumps(to_json(segment)))) == segment
