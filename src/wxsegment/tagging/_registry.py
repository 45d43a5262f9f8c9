"""Where scenes too long for a scene string are kept: a protocol, in memory and SQLite."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from wxsegment.tagging._errors import SceneError
from wxsegment.tagging._scene import Scene, scene_from_json, scene_key

__all__ = ["MemorySceneRegistry", "SQLiteSceneRegistry", "SceneRegistry"]

_TABLE: Final = "wxsegment_scenes"


@runtime_checkable
class SceneRegistry(Protocol):
    """Stores scenes under short keys derived from their content (`scene_key`)."""

    def put(self, scene: Scene) -> str:
        """Store ``scene`` (idempotent) and return its key."""
        ...

    def get(self, key: str) -> Scene | None:
        """The scene stored under ``key``, or None."""
        ...


def _conflict(key: str) -> SceneError:
    return SceneError(f"registry key {key!r} already holds another scene (hash collision)")


class MemorySceneRegistry:
    """A `SceneRegistry` in a dict (tests, single-process apps)."""

    def __init__(self) -> None:
        self._scenes: dict[str, Scene] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemorySceneRegistry(scenes={len(self._scenes)})"

    def put(self, scene: Scene) -> str:
        """Store ``scene`` (idempotent) and return its key."""
        if not isinstance(scene, Scene):
            raise TypeError(f"expected a Scene, not {type(scene).__name__}")
        key = scene_key(scene)
        with self._lock:
            stored = self._scenes.setdefault(key, scene)
        if stored != scene:
            raise _conflict(key)
        return key

    def get(self, key: str) -> Scene | None:
        """The scene stored under ``key``, or None."""
        return self._scenes.get(key)


class SQLiteSceneRegistry:
    """A `SceneRegistry` in one SQLite table (``wxsegment_scenes``), created when missing.

    Give a file path (or ``":memory:"``); the connection is shared by threads under a lock.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY, scene TEXT NOT NULL)"
        )

    def __repr__(self) -> str:
        return f"SQLiteSceneRegistry({self._path!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def put(self, scene: Scene) -> str:
        """Store ``scene`` (idempotent) and return its key."""
        if not isinstance(scene, Scene):
            raise TypeError(f"expected a Scene, not {type(scene).__name__}")
        key = scene_key(scene)
        text = scene.to_json()
        with self._lock:
            self._db.execute(
                f"INSERT OR IGNORE INTO {_TABLE} (key, scene) VALUES (?, ?)", (key, text)
            )
            row = self._db.execute(f"SELECT scene FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] != text:
            raise _conflict(key)
        return key

    def get(self, key: str) -> Scene | None:
        """The scene stored under ``key``, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT scene FROM {_TABLE} WHERE key = ?", (key,)).fetchone()
        return None if row is None else scene_from_json(row[0])
