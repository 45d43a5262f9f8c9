"""docs/segment.md: the explain and funnel examples run and print exactly what the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "segment.md"


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_explain_examples_print_what_the_page_shows() -> None:
    """Each python block's output equals the text block right after it."""
    pairs = re.findall(
        r"^```python\n(.*?)^```\n\n```text\n(.*?)^```",
        _section("Explaining an audience"),
        re.M | re.S,
    )
    assert len(pairs) == 2
    namespace: dict[str, object] = {"__name__": "segment_docs"}
    for index, (code, shown) in enumerate(pairs):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{PAGE.name}[explain {index}]", "exec"), namespace)
        assert out.getvalue() == shown
