"""Tests of `OpenidTable`: row to openid and openid to rows agree with a plain list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.segment import DuplicateFollowerError, SegmentIndex, attr
from wxsegment.segment import _openids as openids_module
from wxsegment.segment._openids import OpenidTable
from wxsegment.testing.strategies import DEFAULT_NOW

TEXT = st.text(min_size=1, max_size=6)
#: Openids WeChat-like (one width, a shared start), arbitrary Unicode (NUL and lone
#: surrogates too), or sharing a long start that later rows do not (the shared part shrinks).
#: Random WeChat-like openids: the packed base (6 bits a character) when all share one width.
B64 = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
    min_size=4,
    max_size=9,
)
OPENIDS = st.one_of(
    st.lists(st.from_regex(r"oAbC[a-f0-9]{3}", fullmatch=True), unique=True, max_size=30),
    st.lists(B64.map(lambda text: "oX3a_Q" + text), unique=True, max_size=30),
    st.lists(
        st.text(st.sampled_from("-0_Azaz9"), min_size=5, max_size=5).map(lambda t: "o" + t),
        unique=True,
        max_size=30,
    ),
    st.lists(TEXT, unique=True, max_size=30),
    st.lists(TEXT.map(lambda text: "账号-acct-" + text), unique=True, max_size=30),
)


@pytest.fixture(autouse=True, scope="module")
def _small_tail() -> Iterator[None]:
    """Merge the tail into the base after a few rows, so short examples exercise merging."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openids_module, "_MERGE_MIN", 3)
        yield


def check(table: OpenidTable, model: list[str]) -> None:
    assert len(table) == len(model)
    assert [table.openid(row) for row in range(len(model))] == model
    rows = np.arange(len(model), dtype=np.uint32)
    assert table.openids(rows) == model
    for openid in {*model, "never-added", "o" * 40}:
        expected = [row for row, held in enumerate(model) if held == openid]
        assert sorted(table.rows_named(openid)) == expected


@given(bulk=OPENIDS, later=st.lists(TEXT | B64, max_size=25), sort=st.booleans())
def test_table_agrees_with_a_list(bulk: list[str], later: list[str], sort: bool) -> None:
    """Bulk rows, then single rows (merged into the base along the way), then a save cycle."""
    if sort:
        bulk = sorted(bulk)
    table = OpenidTable()
    table.extend(bulk)
    assert table.seal() is None
    model = list(bulk)
    for openid in later:
        assert table.append(openid) == len(model)
        model.append(openid)
        check(table, model)
    check(table, model)
    blob, offsets = table.to_blob()
    assert offsets.tolist()[-1] == len(blob)
    check(OpenidTable.from_blob(blob, offsets), model)


def test_seal_names_a_repeated_openid() -> None:
    table = OpenidTable()
    table.extend(["ob", "oa", "ob"])
    assert table.seal() == "ob"


def test_sorted_wechat_openids_cost_their_bytes_only() -> None:
    """28 ASCII characters each, in order: 28 bytes a row, no hashes, no permutation."""
    openids = [f"o{i:027d}" for i in range(10_000)]
    index = SegmentIndex.from_columns(
        openids=openids, subscribe_time=np.zeros(len(openids), dtype="datetime64[us]")
    )
    assert index._openids.nbytes() <= 28 * len(openids) + 64
    assert "o000000000000000000000000123" in index
    assert index.evaluate(attr("openid") == openids[77], now=DEFAULT_NOW).openids() == [openids[77]]


