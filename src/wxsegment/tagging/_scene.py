"""`Scene`: what a tagging QR code carries — tag names, a channel and optional attribution."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any, Final

import attrs

from wxsegment.api import MAX_TAGS_PER_FOLLOWER, TAG_NAME_MAX_BYTES
from wxsegment.tagging._errors import InvalidSceneError, InvalidTagNameError

__all__ = ["FIELD_MAX_CHARS", "Scene", "check_tag_name", "scene_from_json", "scene_key"]

#: Channel, referrer, store and activity are at most this many characters.
FIELD_MAX_CHARS: Final = 64
_KEY_BYTES: Final = 10


def _utf8(text: str, what: str, error: type[ValueError] = InvalidSceneError) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} is not encodable as UTF-8 (a lone surrogate?)") from None


def check_tag_name(name: object, what: str = "tag name") -> str:
    """Refuse a tag name that WeChat would refuse: not a str, empty, or over 30 UTF-8 bytes."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    size = len(_utf8(name, what, InvalidTagNameError))
    if not 1 <= size <= TAG_NAME_MAX_BYTES:
        raise InvalidTagNameError(
            f"{what} must be 1..{TAG_NAME_MAX_BYTES} UTF-8 bytes, got {size}: {name!r}"
        )
    return name


def _tags(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError("tags must be an iterable of tag names, not a single string")
    tags = frozenset(value)
    for name in tags:
        check_tag_name(name)
    if len(tags) > MAX_TAGS_PER_FOLLOWER:
        raise InvalidSceneError(
            f"a scene carries at most {MAX_TAGS_PER_FOLLOWER} tags (a follower cannot hold "
            f"more), got {len(tags)}"
        )
    return tags


def _field(what: str, value: object, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    _utf8(value, what)
    if not 1 <= len(value) <= FIELD_MAX_CHARS:
        raise InvalidSceneError(f"{what} must be 1..{FIELD_MAX_CHARS} characters, got {value!r}")


def _check_channel(_instance: Any, attribute: Any, value: Any) -> None:
    _field(attribute.name, value, required=True)


def _check_optional(_instance: Any, attribute: Any, value: Any) -> None:
    _field(attribute.name, value, required=False)


@attrs.frozen(kw_only=True)
class Scene:
    """The payload of a tagging QR code.

    ``tags`` (at most 20 names of 1..30 UTF-8 bytes) are added to whoever scans; ``channel``
    (required) and ``referrer``/``store``/``activity`` (optional) are 1..64 characters each.
    """

    channel: str = attrs.field(validator=_check_channel)
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_tags)
    referrer: str | None = attrs.field(default=None, validator=_check_optional)
    store: str | None = attrs.field(default=None, validator=_check_optional)
    activity: str | None = attrs.field(default=None, validator=_check_optional)

    def to_json(self) -> str:
        """A canonical JSON text of the scene (sorted keys and tags), as registries store it."""
        return json.dumps(
            {
                "activity": self.activity,
                "channel": self.channel,
                "referrer": self.referrer,
                "store": self.store,
                "tags": sorted(self.tags),
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )


def scene_from_json(text: str) -> Scene:
    """The scene of a `Scene.to_json` text; anything else raises `InvalidSceneError`."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidSceneError(f"not a scene JSON text: {exc}") from None
    if not isinstance(data, dict) or set(data) != {
        "activity",
        "channel",
        "referrer",
        "store",
        "tags",
    }:
        raise InvalidSceneError("not a scene JSON object")
    tags = data["tags"]
    if not isinstance(tags, list):
        raise InvalidSceneError("scene tags must be a list")
    try:
        return Scene(
            channel=data["channel"],
            tags=tags,
            referrer=data["referrer"],
            store=data["store"],
            activity=data["activity"],
        )
    except TypeError as exc:
        raise InvalidSceneError(str(exc)) from None


def scene_key(scene: Scene) -> str:
    """The registry key of a scene: 16 characters ``[a-z2-7]`` derived from its content.

    The same scene always gets the same key, so registering it twice is harmless.
    """
    digest = hashlib.sha256(scene.to_json().encode("utf-8")).digest()[:_KEY_BYTES]
    return base64.b32encode(digest).decode("ascii").lower()
