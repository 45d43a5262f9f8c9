"""The fake's content endpoints on the wire: multipart, media limits, drafts, templates."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest

from tests.testing.conftest import APPID, SECRET, Wire, errcode
from wxsegment.testing import FakeConfig, FakeWeChat

JPEG = b"\xff\xd8\xff\xe0 jpeg"


def upload(wire: Wire, path: str, filename: str, content: bytes, **params: str) -> Any:
    """POST one multipart file as field ``media``."""
    response = wire.http.post(
        path,
        params=wire.params(True, params),
        files={"media": (filename, io.BytesIO(content), "application/octet-stream")},
    )
    return response.json()


def test_upload_needs_multipart_with_a_media_part(wire: Wire) -> None:
    """JSON or a boundary-less body 41005; another field name 41005; empty filename 44001."""
    path = "/cgi-bin/media/upload"
    assert errcode(wire.post(path, {"media": "x"}, type="image")) == 41005
    bare = wire.http.post(
        path,
        params=wire.params(True, {"type": "image"}),
        content=b"--x\r\n\r\n--x--",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert errcode(bare.json()) == 41005
    other = wire.http.post(
        path,
        params=wire.params(True, {"type": "image"}),
        files={"file": ("a.jpg", io.BytesIO(JPEG), "image/jpeg")},
    )
    assert errcode(other.json()) == 41005
    assert errcode(upload(wire, path, "", JPEG, type="image")) == 44001


@pytest.mark.parametrize(
    ("kind", "filename", "size", "code"),
    [
        ("image", "a.jpg", 2 * 1024 * 1024 + 1, 40009),
        ("voice", "a.mp3", 2 * 1024 * 1024 + 1, 40010),
        ("video", "a.mp4", 10 * 1024 * 1024 + 1, 40011),
        ("thumb", "a.jpg", 64 * 1024 + 1, 40012),
        ("image", "phpsNnmJN", 10, 40005),
        ("voice", "a.wav", 10, 40005),
        ("news", "a.jpg", 10, 40004),
        ("image", "a.jpg", 0, 44001),
    ],
)
def test_temporary_media_limits(wire: Wire, kind: str, filename: str, size: int, code: int) -> None:
    """Each type's size cap answers its own errcode; formats 40005; types 40004."""
    answer = upload(wire, "/cgi-bin/media/upload", filename, b"\x01" * size, type=kind)
    assert errcode(answer) == code


def test_temporary_image_cap_is_configurable(clock: Any) -> None:
    """temp_image_max_bytes (CONFLICT 2 MB / 10 MB) moves the image cap."""
    fake = FakeWeChat(
        appid=APPID, secret=SECRET, clock=clock, config=FakeConfig(temp_image_max_bytes=10 << 20)
    )
    wire = Wire(fake)
    wire.fetch_token()
    answer = upload(wire, "/cgi-bin/media/upload", "a.jpg", b"\x01" * (3 << 20), type="image")
    assert answer["type"] == "image"
    assert isinstance(answer["created_at"], int)


def test_article_image_and_material_limits(wire: Wire) -> None:
    """uploadimg: 1 MB and jpg/png; add_material: 10 MB images, video needs a description."""
    assert errcode(upload(wire, "/cgi-bin/media/uploadimg", "a.jpg", b"\x01" * (1 << 20))) == 40009
    assert errcode(upload(wire, "/cgi-bin/media/uploadimg", "a.gif", JPEG)) == 40005
    big = b"\x01" * (10 * 1024 * 1024 + 1)
    assert errcode(upload(wire, "/cgi-bin/material/add_material", "a.bmp", big, type="image")) == (
        40009
    )
    assert (
        errcode(upload(wire, "/cgi-bin/material/add_material", "a.mp4", JPEG, type="video"))
        == 40035
    )
    answer = upload(wire, "/cgi-bin/material/add_material", "a.bmp", JPEG, type="image")
    assert answer["url"].startswith("http://")


def test_media_get_answers_the_file(wire: Wire) -> None:
    """media/get answers the bytes with their Content-Type; JSON 40007 for unknown ids."""
    media_id = upload(wire, "/cgi-bin/media/upload", "a.png", JPEG, type="image")["media_id"]
    response = wire.http.get("/cgi-bin/media/get", params=wire.params(True, {"media_id": media_id}))
    assert response.content == JPEG
    assert response.headers["content-type"] == "application/octet-stream"
    assert errcode(wire.get("/cgi-bin/media/get", media_id="nope")) == 40007


def _draft(wire: Wire, **article: Any) -> Any:
    thumb = upload(wire, "/cgi-bin/material/add_material", "t.jpg", JPEG, type="thumb")
    body = {"title": "t", "content": "<p>c</p>", "thumb_media_id": thumb["media_id"], **article}
    return wire.post("/cgi-bin/draft/add", {"articles": [body]})


