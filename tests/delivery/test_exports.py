"""The public surface of wxsegment.delivery and its place in the dependency rule."""

from __future__ import annotations

import subprocess
import sys

import wxsegment.delivery as delivery


def test_all_names_every_public_attribute_with_a_docstring() -> None:
    """__all__ is exactly the public names, constants first then sorted, each documented."""
    public = {n for n in vars(delivery) if not n.startswith("_") and n != "annotations"}
    assert set(delivery.__all__) == public
    constants = [n for n in delivery.__all__ if n.isupper()]
    assert delivery.__all__ == sorted(constants) + sorted(set(delivery.__all__) - set(constants))
    for name in delivery.__all__:
        value = getattr(delivery, name)
        if callable(value):
            assert value.__doc__, name


def test_no_other_part_imports_delivery() -> None:
    """Importing api, segment, quota and testing never loads wxsegment.delivery."""
    code = (
        "import sys, wxsegment.api, wxsegment.segment, wxsegment.quota, wxsegment.testing; "
        "sys.exit(1 if any(m.startswith('wxsegment.delivery') for m in sys.modules) else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
