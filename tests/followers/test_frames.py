"""Frames (polars, pandas, pyarrow) import like rows, checked column by column."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from wxsegment import Follower
from wxsegment.followers import ImportRejectedError, ImportReport
from wxsegment.followers._base import SqlFollowerStore
from wxsegment.segment import attr, tag

pa = pytest.importorskip("pyarrow")

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def crm_table() -> Any:
    """A CRM export as an Arrow table."""
    return pa.table(
        {
            "openid": ["o1", "o2", "o3"],
            "subscribe_time": pa.array([NOW, NOW, None], pa.timestamp("us", "UTC")),
            "city": ["杭州", None, "上海"],
            "spend": [0.1, 1e300, None],
            "member": [True, False, None],
            "tags": [["vip", "90后"], [], None],
        }
    )


@pytest.mark.parametrize("kind", ["pyarrow", "polars"])
def test_a_frame_imports_like_rows(store: SqlFollowerStore, kind: str) -> None:
    """Values, nulls (left alone) and tags land as import_rows would put them."""
    store.upsert([Follower("o3", NOW, tags={"old"}, attributes={"spend": 5.0})])
    table = crm_table()
    if kind == "polars":
        pl = pytest.importorskip("polars")
        table = pl.from_arrow(table)
    assert store.import_frame(table) == ImportReport(inserted=2, updated=1)
    assert store.get("o1") == Follower(
        "o1", NOW, tags={"vip", "90后"}, attributes={"city": "杭州", "spend": 0.1, "member": True}
    )
    assert store.get("o2") == Follower("o2", NOW, attributes={"spend": 1e300, "member": False})
    assert store.get("o3") == Follower(
        "o3", NOW, tags={"old"}, attributes={"spend": 5.0, "city": "上海"}
    )
    assert store.select(attr("spend") == 0.1, now=NOW) == ["o1"]
    assert store.select(tag("90后") & (attr("member") == True), now=NOW) == ["o1"]  # noqa: E712


def test_a_pandas_frame_imports(store: SqlFollowerStore) -> None:
    """A pandas frame (tz-aware datetimes, NaN as missing) imports through Arrow."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "openid": ["o1", "o2"],
            "subscribe_time": pd.to_datetime(["2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z"]),
            "spend": [1.5, float("nan")],
            "city": ["杭州", None],
        }
    )
    assert store.import_frame(frame) == ImportReport(inserted=2, updated=0)
    assert store.get("o1") == Follower("o1", NOW, attributes={"spend": 1.5, "city": "杭州"})
    assert store.get("o2") == Follower("o2", NOW)


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"openid": ["o1", None]}, "row 2 rejected: openid is missing"),
        ({"openid": ["o1", "o" * 65]}, "row 2 rejected: openid must have"),
        ({"openid": ["o1", "o\x00"]}, "row 2 rejected: openid contains a NUL"),
        ({"openid": ["o1", "o1"]}, "row 2 rejected: openid 'o1' repeats row 1"),
        ({"openid": ["o1", "o2"], "spend": [1.0, float("inf")]}, "row 2 .*finite"),
        ({"openid": ["o1", "o2"], "spend": ["1", "2"]}, "declared float, got a column of string"),
        ({"openid": ["o1", "o2"], "level": [1, 2]}, "'level' is not a declared attribute"),
        (
            {"openid": ["o1", "o2"], "subscribe_time": pa.array([NOW, NOW], pa.timestamp("us"))},
            "naive timestamps",
        ),
        ({"openid": ["o1", "o2"]}, "new follower 'o1' has no subscribe_time"),
    ],
)
def test_a_bad_cell_rejects_the_frame(
    store: SqlFollowerStore, columns: dict[str, Any], reason: str
) -> None:
    """The error names the row and the reason; nothing is written."""
    store.upsert([Follower("o0", NOW)])
    with pytest.raises(ImportRejectedError, match=reason):
        store.import_frame(pa.table(columns))
    assert store.openids() == ["o0"]


def test_other_objects_are_refused(store: SqlFollowerStore) -> None:
    """A list of dicts is not a frame: use import_rows."""
    with pytest.raises(TypeError, match="DataFrame"):
        store.import_frame([{"openid": "o1"}])


@pytest.mark.parametrize(
    "lists",
    [
        [["vip", "90后"], [], None, ["😀", "a,b", "[]"]],  # plain names: JSON arrays on SQLite
        [["vip", "vip"], ["a"], None, []],  # a repeated name: tag rows
        [['say "hi"'], ["back\\slash"], ["tab\there"], ["\u2028"]],  # escapes: tag rows
    ],
)
def test_frame_tags_read_back_whichever_way_they_travel(
    store: SqlFollowerStore, lists: list[list[str] | None]
) -> None:
    """Tag lists land as given (repeats once), replacing stored tags; a null list keeps them."""
    openids = [f"o{i}" for i in range(len(lists))]
    store.upsert(Follower(o, NOW, tags={"old"}) for o in openids)
    table = pa.table(
        {
            "openid": openids,
            "tags": pa.array(lists, pa.list_(pa.string())),
            "member": [True, None, False, None],
        }
    )
    assert store.import_frame(table) == ImportReport(inserted=0, updated=len(lists))
    for openid, names in zip(openids, lists, strict=True):
        follower = store.get(openid)
        assert follower is not None
        assert follower.tags == (frozenset({"old"}) if names is None else frozenset(names))
    assert store.select(attr("member") == True, now=NOW) == ["o0"]  # noqa: E712
    assert store.select(attr("member") == False, now=NOW) == ["o2"]  # noqa: E712


def test_only_plain_distinct_names_become_json_arrays() -> None:
    """Arrow writes the JSON arrays only where joining names between quotes is exact JSON."""
    from wxsegment.followers._frames import frame_columns
    from wxsegment.followers._schema import AttributeSchema

    def arrays(lists: list[list[str] | None]) -> list[str | None] | None:
        openids = [f"o{i}" for i in range(len(lists))]
        table = pa.table({"openid": openids, "tags": pa.array(lists, pa.list_(pa.string()))})
        return frame_columns(table, AttributeSchema(), exact=False).tag_json

    assert arrays([["vip", "90后"], [], None]) == ['["vip","90后"]', "[]", None]
    assert arrays([["vip", "vip"]]) is None
    assert arrays([['a"b']]) is None
    assert arrays([["a\\b"]]) is None
    assert arrays([["a\nb"]]) is None