@pytest.mark.parametrize(
    ("article", "code"),
    [
        ({"title": "题" * 33}, 45003),
        ({"digest": "摘" * 129}, 45004),
        ({"content": ""}, 44004),
        ({"content": "字" * 20_000}, 45002),
        ({"content_source_url": "u" * 1025}, 45005),
        ({"thumb_media_id": "temporary"}, 40007),
        ({"need_open_comment": 2}, 40035),
        ({"article_type": "video"}, 40035),
    ],
)
def test_draft_article_errcodes(wire: Wire, article: dict[str, Any], code: int) -> None:
    """Each article limit answers its errcode."""
    assert errcode(_draft(wire, **article)) == code


def test_draft_shapes(wire: Wire) -> None:
    """No articles 44003; a draft's digest defaults to the content's start; count is GET."""
    assert errcode(wire.post("/cgi-bin/draft/add", {"articles": []})) == 44003
    assert errcode(wire.post("/cgi-bin/draft/add", {})) == 44003
    media_id = _draft(wire, content="<p>" + "长" * 80 + "</p>")["media_id"]
    got = wire.post("/cgi-bin/draft/get", {"media_id": media_id})
    assert got["news_item"][0]["digest"] == ("<p>" + "长" * 80)[:54]
    assert wire.get("/cgi-bin/draft/count") == {"total_count": 1}
    assert errcode(wire.post("/cgi-bin/draft/count", {})) == 43001


@pytest.mark.parametrize(("accept", "code"), [(False, 40035), (True, 0)])
def test_bool_no_content_is_an_option(clock: Any, accept: bool, code: int) -> None:
    """UNCONFIRMED: no_content as a JSON boolean is refused unless accept_bool_no_content."""
    fake = FakeWeChat(
        appid=APPID, secret=SECRET, clock=clock, config=FakeConfig(accept_bool_no_content=accept)
    )
    wire = Wire(fake)
    wire.fetch_token()
    body = {"offset": 0, "count": 5, "no_content": True}
    assert errcode(wire.post("/cgi-bin/draft/batchget", body)) == code


def test_publish_ids_and_unknown_tasks(wire: Wire) -> None:
    """publish_id is a JSON number by default; unknown ids answer 40035."""
    media_id = wire.fake.content.add_draft()
    answer = wire.post("/cgi-bin/freepublish/submit", {"media_id": media_id})
    assert isinstance(answer["publish_id"], int)
    status = wire.post("/cgi-bin/freepublish/get", {"publish_id": str(answer["publish_id"])})
    assert status["publish_status"] == 1
    assert errcode(wire.post("/cgi-bin/freepublish/get", {"publish_id": "9"})) == 40035
    assert errcode(wire.post("/cgi-bin/freepublish/submit", {"media_id": "nope"})) == 40007


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "0", "limit": "10"}, 200018),
        ({"ids": '"616"', "start": "0", "limit": "10"}, 200019),
        ({"ids": "616", "start": "-1", "limit": "10"}, 200016),
        ({"ids": "616", "start": "0", "limit": "31"}, 200017),
        ({"ids": "616", "start": "0", "limit": "30"}, 0),
    ],
)
def test_pub_titles_errcodes(wire: Wire, params: dict[str, str], code: int) -> None:
    """ids required and unquoted, start >= 0, limit 1..30."""
    assert errcode(wire.get("/wxaapi/newtmpl/getpubtemplatetitles", **params)) == code


def test_subscribe_add_errcodes(wire: Wire) -> None:
    """kidList 2..5 known kids (200020), sceneDesc <= 15 (200021), unknown tid (200014)."""
    add = "/wxaapi/newtmpl/addtemplate"
    assert errcode(wire.post(add, {"tid": 99, "kidList": [1], "sceneDesc": "x"})) == 200020
    assert errcode(wire.post(add, {"tid": 99, "kidList": [1, 2], "sceneDesc": "场" * 16})) == (
        200021
    )
    assert errcode(wire.post(add, {"tid": 5, "kidList": [1, 2], "sceneDesc": "x"})) == 200014
    assert "priTmplId" in wire.post(add, {"tid": 99, "kidList": [2, 1], "sceneDesc": "x"})


def test_set_industry_wants_known_ids(wire: Wire) -> None:
    """Industry ids outside the table answer 40103."""
    body = {"industry_id1": "1", "industry_id2": "42"}
    assert errcode(wire.post("/cgi-bin/template/api_set_industry", body)) == 40103


def test_asgi_upload(clock: Any) -> None:
    """The ASGI app passes the multipart Content-Type through: an upload works end to end."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=clock)

    async def run() -> Any:
        transport = httpx.ASGITransport(app=fake.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="https://api") as http:
            token = (
                await http.post(
                    "/cgi-bin/stable_token",
                    json={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
                )
            ).json()["access_token"]
            response = await http.post(
                "/cgi-bin/media/upload",
                params={"access_token": token, "type": "image"},
                files={"media": ("a.jpg", io.BytesIO(JPEG), "image/jpeg")},
            )
            return response.json()

    answer = asyncio.run(run())
    assert fake.media.temporary(answer["media_id"]) is not None
