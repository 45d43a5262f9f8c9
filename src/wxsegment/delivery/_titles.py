"""How much of a push's title a follower sees in the chat list before it folds.

WeChat shows an article title in full inside the message, but the chat list and the
notification fold it after roughly 22 to 27 characters, depending on the phone, and operators
plan on the first 18 carrying the message. Widths are counted in full-width characters (字): a
CJK or other wide character is 1, anything narrower (Latin letters, digits, most punctuation)
is 1/2, which is how a proportional font lays them out in practice. Every threshold is a
parameter: the fold is a measured habit of WeChat's clients, not a documented limit.
"""

from __future__ import annotations

import unicodedata
from typing import Final

import attrs

__all__ = [
    "DEFAULT_FOLD_AT",
    "DEFAULT_KEY_CHARS",
    "MAX_TITLE_CHARS",
    "TitleCheck",
    "check_title",
]

#: Characters (字) that should carry the whole message.
DEFAULT_KEY_CHARS: Final = 18.0
#: Characters (字) after which the chat list may fold the title (the low end of 22-27).
DEFAULT_FOLD_AT: Final = 22.0
#: The longest draft/article title WeChat accepts (``draft/add``: title at most 32 字).
MAX_TITLE_CHARS: Final = 32.0


def char_width(char: str) -> float:
    """1 for a wide (CJK, full-width) character, 0 for a combining mark, else 1/2."""
    if unicodedata.combining(char):
        return 0.0
    return 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.5


def _cut(title: str, width: float) -> int:
    """The index where ``title``'s first ``width`` characters (字) end."""
    used = 0.0
    for index, char in enumerate(title):
        used += char_width(char)
        if used > width:
            return index
    return len(title)


@attrs.frozen
class TitleCheck:
    """The parts of a title a follower sees, with warnings in words (none: the title is fine)."""

    title: str
    #: The title's width in full-width characters (字).
    width: float
    #: The part within the key length: what should carry the message.
    key: str
    #: The part shown before the fold.
    visible: str
    #: The part after the fold (empty if nothing folds).
    folded: str
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No warning: nothing folds and the title is within WeChat's length limit."""
        return not self.warnings


def check_title(
    title: str,
    *,
    key_chars: float = DEFAULT_KEY_CHARS,
    fold_at: float = DEFAULT_FOLD_AT,
    max_chars: float = MAX_TITLE_CHARS,
) -> TitleCheck:
    """Split ``title`` into its key part, the part before the fold and the folded rest."""
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, not {type(title).__name__}")
    if not 0 < key_chars <= fold_at <= max_chars:
        raise ValueError(
            "thresholds must satisfy 0 < key_chars <= fold_at <= max_chars, got "
            f"{key_chars}, {fold_at}, {max_chars}"
        )
    text = title.strip()
    width = sum(char_width(char) for char in text)
    fold = _cut(text, fold_at)
    warnings: list[str] = []
    if not text:
        warnings.append("the title is empty")
    if width > max_chars:
        warnings.append(f"{width:g} 字 is over WeChat's limit of {max_chars:g} for a title")
    if fold < len(text):
        warnings.append(
            f"folds after {fold_at:g} 字 in the chat list: {text[fold:]!r} may not be seen"
        )
    return TitleCheck(
        title=title,
        width=width,
        key=text[: _cut(text, key_chars)],
        visible=text[:fold],
        folded=text[fold:],
        warnings=tuple(warnings),
    )
