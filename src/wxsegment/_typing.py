"""Small typing helpers that work on every supported Python version."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["assert_never"]


def assert_never(value: NoReturn) -> NoReturn:
    """Tell mypy a branch is unreachable; fail loudly if it is reached at run time."""
    raise AssertionError(f"unhandled value: {value!r}")
