"""The scene codec: format, round trips, limits, foreign and malformed scene strings."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tagging.conftest import scenes, small_scenes
from wxsegment.api import AsyncClient, Client
from wxsegment.tagging import (
    SCENE_ALPHABET,
    ForeignSceneError,
    InvalidSceneError,
    InvalidTagNameError,
    MalformedSceneError,
    MemorySceneRegistry,
    Scene,
    SceneCodec,
    SceneTooLongError,
    UnknownSceneKeyError,
    create_tagging_qrcode,
    create_tagging_qrcode_async,
)
from wxsegment.testing import FakeWeChat


def test_ascii_scene_has_the_documented_inline_form() -> None:
    """Fields are dot-separated, tags sorted and dash-joined, '-' escaped as _2D, None empty."""
    scene = Scene(channel="poster", tags={"vip", "new-2024"}, store="SH01")
    assert SceneCodec().encode(scene) == "wxs1.poster.new_2D2024-vip..SH01"


def test_short_non_ascii_text_is_escaped_byte_by_byte() -> None:
    """'a-b' escapes to a_2Db (shorter than its compact form); '-' is byte 0x2D."""
    assert SceneCodec().encode(Scene(channel="qr", tags={"a-b"})) == "wxs1.qr.a_2Db"


def test_unicode_takes_the_compact_form_when_shorter() -> None:
    """'é' is C3 A9: escaped _C3_A9 (6), compact 0x01C3A9 = 115625 = [30, 4, 57] -> __U4v."""
    assert SceneCodec().encode(Scene(channel="qr", tags={"é"})) == "wxs1.qr.__U4v"
    assert SceneCodec().decode("wxs1.qr.__U4v").tags == {"é"}


def test_cjk_tags_fit_compactly() -> None:
    """Four two-character Chinese tags and a Chinese channel fit inline (about 4 chars each)."""
    scene = Scene(channel="海报", tags={"广东", "深圳", "会员", "新客"})
    text = SceneCodec().encode(scene)
    assert text.startswith("wxs1.")
    assert len(text) <= 64
    assert SceneCodec().decode(text) == scene


def test_channel_only_scene_drops_trailing_fields() -> None:
    """A scene with only a channel is the prefix and the channel."""
    assert SceneCodec().encode(Scene(channel="ad7")) == "wxs1.ad7"
    assert SceneCodec().decode("wxs1.ad7") == Scene(channel="ad7")


@given(scenes)
def test_round_trip_with_registry(scene: Scene) -> None:
    """With a registry, decode(encode(s)) == s for every valid scene, within 64 safe chars."""
    codec = SceneCodec(MemorySceneRegistry())
    text = codec.encode(scene)
    assert 1 <= len(text) <= 64
    assert set(text) <= SCENE_ALPHABET
    assert codec.decode(text) == scene


@given(st.one_of(scenes, small_scenes))
def test_without_registry_fits_or_refuses(scene: Scene) -> None:
    """Without a registry a scene round-trips inline or raises SceneTooLongError."""
    codec = SceneCodec()
    try:
        text = codec.encode(scene)
    except SceneTooLongError:
        assert len(codec.inline(scene)) > 64
        return
    assert len(text) <= 64
    assert set(text) <= SCENE_ALPHABET
    assert codec.decode(text) == scene


def test_fitting_scene_stays_inline_and_long_one_goes_to_registry() -> None:
    """Only scenes over 64 characters inline are stored; their string is prefix + 16-char key."""
    registry = MemorySceneRegistry()
    codec = SceneCodec(registry)
    short = Scene(channel="c", tags={"a"})
    assert codec.encode(short) == "wxs1.c.a"
    assert registry.get("a" * 16) is None
    long_scene = Scene(channel="c", tags={f"tag{i:02d}" for i in range(20)})
    text = codec.encode(long_scene)
    assert text.startswith("wxsk.")
    assert len(text) == len("wxsk.") + 16
    assert codec.encode(long_scene) == text
    assert registry.get(text[5:]) == long_scene


def test_too_long_without_registry_is_refused() -> None:
    """20 tags do not fit in 64 characters: SceneTooLongError when there is no registry."""
    with pytest.raises(SceneTooLongError, match="64"):
        SceneCodec().encode(Scene(channel="c", tags={f"tag{i:02d}" for i in range(20)}))


@pytest.mark.parametrize("text", ["", "123", "qrscene_wxs1.a", "wxs", "wxs2.a", "WXS1.a", "x"])
def test_foreign_scenes_are_reported(text: str) -> None:
    """Strings without the codec's marks raise ForeignSceneError; try_decode gives None."""
    codec = SceneCodec()
    with pytest.raises(ForeignSceneError):
        codec.decode(text)
    assert codec.try_decode(text) is None
    assert not codec.owns(text)


