"""The Python examples in docs/delivery.md run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "delivery.md"


def test_delivery_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/delivery.md executes without error (their asserts hold)."""
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "delivery_docs"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{PAGE.name}[block {index}]", "exec"), namespace)


def test_index_links_the_page() -> None:
    """docs/index.md lists the delivery page."""
    index = (PAGE.parent / "index.md").read_text(encoding="utf-8")
    assert "(delivery.md)" in index
