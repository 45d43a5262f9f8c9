"""check_title: widths in 字, the key part, the fold, and WeChat's 32-字 limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.delivery import TitleCheck, check_title


def test_short_chinese_title_is_fine() -> None:
    """A title inside the fold has no warning and nothing folded."""
    result = check_title("双十一预售开启：定金翻倍")
    assert result.ok
    assert result.width == 12
    assert result.folded == ""
    assert result.visible == "双十一预售开启：定金翻倍"


def test_latin_counts_half() -> None:
    """Latin letters and digits count 1/2 字 each."""
    assert check_title("Double 11").width == 4.5
    assert check_title("11.11 爆款").width == 5.0


def test_long_title_folds_and_says_what_is_hidden() -> None:
    """Past the fold, the warning quotes the hidden part; key is the first 18 字."""
    title = "会员专享：双十一当天前一千名下单再送价值九十九元的新年礼盒一份"
    result = check_title(title)
    assert not result.ok
    assert result.key == title[:18]
    assert result.visible == title[:22]
    assert result.folded == title[22:]
    assert any(repr(title[22:]) in warning for warning in result.warnings)


def test_over_the_limit_is_a_warning_with_numbers() -> None:
    """A title over 32 字 is flagged with its width and the limit."""
    result = check_title("字" * 33)
    assert any("33" in w and "32" in w for w in result.warnings)


def test_thresholds_are_configurable_and_checked() -> None:
    """fold_at moves the fold; inconsistent thresholds are a ValueError; non-str a TypeError."""
    assert check_title("字" * 25, fold_at=27).ok
    with pytest.raises(ValueError, match="thresholds"):
        check_title("x", key_chars=30, fold_at=22)
    with pytest.raises(TypeError, match="str"):
        check_title(123)  # type: ignore[arg-type]


@given(st.text(max_size=60))
def test_parts_reassemble_the_title(title: str) -> None:
    """visible + folded is the stripped title; key is a prefix of visible."""
    result: TitleCheck = check_title(title)
    assert result.visible + result.folded == title.strip()
    assert result.visible.startswith(result.key)
    assert result.ok == (not result.folded and result.width <= 32 and bool(title.strip()))
