"""The public surface of wxsegment.testing and its import boundaries."""

from __future__ import annotations

import subprocess
import sys

import wxsegment.testing as testing


def test_all_is_sorted_documented_and_complete() -> None:
    """__all__ is sorted, names every public attribute, and each has a docstring."""
    assert testing.__all__ == sorted(testing.__all__)
    public = {n for n in vars(testing) if not n.startswith("_") and n not in {"annotations"}}
    public -= {"strategies", "event_strategies", "simulation"}
    assert set(testing.__all__) == public
    for name in testing.__all__:
        value = getattr(testing, name)
        if callable(value) and isinstance(value, type):
            assert value.__doc__, name


def test_fake_imports_no_other_part() -> None:
    """Importing the fake loads neither wxsegment.api, segment, quota nor hypothesis."""
    code = (
        "import sys, wxsegment.testing; "
        "bad = [m for m in sys.modules if m.split('.')[:2] in "
        "(['wxsegment', 'api'], ['wxsegment', 'segment'], ['wxsegment', 'quota']) "
        "or m == 'hypothesis']; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
