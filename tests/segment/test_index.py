"""Tests of `SegmentIndex`: it must agree exactly with `matches`.

The bins are shrunk for this module so that a few dozen followers already exercise every path
of a range query (prefix bitmaps, whole bins, partial bins, the unsorted tail).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment import Follower
from wxsegment.segment import (
    EVERYONE,
    NOBODY,
    Compare,
    DuplicateFollowerError,
    IndexFormatError,
    Op,
    Segment,
    SegmentIndex,
    UnknownFollowerError,
    _columns,
    attr,
    matches,
    tag,
)
from wxsegment.segment import _index as index_module
from wxsegment.testing.strategies import DEFAULT_NOW, followers, segments

NOW = DEFAULT_NOW
HOSTILE_TAGS = ("a'b", '"; DROP TABLE tags; --', "标签 %s", "\\x00", "\u0000", "\ud800", "𝕏 ✓")


@pytest.fixture(autouse=True, scope="module")
def _small_bins() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_columns, "FINE_BIN", 2)
        patch.setattr(_columns, "FINE_PER_COARSE", 2)
        yield


def expected(segment: Segment, population: list[Follower]) -> list[str]:
    return [f.openid for f in population if matches(segment, f, now=NOW)]


def unique_followers(**kwargs: object) -> st.SearchStrategy[list[Follower]]:
    return st.lists(followers(**kwargs), unique_by=lambda f: f.openid, max_size=40)  # type: ignore[arg-type]


@given(unique_followers(), st.lists(segments(), min_size=1, max_size=4))
def test_build_agrees_with_matches(population: list[Follower], queries: list[Segment]) -> None:
    """evaluate() and count() select exactly the followers matches() accepts, in build order."""
    index = SegmentIndex.build(iter(population))
    for segment in queries:
        want = expected(segment, population)
        assert index.evaluate(segment, now=NOW).openids() == want
        assert index.count(segment, now=NOW) == len(want)


@given(
    unique_followers(tags=HOSTILE_TAGS),
    st.lists(segments(tags=HOSTILE_TAGS), min_size=1, max_size=3),
)
def test_hostile_tag_names(population: list[Follower], queries: list[Segment]) -> None:
    """Quotes, SQL fragments, NUL and lone surrogates in tag names change nothing but the result."""
    index = SegmentIndex.build(population)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.wxs"
        index.save(path)
        loaded = SegmentIndex.load(path)
    for segment in queries:
        assert loaded.evaluate(segment, now=NOW).openids() == expected(segment, population)


_hostile_text = st.one_of(st.sampled_from(HOSTILE_TAGS), st.text(min_size=1, max_size=6))


@given(
    st.lists(
        st.tuples(_hostile_text, st.one_of(st.none(), _hostile_text)),
        unique_by=lambda pair: pair[0],
        max_size=20,
    ),
    st.lists(
        st.tuples(st.sampled_from(list(Op)), _hostile_text, st.lists(_hostile_text, min_size=1)),
        min_size=1,
        max_size=3,
    ),
)
def test_hostile_openids_and_values(
    rows: list[tuple[str, str | None]], queries: list[tuple[Op, str, list[str]]]
) -> None:
    """Arbitrary Unicode (NUL, quotes, surrogates) in openids and values survives save/load."""
    population = [
        Follower(openid, NOW, attributes={} if value is None else {"city": value})
        for openid, value in rows
    ]
    index = SegmentIndex.build(population)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.wxs"
        index.save(path)
        index = SegmentIndex.load(path)
    for op, constant, values in queries:
        for segment in (
            Compare("city", op, constant),
            attr("city").isin(values),
            Compare("openid", op, constant),
            attr("openid").isin(values),
        ):
            assert list(index.evaluate(segment, now=NOW)) == expected(segment, population)
    assert all(openid in index for openid, _ in rows)


_operation = st.one_of(
    st.tuples(st.just("add"), followers()),
    st.tuples(st.just("update"), st.integers(0, 100), followers()),
    st.tuples(st.just("remove"), st.integers(0, 100)),
)


@given(
    unique_followers(),
    st.lists(_operation, max_size=25),
    st.lists(segments(), min_size=1, max_size=3),
    st.booleans(),
)
def test_incremental_updates_agree(
    population: list[Follower],
    operations: list[tuple[object, ...]],
    queries: list[Segment],
    reload: bool,
) -> None:
    """After random add/update/remove (and optionally save/load) the index still agrees."""
    index = SegmentIndex.build(population)
    model = {f.openid: f for f in population}
    for operation in operations:
        if operation[0] == "add":
            follower = operation[1]
            assert isinstance(follower, Follower)
            if follower.openid in model:
                with pytest.raises(DuplicateFollowerError):
                    index.add(follower)
                continue
            index.add(follower)
            model[follower.openid] = follower
        elif not model:
            continue
        elif operation[0] == "update":
            position, follower = operation[1], operation[2]
            assert isinstance(position, int)
            assert isinstance(follower, Follower)
            openid = sorted(model)[position % len(model)]
            changed = Follower(
                openid,
                follower.subscribe_time,
                tags=follower.tags,
                attributes=follower.attributes,
                last_interaction_at=follower.last_interaction_at,
            )
            index.update(changed)
            model[openid] = changed
        else:
            position = operation[1]
            assert isinstance(position, int)
            openid = sorted(model)[position % len(model)]
            index.remove(openid)
            del model[openid]
    if reload:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "index.wxs"
            index.save(path)
            index = SegmentIndex.load(path)
    assert len(index) == len(model)
    assert all(openid in index for openid in model)
    for segment in queries:
        want = {f.openid for f in model.values() if matches(segment, f, now=NOW)}
        result = index.evaluate(segment, now=NOW)
        assert set(result) == want
        assert len(result) == len(want) == index.count(segment, now=NOW)


# Neighbours around 2**53 and the float64 limits, where a float-only index would round.
_EDGES = [
    2**53 - 1, 2**53, 2**53 + 1, 2**53 + 2, 2**53 + 3, -(2**53) - 1, 2**63, 2**63 + 1,
    10**400, -(10**400), 9007199254740992.0, 9007199254740994.0, 9007199254740996.0,
    -9007199254740992.0, 0, -0.0, 0.5, 1e308, -1e308, float(2**63), 1,
]  # fmt: skip
_numbers = st.one_of(
    st.sampled_from(_EDGES),
    st.sampled_from(_EDGES),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(
    st.lists(st.one_of(st.none(), _numbers), max_size=30),
    st.lists(_numbers, min_size=1, max_size=4),
    st.lists(_numbers, min_size=2, max_size=2).map(sorted),
)
def test_numbers_compare_exactly(
    values: list[int | float | None],
    constants: list[int | float],
    bounds: list[int | float],
) -> None:
    """Ints beyond 2**53, huge ints and floats compare as exact numbers, as in matches()."""
    population = [
        Follower(f"o{i}", NOW, attributes={} if v is None else {"n": v})
        for i, v in enumerate(values)
    ]
    index = SegmentIndex.build(population[: len(population) // 2])
    for follower in population[len(population) // 2 :]:
        index.add(follower)
    queries: list[Segment] = [Compare("n", op, c) for op in Op for c in constants]
    queries.append(attr("n").between(bounds[0], bounds[1]))
    queries.append(attr("n").isin(constants))
    for segment in queries:
        assert index.evaluate(segment, now=NOW).openids() == expected(segment, population)


def test_number_edges_exhaustively() -> None:
    """Every edge value against every edge constant and operator agrees with matches()."""
    population = [Follower(f"o{i}", NOW, attributes={"n": v}) for i, v in enumerate(_EDGES)]
    index = SegmentIndex.build(population[::2])
    for follower in population[1::2]:
        index.add(follower)
    order = population[::2] + population[1::2]
    for constant in _EDGES:
        for op in Op:
            segment = Compare("n", op, constant)
            assert index.evaluate(segment, now=NOW).openids() == expected(segment, order)


def test_numpy_columns_match_followers() -> None:
    """from_columns() builds the same index as build() from the equivalent followers."""
    rng = np.random.default_rng(7)
    count = 200
    stamps = np.datetime64("2026-03-01T04:00:00", "us") - rng.integers(
        0, 400 * 86400, count
    ).astype("timedelta64[s]")
    spend = rng.lognormal(4, 1, count).round(2)
    spend[::7] = np.nan
    level = rng.integers(-5, 5, count)
    level[3] = 2**62 + 1
    member = rng.random(count) < 0.3
    city: list[str | int | None] = [["杭州", "上海", None, 3][i % 4] for i in range(count)]
    tier_names: list[object] = ["gold", "silver", 7, True]
    tier = rng.integers(-1, len(tier_names), count)
    tags = {"vip": np.flatnonzero(rng.random(count) < 0.4), "新客": np.array([0, 5, 9])}
    openids = [f"o{i:04d}" for i in range(count)]
    index = SegmentIndex.from_columns(
        openids=openids,
        subscribe_time=stamps,
        tags=tags,
        attributes={
            "spend": spend,
            "level": level,
            "member": member,
            "city": city,
            "tier": (tier, tier_names),
        },
    )
    population = []
    for i in range(count):
        values: dict[str, object] = {"level": int(level[i]), "member": bool(member[i])}
        if not np.isnan(spend[i]):
            values["spend"] = float(spend[i])
        if city[i] is not None:
            values["city"] = city[i]
        if tier[i] >= 0:
            values["tier"] = tier_names[tier[i]]
        population.append(
            Follower(
                openids[i],
                stamps[i].astype(datetime).replace(tzinfo=timezone.utc),
                tags=[name for name, rows in tags.items() if i in rows],
                attributes=values,  # type: ignore[arg-type]
            )
        )
    queries = [
        (tag("vip") | tag("新客")) & (attr("spend") >= 100),
        attr("subscribe_time").within(timedelta(days=180)) & ~attr("member").exists(),
        (attr("level") > 2**62) | (attr("level") == 3) | (attr("city") == 3),
        attr("city").isin(["杭州", 3]) & ~(attr("member") == True),  # noqa: E712
        attr("spend").between(50, 150.5),
        attr("tier").isin(["gold", 7]) | (attr("tier") == True) | ~attr("tier").exists(),  # noqa: E712
        attr("tier") >= 7,
    ]
    for segment in queries:
        assert index.evaluate(segment, now=NOW).openids() == expected(segment, population)
    assert index.nbytes() > 0


def follower(openid: str, **values: object) -> Follower:
    tags = values.pop("tags", ())
    return Follower(openid, NOW - timedelta(days=1), tags=tags, attributes=values)  # type: ignore[arg-type]


def test_kinds_are_kept_apart() -> None:
    """attr == 1 matches 1 and 1.0, never True; a string '1' matches neither."""
    index = SegmentIndex.build(
        [follower("a", x=1), follower("b", x=1.0), follower("c", x=True), follower("d", x="1")]
    )
    assert index.evaluate(attr("x") == 1, now=NOW).openids() == ["a", "b"]
    assert index.evaluate(attr("x") == True, now=NOW).openids() == ["c"]  # noqa: E712
    assert index.evaluate(attr("x") == "1", now=NOW).openids() == ["d"]
    assert index.evaluate(attr("x") != 1, now=NOW).openids() == []
    assert index.evaluate(~(attr("x") == 1), now=NOW).openids() == ["c", "d"]
    assert index.evaluate(attr("x").exists(), now=NOW).openids() == ["a", "b", "c", "d"]


def test_between_and_within_boundaries_are_inclusive() -> None:
    """between() includes both bounds; within() includes now - d and now, not a µs beyond."""
    tick = timedelta(microseconds=1)
    day = timedelta(days=1)
    population = [
        Follower("lo", NOW, attributes={"t": NOW - day, "n": 10}),
        Follower("hi", NOW, attributes={"t": NOW, "n": 20}),
        Follower("early", NOW, attributes={"t": NOW - day - tick, "n": 9.999}),
        Follower("late", NOW, attributes={"t": NOW + tick, "n": 20.001}),
    ]
    index = SegmentIndex.build(population)
    assert index.evaluate(attr("t").within(day), now=NOW).openids() == ["lo", "hi"]
    assert index.evaluate(attr("n").between(10, 20), now=NOW).openids() == ["lo", "hi"]
    assert index.evaluate(attr("t").before(NOW), now=NOW).openids() == ["lo", "early"]
    assert index.evaluate(attr("t").after(NOW - day), now=NOW).openids() == ["hi", "late"]


def test_empty_index_and_unknown_names() -> None:
    """An empty index selects nobody; unknown tags or attributes select nobody."""
    empty = SegmentIndex.build([])
    assert len(empty) == 0
    assert empty.count(EVERYONE, now=NOW) == 0
    assert empty.evaluate(~tag("x"), now=NOW).openids() == []
    index = SegmentIndex.build([follower("a", tags=["t"], n=1)])
    assert index.evaluate(tag("nope"), now=NOW).openids() == []
    assert index.evaluate(attr("nope") >= 0, now=NOW).openids() == []
    assert index.evaluate(~tag("nope"), now=NOW).openids() == ["a"]
    assert index.evaluate(NOBODY, now=NOW).openids() == []


def test_result_operations() -> None:
    """Results iterate in row order, test membership and combine with & | - ^."""
    index = SegmentIndex.build(
        [follower("a", tags=["x"]), follower("b", tags=["x", "y"]), follower("c", tags=["y"])]
    )
    x = index.evaluate(tag("x"), now=NOW)
    y = index.evaluate(tag("y"), now=NOW)
    assert list(x & y) == ["b"]
    assert list(x | y) == ["a", "b", "c"]
    assert list(x - y) == ["a"]
    assert list(x ^ y) == ["a", "c"]
    assert "a" in x
    assert "c" not in x
    assert 3 not in x
    assert sorted(x.bitmap) == [0, 1]
    other = SegmentIndex.build([follower("a", tags=["x"])])
    with pytest.raises(ValueError, match="different indexes"):
        _ = x & other.evaluate(tag("x"), now=NOW)


def test_update_errors_leave_index_unchanged() -> None:
    """Duplicate adds and unknown updates/removes raise typed errors and change nothing."""
    index = SegmentIndex.build([follower("a", tags=["x"])])
    with pytest.raises(DuplicateFollowerError):
        index.add(follower("a"))
    with pytest.raises(UnknownFollowerError):
        index.update(follower("b"))
    with pytest.raises(UnknownFollowerError):
        index.remove("b")
    with pytest.raises(TypeError):
        index.add("a")  # type: ignore[arg-type]
    with pytest.raises(DuplicateFollowerError):
        SegmentIndex.build([follower("a"), follower("a")])
    assert index.evaluate(tag("x"), now=NOW).openids() == ["a"]
    assert len(index) == 1


def test_bad_columns_are_rejected() -> None:
    """from_columns() refuses mismatched lengths, bad tag positions and non-datetime times."""
    stamps = np.full(2, np.datetime64("2026-01-01T00:00:00", "us"))
    with pytest.raises(ValueError, match="entries"):
        SegmentIndex.from_columns(openids=["a", "b"], subscribe_time=stamps[:1])
    with pytest.raises(ValueError, match="positions"):
        SegmentIndex.from_columns(openids=["a", "b"], subscribe_time=stamps, tags={"t": [2]})
    with pytest.raises(TypeError, match="datetime64"):
        SegmentIndex.from_columns(openids=["a", "b"], subscribe_time=np.zeros(2))
    with pytest.raises(DuplicateFollowerError):
        SegmentIndex.from_columns(openids=["a", "a"], subscribe_time=stamps)
    with pytest.raises(ValueError, match="openid"):
        SegmentIndex.from_columns(openids=["a", ""], subscribe_time=stamps)


def test_naive_now_is_rejected() -> None:
    """evaluate() refuses a naive now, like matches()."""
    index = SegmentIndex.build([follower("a")])
    with pytest.raises(ValueError, match="timezone-aware"):
        index.evaluate(EVERYONE, now=datetime(2026, 1, 1))


def test_bad_files_raise_index_format_error(tmp_path: Path) -> None:
    """A wrong magic, a wrong version, a truncated or corrupted file raise IndexFormatError."""
    index = SegmentIndex.build([follower("a", tags=["x"], n=1)])
    path = tmp_path / "index.wxs"
    index.save(path)
    good = path.read_bytes()
    cases = {
        "magic": b"NOTANIDX" + good[8:],
        "version": good[:8] + (99).to_bytes(4, "little") + good[12:],
        "truncated": good[: len(good) // 2],
        "corrupt": good[:20] + bytes([good[20] ^ 1]) + good[21:],
        "empty": b"",
    }
    for name, data in cases.items():
        broken = tmp_path / name
        broken.write_bytes(data)
        with pytest.raises(IndexFormatError):
            SegmentIndex.load(broken)
    assert SegmentIndex.load(path).evaluate(tag("x"), now=NOW).openids() == ["a"]


def test_save_load_with_sparse_columns(tmp_path: Path) -> None:
    """Columns that only early rows hold survive save/load; later rows stay without a value."""
    count = 3000
    index = SegmentIndex.from_columns(
        openids=[f"o{i}" for i in range(count)],
        subscribe_time=np.full(count, np.datetime64("2026-01-01T00:00:00", "us")),
        attributes={"n": [1.5] + [None] * (count - 1), "d": [NOW] + [None] * (count - 1)},
    )
    index.add(follower("late", n=2))
    path = tmp_path / "sparse.wxs"
    index.save(path)
    loaded = SegmentIndex.load(path)
    assert loaded.evaluate(attr("n") >= 0, now=NOW).openids() == ["o0", "late"]
    assert loaded.evaluate(attr("d") <= NOW, now=NOW).openids() == ["o0"]
    assert loaded.count(~attr("n").exists(), now=NOW) == count - 1


def test_openid_predicates() -> None:
    """openid comparisons work on the built-in field, including after a removal."""
    index = SegmentIndex.build([follower("a"), follower("b"), follower("c")])
    index.remove("b")
    assert index.evaluate(attr("openid") == "a", now=NOW).openids() == ["a"]
    assert index.evaluate(attr("openid") >= "b", now=NOW).openids() == ["c"]
    assert index.evaluate(attr("openid").isin(["b", "c"]), now=NOW).openids() == ["c"]
    assert index.evaluate(attr("openid") == 1, now=NOW).openids() == []


def test_segment_package_imports_without_the_bitmap_extra() -> None:
    """Without pyroaring, wxsegment.segment imports and SegmentIndex names the missing extra."""
    script = (
        "import sys; sys.modules['pyroaring'] = None\n"
        "import wxsegment.segment as s\n"
        "assert s.tag('x') is not None\n"
        "try:\n"
        "    s.SegmentIndex\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "'bitmap' extra" in done.stdout


def test_builtin_fields() -> None:
    """unionid, last_interaction_at and subscribe_time are queryable like attributes."""
    hour = timedelta(hours=1)
    population = [
        Follower("a", NOW - 3 * hour, unionid="u1", last_interaction_at=NOW - hour),
        Follower("b", NOW - hour, unionid="u2"),
        Follower("c", NOW - 30 * hour, last_interaction_at=NOW - 50 * hour),
    ]
    index = SegmentIndex.build(population[:2])
    index.add(population[2])
    queries = [
        attr("unionid") == "u1",
        attr("unionid").isin(["u2", "u3"]),
        attr("unionid") > "u1",
        ~attr("unionid").exists(),
        attr("last_interaction_at").within(2 * hour),
        attr("last_interaction_at").exists(),
        attr("subscribe_time").between(NOW - 40 * hour, NOW - 2 * hour),
        attr("subscribe_time") == "a",
    ]
    for segment in queries:
        assert index.evaluate(segment, now=NOW).openids() == expected(segment, population)


class _Level(IntEnum):
    LOW = 1
    HIGH = 200


class _Name(str):
    """A str subclass, indexed through the general per-value path."""


def test_build_handles_subclassed_values_and_chunks() -> None:
    """Subclassed values, zoneinfo datetimes and several stream chunks agree with matches."""
    zone = ZoneInfo("Asia/Shanghai")
    population = [
        Follower(
            f"o{i}",
            (NOW - timedelta(days=i)).astimezone(zone) if i % 2 else NOW - timedelta(days=i),
            tags=[f"t{i % 3}"] if i % 4 else [],
            attributes={
                "level": _Level.HIGH if i % 3 == 0 else i,
                "city": _Name("杭州") if i % 5 == 0 else "上海" if i % 2 else True,
            },
            unionid=f"u{i}" if i % 2 else None,
        )
        for i in range(11)
    ]
    queries = [
        attr("level") >= 100,
        attr("city") == "杭州",
        attr("city") == True,  # noqa: E712
        attr("subscribe_time").within(timedelta(days=4)),
        tag("t1") | attr("unionid").isin(["u3", "u4"]),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index_module, "_CHUNK", 4)
        index = SegmentIndex.build(iter(population))
    for query in queries:
        assert index.evaluate(query, now=NOW).openids() == expected(query, population), query


@pytest.mark.parametrize("enabled", [True, False])
def test_build_restores_the_garbage_collector(enabled: bool) -> None:
    """build() leaves automatic GC as it found it, after success and after a bad item."""
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        SegmentIndex.build([follower("a", tags=["t"], n=1)])
        assert gc.isenabled() is enabled
        with pytest.raises(TypeError, match="expected a Follower"):
            SegmentIndex.build([follower("a"), "b"])  # type: ignore[list-item]
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def test_build_collects_the_streams_garbage_cycles() -> None:
    """Reference cycles made by the stream itself are collected while build() runs."""

    class Node:
        def __init__(self) -> None:
            self.me = self

    collected: list[int] = []

    def stream() -> Iterator[Follower]:
        for i in range(40):
            weakref.finalize(Node(), collected.append, i)
            yield follower(f"o{i}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index_module, "_CHUNK", 8)
        SegmentIndex.build(stream())
        assert collected, "no cycle was collected during the build"


def test_int64_extremes_in_a_numpy_column_compare_exactly() -> None:
    """2**63 - 1 has no float64 (it rounds to 2.0**63): it is kept as an int, without a warning."""
    values = np.array([2**63 - 1, -(2**63), 5, 2**53 + 1], dtype=np.int64)
    openids = ["o0", "o1", "o2", "o3"]
    index = SegmentIndex.from_columns(
        openids=openids,
        subscribe_time=np.zeros(4, dtype="datetime64[us]"),
        attributes={"x": values},
    )
    population = [
        Follower(o, NOW, attributes={"x": int(v)}) for o, v in zip(openids, values, strict=True)
    ]
    for segment in (
        attr("x") == 2**63 - 1,
        attr("x") >= 2**62,
        attr("x") < -(2**62),
        attr("x") == 2**53 + 1,
        attr("x") == 2**53,
    ):
        assert index.evaluate(segment, now=NOW).openids() == expected(segment, population)
