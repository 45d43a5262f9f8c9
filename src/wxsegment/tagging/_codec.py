"""`SceneCodec`: a `Scene` to and from a QR scene string (≤ 64 chars), with registry fallback.

Format (characters ``A-Z a-z 0-9 . _ -`` only)::

    inline    <prefix>1.<channel>.<tag>-<tag>-....<referrer>.<store>.<activity>
    registry  <prefix>k.<key>

A field (or tag name) is written in the shorter of two forms (the escaped one on a tie):

- escaped: ASCII letters and digits as they are, every other character as ``_`` plus the two
  upper-case hex digits of each of its UTF-8 bytes (``vip-2`` is ``vip_2D2``);
- compact: ``__`` then the base-62 digits (``0-9A-Za-z``) of the big-endian number whose bytes
  are ``0x01`` followed by the UTF-8 bytes (``é`` is ``__U4v``); CJK text costs about 4
  characters per character instead of 9.

Tags are sorted by their written form; empty trailing fields are dropped; an empty field in the
middle means "none". Inline is used whenever it fits; only the canonical form decodes.
"""

from __future__ import annotations

import re
from typing import Final

from wxsegment.api import AsyncClient, Client, QRCode
from wxsegment.tagging._errors import (
    ForeignSceneError,
    InvalidSceneError,
    InvalidTagNameError,
    MalformedSceneError,
    SceneTooLongError,
    UnknownSceneKeyError,
)
from wxsegment.tagging._registry import SceneRegistry
from wxsegment.tagging._scene import Scene

__all__ = [
    "DEFAULT_PREFIX",
    "SCENE_ALPHABET",
    "SCENE_MAX_CHARS",
    "SceneCodec",
    "create_tagging_qrcode",
    "create_tagging_qrcode_async",
]

#: WeChat takes a ``scene_str`` of 1..64 characters.
SCENE_MAX_CHARS: Final = 64
#: The characters the codec writes. WeChat documents no character set for ``scene_str``, so
#: the codec keeps to the ones that survive URLs, XML and logs unchanged.
SCENE_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
)
#: The default prefix that marks a scene string as written by this codec.
DEFAULT_PREFIX: Final = "wxs"

_PREFIX: Final = re.compile(r"[A-Za-z0-9]{1,8}")
_TOKEN: Final = re.compile(r"(?:[A-Za-z0-9]|_[0-9A-F]{2})*")
_KEY: Final = re.compile(r"[a-z2-7]{16}")
_PLAIN: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGIT_VALUE: Final = {ch: i for i, ch in enumerate(_DIGITS)}
_COMPACT: Final = "__"


def _base62(data: bytes) -> str:
    # The leading 0x01 keeps leading zero bytes (a NUL character) from vanishing in the number.
    number = int.from_bytes(b"\x01" + data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_DIGITS[digit])
    return "".join(reversed(digits))


def _unbase62(text: str, where: str) -> bytes:
    number = 0
    for ch in text:
        value = _DIGIT_VALUE.get(ch)
        if value is None:
            raise MalformedSceneError(f"bad base-62 digit {ch!r} in the {where} field")
        number = number * 62 + value
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    if not raw.startswith(b"\x01"):
        raise MalformedSceneError(f"bad compact value in the {where} field")
    return raw[1:]


