"""Auto-tag rules: callback events in, `TagChanges` out. Pure: no I/O but the scene registry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from wxsegment._typing import assert_never
from wxsegment.api.callback import (
    ClickEvent,
    Event,
    Message,
    ScanEvent,
    SubscribeEvent,
    TextMessage,
)
from wxsegment.tagging._codec import SceneCodec
from wxsegment.tagging._errors import ConflictingTagChangesError, TaggingError
from wxsegment.tagging._scene import Scene, check_tag_name

__all__ = ["ClickRule", "KeywordRule", "Rule", "RuleSet", "SceneRule", "TagChanges"]


def _names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError("expected an iterable of tag names, not a single string")
    names = frozenset(value)
    for name in names:
        check_tag_name(name)
    return names


def _disjoint(add: frozenset[str], remove: frozenset[str]) -> None:
    both = add & remove
    if both:
        raise ConflictingTagChangesError(f"tags both added and removed: {sorted(both)!r}")


def _check_text(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty or blank")


def _check_openid(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    # The client refuses such openids only when it sends them, after earlier writes were made.
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, not {type(value).__name__}")
    if not value or value != value.strip():
        raise TaggingError(f"{attribute.name} must be non-empty, without surrounding spaces")


@attrs.frozen(kw_only=True)
class TagChanges:
    """Tags to add to and remove from one follower; ``add`` and ``remove`` are disjoint."""

    openid: str = attrs.field(validator=_check_openid)
    add: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    remove: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        _disjoint(self.add, self.remove)

    @property
    def empty(self) -> bool:
        """Whether nothing changes."""
        return not self.add and not self.remove


@attrs.frozen(kw_only=True)
class SceneRule:
    """Add the tags of the scene of a QR code on follow (``subscribe``) and/or ``SCAN``."""

    on_subscribe: bool = True
    on_scan: bool = True


@attrs.frozen(kw_only=True)
class ClickRule:
    """On a click of the menu button whose key is ``event_key``: add and remove tags."""

    event_key: str = attrs.field(validator=_check_text)
    add: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    remove: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        _disjoint(self.add, self.remove)


@attrs.frozen(kw_only=True)
class KeywordRule:
    """On a text message matching ``keyword``: add and remove tags.

    ``match="exact"`` compares the whole message (surrounding whitespace ignored),
    ``"contains"`` looks for the keyword inside it; ``ignore_case`` compares case-folded.
    """

    keyword: str = attrs.field(validator=_check_text)
    add: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    remove: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    match: Literal["exact", "contains"] = attrs.field(
        default="exact", validator=attrs.validators.in_(("exact", "contains"))
    )
    ignore_case: bool = True

    def __attrs_post_init__(self) -> None:
        _disjoint(self.add, self.remove)

    def matches(self, content: str) -> bool:
        """Whether a text message's content matches."""
        keyword, text = self.keyword.strip(), content.strip()
        if self.ignore_case:
            keyword, text = keyword.casefold(), text.casefold()
        return text == keyword if self.match == "exact" else keyword in text


#: A rule of a `RuleSet`.
Rule: TypeAlias = SceneRule | ClickRule | KeywordRule


class RuleSet:
    """Rules applied in order; on a conflict the later rule wins for that tag.

    Scenes are decoded with ``codec``; a foreign scene (not written by the codec) gives no
    change, a malformed one raises its `SceneError`.
    """

    def __init__(self, rules: Sequence[Rule], *, codec: SceneCodec | None = None) -> None:
        rules = tuple(rules)
        for rule in rules:
            if not isinstance(rule, (SceneRule, ClickRule, KeywordRule)):
                raise TypeError(f"not a rule: {type(rule).__name__}")
        self.rules: tuple[Rule, ...] = rules
        self.codec: SceneCodec = codec if codec is not None else SceneCodec()

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules, codec={self.codec!r})"

    def scene_of(self, event: Message | Event) -> Scene | None:
        """The decoded scene of a QR ``subscribe`` or ``SCAN`` event (None: absent or foreign)."""
        if isinstance(event, (SubscribeEvent, ScanEvent)) and event.scene:
            return self.codec.try_decode(event.scene)
        return None

    def changes(self, event: Message | Event) -> TagChanges:
        """The tag changes ``event`` calls for (empty when no rule matches)."""
        if not isinstance(event, (Message, Event)):
            raise TypeError(f"expected a parsed callback message or event, not {event!r}")
        scene = self.scene_of(event)
        add: set[str] = set()
        remove: set[str] = set()
        for rule in self.rules:
            found = _apply(rule, event, scene)
            if found is not None:
                plus, minus = found
                add = (add - minus) | plus
                remove = (remove - plus) | minus
        return TagChanges(openid=event.from_user_name, add=add, remove=remove)


def _apply(
    rule: Rule, event: Message | Event, scene: Scene | None
) -> tuple[frozenset[str], frozenset[str]] | None:
    match rule:
        case SceneRule():
            wanted = (isinstance(event, SubscribeEvent) and rule.on_subscribe) or (
                isinstance(event, ScanEvent) and rule.on_scan
            )
            return (scene.tags, frozenset()) if wanted and scene is not None else None
        case ClickRule():
            if isinstance(event, ClickEvent) and event.event_key == rule.event_key:
                return rule.add, rule.remove
            return None
        case KeywordRule():
            if isinstance(event, TextMessage) and rule.matches(event.content):
                return rule.add, rule.remove
            return None
        case _:
            assert_never(rule)
