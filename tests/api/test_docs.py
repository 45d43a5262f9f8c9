"""The Python examples of docs/api.md run, in order, against FakeWeChat."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from wxsegment.testing import FakeWeChat

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
APPID = "wx1234567890abcdef"
FOLLOWER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_docs_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every example block of docs/api.md runs against the fake without error."""
    fake = FakeWeChat(appid=APPID, secret="app-secret")
    fake.add_follower(FOLLOWER)
    openids = [FOLLOWER, *fake.add_followers(29)]
    fake.open_window(FOLLOWER, "message")

    class RoutedClient(httpx.Client):
        def __init__(self, **options: Any) -> None:
            options.setdefault("transport", httpx.MockTransport(fake.handler))
            super().__init__(**options)

    class RoutedAsyncClient(httpx.AsyncClient):
        def __init__(self, **options: Any) -> None:
            options.setdefault("transport", httpx.MockTransport(fake.handler))
            super().__init__(**options)

    monkeypatch.setattr(httpx, "Client", RoutedClient)
    monkeypatch.setattr(httpx, "AsyncClient", RoutedAsyncClient)
    namespace: dict[str, Any] = {
        "appid": APPID,
        "secret": "app-secret",
        "openids": openids,
        "openid": FOLLOWER,
        "httpx": httpx,
        "transport": httpx.MockTransport(fake.handler),
        "asyncio": asyncio,
    }
    blocks = _blocks()
    assert len(blocks) >= 8
    for block in blocks:
        code = block.replace("/var/lib/myapp/wechat-tokens", str(tmp_path / "tokens"))
        if code.startswith("async with"):
            body = "\n".join("    " + line for line in code.splitlines())
            code = f"async def _example():\n{body}\nasyncio.run(_example())\n"
        exec(compile(code, str(DOC), "exec"), namespace)
    assert fake.jobs
    assert fake.messages
