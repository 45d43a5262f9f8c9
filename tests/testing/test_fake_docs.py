"""The examples in docs/testing.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def test_docs_examples_run() -> None:
    """Every python block of docs/testing.md, executed in order in one namespace, passes."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
