"""Tagging: QR scenes that carry tags, rules that turn callbacks into tag changes, and a sync.

- `SceneCodec` packs a `Scene` (tags, channel, attribution) into a QR scene string of at most
  64 characters, or stores it in a `SceneRegistry` and encodes its key;
- `RuleSet` turns parsed callback events (``subscribe``/``SCAN`` with a scene, ``CLICK``,
  keyword text messages) into `TagChanges`;
- `TagSync` applies changes with the fewest WeChat calls within the tag limits, and pulls
  memberships into a `TagStore`;
- `sync_followers` (and `async_sync_followers`) pulls every follower and tag from WeChat into a
  `wxsegment.followers.FollowerStore`, resumably.

See ``docs/tagging.md``. The error tree is drawn in ``wxsegment.tagging._errors``.
"""

from __future__ import annotations

from wxsegment.tagging._codec import (
    DEFAULT_PREFIX,
    SCENE_ALPHABET,
    SCENE_MAX_CHARS,
    SceneCodec,
    create_tagging_qrcode,
    create_tagging_qrcode_async,
)
from wxsegment.tagging._errors import (
    ConflictingTagChangesError,
    ForeignSceneError,
    InvalidSceneError,
    InvalidTagNameError,
    MalformedSceneError,
    SceneError,
    SceneTooLongError,
    TaggingError,
    TagSyncError,
    TooManyAccountTagsError,
    TooManyFollowerTagsError,
    UnknownSceneKeyError,
)
from wxsegment.tagging._follower_sync import (
    PULL_ID_ATTRIBUTE,
    FollowerSyncReport,
    SyncProgress,
    async_refresh_followers,
    async_sync_followers,
    follower_from_user,
    refresh_followers,
    sync_followers,
)
from wxsegment.tagging._registry import MemorySceneRegistry, SceneRegistry, SQLiteSceneRegistry
from wxsegment.tagging._rules import (
    ClickRule,
    KeywordRule,
    Rule,
    RuleSet,
    SceneRule,
    TagChanges,
)
from wxsegment.tagging._scene import FIELD_MAX_CHARS, Scene, scene_key
from wxsegment.tagging._store import FollowerTagStore, MemoryTagStore, TagStore
from wxsegment.tagging._sync import RESERVED_TAG_IDS, SyncPlan, SyncReport, TagSync

__all__ = [
    "DEFAULT_PREFIX",
    "FIELD_MAX_CHARS",
    "PULL_ID_ATTRIBUTE",
    "RESERVED_TAG_IDS",
    "SCENE_ALPHABET",
    "SCENE_MAX_CHARS",
    "ClickRule",
    "ConflictingTagChangesError",
    "FollowerSyncReport",
    "FollowerTagStore",
    "ForeignSceneError",
    "InvalidSceneError",
    "InvalidTagNameError",
    "KeywordRule",
    "MalformedSceneError",
    "MemorySceneRegistry",
    "MemoryTagStore",
    "Rule",
    "RuleSet",
    "SQLiteSceneRegistry",
    "Scene",
    "SceneCodec",
    "SceneError",
    "SceneRegistry",
    "SceneRule",
    "SceneTooLongError",
    "SyncPlan",
    "SyncProgress",
    "SyncReport",
    "TagChanges",
    "TagStore",
    "TagSync",
    "TagSyncError",
    "TaggingError",
    "TooManyAccountTagsError",
    "TooManyFollowerTagsError",
    "UnknownSceneKeyError",
    "async_refresh_followers",
    "async_sync_followers",
    "create_tagging_qrcode",
    "create_tagging_qrcode_async",
    "follower_from_user",
    "refresh_followers",
    "scene_key",
    "sync_followers",
]