def _escape(text: str) -> str:
    escaped = "".join(
        ch if ch in _PLAIN else "".join(f"_{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )
    if escaped == text:
        return text
    compact = _COMPACT + _base62(text.encode("utf-8"))
    return compact if len(compact) < len(escaped) else escaped


def _unescape(token: str, where: str) -> str:
    if token.startswith(_COMPACT):
        try:
            return _unbase62(token[len(_COMPACT) :], where).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedSceneError(f"the {where} field is not UTF-8: {token!r}") from None
    if _TOKEN.fullmatch(token) is None:
        raise MalformedSceneError(f"bad characters or escapes in the {where} field: {token!r}")
    out = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "_":
            out.append(int(token[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(token[i]))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedSceneError(f"the {where} field is not UTF-8: {token!r}") from None


class SceneCodec:
    """Encodes a `Scene` into a scene string and back.

    A scene that does not fit inline is stored in ``registry`` and only its key is encoded;
    without a registry it raises `SceneTooLongError`. ``prefix`` (1..8 letters or digits)
    marks the codec's strings, so others are reported as `ForeignSceneError`.
    """

    def __init__(
        self, registry: SceneRegistry | None = None, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
            raise ValueError(f"prefix must be 1..8 ASCII letters or digits, got {prefix!r}")
        if registry is not None and not isinstance(registry, SceneRegistry):
            raise TypeError("registry must implement SceneRegistry (put and get)")
        self.registry: Final = registry
        self.prefix: Final = prefix
        self._inline_mark = prefix + "1."
        self._key_mark = prefix + "k."

    def __repr__(self) -> str:
        return f"SceneCodec(registry={self.registry!r}, prefix={self.prefix!r})"

    def inline(self, scene: Scene) -> str:
        """The inline form of ``scene``, whatever its length (`encode` checks the length)."""
        if not isinstance(scene, Scene):
            raise TypeError(f"expected a Scene, not {type(scene).__name__}")
        fields = [
            _escape(scene.channel),
            "-".join(sorted(_escape(tag) for tag in scene.tags)),
            _escape(scene.referrer or ""),
            _escape(scene.store or ""),
            _escape(scene.activity or ""),
        ]
        while fields[-1] == "":
            fields.pop()
        return self._inline_mark + ".".join(fields)

    def encode(self, scene: Scene) -> str:
        """The scene string of ``scene``: inline when it fits in 64 characters, else a key."""
        text = self.inline(scene)
        if len(text) <= SCENE_MAX_CHARS:
            return text
        if self.registry is None:
            raise SceneTooLongError(
                f"the scene needs {len(text)} characters inline (at most {SCENE_MAX_CHARS}) "
                "and the codec has no registry"
            )
        return self._key_mark + self.registry.put(scene)

    def owns(self, text: str) -> bool:
        """Whether ``text`` carries this codec's prefix (decoding may still fail)."""
        if not isinstance(text, str):
            raise TypeError(f"a scene string must be a str, not {type(text).__name__}")
        return text.startswith((self._inline_mark, self._key_mark))

    def decode(self, text: str) -> Scene:
        """The scene of a scene string.

        Raises `ForeignSceneError` for strings this codec did not write, `MalformedSceneError`
        for broken or non-canonical ones, `UnknownSceneKeyError` for unknown registry keys.
        """
        if not self.owns(text):
            raise ForeignSceneError(f"not a scene of this codec (prefix {self.prefix!r})")
        if len(text) > SCENE_MAX_CHARS or not set(text) <= SCENE_ALPHABET:
            raise MalformedSceneError("a scene string is 1..64 characters of A-Za-z0-9._-")
        if text.startswith(self._key_mark):
            return self._lookup(text[len(self._key_mark) :])
        return self._parse(text)

    def try_decode(self, text: str) -> Scene | None:
        """Like `decode`, but None for a foreign scene string (malformed ones still raise)."""
        return self.decode(text) if self.owns(text) else None

    def _lookup(self, key: str) -> Scene:
        if _KEY.fullmatch(key) is None:
            raise MalformedSceneError(f"bad registry key {key!r}")
        scene = None if self.registry is None else self.registry.get(key)
        if scene is None:
            raise UnknownSceneKeyError(f"no scene registered under key {key!r}")
        return scene

    def _parse(self, text: str) -> Scene:
        fields = text[len(self._inline_mark) :].split(".")
        if len(fields) > 5:
            raise MalformedSceneError(f"at most 5 fields, got {len(fields)}")
        fields += [""] * (5 - len(fields))
        channel = _unescape(fields[0], "channel")
        referrer, store, activity = (
            _unescape(field, name)
            for field, name in zip(fields[2:], ("referrer", "store", "activity"), strict=True)
        )
        names = [_unescape(t, "tags") for t in fields[1].split("-")] if fields[1] else []
        try:
            scene = Scene(
                channel=channel,
                tags=names,
                referrer=referrer or None,
                store=store or None,
                activity=activity or None,
            )
        except (InvalidSceneError, InvalidTagNameError) as exc:
            raise MalformedSceneError(f"decodes to an invalid scene: {exc}") from None
        if len(names) != len(scene.tags) or self.inline(scene) != text:
            raise MalformedSceneError("not in canonical form (order, escapes or empty fields)")
        return scene


def _scene_str(codec: SceneCodec | None, scene: Scene) -> str:
    return (codec if codec is not None else SceneCodec()).encode(scene)


def _check_expiry(permanent: bool, expire_seconds: int | None) -> None:
    if permanent and expire_seconds is not None:
        raise ValueError("a permanent QR code takes no expire_seconds")


def create_tagging_qrcode(
    client: Client,
    scene: Scene,
    *,
    permanent: bool,
    expire_seconds: int | None = None,
    codec: SceneCodec | None = None,
) -> QRCode:
    """Create a QR code whose scans carry ``scene`` (``POST /cgi-bin/qrcode/create``).

    Uses a string scene (``QR_STR_SCENE`` / ``QR_LIMIT_STR_SCENE``); ``expire_seconds`` is for
    temporary codes only (the client's default when None).
    """
    _check_expiry(permanent, expire_seconds)
    text = _scene_str(codec, scene)
    if permanent:
        return client.qrcode.create_permanent(text)
    if expire_seconds is None:
        return client.qrcode.create_temporary(text)
    return client.qrcode.create_temporary(text, expire_seconds=expire_seconds)


async def create_tagging_qrcode_async(
    client: AsyncClient,
    scene: Scene,
    *,
    permanent: bool,
    expire_seconds: int | None = None,
    codec: SceneCodec | None = None,
) -> QRCode:
    """`create_tagging_qrcode` for an `AsyncClient`."""
    _check_expiry(permanent, expire_seconds)
    text = _scene_str(codec, scene)
    if permanent:
        return await client.qrcode.create_permanent(text)
    if expire_seconds is None:
        return await client.qrcode.create_temporary(text)
    return await client.qrcode.create_temporary(text, expire_seconds=expire_seconds)
