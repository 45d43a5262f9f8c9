"""The examples of docs/followers.md run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import wxsegment.followers as followers

DOC = Path(__file__).resolve().parents[2] / "docs" / "followers.md"


def test_docs_examples_run() -> None:
    """Every python block, run in order in one namespace, passes; the printed text matches."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "docs_followers"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    (shown,) = re.findall(r"```text\n(1 / 2.*?)```", text, re.S)
    assert output.getvalue() == shown


def test_docs_name_every_public_name() -> None:
    """Every public name of wxsegment.followers appears on the page."""
    text = DOC.read_text(encoding="utf-8")
    assert [name for name in followers.__all__ if name not in text] == []
