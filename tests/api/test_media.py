"""Temporary media, article images and permanent materials, sync and async, against the fake."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    TEMP_MEDIA_LIMITS,
    MaterialFile,
    MaterialNews,
    MaterialVideo,
    MediaError,
    MediaLimit,
    WeChatTransportError,
    WeChatValidationError,
)
from wxsegment.testing import FakeConfig, FakeWeChat

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def _uploads(fake: FakeWeChat) -> int:
    return sum(c.path.startswith(("/cgi-bin/media/", "/cgi-bin/material/")) for c in fake.calls)


def test_upload_from_path_bytes_and_file(api: Harness, fake: FakeWeChat, tmp_path: Path) -> None:
    """A path, bytes and a binary file all upload; get returns the same bytes for 3 days."""
    path = tmp_path / "cover.jpg"
    path.write_bytes(JPEG)
    by_path = api.run(lambda c: c.media.upload("image", path))
    by_bytes = api.run(lambda c: c.media.upload("thumb", JPEG, filename="t.jpg"))
    with path.open("rb") as stream:
        stream.read(10)  # a partly read file is still sent whole
        by_file = api.run(lambda c: c.media.upload("image", stream))
    assert by_path.type == "image"
    assert by_bytes.type == "thumb"
    assert by_path.expires_at - by_path.created_at == timedelta(days=3)
    for media in (by_path, by_bytes, by_file):
        got = api.run(lambda c, m=media: c.media.get(m.media_id))
        assert got.content == JPEG
        assert got.content_type == "image/jpeg"
    assert fake.media.temporary(by_file.media_id) is not None


def test_temporary_media_expires_after_three_days(api: Harness, clock: FixedClock) -> None:
    """media/get answers 40007 (MediaError) once three days have passed on the clock."""
    media = api.run(lambda c: c.media.upload("voice", b"#!AMR\n" * 10, filename="hi.amr"))
    clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert api.run(lambda c: c.media.get(media.media_id)).content.startswith(b"#!AMR")
    clock.advance(timedelta(seconds=1))
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.media.get(media.media_id))
    assert caught.value.errcode == 40007


def test_video_download_is_a_url(api: Harness) -> None:
    """A temporary video downloads as JSON with video_url, not bytes."""
    media = api.run(
        lambda c: c.media.upload("video", b"\x00\x00\x00\x18ftypmp42", filename="v.mp4")
    )
    got = api.run(lambda c: c.media.get(media.media_id))
    assert got.content == b""
    assert got.video_url is not None
    assert got.video_url.endswith(".mp4")


@pytest.mark.parametrize(
    ("kind", "filename", "size"),
    [
        ("image", "big.jpg", 2 * 1024 * 1024 + 1),
        ("image", "photo.bmp", 10),
        ("image", "noextension", 10),
        ("voice", "clip.wav", 10),
        ("voice", "long.mp3", 2 * 1024 * 1024 + 1),
        ("video", "movie.mov", 10),
        ("thumb", "thumb.jpg", 64 * 1024 + 1),
        ("thumb", "thumb.png", 10),
        ("image", "empty.jpg", 0),
    ],
)
def test_limits_are_checked_before_the_upload(
    api: Harness, fake: FakeWeChat, tmp_path: Path, kind: str, filename: str, size: int
) -> None:
    """Wrong formats, oversize and empty files are refused locally; nothing is sent."""
    path = tmp_path / filename
    with path.open("wb") as stream:
        stream.truncate(size)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.media.upload(kind, path))
    assert _uploads(fake) == 0


def test_huge_file_is_refused_from_its_size_alone(
    api: Harness, fake: FakeWeChat, tmp_path: Path
) -> None:
    """A 100 MB (sparse) file is refused from os.stat, and a seekable stream from seek/tell."""
    path = tmp_path / "huge.mp4"
    with path.open("wb") as stream:
        stream.truncate(100 * 1024 * 1024)
    with pytest.raises(WeChatValidationError, match="at most"):
        api.run(lambda c: c.media.upload("video", path))

    class Unreadable(io.RawIOBase):
        """Seekable, 100 MB long, and failing the test if anything reads it."""

        name = "huge.mp4"

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return 100 * 1024 * 1024 if whence == 2 else offset

        def tell(self) -> int:
            return 0

        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the file was read")

    with pytest.raises(WeChatValidationError, match="at most"):
        api.run(lambda c: c.media.upload("video", Unreadable()))
    assert _uploads(fake) == 0


def test_bad_sources_are_typed_errors(api: Harness, tmp_path: Path) -> None:
    """Bytes without a filename, unknown types, text files and non-files are refused."""
    with pytest.raises(WeChatValidationError, match="filename"):
        api.run(lambda c: c.media.upload("image", JPEG))
    with pytest.raises(WeChatValidationError, match="media type"):
        api.run(lambda c: c.media.upload("news", JPEG, filename="a.jpg"))
    text = tmp_path / "a.jpg"
    text.write_text("x")
    with text.open("r") as stream, pytest.raises(TypeError, match="binary"):
        api.run(lambda c: c.media.upload("image", stream))
    with pytest.raises(TypeError):
        api.run(lambda c: c.media.upload("image", 42))  # type: ignore[arg-type]


def test_limits_can_follow_the_other_reading(kind: str, clock: FixedClock) -> None:
    """Raising the client's image cap to 10 MB sends a 3 MB image; a 2 MB fake refuses it."""
    fake = FakeWeChat(clock=clock)
    api = Harness(kind, fake, clock=clock)
    api.client.media.limits = {
        **TEMP_MEDIA_LIMITS,
        "image": attrs.evolve(TEMP_MEDIA_LIMITS["image"], max_bytes=10 * 1024 * 1024),
    }
    big = b"\xff\xd8" + bytes(3 * 1024 * 1024)
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.media.upload("image", big, filename="big.jpg"))
    assert caught.value.errcode == 40009
    roomy = FakeWeChat(clock=clock, config=FakeConfig(temp_image_max_bytes=10 * 1024 * 1024))
    api = Harness(kind, roomy, clock=clock)
    api.client.media.limits = {
        **TEMP_MEDIA_LIMITS,
        "image": MediaLimit(10 * 1024 * 1024, frozenset({"jpg"})),
    }
    assert api.run(lambda c: c.media.upload("image", big, filename="big.jpg")).media_id


