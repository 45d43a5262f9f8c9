"""Tests of the public surface of wxsegment.api.callback."""

from __future__ import annotations

import inspect

import wxsegment.api.callback as callback
from wxsegment.api.callback import (
    AppIdMismatch,
    CallbackError,
    CallbackParseError,
    DecryptError,
    PayloadTooLarge,
    SignatureError,
)


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists every public name of the package, once."""
    public = {name for name in dir(callback) if not name.startswith("_")}
    public -= {"annotations"}
    assert set(callback.__all__) == public
    assert len(callback.__all__) == len(set(callback.__all__))


def test_public_classes_and_functions_have_docstrings() -> None:
    """Every public class and function says what it is."""
    for name in callback.__all__:
        value = getattr(callback, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_error_tree() -> None:
    """The error tree drawn in the module docstring, rooted at ValueError."""
    assert issubclass(CallbackError, ValueError)
    for error in (SignatureError, DecryptError, CallbackParseError):
        assert error.__bases__ == (CallbackError,)
    assert AppIdMismatch.__bases__ == (DecryptError,)
    assert PayloadTooLarge.__bases__ == (CallbackParseError,)
    doc = callback.__doc__ or ""
    for error in (CallbackError, SignatureError, DecryptError, AppIdMismatch, CallbackParseError):
        assert error.__name__ in doc
    assert PayloadTooLarge.__name__ in doc