def test_from_columns_takes_utf8_bytes_like_strings() -> None:
    openids = ["o-b", "o-a", "标签", "o-\ud800"]
    stamps = np.array(["2026-01-01", "2025-01-01", "2024-01-01", "2023-01-01"], "datetime64[us]")
    keys = np.array([o.encode("utf-8", "surrogatepass") for o in openids])
    strings = SegmentIndex.from_columns(openids=openids, subscribe_time=stamps)
    encoded = SegmentIndex.from_columns(openids=keys, subscribe_time=stamps)
    segment = attr("subscribe_time").within(timedelta(days=3650))
    assert list(encoded.evaluate(segment, now=DEFAULT_NOW)) == openids
    assert list(strings.evaluate(segment, now=DEFAULT_NOW)) == openids
    assert all(openid in encoded for openid in openids)


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        (np.array([1, 2]), TypeError),
        (np.array([b"oa", b""]), ValueError),
        (np.array([b"oa", b"\xff\xfe"]), ValueError),
        (np.array([b"oa", b"oa"]), DuplicateFollowerError),
    ],
)
def test_bad_encoded_openids_are_refused(keys: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        SegmentIndex.from_columns(
            openids=keys,  # type: ignore[arg-type]
            subscribe_time=np.zeros(2, dtype="datetime64[us]"),
        )


@given(st.lists(B64, min_size=1, max_size=40), st.integers(4, 9))
def test_packing_round_trips_and_keeps_the_order(texts: list[str], width: int) -> None:
    """Packed rows read back exactly and compare, as bytes, as the openids do."""
    keys = np.array([(text * 9)[:width].encode() for text in texts], dtype=f"S{width}")
    packed = openids_module._pack(keys)
    assert packed is not None
    assert packed.dtype.itemsize == -(-6 * width // 8)
    assert openids_module._unpack(packed, width).tolist() == keys.tolist()
    assert np.argsort(packed, kind="stable").tolist() == np.argsort(keys, kind="stable").tolist()
    assert (packed[:, None] == packed[None, :]).tolist() == (
        keys[:, None] == keys[None, :]
    ).tolist()


def test_rows_outside_the_alphabet_or_shorter_are_not_packed() -> None:
    assert openids_module._pack(np.array([b"abcd", b"ab.d"], dtype="S4")) is None
    assert openids_module._pack(np.array([b"abcd", b"abc"], dtype="S4")) is None
    assert openids_module._pack(np.array([b"abc"], dtype="S3")) is None
    table = OpenidTable()
    table.extend([f"oX3a_Q{n:08d}" for n in range(50)] + ["oX3a_Q0000000."])
    table.seal()
    assert table.rows_named("oX3a_Q0000000.") == [50]
    assert table.openid(50) == "oX3a_Q0000000."


def test_wechat_like_openids_are_packed() -> None:
    openids = [f"oX3a_Q{n:022d}" for n in range(0, 5000, 7)]
    table = OpenidTable()
    table.extend(openids[::-1])
    table.seal()
    assert table._packed >= 4
    assert table.nbytes() < 18 * len(openids) + 64
    check(table, openids[::-1])


@given(st.lists(B64, min_size=1, max_size=20), st.integers(4, 9))
def test_one_key_packs_as_the_array_does(texts: list[str], width: int) -> None:
    keys = np.array([(text * 9)[:width].encode() for text in texts], dtype=f"S{width}")
    packed = openids_module._pack(keys)
    for key, row in zip(keys.tolist(), packed.tolist(), strict=True):
        assert openids_module._pack_one(key, width) == row.ljust(packed.dtype.itemsize, b"\0")
        assert openids_module._unpack_one(row, width) == key
    assert openids_module._pack_one(b"ab.d", 4) is None
    assert openids_module._pack_one(b"abc", 4) is None


#: Byte rows for `byte_order`: few distinct bytes (so rows share starts and repeat), NULs
#: inside and as padding, rows wider than its eight-byte window and narrower.
_ROWS = st.lists(st.binary(min_size=0, max_size=14).map(lambda b: b.replace(b"\x02", b"\x00")))


@given(_ROWS, st.sampled_from([b"", b"oAbC", b"\x01" * 9]))
def test_byte_order_is_the_stable_sort_of_the_bytes(rows: list[bytes], start: bytes) -> None:
    keys = np.array([start + row for row in rows], dtype=f"S{max(1, len(start) + 14)}")
    got = openids_module.byte_order(keys)
    assert got.tolist() == np.argsort(keys, kind="stable").tolist()


def test_byte_order_of_many_random_openids() -> None:
    rng = np.random.default_rng(5)
    alphabet = np.frombuffer(
        b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz", np.uint8
    )
    chars = alphabet[rng.integers(0, 64, (200_000, 28))]
    chars[:, :6] = np.frombuffer(b"oX3a_Q", np.uint8)
    chars[1000:1100, 6:14] = chars[7, 6:14]  # ties in the eight-byte window settle on the rest
    keys = np.ascontiguousarray(chars).view("S28").ravel()
    keys[5000:5010] = keys[3]  # repeated openids keep their order
    assert np.array_equal(openids_module.byte_order(keys), np.argsort(keys, kind="stable"))
