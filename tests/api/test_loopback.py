"""Client and AsyncClient over real HTTP, against `FakeWeChat.asgi` served by uvicorn."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wxsegment.api import AsyncClient, Client, Text
from wxsegment.testing import FakeWeChat

uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """A FakeWeChat on an ephemeral 127.0.0.1 port, for the duration of one test."""
    wechat = FakeWeChat()
    config = uvicorn.Config(
        wechat.asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield wechat, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_sync_client_over_loopback(served: tuple[FakeWeChat, str]) -> None:
    """The blocking client tags, pages, fetches users and mass-sends over a real socket."""
    wechat, base_url = served
    openids = wechat.add_followers(120)
    with Client(wechat.appid, wechat.secret, base_url=base_url) as client:
        tag = client.tags.create("回头客")
        client.tags.tag_users(tag.id, openids)
        assert sorted(client.tags.iter_members(tag.id)) == sorted(openids)
        assert len(client.users.get_many(openids)) == 120
        sent = client.mass.send_to_tag(tag.id, Text("你好"), clientmsgid="loop-1")
        assert sent.msg_id is not None
    assert wechat.tags[tag.id].name == "回头客"


def test_async_client_over_loopback(served: tuple[FakeWeChat, str]) -> None:
    """The asyncio client does the same, with concurrent batches, over a real socket."""
    wechat, base_url = served
    openids = wechat.add_followers(120)

    async def main() -> None:
        async with AsyncClient(wechat.appid, wechat.secret, base_url=base_url) as client:
            tag = await client.tags.create("回头客")
            await client.tags.tag_users(tag.id, openids)
            members = [o async for o in client.tags.iter_members(tag.id)]
            assert sorted(members) == sorted(openids)
            users = await client.users.get_many(openids)
            assert [u.openid for u in users] == openids
            sent = await client.mass.send_to_tag(tag.id, Text("你好"), clientmsgid="loop-2")
            assert sent.msg_id is not None

    asyncio.run(main())
    assert len([c for c in wechat.calls if c.path == "/cgi-bin/stable_token"]) == 1


def test_uploads_and_downloads_over_loopback(
    served: tuple[FakeWeChat, str], tmp_path: Path
) -> None:
    """A 1.5 MB file streams up from disk and comes back byte for byte, sync and async."""
    wechat, base_url = served
    content = bytes(range(256)) * (1_500_000 // 256)
    path = tmp_path / "poster.jpg"
    path.write_bytes(content)
    with Client(wechat.appid, wechat.secret, base_url=base_url) as client:
        media = client.media.upload("image", path)
        assert client.media.get(media.media_id).content == content

    async def main() -> bytes:
        async with AsyncClient(wechat.appid, wechat.secret, base_url=base_url) as client:
            with path.open("rb") as stream:
                media = await client.media.upload("image", stream)
            return (await client.media.get(media.media_id)).content

    assert asyncio.run(main()) == content
