"""The public surface of wxsegment.followers and what importing it loads."""

from __future__ import annotations

import inspect
import subprocess
import sys

import wxsegment.followers as followers
from wxsegment.followers import (
    AttributeKindError,
    AttributeSchemaError,
    ImportRejectedError,
    StaleVersionError,
    UndeclaredAttributeError,
)


def test_all_is_complete_sorted_and_documented() -> None:
    """__all__ names every public attribute once, each class or function documented."""
    public = {n for n in vars(followers) if not n.startswith("_") and n != "annotations"}
    assert set(followers.__all__) == public | {"PostgresFollowerStore"}
    assert len(followers.__all__) == len(set(followers.__all__))
    for name in followers.__all__:
        value = getattr(followers, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, name


def test_errors_subclass_the_fitting_builtins() -> None:
    """Schema and import errors are ValueErrors; a trimmed feed is a LookupError."""
    assert issubclass(UndeclaredAttributeError, AttributeSchemaError)
    assert issubclass(AttributeKindError, AttributeSchemaError)
    assert issubclass(AttributeSchemaError, ValueError)
    assert issubclass(ImportRejectedError, ValueError)
    assert issubclass(StaleVersionError, LookupError)


def test_importing_loads_no_driver() -> None:
    """Importing wxsegment.followers loads neither psycopg nor numpy nor pyroaring."""
    code = (
        "import sys, wxsegment.followers; "
        "bad = [m for m in ('psycopg', 'numpy', 'pyroaring', 'pymysql') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
