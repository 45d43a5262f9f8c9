"""`OpenidTable`: the openid of every row of a `SegmentIndex`, compact at tens of millions.

Rows of a bulk build or a load sit in the *base*: one fixed-width numpy array of UTF-8 bytes
(``S<width>``, NUL-padded) and, unless the base is sorted already (a store reads its followers
in openid order), the permutation that sorts it. Row to openid is one array read; openid to
rows is one binary search. The bytes every openid starts with are kept once, not per row
(the openids of one WeChat account share their first characters). A 28-character openid then
costs at most 28 bytes a row (32 when unsorted), where a bytes blob, its offsets and a hash
lookup took 48.

When every base row is as wide as the widest and made of the 64 characters of WeChat openids
(``A-Z a-z 0-9 - _``), the base packs them at 6 bits a character, numbered in byte order so
that packed rows sort as the openids do: a random 28-character openid sharing 6 characters
with the rest of its account then costs 17 bytes a row instead of 22.

Rows added one at a time afterwards sit in a *tail* (a blob, offsets and a dict by openid)
until it outgrows an eighth of the base and is merged in. Openids that NUL padding cannot
represent (UTF-8 ending in a NUL byte), or widths far beyond the mean, stay in the tail.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Final

import numpy as np

__all__ = ["OpenidTable", "byte_order"]

ENCODING: Final = "utf-8"
ERRORS: Final = "surrogatepass"
#: Tail rows merged into the base once there are more than this many or an eighth of the base.
_MERGE_MIN: Final = 1 << 16
#: The characters a packed base holds, in byte order (so codes sort as the characters do).
_ALPHABET: Final = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
#: Byte -> 6-bit code, 255 for bytes outside the alphabet (NUL padding among them).
_CODES: Final = np.full(256, 255, dtype=np.uint8)
_CODES[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
_CHARACTERS: Final = np.frombuffer(_ALPHABET, dtype=np.uint8)
#: Rows packed or unpacked per numpy pass, bounding the temporary arrays.
_PACK_ROWS: Final = 1 << 18


def _fits(keys: Sequence[bytes], width: int) -> bool:
    """Whether fixed-width rows can hold ``keys`` without ambiguity or waste beyond reason."""
    if any(key.endswith(b"\x00") for key in keys):
        return False
    total = sum(map(len, keys))
    return width * len(keys) <= 2 * total + 64 * len(keys)


def encode_openids(openids: Sequence[str]) -> Any:
    """``openids`` as a fixed-width numpy bytes array, or None if one cannot hold them."""
    count = len(openids)
    if not count:
        return np.empty(0, dtype="S1")
    joined = "".join(openids)
    if "\x00" not in joined and joined.isascii():
        # The common case (WeChat openids: 28 ASCII characters) converts in one C pass.
        lengths = np.fromiter(map(len, openids), np.int64, count)
        width = int(lengths.max())
        if int(lengths.min()) == width:
            return np.frombuffer(joined.encode("ascii"), dtype=f"S{width}").copy()
    keys = list(map(str.encode, openids, repeat(ENCODING), repeat(ERRORS)))
    width = max(map(len, keys))
    if not _fits(keys, width):
        return None
    return np.array(keys, dtype=f"S{width}")


def byte_order(keys: Any) -> Any:
    """The permutation that sorts ``keys`` (``S<width>``) in byte order, equal rows in their
    original order: what ``np.argsort(keys, kind="stable")`` gives, faster.

    Rows are ordered by the eight bytes after those every row shares, as one big-endian
    integer, and only rows with equal integers by their whole bytes: at 10M random
    28-character openids, 0.9 s against 4.0 s for the stable sort of the strings.
    """
    count, width = keys.shape[0], keys.dtype.itemsize
    if count < 2:
        return np.arange(count, dtype=np.intp)
    chars = keys.view(np.uint8).reshape(count, width)
    start = 0
    while start < width and bool(np.all(chars[:, start] == chars[0, start])):
        start += 1
    window = np.zeros((count, 8), dtype=np.uint8)
    stop = min(start + 8, width)
    window[:, : stop - start] = chars[:, start:stop]
    numbers = window.view(">u8").ravel().astype(np.uint64)
    order = np.argsort(numbers)
    ordered = numbers[order]
    equal = ordered[1:] == ordered[:-1]
    if stop == width and not bool(equal.any()):
        return order
    # Runs of equal integers: each is put back in original order, then sorted stably by its
    # whole bytes (a run is all equal when the window covered every byte).
    edges = np.flatnonzero(np.diff(equal.astype(np.int8), prepend=0, append=0))
    for first, last in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        run = np.sort(order[first : last + 1])
        if stop < width:
            run = run[np.argsort(keys[run], kind="stable")]
        order[first : last + 1] = run
    return order


def _shared(keys: Sequence[bytes]) -> bytes:
    """The bytes all of ``keys`` start with (the smallest and largest share no less)."""
    low, high = min(keys), max(keys)
    length = 0
    for a, b in zip(low, high, strict=False):
        if a != b:
            break
        length += 1
    return low[:length]


def _strip(keys: Any, length: int) -> Any:
    """``keys`` without their first ``length`` bytes (all of them share those)."""
    width = keys.dtype.itemsize
    if not length or not keys.shape[0]:
        return keys
    matrix = keys.view(np.uint8).reshape(-1, width)[:, length:]
    return np.ascontiguousarray(matrix).view(f"S{width - length}").ravel()


def _prepend(keys: Any, head: bytes) -> Any:
    """``keys`` with ``head`` put before each (undoes `_strip`)."""
    if not head:
        return keys
    count, width = keys.shape[0], keys.dtype.itemsize
    matrix = np.empty((count, len(head) + width), dtype=np.uint8)
    matrix[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    matrix[:, len(head) :] = keys.view(np.uint8).reshape(count, width)
    return matrix.view(f"S{len(head) + width}").ravel()


def _pack(keys: Any, skip: int = 0) -> Any:
    """``keys`` (``S<width>``) without their first ``skip`` bytes, at 6 bits a character, or
    None if some row is not packable.

    Four characters make three bytes, the first character in the highest bits: packed rows
    compare, as bytes, as the rows did. Only rows of the full width qualify (a shorter row
    ends in NUL padding, outside the alphabet), so the padding bits never tell rows apart.
    """
    count, width = keys.shape[0], keys.dtype.itemsize - skip
    if width < 4 or not count:
        return None
    size = -(-6 * width // 8)
    groups = -(-width // 4)
    packed = np.empty((count, size), dtype=np.uint8)
    chars = keys.view(np.uint8).reshape(count, width + skip)[:, skip:]
    codes = np.zeros((min(count, _PACK_ROWS), groups * 4), dtype=np.uint8)
    for start in range(0, count, _PACK_ROWS):
        part = chars[start : start + _PACK_ROWS]
        rows = part.shape[0]
        # Byte arithmetic throughout (each code is under 64, so no shift overflows a byte):
        # a quarter of the memory traffic of 32-bit words.
        found = codes[:rows]
        found[:, :width] = _CODES[part]
        if int(found.max()) > 63:
            return None
        quads = found.reshape(rows, groups, 4)
        a, b, c, d = quads[..., 0], quads[..., 1], quads[..., 2], quads[..., 3]
        triples = np.empty((rows, groups, 3), dtype=np.uint8)
        np.left_shift(a, 2, out=triples[..., 0])
        triples[..., 0] |= b >> 4
        np.left_shift(b & 0x0F, 4, out=triples[..., 1])
        triples[..., 1] |= c >> 2
        np.left_shift(c & 0x03, 6, out=triples[..., 2])
        triples[..., 2] |= d
        packed[start : start + rows] = triples.reshape(rows, groups * 3)[:, :size]
    return packed.view(f"S{size}").ravel()


def _unpack(packed: Any, width: int) -> Any:
    """The ``S<width>`` rows `_pack` made ``packed`` from."""
    count, size = packed.shape[0], packed.dtype.itemsize
    groups = -(-width // 4)
    raw = np.ascontiguousarray(packed).view(np.uint8).reshape(count, size)
    keys = np.empty((count, width), dtype=np.uint8)
    for start in range(0, count, _PACK_ROWS):
        part = raw[start : start + _PACK_ROWS]
        flat = np.zeros((part.shape[0], groups * 3), dtype=np.uint32)
        flat[:, :size] = part
        triples = flat.reshape(-1, groups, 3)
        words = (triples[..., 0] << 16) | (triples[..., 1] << 8) | triples[..., 2]
        codes = np.empty((part.shape[0], groups, 4), dtype=np.uint8)
        codes[..., 0] = words >> 18
        codes[..., 1] = (words >> 12) & 0x3F
        codes[..., 2] = (words >> 6) & 0x3F
        codes[..., 3] = words & 0x3F
        keys[start : start + _PACK_ROWS] = _CHARACTERS[codes.reshape(-1, groups * 4)[:, :width]]
    return keys.view(f"S{width}").ravel()


#: `_CODES` as a list, for one key at a time in plain Python (cheaper than numpy's calls).
_CODE_LIST: Final = _CODES.tolist()


def _pack_one(key: bytes, width: int) -> bytes | None:
    """One key as `_pack` would pack it, or None if it is not packable at ``width``."""
    if len(key) != width:
        return None
    value = 0
    for byte in key:
        code = _CODE_LIST[byte]
        if code == 255:
            return None
        value = value << 6 | code
    size = -(-6 * width // 8)
    return (value << (8 * size - 6 * width)).to_bytes(size, "big")


def _unpack_one(packed: bytes, width: int) -> bytes:
    """One row `_pack` made (given without numpy's trailing NULs), as its ``width`` bytes."""
    size = -(-6 * width // 8)
    value = int.from_bytes(packed.ljust(size, b"\x00"), "big") >> (8 * size - 6 * width)
    characters = bytearray(width)
    for at in range(width - 1, -1, -1):
        characters[at] = _ALPHABET[value & 0x3F]
        value >>= 6
    return bytes(characters)


class OpenidTable:
    """Openids by row: a fixed-width sorted (or permuted) base, then a tail of later rows."""

    __slots__ = (
        "_base",
        "_blob",
        "_merge_at",
        "_offsets",
        "_order",
        "_packed",
        "_pending",
        "_prefix",
        "_recent",
    )

    def __init__(self) -> None:
        self._base: Any = np.empty(0, dtype="S1")
        #: What every base row starts with; the base holds the rest of each openid.
        self._prefix = b""
        #: Base rows in openid order; None when the base is in openid order already.
        self._order: Any = None
        #: The width of the base's rows before `_pack`, 0 when the base is not packed.
        self._packed = 0
        #: Bulk rows not yet in the base (before `seal`).
        self._pending: list[Any] = []
        self._blob = bytearray()
        self._offsets = array.array("Q", [0])
        self._recent: dict[str, list[int]] = {}
        self._merge_at = _MERGE_MIN

    def __len__(self) -> int:
        pending = sum(int(part.shape[0]) for part in self._pending)
        return int(self._base.shape[0]) + pending + len(self._offsets) - 1

    def nbytes(self) -> int:
        """Bytes held by the base, its permutation and the tail's blob and offsets."""
        total = int(self._base.nbytes) + len(self._prefix)
        total += len(self._blob) + 8 * len(self._offsets)
        if self._order is not None:
            total += int(self._order.nbytes)
        return total

    # -- adding rows ---------------------------------------------------------------------------

    def extend(self, openids: Sequence[str] | Any) -> None:
        """Append rows in bulk: strings, or a numpy ``S`` array of their UTF-8 (`seal` follows)."""
        if isinstance(openids, np.ndarray):
            keys = openids
        else:
            keys = encode_openids(openids)
            if keys is None or len(self._offsets) > 1:
                for openid in openids:
                    self.append(openid)
                return
        if len(self._offsets) > 1:
            for key in keys.tolist():
                self.append(key.decode(ENCODING, ERRORS))
            return
        self._pending.append(keys)

    def append(self, openid: str) -> int:
        """Append one row to the tail; return its row number."""
        row = len(self)
        self._blob += openid.encode(ENCODING, ERRORS)
        self._offsets.append(len(self._blob))
        self._recent.setdefault(openid, []).append(row)
        if len(self._offsets) - 1 > self._merge_at:
            self._merge_tail()
        return row

    def seal(self) -> str | None:
        """Move bulk rows into the base; return an openid held by two of them, if any."""
        if not self._pending:
            return None
        assert self._base.shape[0] == 0, "bulk rows go only into an empty table"
        parts = self._pending
        self._pending = []
        base = parts[0] if len(parts) == 1 else np.concatenate(parts)
        del parts
        ordered = base.shape[0] < 2 or bool(np.all(base[1:] > base[:-1]))
        repeated = None
        if not ordered:
            order = byte_order(base)
            keys = base[order]
            same = np.flatnonzero(keys[1:] == keys[:-1])
            if same.size:
                repeated = str(keys[int(same[0])].decode(ENCODING, ERRORS))
        self._set_base(base, None if ordered else order)
        return repeated

    def _set_base(self, keys: Any, order: Any) -> None:
        """Hold ``keys`` (whole openids; ``order`` sorts them, None if sorted) as the base."""
        self._merge_at = max(_MERGE_MIN, keys.shape[0] // 8)
        self._order = None if order is None else order.astype(np.uint32)
        if keys.shape[0]:
            first = keys[0 if order is None else int(order[0])]
            last = keys[-1 if order is None else int(order[-1])]
            # The first and last in order share what all share; one byte stays per row.
            shared = _shared([bytes(first), bytes(last)])
            self._prefix = shared[: keys.dtype.itemsize - 1]
        else:
            self._prefix = b""
        # Packed straight from the whole openids: a stripped copy of ten million of them
        # would be one more array of their size at the build's peak of memory.
        packed = _pack(keys, len(self._prefix))
        self._packed = 0 if packed is None else keys.dtype.itemsize - len(self._prefix)
        self._base = _strip(keys, len(self._prefix)) if packed is None else packed

    def _plain(self, rows: Any = None) -> Any:
        """The base's rows (all, or ``rows`` of them) as ``S`` bytes after the prefix."""
        base = self._base if rows is None else self._base[rows]
        return base if not self._packed else _unpack(base, self._packed)

    def _merge_tail(self) -> None:
        """Move the tail into the base (a sorted merge; the base's rows keep their order)."""
        count = len(self._offsets) - 1
        offsets = self._offsets
        keys = [bytes(self._blob[offsets[i] : offsets[i + 1]]) for i in range(count)]
        if not _fits(keys, max(map(len, keys))):
            # Try again only once the tail has doubled: each attempt reads all of it.
            self._merge_at = 2 * count
            return
        prefix = _shared([self._prefix, *keys]) if self._base.shape[0] else b""
        base = _prepend(self._plain(), self._prefix[len(prefix) :])
        self._prefix = prefix
        suffixes = [key[len(prefix) :] for key in keys]
        width = max(max(map(len, suffixes)), base.dtype.itemsize, 1)
        base = base.astype(f"S{width}")
        tail = np.array(suffixes, dtype=f"S{width}")
        first = base.shape[0]
        order = np.arange(first, dtype=np.uint32) if self._order is None else self._order
        tail_order = np.argsort(tail, kind="stable")
        at = np.searchsorted(base, tail[tail_order], side="right", sorter=order)
        rows = (tail_order + first).astype(np.uint32)
        self._order = np.insert(order, at, rows)
        self._base = np.concatenate([base, tail])
        packed = _pack(self._base)
        self._packed = 0 if packed is None else self._base.dtype.itemsize
        if packed is not None:
            self._base = packed
        self._blob = bytearray()
        self._offsets = array.array("Q", [0])
        self._recent = {}
        self._merge_at = max(_MERGE_MIN, self._base.shape[0] // 8)

    # -- reading -------------------------------------------------------------------------------

    def openid(self, row: int) -> str:
        """The openid of ``row``."""
        first = self._base.shape[0]
        if row < first:
            key = bytes(self._base[row])
            if self._packed:
                key = _unpack_one(key, self._packed)
            return (self._prefix + key).decode(ENCODING, ERRORS)
        at = row - first
        offsets = self._offsets
        return self._blob[offsets[at] : offsets[at + 1]].decode(ENCODING, ERRORS)

    def openids(self, rows: Any) -> list[str]:
        """The openids of ``rows`` (a numpy array of row numbers), in that order."""
        first = self._base.shape[0]
        if rows.size and int(rows.max()) < first:
            prefix = self._prefix
            keys = self._plain(rows).tolist()
            return [(prefix + key).decode(ENCODING, ERRORS) for key in keys]
        return list(map(self.openid, rows.tolist()))

    def rows_named(self, openid: str) -> list[int]:
        """Every row that was given ``openid``."""
        found: list[int] = []
        base = self._base
        whole = openid.encode(ENCODING, ERRORS)
        key = whole[len(self._prefix) :]
        searchable = bool(base.shape[0]) and whole.startswith(self._prefix)
        searchable = searchable and not whole.endswith(b"\x00")
        if searchable and self._packed:
            packed = _pack_one(key, self._packed)
            searchable = packed is not None
            if packed is not None:
                # As numpy reads every S row: without trailing NULs (rows compare the same).
                key = packed.rstrip(b"\x00")
        if searchable and len(key) <= base.dtype.itemsize:
            order = self._order
            start = int(np.searchsorted(base, key, side="left", sorter=order))
            while start < base.shape[0]:
                row = start if order is None else int(order[start])
                if base[row] != key:
                    break
                found.append(row)
                start += 1
        found.extend(self._recent.get(openid, ()))
        return found

    # -- persistence ---------------------------------------------------------------------------

    def to_blob(self) -> tuple[bytes, Any]:
        """Every row's UTF-8, concatenated, and the ``uint64`` offsets (one more than rows)."""
        base, prefix = self._plain(), self._prefix
        lengths = np.char.str_len(base).astype(np.uint64) + np.uint64(len(prefix))
        if base.shape[0] and int(lengths.min()) == base.dtype.itemsize + len(prefix):
            head = _prepend(base, prefix).tobytes()
        else:
            head = b"".join([prefix + key for key in base.tolist()])
        tail = np.frombuffer(self._offsets, dtype=np.uint64)[1:] + np.uint64(len(head))
        ends = np.cumsum(lengths, dtype=np.uint64)
        offsets = np.concatenate([np.zeros(1, np.uint64), ends, tail])
        return head + bytes(self._blob), offsets

    @classmethod
    def from_blob(cls, blob: bytes, offsets: Any) -> OpenidTable:
        """The table `to_blob` wrote (rows may repeat an openid: removed ones stay)."""
        table = cls()
        lengths = np.diff(offsets.astype(np.int64))
        count = int(lengths.shape[0])
        if not count:
            return table
        width = int(lengths.max())
        if int(lengths.min()) == width and width and b"\x00" not in blob:
            keys = np.frombuffer(blob, dtype=f"S{width}").copy()
        else:
            starts = offsets[:-1].tolist()
            pieces = [blob[s : s + n] for s, n in zip(starts, lengths.tolist(), strict=True)]
            if not _fits(pieces, width):
                for piece in pieces:
                    table.append(piece.decode(ENCODING, ERRORS))
                return table
            keys = np.array(pieces, dtype=f"S{width}")
        order = None
        if keys.shape[0] > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
            order = byte_order(keys)
        table._set_base(keys, order)
        return table