@given(st.text(max_size=80).filter(lambda t: not t.startswith(("wxs1.", "wxsk."))))
def test_any_other_text_is_foreign(text: str) -> None:
    """Every string without the marks is foreign, never another error."""
    with pytest.raises(ForeignSceneError):
        SceneCodec().decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "wxs1.",  # empty channel
        "wxs1.a.b.c.d.e.f",  # six fields
        "wxs1.a_zz",  # not hex
        "wxs1.a_e5",  # lower-case hex
        "wxs1.a_FF",  # not UTF-8
        "wxs1.a_E5_B9",  # truncated UTF-8
        "wxs1.a.vip-new",  # unsorted tags
        "wxs1.a.vip-vip",  # repeated tag
        "wxs1.a.",  # trailing empty field
        "wxs1.a.b-",  # empty tag name
        "wxs1._41",  # needless escape of "A"
        "wxs1.a b",  # a space
        "wxs1." + "a" * 60,  # over 64 characters
        "wxs1.a." + "b" * 31,  # tag over 30 bytes
        "wxs1.__8F",  # compact 0x01FF: byte FF is not UTF-8
        "wxs1.__",  # empty compact value
        "wxs1.__5",  # compact value without the 0x01 lead byte
        "wxs1.c.__1",  # compact form of an empty tag name
        "wxs1.c.a-__1",  # compact form of an empty tag name, among others
        "wxs1.__a-b",  # a dash inside a compact value
        "wxsk.short",  # bad key
        "wxsk.AAAAAAAAAAAAAAAA",  # key in upper case
    ],
)
def test_malformed_scenes_raise_typed_error(text: str) -> None:
    """Our prefix with a broken body raises MalformedSceneError (a ValueError)."""
    codec = SceneCodec(MemorySceneRegistry())
    with pytest.raises(MalformedSceneError):
        codec.decode(text)
    with pytest.raises(ValueError, match=r"."):
        codec.try_decode(text)


@given(st.text(alphabet="wxs1k._-AZaz09EF", max_size=40).map(lambda t: "wxs1." + t))
def test_prefixed_text_decodes_canonically_or_is_malformed(text: str) -> None:
    """A prefixed string either decodes to a scene that encodes back to it, or is malformed."""
    codec = SceneCodec()
    try:
        scene = codec.decode(text)
    except MalformedSceneError:
        return
    assert codec.encode(scene) == text


def test_unknown_registry_key() -> None:
    """A well-formed key unknown to the registry (or with no registry) is UnknownSceneKeyError."""
    with pytest.raises(UnknownSceneKeyError):
        SceneCodec(MemorySceneRegistry()).decode("wxsk.abcdefghijklmnop")
    with pytest.raises(UnknownSceneKeyError):
        SceneCodec().decode("wxsk.abcdefghijklmnop")