def test_upload_is_not_replayed_after_an_ambiguous_failure(api: Harness, fake: FakeWeChat) -> None:
    """A timeout after the fake stored the file is raised, not retried into a second copy."""
    fake.inject("timeout", path="/cgi-bin/media/upload", after_processing=True)
    with pytest.raises(WeChatTransportError):
        api.run(lambda c: c.media.upload("image", JPEG, filename="a.jpg"))
    assert sum(c.path == "/cgi-bin/media/upload" for c in fake.calls) == 1


def test_article_images(api: Harness, fake: FakeWeChat) -> None:
    """uploadimg returns a URL; JPG/PNG only and under 1 MB, checked before sending."""
    url = api.run(lambda c: c.media.upload_image(JPEG, filename="in-article.png"))
    assert url.startswith("http://mmbiz.qpic.cn/")
    calls = _uploads(fake)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.media.upload_image(JPEG, filename="anim.gif"))
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.media.upload_image(bytes(1024 * 1024 + 1), filename="big.jpg"))
    assert _uploads(fake) == calls


def test_materials_add_get_delete_count(api: Harness, fake: FakeWeChat) -> None:
    """Images get a URL; video needs a title; get answers bytes, video JSON or news items."""
    image = api.run(lambda c: c.materials.add("image", JPEG, filename="logo.png"))
    assert image.url is not None
    thumb = api.run(lambda c: c.materials.add("thumb", JPEG, filename="t.jpg"))
    assert thumb.url is None
    video = api.run(
        lambda c: c.materials.add_video(
            b"\x00\x00\x00\x18ftypmp42", title="开箱", introduction="新品", filename="v.mp4"
        )
    )
    news = fake.media.add_news_material([{"title": "旧图文", "content": "<p>x</p>"}])
    got = api.run(lambda c: c.materials.get(image.media_id))
    assert got == MaterialFile(JPEG, "image/png")
    got_video = api.run(lambda c: c.materials.get(video.media_id))
    assert isinstance(got_video, MaterialVideo)
    assert (got_video.title, got_video.description) == ("开箱", "新品")
    got_news = api.run(lambda c: c.materials.get(news))
    assert isinstance(got_news, MaterialNews)
    assert got_news.articles[0].title == "旧图文"
    count = api.run(lambda c: c.materials.count())
    assert (count.image, count.video, count.voice, count.news) == (1, 1, 0, 1)
    api.run(lambda c: c.materials.delete(image.media_id))
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.materials.get(image.media_id))
    assert caught.value.errcode == 40007
    with pytest.raises(MediaError):
        api.run(lambda c: c.materials.delete(image.media_id))


