"""The value rules of typed template keywords (``thing1``, ``time2``, ``amount3``, ...).

Shared by the API client, which checks values before sending, and by the fake WeChat, which
answers 47003 for the same values; it imports nothing of either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = ["KEYWORD_RULES", "KeywordRule", "first_violation", "keyword_type"]

_KEY: Final = re.compile(r"([A-Za-z_]+?)(\d+)")
_DAY: Final = r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2})"
_CLOCK: Final = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME_ONE: Final = rf"(?:{_DAY}\s*)?{_CLOCK}"
_DATE_ONE: Final = rf"{_DAY}(?:\s*{_CLOCK})?"
_CJK: Final = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


@attrs.frozen
class KeywordRule:
    """A keyword type: at most ``max_chars`` characters and, when set, a full-match pattern.

    ``mixed_max_chars`` applies instead when the value holds any non-ASCII character (the
    ``name`` type: 10 CJK or 20 letters).
    """

    max_chars: int | None = None
    pattern: str | None = None
    mixed_max_chars: int | None = None

    def accepts(self, value: str) -> bool:
        """Whether ``value`` satisfies the rule."""
        limit = self.max_chars
        if self.mixed_max_chars is not None and not value.isascii():
            limit = self.mixed_max_chars
        if limit is not None and len(value) > limit:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


#: The documented types (subscribe-message table, shared by category template messages).
KEYWORD_RULES: Final[Mapping[str, KeywordRule]] = MappingProxyType(
    {
        "thing": KeywordRule(20),
        "number": KeywordRule(32, r"[+-]?\d+(?:\.\d+)?"),
        "letter": KeywordRule(32, r"[A-Za-z]+"),
        "symbol": KeywordRule(5, rf"[^A-Za-z0-9{_CJK}\s\x00-\x1f\x7f]+"),
        "character_string": KeywordRule(32, r"[\x21-\x7e]+"),
        "time": KeywordRule(None, rf"{_TIME_ONE}(?:\s*~\s*{_TIME_ONE})?"),
        "date": KeywordRule(None, rf"{_DATE_ONE}(?:\s*~\s*{_DATE_ONE})?"),
        "amount": KeywordRule(None, r"[^\d\s.]?\d{1,10}(?:\.\d+)?元?"),
        "phone_number": KeywordRule(17, r"[0-9+\-()]+"),
        "car_number": KeywordRule(8, rf"[{_CJK}A-Za-z0-9][A-Za-z0-9]*[{_CJK}A-Za-z0-9]?"),
        "name": KeywordRule(20, None, mixed_max_chars=10),
        "phrase": KeywordRule(5, rf"[{_CJK}]+"),
        "short_thing": KeywordRule(5),
    }
)


def keyword_type(key: str) -> str | None:
    """The type prefix of a data key (``thing1`` -> ``thing``), or None without digits."""
    match = _KEY.fullmatch(key)
    return match.group(1) if match else None


def first_violation(data: Mapping[str, Any], rules: Mapping[str, KeywordRule]) -> str | None:
    """The first key whose value breaks its type rule (or is not a string), else None.

    Values are plain strings or ``{"value": ...}`` objects.
    """
    for key, item in data.items():
        value = item.get("value") if isinstance(item, Mapping) else item
        if not isinstance(value, str):
            return key
        kind = keyword_type(key)
        rule = rules.get(kind) if kind is not None else None
        if rule is not None and not rule.accepts(value):
            return key
    return None
