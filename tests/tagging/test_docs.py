"""The examples of docs/tagging.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tagging.md"


def test_docs_examples_run() -> None:
    """Every python block of docs/tagging.md, executed in order in one namespace, passes."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_tagging"}
    exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    namespace["client"].close()  # type: ignore[attr-defined]


def test_docs_name_every_public_name() -> None:
    """Every public name of wxsegment.tagging appears on the page."""
    import wxsegment.tagging as tagging

    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in tagging.__all__ if name not in text]
    assert missing == []