def test_custom_prefix_makes_default_scenes_foreign() -> None:
    """Two codecs with different prefixes do not read each other's scenes."""
    shop = SceneCodec(prefix="shop")
    text = shop.encode(Scene(channel="c", tags={"t"}))
    assert text == "shop1.c.t"
    assert SceneCodec().try_decode(text) is None
    with pytest.raises(ValueError, match="prefix"):
        SceneCodec(prefix="a.b")
    with pytest.raises(ValueError, match="prefix"):
        SceneCodec(prefix="")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": ""}, InvalidSceneError),
        ({"channel": "c" * 65}, InvalidSceneError),
        ({"channel": "c", "referrer": ""}, InvalidSceneError),
        ({"channel": "c", "tags": {""}}, InvalidTagNameError),
        ({"channel": "c", "tags": {"广" * 11}}, InvalidTagNameError),
        ({"channel": "c", "tags": {f"t{i}" for i in range(21)}}, InvalidSceneError),
        ({"channel": "c", "tags": {"\ud800"}}, InvalidTagNameError),
        ({"channel": "\ud800"}, InvalidSceneError),
        ({"channel": "c", "tags": "vip"}, TypeError),
        ({"channel": 3}, TypeError),
        ({"channel": "c", "tags": {3}}, TypeError),
    ],
)
def test_invalid_scenes_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Scene fields out of bounds raise typed errors at construction."""
    with pytest.raises(error):
        Scene(**kwargs)  # type: ignore[arg-type]


def test_ten_cjk_characters_make_a_valid_tag_name() -> None:
    """30 UTF-8 bytes is the limit: ten CJK characters are accepted."""
    assert Scene(channel="c", tags={"广" * 10}).tags == {"广" * 10}


def test_tagging_qrcode_scene_comes_back_on_scan(fake: FakeWeChat, client: Client) -> None:
    """A tagging QR code's scene string reaches WeChat and returns in the scan event."""
    codec = SceneCodec(MemorySceneRegistry())
    scene = Scene(channel="poster", tags={"广东", "vip"}, activity="618")
    code = create_tagging_qrcode(client, scene, permanent=False, expire_seconds=3600, codec=codec)
    assert fake.qrcodes[code.ticket].action_name == "QR_STR_SCENE"
    assert code.expire_seconds == 3600
    event, key = fake.scan("o_new", code.ticket)
    assert (event, key[: len("qrscene_")]) == ("subscribe", "qrscene_")
    assert codec.decode(key[len("qrscene_") :]) == scene
    permanent = create_tagging_qrcode(client, scene, permanent=True, codec=codec)
    assert fake.qrcodes[permanent.ticket].action_name == "QR_LIMIT_STR_SCENE"
    assert codec.decode(fake.scan("o_new", permanent.ticket)[1]) == scene


def test_permanent_qrcode_with_expiry_is_refused(fake: FakeWeChat, client: Client) -> None:
    """A permanent code with expire_seconds is refused before any call."""
    with pytest.raises(ValueError, match="permanent"):
        create_tagging_qrcode(client, Scene(channel="c"), permanent=True, expire_seconds=60)
    assert fake.calls == []


def test_async_helper_creates_the_same_scene(fake: FakeWeChat) -> None:
    """create_tagging_qrcode_async sends the default codec's scene string via AsyncClient."""
    scene = Scene(channel="c", tags={"a", "b"})

    async def run() -> tuple[str, str]:
        async with AsyncClient(
            fake.appid,
            fake.secret,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)),
            clock=fake.clock,
            sleep=_no_sleep,
        ) as client:
            temporary = await create_tagging_qrcode_async(client, scene, permanent=False)
            permanent = await create_tagging_qrcode_async(client, scene, permanent=True)
        return temporary.ticket, permanent.ticket

    temporary, permanent = asyncio.run(run())
    assert fake.qrcodes[temporary].scene_str == "wxs1.c.a-b"
    assert fake.qrcodes[temporary].action_name == "QR_STR_SCENE"
    assert fake.qrcodes[permanent].action_name == "QR_LIMIT_STR_SCENE"


async def _no_sleep(seconds: float) -> None:
    """An async sleep that returns at once."""


def test_decode_refuses_non_strings() -> None:
    """A scene that is not a str is a TypeError, not a foreign scene."""
    with pytest.raises(TypeError):
        SceneCodec().decode(12345)  # type: ignore[arg-type]
