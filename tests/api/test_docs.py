"""The Python examples of docs/api.md run, in order, as written, against FakeWeChat."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_docs_examples_run(tmp_path: Path) -> None:
    """Every example block of docs/api.md runs without error; the page sets up its own fake."""
    namespace: dict[str, Any] = {"__name__": "api_docs"}
    blocks = _blocks()
    assert len(blocks) >= 12
    for block in blocks:
        # The token-store example names a system directory; it is the only substitution.
        code = block.replace("/var/lib/myapp/wechat-tokens", str(tmp_path / "tokens"))
        if code.startswith(("async with", "from wxsegment.api import AsyncClient\n\nasync")):
            body = "\n".join("    " + line for line in code.splitlines())
            code = f"async def _example():\n{body}\nasyncio.run(_example())\n"
            namespace.setdefault("asyncio", asyncio)
        exec(compile(code, str(DOC), "exec"), namespace)
    fake = namespace["fake"]
    assert fake.jobs
    assert fake.messages
    assert namespace["winner"] == "a"
    assert not fake.kf_accounts