def test_video_material_needs_add_video(api: Harness, fake: FakeWeChat) -> None:
    """add('video') and an empty title are refused locally; the fake wants the description."""
    with pytest.raises(WeChatValidationError, match="add_video"):
        api.run(lambda c: c.materials.add("video", b"x", filename="v.mp4"))
    with pytest.raises(WeChatValidationError, match="title"):
        api.run(lambda c: c.materials.add_video(b"x", title=" ", filename="v.mp4"))
    assert _uploads(fake) == 0


def test_materials_iterate_lazily_in_pages(api: Harness, fake: FakeWeChat) -> None:
    """iter walks every page of at most 20; batchget bounds are checked locally."""
    for index in range(23):
        api.run(lambda c, i=index: c.materials.add("image", JPEG, filename=f"{i}.jpg"))
    before = sum(c.path == "/cgi-bin/material/batchget_material" for c in fake.calls)
    items = api.run(lambda c: c.materials.iter("image"))
    pages = sum(c.path == "/cgi-bin/material/batchget_material" for c in fake.calls) - before
    assert len({item.media_id for item in items}) == 23
    assert pages == 2
    assert all(item.url for item in items)
    page = api.run(lambda c: c.materials.batchget("image", offset=20, count=5))
    assert (page.total_count, len(page.items)) == (23, 3)
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.materials.batchget("image", count=21))
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.materials.batchget("thumb"))


def test_material_library_cap(kind: str, clock: FixedClock) -> None:
    """A full library answers the configured errcode (UNCONFIRMED; 45001 by default)."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(max_other_materials=1))
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.materials.add("voice", b"ID3", filename="a.mp3"))
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.materials.add("voice", b"ID3", filename="b.mp3"))
    assert caught.value.errcode == 45001


def test_unknown_media_id_is_40007(api: Harness) -> None:
    """An id the fake never issued answers 40007 (MediaError) for temporary media."""
    with pytest.raises(MediaError) as caught:
        api.run(lambda c: c.media.get("never-uploaded"))
    assert caught.value.errcode == 40007


def test_file_answers_are_told_from_json_by_content_type() -> None:
    """JSON (also sent as text/plain) is decoded and its errcode raised; other types are files."""
    from wxsegment.api._core import FILE_CONTENT, decode_file_response

    error = b'{"errcode":40007,"errmsg":"invalid media_id"}'
    for content_type in ("application/json; encoding=utf-8", "text/plain"):
        with pytest.raises(MediaError):
            decode_file_response(200, error, content_type, "/cgi-bin/media/get")
    assert decode_file_response(200, b'{"video_url":"u"}', "application/json", "/p") == {
        "video_url": "u"
    }
    assert decode_file_response(200, JPEG, "image/jpeg", "/p")[FILE_CONTENT] == JPEG
    with pytest.raises(WeChatTransportError):
        decode_file_response(502, b"", "image/jpeg", "/p")
