"""`store.index()` column readers on the edge cases the bulk path has of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.followers.conftest import StoreFactory
from tests.followers.test_conformance import NOW, STORE_SETTINGS, reset
from wxsegment import Follower
from wxsegment.followers import _sqlite_columns
from wxsegment.segment import Segment, SegmentIndex, attr, tag

KINDS = {"level": "int", "flag": "bool", "city": "str", "seen": "datetime", "spend": "float"}
EXTREMES = [2**53 + 1, -(2**60), -(2**63), 2**63 - 1]
LEVELS = st.none() | st.integers(-5, 5) | st.sampled_from(EXTREMES)
AUDIENCES: tuple[Segment, ...] = (
    attr("level") >= 3,
    attr("level") == 2**53 + 1,
    attr("level") < -(2**59),
    attr("level").exists(),
    ~attr("level").exists(),
    attr("flag") == True,  # noqa: E712 - a segment, not a comparison
    attr("flag") == False,  # noqa: E712
    attr("flag").exists(),
    attr("city").isin(["杭州", "a"]),
    attr("seen").within(timedelta(days=2)),
    attr("spend") > 1.5,
    tag("t"),
    tag("u"),
)


@STORE_SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            LEVELS,
            st.none() | st.booleans(),
            st.none() | st.sampled_from(["杭州", "a", "b"]),
            st.none() | st.integers(0, 4),
            st.none() | st.floats(-3, 3),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_typed_columns_with_gaps_and_huge_ints_agree_with_sql(
    make_store: StoreFactory,
    rows: list[tuple[int | None, bool | None, str | None, int | None, float | None, bool]],
) -> None:
    """Ints with gaps (NaN-marked or, past 2**53, kept as Python ints), bools with gaps."""
    store = make_store(attributes=KINDS)
    reset(store)
    followers = []
    for number, (level, flag, city, days, spend, tagged) in enumerate(rows):
        values = {"level": level, "flag": flag, "city": city, "spend": spend}
        if days is not None:
            values["seen"] = NOW - timedelta(days=days)
        present = {name: value for name, value in values.items() if value is not None}
        followers.append(
            Follower(f"o{number}", NOW, tags={"t"} if tagged else set(), attributes=present)
        )
    # Stored out of openid order ("o10" sorts before "o2"), then the first ones again.
    store.upsert(followers)
    store.upsert(followers[: len(followers) // 2])
    # Tags recorded ahead of the follower, for openids longer than any stored one.
    store.add_tags(["o-not-stored-yet-and-longer-than-all"], ["t", "u"])
    index = store.index()
    assert len(index) == len(followers)
    for audience in AUDIENCES:
        expected = store.select(audience, now=NOW)
        # Rows in openid order, whatever order the followers went in.
        assert index.evaluate(audience, now=NOW).openids() == expected


# -- the bulk read equals a build from the stored followers ----------------------------------


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch that hypothesis examples may share (undone after the module)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


#: Base64url openids of one width (the packed, text-read path) or any text without NUL:
#: commas, separators, other widths and non-ASCII send a slice through rows.
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5)
OPENIDS = st.one_of(
    st.text(st.sampled_from(B64), min_size=8, max_size=8).map(lambda s: "oAcct_" + s),
    TEXT.map(lambda s: "o" + s),
    st.sampled_from(["o,1", "o\x1f2", "o 3", "o账号", "o\t5", "o6,,"]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 0.0, 5e-324, -2.2250738585072014e-308, 1e308, -1e308, 0.1, 1e16]),
)
RANDOM_KINDS = {
    "level": "int",
    "flag": "bool",
    "city": "str",
    "seen": "datetime",
    "spend": "float",
    "note": "str",
}


def _audiences(followers: list[Follower]) -> list[Segment]:
    """Segments that tell any difference in a stored value apart: equality on each value."""
    found: list[Segment] = [tag("t"), tag("u"), attr("unionid").exists()]
    for name in RANDOM_KINDS:
        found += [attr(name).exists(), ~attr(name).exists()]
    for follower in followers:
        for name, value in follower.attributes.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found += [attr(name) == value, attr(name) < value]
            else:
                found.append(attr(name) == value)
        if follower.unionid is not None:
            found.append(attr("unionid") == follower.unionid)
        found.append(attr("subscribe_time") <= follower.subscribe_time)
    return found


@STORE_SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            OPENIDS,
            st.none() | st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3),
            st.none() | st.booleans(),
            st.none() | TEXT,
            st.none() | st.integers(0, 10**6),
            st.none() | FLOATS,
            st.none() | TEXT,
            st.none() | st.sampled_from(["u,1", "u\x1f", "", "uu"]),
            st.integers(0, 3),
        ),
        max_size=14,
        unique_by=lambda row: row[0],
    ),
    slice_=st.sampled_from([1, 3, 1 << 15]),
)
def test_bulk_read_equals_a_build_from_stored_followers(
    make_store: StoreFactory,
    rows: list[tuple[Any, ...]],
    slice_: int,
    monkeypatch_module: Any,
) -> None:
    """Random values (NULLs, extreme floats, any text, openids off the packable alphabet)."""
    monkeypatch_module.setattr(_sqlite_columns, "_SLICE", slice_)
    store = make_store(attributes=RANDOM_KINDS)
    reset(store)
    followers = []
    for openid, level, flag, city, seconds, spend, note, unionid, tags in rows:
        values = {"level": level, "flag": flag, "city": city, "spend": spend, "note": note}
        if seconds is not None:
            values["seen"] = NOW - timedelta(seconds=seconds, microseconds=seconds)
        present = {name: value for name, value in values.items() if value is not None}
        tagged = [{"t"}, {"u"}, {"t", "u"}, set()][tags]
        followers.append(
            Follower(
                openid, NOW - timedelta(days=tags), tags=tagged, attributes=present, unionid=unionid
            )
        )
    store.upsert(followers)
    # Some rows deleted and written again: gaps in the rowids, rows out of openid order.
    store.delete([follower.openid for follower in followers[::3]])
    store.upsert(followers[::3])
    stored = store.followers(store.openids())
    expected = SegmentIndex.build(stored.values())
    index = store.index()
    everyone = attr("subscribe_time").exists()
    assert sorted(index.evaluate(everyone, now=NOW).openids()) == sorted(stored)
    assert len(index) == len(expected) == len(stored)
    for audience in _audiences(list(stored.values())):
        # Sorted: on PostgreSQL rows keep the database's collation, a build sorts by bytes.
        got = sorted(index.evaluate(audience, now=NOW).openids())
        assert got == sorted(expected.evaluate(audience, now=NOW).openids()), audience


def test_an_error_reading_the_tags_reaches_the_caller_and_leaves_the_store_usable(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tags are read in a second thread: its failure is raised by `store.index()`, after
    which the read transaction is over and the store reads and writes as before."""
    from wxsegment.followers import _columnar

    store = make_store(attributes=KINDS)
    reset(store)
    store.upsert([Follower(f"o{i}", NOW, tags={"t"} if i % 2 else set()) for i in range(5)])

    def failing(*_args: object) -> dict[str, Any]:
        raise RuntimeError("tag read failed")

    monkeypatch.setattr(_columnar, "_tag_rows", failing)
    with pytest.raises(RuntimeError, match="tag read failed"):
        store.index()
    monkeypatch.undo()
    store.upsert([Follower("o9", NOW, tags={"t"})])
    assert store.index().count(tag("t"), now=NOW) == 3
