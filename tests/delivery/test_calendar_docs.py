"""docs/calendar.md: every python block runs in order and prints what the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "calendar.md"


def test_calendar_page_runs_and_prints_what_it_shows() -> None:
    """Blocks followed by a text block print exactly that text; the others just run."""
    text = PAGE.read_text(encoding="utf-8")
    # A block right after an HTML comment is marked "not run" (see tests/test_docs_blocks.py).
    blocks = re.findall(
        r"^(?<!-->\n)```python\n(.*?)^```\n(?:\n```text\n(.*?)^```)?", text, re.M | re.S
    )
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "calendar_docs"}
    for index, (code, shown) in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{PAGE.name}[{index}]", "exec"), namespace)
        if shown:
            assert out.getvalue() == shown, f"block {index}"
    scheduler = namespace["scheduler"]
    scheduler.start()  # type: ignore[attr-defined]
    try:
        job = scheduler.get_jobs()[0]  # type: ignore[attr-defined]
        job.modify(next_run_time=None)
        job.func()
    finally:
        scheduler.shutdown()  # type: ignore[attr-defined]


def test_index_links_the_page() -> None:
    """docs/index.md and docs/delivery.md link the calendar page."""
    for name in ("index.md", "delivery.md"):
        assert "(calendar.md)" in (PAGE.parent / name).read_text(encoding="utf-8")
