"""Typed template keywords: the value rules of ``thing1``, ``time2``, ``amount3``, ...

A key's prefix (the key without its trailing digits) names its type; WeChat refuses a value
that breaks the type's rule with 47003 ("argument invalid! data.<key>.value invalid"). The
rules count characters, not bytes. Keys whose prefix is not a known type (``keyword1``,
``first``) are not checked. ``short_thing`` and ``const`` are undocumented (UNCONFIRMED): the
default guesses at most 5 characters for ``short_thing`` and leaves ``const`` unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wxsegment._keywords import KEYWORD_RULES, KeywordRule, first_violation, keyword_type
from wxsegment.api._errors import WeChatValidationError

__all__ = ["KEYWORD_RULES", "KeywordRule", "check_keyword_values", "keyword_type"]


def check_keyword_values(
    data: Mapping[str, Any], rules: Mapping[str, KeywordRule] = KEYWORD_RULES
) -> None:
    """Refuse a value that breaks its key's type rule (WeChat would answer 47003).

    ``data`` maps keys to plain values or to ``{"value": ...}`` objects.
    """
    key = first_violation(data, rules)
    if key is None:
        return
    item = data[key]
    value = item.get("value") if isinstance(item, Mapping) else item
    if not isinstance(value, str):
        raise WeChatValidationError(f"data.{key}.value must be a string")
    raise WeChatValidationError(
        f"data.{key}.value {value!r} breaks the {keyword_type(key)} rule "
        "(WeChat would answer 47003)"
    )
