"""Parse the segment DSL (the grammar is in `wxsegment.segment._render`).

A tokenizer turns the text into tokens carrying their positions; a recursive-descent parser
turns tokens into nodes through the smart constructors, so the result is canonical and
``parse(render(s)) == s``. Every problem, lexical or semantic (a naive datetime,
``between 5 and 1``, a reserved word as an attribute), raises `SegmentSyntaxError` pointing at
the offending spot; nothing else escapes for a ``str`` input.

Beyond the canonical form, the parser accepts ``=`` for ``==``, ``Z`` for the ``+00:00``
offset, and ``and``/``or``/``not`` in any letter case.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Final, NamedTuple

from wxsegment._model import AttributeValue, value_kind
from wxsegment.segment._nodes import (
    EVERYONE,
    NOBODY,
    RESERVED_WORDS,
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
from wxsegment.segment._render import render_value

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "SegmentSyntaxError",
    "Token",
    "TokenKind",
    "parse",
    "parse_datetime",
    "tokenize",
]

#: Longest text `parse` reads, in characters.
MAX_LENGTH: Final = 100_000
#: Deepest parenthesis nesting `parse` accepts. Comparing and hashing segment trees recurses, so
#: this keeps every parsed segment far from Python's recursion limit.
MAX_DEPTH: Final = 100

_DIGITS: Final = frozenset("0123456789")  # str.isdigit() would also accept "²" and "٣"
_CONTEXT: Final = 40  # characters of text shown on each side of the caret

_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][+-]?[0-9]+)?")
_DATETIME: Final = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<h>[0-9]{2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{6})?)?)?)?"
)
_DURATION: Final = re.compile(r"(?:[0-9]+[wdhms])+")
_DURATION_PART: Final = re.compile(r"([0-9]+)([wdhms])")
_UNIT_SECONDS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_OPERATORS: Final = {"==": Op.EQ, "!=": Op.NE, "<=": Op.LE, ">=": Op.GE}
_SINGLE_OPERATORS: Final = {"<": Op.LT, ">": Op.GT, "=": Op.EQ}
_PUNCTUATION: Final = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET", ",": "COMMA"}
_PREDICATE_WORDS: Final = ("in", "between", "exists", "within", "before", "after")
_OPERATOR_NAMES: Final = ("==", "!=", "<", "<=", ">", ">=")
_VALUE_NAMES: Final = ("a string", "a number", "true", "false", "a datetime")
_CONNECTIVES: Final = ("'and'", "'or'")


class SegmentSyntaxError(ValueError):
    """Segment text that cannot be parsed.

    ``position`` is the 0-based index into ``text`` of the problem, ``expected`` names what
    would have been accepted there; ``str(error)`` ends with the line and a caret under the spot.
    """

    def __init__(
        self, message: str, text: str, position: int, expected: tuple[str, ...] = ()
    ) -> None:
        self.message = message
        self.text = text
        self.position = position
        self.expected = expected
        super().__init__(f"{message} at position {position}\n{_caret_lines(text, position)}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.text, self.position, self.expected))


def _caret_lines(text: str, position: int) -> str:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    end = len(text) if end < 0 else end
    left = max(start, position - _CONTEXT)
    right = min(end, position + _CONTEXT)
    shown = "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text[left:right])
    prefix = "..." if left > start else ""
    suffix = "..." if right < end else ""
    # Wide (CJK) characters take two columns and tabs keep their width, so the caret lines up.
    pad = "".join(
        "\t" if ch == "\t" else "  " if unicodedata.east_asian_width(ch) in "WF" else " "
        for ch in prefix + shown[: position - left]
    )
    return f"  {prefix}{shown}{suffix}\n  {pad}^"


class TokenKind(enum.Enum):
    """What a token is."""

    NAME = "a name"
    KEYWORD = "a keyword"
    TAG = "a tag"
    STRING = "a string"
    NUMBER = "a number"
    DATETIME = "a datetime"
    DURATION = "a duration"
    OPERATOR = "an operator"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COMMA = "','"
    END = "end of input"


class Token(NamedTuple):
    """One token: its kind, its text, where it starts, and the value it denotes (if any)."""

    kind: TokenKind
    text: str
    position: int
    value: object = None


def tokenize(text: str) -> Iterator[Token]:
    """Yield the tokens of ``text``, ending with an ``END`` token.

    Raises `SegmentSyntaxError` at the first character that starts no token.
    """
    pos = 0
    size = len(text)
    while True:
        while pos < size and text[pos].isspace():
            pos += 1
        if pos == size:
            yield Token(TokenKind.END, "", pos)
            return
        ch = text[pos]
        if ch in _PUNCTUATION:
            yield Token(TokenKind[_PUNCTUATION[ch]], ch, pos)
            pos += 1
        elif ch in "=!<>":
            pair = text[pos : pos + 2]
            if pair in _OPERATORS:
                yield Token(TokenKind.OPERATOR, pair, pos, _OPERATORS[pair])
                pos += 2
            elif ch in _SINGLE_OPERATORS:
                yield Token(TokenKind.OPERATOR, ch, pos, _SINGLE_OPERATORS[ch])
                pos += 1
            else:
                raise SegmentSyntaxError("expected '!='", text, pos, ("!=",))
        elif ch == '"':
            value, end = _read_string(text, pos)
            yield Token(TokenKind.STRING, text[pos:end], pos, value)
            pos = end
        elif ch in _DIGITS or (ch == "-" and text[pos + 1 : pos + 2] in _DIGITS):
            token = _read_literal(text, pos)
            yield token
            pos += len(token.text)
        elif ch.isidentifier():
            end = pos + 1
            while end < size and ("_" + text[end]).isidentifier():
                end += 1
            word = text[pos:end]
            if word == "tag" and text[end : end + 1] == ":":
                name, end = _read_tag_name(text, end + 1)
                yield Token(TokenKind.TAG, text[pos:end], pos, name)
            else:
                kind = TokenKind.KEYWORD if word in RESERVED_WORDS else TokenKind.NAME
                yield Token(kind, word, pos)
            pos = end
        else:
            raise SegmentSyntaxError(f"unexpected character {ch!r}", text, pos)


def _read_string(text: str, start: int) -> tuple[str, int]:
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == '"':
            try:
                value = json.loads(text[start : pos + 1])
            except json.JSONDecodeError as exc:
                raise SegmentSyntaxError(
                    f"invalid string: {exc.msg}", text, start + exc.pos
                ) from None
            assert isinstance(value, str)
            return value, pos + 1
        if ch < " ":
            raise SegmentSyntaxError(
                "control characters must be escaped inside a string", text, pos
            )
        pos += 2 if ch == "\\" else 1
    raise SegmentSyntaxError("unterminated string", text, start, ("'\"'",))


def _read_tag_name(text: str, start: int) -> tuple[str, int]:
    if text[start : start + 1] == '"':
        return _read_string(text, start)
    end = start
    while end < len(text) and (text[end].isalnum() or text[end] in "_-"):
        end += 1
    if end == start:
        raise SegmentSyntaxError(
            "expected a tag name after 'tag:'", text, start, ("a tag name", "a quoted tag name")
        )
    return text[start:end], end


def _read_literal(text: str, start: int) -> Token:
    """A number, a datetime or a duration: they all start with a digit (or a minus)."""
    if match := _DATETIME.match(text, start):
        try:
            value = parse_datetime(match.group())
        except ValueError as exc:
            raise SegmentSyntaxError(str(exc), text, start, ("a datetime",)) from None
        token = Token(TokenKind.DATETIME, match.group(), start, value)
    elif text[start] != "-" and (match := _DURATION.match(text, start)):
        token = Token(TokenKind.DURATION, match.group(), start, _duration(text, start, match))
    else:
        match = _NUMBER.match(text, start)
        assert match is not None  # the caller saw a digit, possibly after a minus
        token = Token(TokenKind.NUMBER, match.group(), start, _number(text, start, match))
    end = start + len(token.text)
    if end < len(text) and (text[end].isalnum() or text[end] in "_.:"):
        raise SegmentSyntaxError(f"malformed {token.kind.value[2:]}", text, end)
    return token


def _number(text: str, start: int, match: re.Match[str]) -> int | float:
    literal = match.group()
    try:
        if match.group("frac") is None and match.group("exp") is None:
            return int(literal)
        value = float(literal)
    except ValueError:  # more digits than int() converts
        raise SegmentSyntaxError("number too long", text, start) from None
    if value in (float("inf"), float("-inf")):
        raise SegmentSyntaxError("number out of range", text, start)
    return value


def _duration(text: str, start: int, match: re.Match[str]) -> timedelta:
    seconds = 0
    order = "wdhms"
    previous = -1
    for part in _DURATION_PART.finditer(match.group()):
        rank = order.index(part.group(2))
        if rank <= previous:
            raise SegmentSyntaxError(
                "duration units must appear once each, largest first (w, d, h, m, s)",
                text,
                start + part.start(),
            )
        previous = rank
        seconds += int(part.group(1)) * _UNIT_SECONDS[part.group(2)]
    if seconds == 0:
        raise SegmentSyntaxError("a duration must be positive", text, start, ("a duration",))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise SegmentSyntaxError("duration too long", text, start) from None


def parse_datetime(literal: str) -> datetime:
    """An aware datetime from its DSL literal (ISO 8601 with a UTC offset).

    Raises ``ValueError`` for anything else, including a naive datetime.
    """
    match = _DATETIME.fullmatch(literal)
    if match is None:
        raise ValueError(f"not an ISO 8601 datetime: {literal!r}")
    if match.group("tz") is None:
        raise ValueError("a datetime needs a time and a UTC offset, e.g. 2026-01-01T00:00:00+08:00")
    year, month, day = (int(part) for part in match.group("date").split("-"))
    fraction = (match.group("f") or "").ljust(6, "0")
    zone = match.group("tz")
    hours, minutes, seconds, micros = (0, 0, 0, 0)
    if zone != "Z":
        hours, minutes, *rest = (int(part) for part in re.split("[:.]", zone[1:]))
        seconds, micros = [*rest, 0, 0][:2]
    if minutes > 59 or seconds > 59:
        raise ValueError(f"invalid UTC offset in {literal!r}")
    offset = timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micros)
    try:
        return datetime(
            year,
            month,
            day,
            int(match.group("h")),
            int(match.group("m")),
            int(match.group("s") or 0),
            int(fraction),
            tzinfo=timezone(-offset if zone[0] == "-" else offset),
        )
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid datetime {literal!r}: {exc}") from None


class _Parser:
    """Recursive descent over a token stream with two tokens of lookahead."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = tokenize(text)
        self._ahead: list[Token] = []

    def peek(self, offset: int = 0) -> Token:
        while len(self._ahead) <= offset:
            if self._ahead and self._ahead[-1].kind is TokenKind.END:
                return self._ahead[-1]
            self._ahead.append(next(self._tokens))
        return self._ahead[offset]

    def advance(self) -> Token:
        token = self.peek()
        if token.kind is not TokenKind.END:
            self._ahead.pop(0)
        return token

    def fail(
        self, token: Token, expected: tuple[str, ...], message: str = ""
    ) -> SegmentSyntaxError:
        found = token.kind.value if token.kind is TokenKind.END else repr(token.text)
        message = message or f"expected {_one_of(expected)}, found {found}"
        return SegmentSyntaxError(message, self.text, token.position, expected)

    def expect(self, kind: TokenKind) -> Token:
        token = self.advance()
        if token.kind is not kind:
            raise self.fail(token, (kind.value,))
        return token

    def is_word(self, token: Token, word: str) -> bool:
        """Keywords are lowercase; the connectives also match in any letter case."""
        if token.kind is TokenKind.KEYWORD:
            return token.text == word
        return (
            token.kind is TokenKind.NAME
            and word in ("and", "or", "not")
            and (token.text.lower() == word)
        )

    def segment(self) -> Segment:
        result = self.expression(0)
        end = self.peek()
        if end.kind is not TokenKind.END:
            raise self.fail(end, (*_CONNECTIVES, TokenKind.END.value))
        return result

    def expression(self, depth: int) -> Segment:
        # Both precedence levels in one loop, so each parenthesis costs only two stack frames.
        disjuncts: list[Segment] = []
        conjuncts = [self.operand(depth)]
        while True:
            token = self.peek()
            if self.is_word(token, "and"):
                self.advance()
                conjuncts.append(self.operand(depth))
            elif self.is_word(token, "or"):
                self.advance()
                disjuncts.append(and_(*conjuncts))
                conjuncts = [self.operand(depth)]
            else:
                disjuncts.append(and_(*conjuncts))
                return or_(*disjuncts)

    def operand(self, depth: int) -> Segment:
        negate = False
        while self.is_word(self.peek(), "not") and not self.names_attribute(self.peek()):
            self.advance()
            negate = not negate
        token = self.advance()
        if token.kind is TokenKind.LPAREN:
            if depth >= MAX_DEPTH:
                raise self.fail(token, (), f"parentheses nested deeper than {MAX_DEPTH}")
            result = self.expression(depth + 1)
            closing = self.advance()
            if closing.kind is not TokenKind.RPAREN:
                raise self.fail(closing, (*_CONNECTIVES, "')'"))
        elif token.kind is TokenKind.TAG:
            assert isinstance(token.value, str)
            name_at = token.position + len("tag:")
            result = self.build(name_at, "a tag name", Tag, token.value)
        elif self.is_word(token, "everyone") or self.is_word(token, "nobody"):
            result = EVERYONE if token.text == "everyone" else NOBODY
        elif token.kind is TokenKind.NAME:
            result = self.predicate(token)
        else:
            expected = ("'not'", "'('", "'tag:'", "'everyone'", "'nobody'", "an attribute name")
            message = ""
            if token.kind is TokenKind.KEYWORD and self.continues_predicate(self.peek()):
                message = f"{token.text!r} is a reserved word and cannot name an attribute"
            raise self.fail(token, expected, message)
        return not_(result) if negate else result

    def names_attribute(self, token: Token) -> bool:
        """Whether a ``NOT`` that is not lowercase is an attribute name (``NOT exists``)."""
        return token.kind is TokenKind.NAME and self.continues_predicate(self.peek(1))

    def continues_predicate(self, token: Token) -> bool:
        return token.kind is TokenKind.OPERATOR or (
            token.kind is TokenKind.KEYWORD and token.text in _PREDICATE_WORDS
        )

    def predicate(self, name: Token) -> Segment:
        token = self.advance()
        attribute = name.text
        if token.kind is TokenKind.OPERATOR:
            assert isinstance(token.value, Op)
            value_token, value = self.value()
            return self.build(value_token, "a value", Compare, attribute, token.value, value)
        if token.kind is TokenKind.KEYWORD and token.text in ("before", "after"):
            moment = self.expect(TokenKind.DATETIME)
            op = Op.LT if token.text == "before" else Op.GT
            return self.build(moment, "a datetime", Compare, attribute, op, moment.value)
        if self.is_word(token, "in"):
            return self.isin(attribute)
        if self.is_word(token, "between"):
            return self.between(attribute)
        if self.is_word(token, "exists"):
            return self.build(name, "an attribute name", Exists, attribute)
        if self.is_word(token, "within"):
            duration = self.expect(TokenKind.DURATION)
            return self.build(duration, "a duration", Within, attribute, duration.value)
        expected = (*_OPERATOR_NAMES, *(f"'{word}'" for word in _PREDICATE_WORDS))
        raise self.fail(token, expected)

    def isin(self, attribute: str) -> Segment:
        opening = self.expect(TokenKind.LBRACKET)
        values: list[AttributeValue] = []
        while True:
            values.append(self.value()[1])
            separator = self.advance()
            if separator.kind is TokenKind.RBRACKET:
                return self.build(opening, "a list of values", In, attribute, values)
            if separator.kind is not TokenKind.COMMA:
                raise self.fail(separator, ("','", "']'"))

    def between(self, attribute: str) -> Segment:
        _, lo = self.value()
        separator = self.advance()
        if not self.is_word(separator, "and"):
            raise self.fail(separator, ("'and'",))
        hi_token, hi = self.value()
        kind = value_kind(lo)
        if value_kind(hi) != kind:
            expected = (f"a {kind} value",)
            raise self.fail(hi_token, expected, f"between bounds must both be {kind} values")
        if hi < lo:  # type: ignore[operator]
            expected = (f"a value >= {render_value(lo)}",)
            raise self.fail(hi_token, expected, "between needs its lower bound first")
        return self.build(hi_token, "a value", Between, attribute, lo, hi)

    def value(self) -> tuple[Token, AttributeValue]:
        token = self.advance()
        if token.kind in (TokenKind.STRING, TokenKind.NUMBER, TokenKind.DATETIME):
            assert isinstance(token.value, (str, int, float, datetime))
            return token, token.value
        if token.kind is TokenKind.KEYWORD and token.text in ("true", "false"):
            return token, token.text == "true"
        raise self.fail(token, _VALUE_NAMES)

    def build(
        self, at: Token | int, expected: str, factory: Callable[..., Segment], *args: object
    ) -> Segment:
        """Construct a node, turning a construction error into a syntax error at ``at``."""
        try:
            return factory(*args)
        except (ValueError, TypeError, OverflowError) as exc:
            position = at if isinstance(at, int) else at.position
            raise SegmentSyntaxError(str(exc), self.text, position, (expected,)) from None


def _one_of(expected: tuple[str, ...]) -> str:
    if len(expected) <= 1:
        return "".join(expected) or "something else"
    return f"{', '.join(expected[:-1])} or {expected[-1]}"


def parse(text: str) -> Segment:
    """The segment written in ``text`` (the DSL that `render` writes).

    Raises `SegmentSyntaxError` (a ``ValueError``) with the position, what was expected and a
    caret line; ``parse(render(s)) == s`` for every segment.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SegmentSyntaxError(
            f"segment text longer than {MAX_LENGTH} characters", text, MAX_LENGTH
        )
    return _Parser(text).segment()
