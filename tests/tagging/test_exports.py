"""The public surface of wxsegment.tagging and its import boundaries."""

from __future__ import annotations

import subprocess
import sys

import wxsegment.tagging as tagging


def test_all_is_complete_and_documented() -> None:
    """__all__ names every public attribute exactly once, and each has a docstring."""
    public = {n for n in vars(tagging) if not n.startswith("_") and n != "annotations"}
    assert set(tagging.__all__) == public
    assert len(tagging.__all__) == len(set(tagging.__all__))
    for name in tagging.__all__:
        value = getattr(tagging, name)
        if isinstance(value, type) or callable(value):
            assert value.__doc__, name


def test_tagging_does_not_import_quota() -> None:
    """Importing wxsegment.tagging loads neither wxsegment.quota nor hypothesis."""
    code = (
        "import sys, wxsegment.tagging; "
        "bad = [m for m in sys.modules if m.startswith('wxsegment.quota') or m == 'hypothesis']; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_errors_are_value_errors() -> None:
    """Every tagging error is a TaggingError, itself a ValueError."""
    errors = [getattr(tagging, n) for n in tagging.__all__ if n.endswith("Error")]
    assert len(errors) == 12
    for error in errors:
        assert issubclass(error, tagging.TaggingError)
        assert issubclass(error, ValueError)
