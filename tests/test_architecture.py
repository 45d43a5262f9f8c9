"""The dependency rule between wxsegment's parts, and what each import pulls in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wxsegment"

#: Which parts each part may import (besides the shared top-level modules ``wxsegment._*``).
ALLOWED: dict[str, set[str]] = {
    "api": set(),
    "segment": set(),
    "quota": set(),
    "followers": {"segment"},
    "testing": {"api", "segment", "quota", "delivery"},
    "delivery": {"api", "segment", "quota"},
    "tagging": {"api", "segment", "followers"},
    # The command line is an application: it may compose every part.
    "cli": {"api", "segment", "quota", "testing", "delivery", "tagging", "followers", "events"},
    "events": {"api", "quota", "tagging", "followers"},
}


def _imported_parts(path: Path) -> set[str]:
    """The wxsegment parts a module imports, at any depth in its body."""
    parts: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "wxsegment" and len(pieces) > 1 and not pieces[1].startswith("_"):
                parts.add(pieces[1])
    return parts


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_parts_import_only_what_the_design_allows(part: str) -> None:
    """api, segment and quota never import each other; compositions import only their inputs."""
    folder = PACKAGE / part
    if not folder.exists():
        pytest.skip(f"wxsegment.{part} does not exist yet")
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imported_parts(path) - ALLOWED[part] - {part})
        for path in folder.rglob("*.py")
    }
    assert {path: parts for path, parts in offenders.items() if parts} == {}


def test_shared_modules_import_no_part() -> None:
    """The top-level shared modules (model, clock, typing) import none of the parts."""
    for path in PACKAGE.glob("_*.py"):
        if path.name in {"_demo.py", "__main__.py", "_cli_entry.py"}:
            continue  # the demo is an application: it composes every part
        assert _imported_parts(path) == set(), path.name


def test_core_imports_need_no_optional_extra() -> None:
    """Importing the parts, the callback types, tagging and the fake loads no optional extra."""
    code = (
        "import sys\n"
        "import wxsegment, wxsegment.api, wxsegment.segment, wxsegment.quota, wxsegment.testing\n"
        "import wxsegment.api.callback, wxsegment.tagging, wxsegment.delivery, wxsegment.events\n"
        "import wxsegment.followers\n"
        "heavy = {'pyroaring', 'numpy', 'psycopg', 'redis', 'defusedxml', 'cryptography',"
        " 'hypothesis', 'uvicorn'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
