"""Errors of the tagging composition; all are ``ValueError`` subclasses (bad input, not a bug).

::

    TaggingError(ValueError)
    ├── InvalidTagNameError         not a name WeChat accepts (empty, over 30 UTF-8 bytes)
    ├── ConflictingTagChangesError  one change both adds and removes a tag
    ├── SceneError
    │   ├── InvalidSceneError       a Scene field is out of bounds (empty, too long, not UTF-8)
    │   ├── SceneTooLongError       does not fit in 64 characters and there is no registry
    │   ├── ForeignSceneError       the scene string was not produced by this codec
    │   ├── MalformedSceneError     it carries the codec's prefix but cannot be decoded
    │   └── UnknownSceneKeyError    a registry key the registry does not hold
    └── TagSyncError
        ├── TooManyAccountTagsError  creating the missing tags would pass the account limit
        └── TooManyFollowerTagsError some followers would carry more tags than WeChat allows

Every one of them is raised before anything is written, to WeChat or to a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "ConflictingTagChangesError",
    "ForeignSceneError",
    "InvalidSceneError",
    "InvalidTagNameError",
    "MalformedSceneError",
    "SceneError",
    "SceneTooLongError",
    "TagSyncError",
    "TaggingError",
    "TooManyAccountTagsError",
    "TooManyFollowerTagsError",
    "UnknownSceneKeyError",
]


class TaggingError(ValueError):
    """Root of every error of `wxsegment.tagging`."""


class InvalidTagNameError(TaggingError):
    """A tag name WeChat would refuse: empty or over 30 UTF-8 bytes (45158)."""


class ConflictingTagChangesError(TaggingError):
    """One change (or rule) both adds and removes the same tag."""


class SceneError(TaggingError):
    """Root of the scene codec's errors."""


class InvalidSceneError(SceneError):
    """A `Scene` field is invalid: empty, too long, a lone surrogate, too many tags."""


class SceneTooLongError(SceneError):
    """The scene does not fit inline in a scene string and the codec has no registry."""


class ForeignSceneError(SceneError):
    """The scene string was not produced by this codec (another prefix, a numeric scene...)."""


class MalformedSceneError(SceneError):
    """The scene string has the codec's prefix but is not a valid, canonical encoding."""


class UnknownSceneKeyError(SceneError):
    """The scene refers to a registry key that the registry does not hold (or no registry)."""


class TagSyncError(TaggingError):
    """Root of the sync's refusals, raised before any tag is created or changed."""


class TooManyAccountTagsError(TagSyncError):
    """Creating the missing tags would give the account more tags than allowed (45056)."""

    def __init__(self, missing: Iterable[str], existing: int, limit: int) -> None:
        self.missing = tuple(sorted(missing))
        self.existing = existing
        self.limit = limit
        super().__init__(
            f"creating {len(self.missing)} tag(s) {list(self.missing)!r} would give the account "
            f"{existing + len(self.missing)} tags, over the limit of {limit}; nothing was changed"
        )


class TooManyFollowerTagsError(TagSyncError):
    """Some followers would carry more tags than allowed (45059); ``counts`` names them."""

    def __init__(self, counts: Mapping[str, int], limit: int) -> None:
        self.counts: Mapping[str, int] = MappingProxyType(dict(sorted(counts.items())))
        self.limit = limit
        shown = ", ".join(f"{openid!r} ({n})" for openid, n in list(self.counts.items())[:5])
        more = f" and {len(self.counts) - 5} more" if len(self.counts) > 5 else ""
        super().__init__(
            f"{len(self.counts)} follower(s) would carry more than {limit} tags: {shown}{more}; "
            "nothing was changed"
        )

    @property
    def openids(self) -> tuple[str, ...]:
        """The followers refused, sorted."""
        return tuple(self.counts)
