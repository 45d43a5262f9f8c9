"""Scene registries: one conformance suite over memory and SQLite, and the codec's fallback."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given

from tests.tagging.conftest import scenes
from wxsegment.tagging import (
    MemorySceneRegistry,
    Scene,
    SceneCodec,
    SceneError,
    SceneRegistry,
    SQLiteSceneRegistry,
    scene_key,
)

LONG = Scene(channel="门店海报", tags={"广东", "深圳", "会员", "新客"}, store="南山店")

Factory = Callable[[], SceneRegistry]


def _sqlite() -> SceneRegistry:
    return SQLiteSceneRegistry(":memory:")


@pytest.fixture(params=[MemorySceneRegistry, _sqlite], ids=["memory", "sqlite"])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """A factory of empty registries of one backend; SQLite ones are closed afterwards."""
    made: list[SceneRegistry] = []

    def factory() -> SceneRegistry:
        registry: SceneRegistry = request.param()
        made.append(registry)
        return registry

    yield factory
    for registry in made:
        if isinstance(registry, SQLiteSceneRegistry):
            registry.close()


def test_put_get_round_trip_and_idempotence(make: Factory) -> None:
    """put returns the content key; get gives the scene back; a second put is the same key."""
    registry = make()
    key = registry.put(LONG)
    assert key == scene_key(LONG)
    assert len(key) == 16
    assert registry.put(LONG) == key
    assert registry.get(key) == LONG
    assert registry.get("a" * 16) is None


@given(scenes)
def test_every_scene_round_trips_through_each_backend(scene: Scene) -> None:
    """Any valid scene (Unicode included) is stored and read back equal, in both backends."""
    for registry in (MemorySceneRegistry(), SQLiteSceneRegistry(":memory:")):
        assert registry.get(registry.put(scene)) == scene
        assert SceneCodec(registry).decode(SceneCodec(registry).encode(scene)) == scene


def test_equal_scenes_share_a_key_different_ones_do_not() -> None:
    """The key depends on content only: tag order is irrelevant, any field change matters."""
    a = Scene(channel="c", tags=["x", "y"])
    assert scene_key(a) == scene_key(Scene(channel="c", tags=["y", "x"]))
    assert scene_key(a) != scene_key(Scene(channel="c", tags=["x", "y"], referrer="r"))
    assert scene_key(a) != scene_key(Scene(channel="c", tags=["x"]))


def test_put_refuses_non_scenes(make: Factory) -> None:
    """Only Scene values are stored."""
    with pytest.raises(TypeError):
        make().put("not a scene")  # type: ignore[arg-type]


def test_sqlite_keeps_scenes_across_connections(tmp_path: Path) -> None:
    """A scene encoded with one connection decodes with a new one on the same file."""
    path = tmp_path / "scenes.db"
    first = SQLiteSceneRegistry(path)
    text = SceneCodec(first).encode(LONG)
    first.close()
    second = SQLiteSceneRegistry(path)
    try:
        assert text.startswith("wxsk.")
        assert SceneCodec(second).decode(text) == LONG
    finally:
        second.close()


def test_sqlite_key_collision_is_an_error(tmp_path: Path) -> None:
    """A key that already holds another scene is refused, not overwritten."""
    path = tmp_path / "scenes.db"
    registry = SQLiteSceneRegistry(path)
    try:
        key = scene_key(LONG)
        with closing(sqlite3.connect(path)) as db, db:
            db.execute(
                "INSERT INTO wxsegment_scenes (key, scene) VALUES (?, ?)",
                (key, Scene(channel="other").to_json()),
            )
        with pytest.raises(SceneError, match="collision"):
            registry.put(LONG)
        assert registry.get(key) == Scene(channel="other")
    finally:
        registry.close()


def test_codec_only_uses_registry_when_needed(make: Factory) -> None:
    """A fitting scene is encoded inline; the long one takes one registry entry."""
    registry = make()
    codec = SceneCodec(registry)
    assert codec.encode(Scene(channel="c", tags={"广东"})).startswith("wxs1.")
    text = codec.encode(LONG)
    assert text == "wxsk." + scene_key(LONG)
    assert SceneCodec(registry).decode(text) == LONG


def test_codec_refuses_objects_that_are_not_registries() -> None:
    """A registry must implement put and get."""
    with pytest.raises(TypeError, match="SceneRegistry"):
        SceneCodec(registry={})  # type: ignore[arg-type]
