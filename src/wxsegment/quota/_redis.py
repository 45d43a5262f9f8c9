"""`RedisLedger`: the ledger in Redis (redis-py), atomic Lua scripts, Redis Cluster ready.

Followers are sharded into ``buckets`` by a stable hash of the openid (CRC-32). Every key of a
bucket carries one hash tag naming prefix, account and bucket, so one bucket lives in one cluster
slot, and every script call touches the keys of exactly one bucket (named through its first
key). A batch is cut into chunks; a chunk becomes one script call per bucket, all sent in one
pipeline (on a cluster, a cluster pipeline that sends each node the calls of its buckets).
Redis runs each script atomically, so concurrent clients never interleave inside a
decision, and a client killed mid-batch leaves each follower either fully reserved (row,
counters, content key) or untouched.

Keys of one bucket ``T = {P:prefix:A:account:bucket}`` (hashes, field = openid unless noted),
where ``P`` and ``A`` are the lengths of ``prefix`` and ``account`` in characters, so that no
two (prefix, account) pairs share a key even when they contain ``:``:
``T:r:<campaign>`` the reservation (``state|month|reserved_at|content_key``, state ``p``
pending or ``c`` committed); ``T:m:<month>`` committed + pending; ``T:p:<month>`` pending;
``T:k:<content_key>`` live reservations carrying the key; ``T:c`` (field = campaign) pending
reservations per campaign, for listing. No key expires: a pending reservation must keep
counting until it is settled. The bucket count is recorded under ``{P:prefix:A:account}:buckets``
at first use and every later ledger must agree with it.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from wxsegment.quota._base import (
    ALREADY,
    LedgerBase,
    Outcome,
    ReserveTally,
    chunks,
    scanned_usages,
)
from wxsegment.quota._types import (
    DEFAULT_ACCOUNT,
    MAX_PUSHES_PER_MONTH,
    NotDurableError,
    PendingEntry,
    RefusalReason,
    Reservation,
    Transition,
    Usage,
)
from wxsegment.quota._validate import (
    check_at,
    check_batch,
    check_id,
    check_keys,
    check_many,
    check_openids,
)

__all__ = ["RedisLedger"]

#: Followers per pipeline; each bucket's share of a chunk is one script call.
DEFAULT_CHUNK: Final = 20_000
DEFAULT_BUCKETS: Final = 16

_OUTCOMES: Final[dict[str, Outcome]] = {
    "a": ALREADY,
    "d": RefusalReason.DUPLICATE_CONTENT,
    "x": RefusalReason.QUOTA_EXHAUSTED,
}

# KEYS[1] = bucket tag; ARGV = campaign, month, limit, content key ('' for none), reserved_at,
# then the openids. Returns one letter per openid: g granted, a already, d duplicate content,
# x quota exhausted.
_RESERVE: Final = """
local t = KEYS[1]
local campaign, month, limit, key, stamp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local rk, mk, pk = t .. ':r:' .. campaign, t .. ':m:' .. month, t .. ':p:' .. month
local kk = nil
if key ~= '' then kk = t .. ':k:' .. key end
local value = 'p|' .. month .. '|' .. stamp .. '|' .. key
local out, granted = {}, 0
for i = 6, #ARGV do
    local o = ARGV[i]
    if redis.call('HEXISTS', rk, o) == 1 then
        out[#out + 1] = 'a'
    elseif kk and redis.call('HEXISTS', kk, o) == 1 then
        out[#out + 1] = 'd'
    elseif (tonumber(redis.call('HGET', mk, o)) or 0) >= limit then
        out[#out + 1] = 'x'
    else
        redis.call('HSET', rk, o, value)
        redis.call('HINCRBY', mk, o, 1)
        redis.call('HINCRBY', pk, o, 1)
        if kk then redis.call('HINCRBY', kk, o, 1) end
        granted = granted + 1
        out[#out + 1] = 'g'
    end
end
if granted > 0 then redis.call('HINCRBY', t .. ':c', campaign, granted) end
return table.concat(out)
"""

# KEYS[1] = bucket tag; ARGV = external id, month, content key ('' for none), recorded at,
# then the openids. Returns g (recorded) or a (already recorded) per openid.
_EXTERNAL: Final = """
local t = KEYS[1]
local campaign, month, key, stamp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local rk, mk = t .. ':r:' .. campaign, t .. ':m:' .. month
local kk = nil
if key ~= '' then kk = t .. ':k:' .. key end
local value = 'c|' .. month .. '|' .. stamp .. '|' .. key
local out = {}
for i = 5, #ARGV do
    local o = ARGV[i]
    if redis.call('HSETNX', rk, o, value) == 0 then
        out[#out + 1] = 'a'
    else
        redis.call('HINCRBY', mk, o, 1)
        if kk then redis.call('HINCRBY', kk, o, 1) end
        out[#out + 1] = 'g'
    end
end
return table.concat(out)
"""

# KEYS[1] = bucket tag; ARGV = campaign, 'c' (commit) or 'r' (release), then the openids, or
# none at all to settle every pending reservation of the campaign in this bucket.
# With openids: one letter each, m moved, c committed already, n missing.
# Without: the openids moved.
_SETTLE: Final = """
local t = KEYS[1]
local campaign, commit = ARGV[1], ARGV[2] == 'c'
local rk = t .. ':r:' .. campaign
local moved = 0
local function drop(hash, o)
    if redis.call('HINCRBY', hash, o, -1) <= 0 then redis.call('HDEL', hash, o) end
end
local function settle(o, v)
    local month, key = string.match(v, '^p|([^|]*)|[^|]*|(.*)$')
    if commit then
        redis.call('HSET', rk, o, 'c' .. string.sub(v, 2))
    else
        redis.call('HDEL', rk, o)
        drop(t .. ':m:' .. month, o)
        if key ~= '' then drop(t .. ':k:' .. key, o) end
    end
    drop(t .. ':p:' .. month, o)
    moved = moved + 1
end
local out = {}
if #ARGV == 2 then
    local all = redis.call('HGETALL', rk)
    for i = 1, #all, 2 do
        if string.sub(all[i + 1], 1, 1) == 'p' then
            settle(all[i], all[i + 1])
            out[#out + 1] = all[i]
        end
    end
else
    for i = 3, #ARGV do
        local o = ARGV[i]
        local v = redis.call('HGET', rk, o)
        if not v then
            out[#out + 1] = 'n'
        elseif string.sub(v, 1, 1) == 'c' then
            out[#out + 1] = 'c'
        else
            settle(o, v)
            out[#out + 1] = 'm'
        end
    end
    out = {table.concat(out)}
end
if moved > 0 and redis.call('HINCRBY', t .. ':c', campaign, -moved) <= 0 then
    redis.call('HDEL', t .. ':c', campaign)
end
return out
"""

# KEYS[1] = bucket tag; ARGV = month, openid. Returns {committed + pending, pending}.
_USAGE: Final = """
local t = KEYS[1]
return {redis.call('HGET', t .. ':m:' .. ARGV[1], ARGV[2]) or '0',
        redis.call('HGET', t .. ':p:' .. ARGV[1], ARGV[2]) or '0'}
"""


# KEYS[1] = bucket tag; ARGV = month, then openids: the totals, then the pendings, one read.
_USAGE_MANY: Final = """
local t, month = KEYS[1], ARGV[1]
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
return {redis.call('HMGET', t .. ':m:' .. month, unpack(ids)),
        redis.call('HMGET', t .. ':p:' .. month, unpack(ids))}
"""

# KEYS[1] = bucket tag; ARGV = number of content keys n, the keys, then openids. Returns, per
# openid, n characters: 1 if it holds that key live, else 0.
_HELD: Final = """
local t, n = KEYS[1], tonumber(ARGV[1])
local out = {}
for i = n + 2, #ARGV do out[#out + 1] = '' end
for k = 1, n do
    local kk = t .. ':k:' .. ARGV[1 + k]
    for i = n + 2, #ARGV do
        local live = tonumber(redis.call('HGET', kk, ARGV[i])) or 0
        local pos = i - n - 1
        out[pos] = out[pos] .. (live > 0 and '1' or '0')
    end
end
return out
"""

# Whole-bucket scans reply in a few strings, openids joined by NUL (which no openid contains):
# a reply item per follower would cost the client far more to parse than the server to send.

# KEYS[1] = bucket tag; ARGV = month. Returns the openids with pushes that month, their
# committed + pending and their pending counts (comma-joined), in the same order.
_SCAN_MONTH: Final = """
local t, month = KEYS[1], ARGV[1]
local totals = redis.call('HGETALL', t .. ':m:' .. month)
local listed = redis.call('HGETALL', t .. ':p:' .. month)
local pending = {}
for i = 1, #listed, 2 do pending[listed[i]] = listed[i + 1] end
local ids, sums, pends = {}, {}, {}
for i = 1, #totals, 2 do
    if (tonumber(totals[i + 1]) or 0) > 0 then
        ids[#ids + 1] = totals[i]
        sums[#sums + 1] = totals[i + 1]
        pends[#pends + 1] = pending[totals[i]] or '0'
    end
end
return {table.concat(ids, '\\0'), table.concat(sums, ','), table.concat(pends, ',')}
"""

# KEYS[1] = bucket tag; ARGV = content keys. Returns, per key, its live holders NUL-joined.
_SCAN_HOLDERS: Final = """
local t = KEYS[1]
local out = {}
for k = 1, #ARGV do
    local all = redis.call('HGETALL', t .. ':k:' .. ARGV[k])
    local ids = {}
    for i = 1, #all, 2 do
        if (tonumber(all[i + 1]) or 0) > 0 then ids[#ids + 1] = all[i] end
    end
    out[k] = table.concat(ids, '\\0')
end
return out
"""


def _joined(reply: str | bytes, separator: str) -> list[str]:
    """The parts of a scan's joined reply (none for an empty one)."""
    text = _text(reply)
    return text.split(separator) if text else []


def _key_stem(prefix: str, account: str) -> str:
    """The start of every key of (prefix, account) inside its hash tag.

    Each part is preceded by its length, so no pair spells another's stem, whatever ``:``
    they contain.
    """
    return f"{len(prefix)}:{prefix}:{len(account)}:{account}"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _import_redis() -> Any:
    try:
        import redis
        import redis.cluster
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("RedisLedger needs redis-py: pip install 'wxsegment[redis]'") from error
    return redis


class RedisLedger(LedgerBase):
    """A `QuotaLedger` in Redis (single node or Cluster): atomic Lua scripts per bucket.

    ``url`` is a Redis URL (of any node with ``cluster=True``) or a client (``redis.Redis``
    or ``redis.cluster.RedisCluster``; the ledger then uses, and never closes, it). All keys
    start with ``{P:prefix:A:account:``, ``P`` and ``A`` being the lengths of the two.
    ``buckets`` must be the same for every ledger of one prefix and account. The server (every
    master of a cluster) must persist every write and never evict ledger keys; otherwise
    `NotDurableError`, unless ``require_durable=False``.
    """

    def __init__(
        self,
        url: str | Any,
        *,
        account: str = DEFAULT_ACCOUNT,
        limit: int = MAX_PUSHES_PER_MONTH,
        prefix: str = "wxsegment",
        buckets: int = DEFAULT_BUCKETS,
        chunk_size: int = DEFAULT_CHUNK,
        cluster: bool = False,
        require_durable: bool = True,
    ) -> None:
        redis = _import_redis()
        super().__init__(account, limit)
        check_id(prefix, "prefix")
        for name, text in (("prefix", prefix), ("account", self._account)):
            if "{" in text or "}" in text:
                raise ValueError(f"{name} must not contain '{{' or '}}' (Redis hash tags)")
        if not isinstance(buckets, int) or not 1 <= buckets <= 16384:
            raise ValueError(f"buckets must be an int from 1 to 16384, got {buckets!r}")
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int of at least 1, got {chunk_size!r}")
        if not isinstance(require_durable, bool):
            raise TypeError("require_durable must be a bool")
        self._prefix = prefix
        self._buckets = buckets
        self._chunk = chunk_size
        self._owned = isinstance(url, str)
        if isinstance(url, str):
            opener = redis.cluster.RedisCluster if cluster else redis.Redis
            self._client: Any = opener.from_url(url)
        else:
            self._client = url
        # A cluster pipeline refuses EVALSHA by name, routes raw commands by their first key
        # and does not load scripts; `_evaluate` does that itself there.
        self._cluster = isinstance(self._client, redis.cluster.RedisCluster)
        self._lock = threading.Lock()
        if require_durable:
            try:
                _check_durable(self._client, self._cluster, redis.exceptions.ResponseError)
            except NotDurableError:
                self.close()
                raise
        stem = _key_stem(prefix, self._account)
        self._tags = [f"{{{stem}:{b}}}" for b in range(buckets)]
        self._reserve = self._client.register_script(_RESERVE)
        self._external = self._client.register_script(_EXTERNAL)
        self._settle_script = self._client.register_script(_SETTLE)
        self._usage = self._client.register_script(_USAGE)
        self._usage_many = self._client.register_script(_USAGE_MANY)
        self._held = self._client.register_script(_HELD)
        self._scan_month = self._client.register_script(_SCAN_MONTH)
        self._scan_holders = self._client.register_script(_SCAN_HOLDERS)
        self._noscript = redis.exceptions.NoScriptError
        meta = f"{{{stem}}}:buckets"
        self._client.set(meta, buckets, nx=True)
        recorded = int(self._client.get(meta))
        if recorded != buckets:
            self.close()
            raise ValueError(
                f"this prefix and account use {recorded} buckets, not {buckets}; "
                "every ledger sharing them must use the same number"
            )

    def __repr__(self) -> str:
        return (
            f"RedisLedger(prefix={self._prefix!r}, account={self._account!r}, limit={self._limit})"
        )

    def _bucket(self, openid: str) -> int:
        return zlib.crc32(openid.encode()) % self._buckets

    def _split(self, chunk: Sequence[str]) -> dict[int, list[int]]:
        """Positions of the chunk's openids, grouped by bucket."""
        groups: dict[int, list[int]] = {}
        buckets = self._buckets
        crc = zlib.crc32
        for position, openid in enumerate(chunk):
            groups.setdefault(crc(openid.encode()) % buckets, []).append(position)
        return groups

    def _pipeline(self) -> Any:
        return self._client.pipeline() if self._cluster else self._client.pipeline(False)

    def _evaluate(self, script: Any, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Run ``script`` once per (bucket tag, arguments), pipelined; the replies in order."""
        with self._lock:
            if not self._cluster:
                pipe = self._client.pipeline(transaction=False)
                for tag, args in calls:
                    script(keys=[tag], args=args, client=pipe)
                return list(pipe.execute())
            pipe = self._client.pipeline()
            for tag, args in calls:
                pipe.execute_command("EVALSHA", script.sha, 1, tag, *args)
            replies = list(pipe.execute(raise_on_error=False))
            noscript = self._noscript
            for index, reply in enumerate(replies):
                if isinstance(reply, noscript):
                    # Not run at all, so running it now is the first and only run.
                    tag, args = calls[index]
                    replies[index] = script(keys=[tag], args=args)
                elif isinstance(reply, Exception):
                    raise reply
            return replies

    def _run(self, script: Any, head: list[Any], chunk: Sequence[str]) -> str:
        """One call of ``script`` per bucket, pipelined; the letters in chunk order."""
        groups = self._split(chunk)
        calls = [
            (self._tags[bucket], [*head, *(chunk[p] for p in positions)])
            for bucket, positions in groups.items()
        ]
        replies = self._evaluate(script, calls)
        letters = [""] * len(chunk)
        for positions, reply in zip(groups.values(), replies, strict=True):
            text = _text(reply if isinstance(reply, (str, bytes)) else reply[0])
            for position, letter in zip(positions, text, strict=True):
                letters[position] = letter
        return "".join(letters)

    def reserve(
        self,
        campaign: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Reservation:
        """Reserve one push of ``campaign`` for each follower (see `QuotaLedger.reserve`)."""
        key, at, month, targets = check_batch(campaign, "campaign", openids, at, content_key)
        head = [campaign, month, self._limit, key or "", _stamp(at)]
        tally = ReserveTally()
        for chunk in chunks(targets, self._chunk):
            letters = self._run(self._reserve, head, chunk)
            exceptions: dict[int, Outcome] = {}
            if letters.count("g") != len(chunk):
                exceptions = {
                    position: _OUTCOMES[letter]
                    for position, letter in enumerate(letters)
                    if letter != "g"
                }
            tally.add(chunk, exceptions)
        return tally.result(campaign, month)

    def _settle(
        self, campaign: str, openids: Iterable[str] | None, *, commit: bool
    ) -> tuple[list[str], list[str], list[str]]:
        """Commit or release; (moved, already committed, missing), each in order."""
        check_id(campaign, "campaign")
        targets = check_openids(openids)
        head = [campaign, "c" if commit else "r"]
        if targets is None:
            replies = self._evaluate(self._settle_script, [(tag, head) for tag in self._tags])
            return sorted(_text(o) for reply in replies for o in reply), [], []
        moved: list[str] = []
        committed: list[str] = []
        missing: list[str] = []
        for chunk in chunks(targets, self._chunk):
            letters = self._run(self._settle_script, head, chunk)
            for openid, letter in zip(chunk, letters, strict=True):
                (moved if letter == "m" else committed if letter == "c" else missing).append(openid)
        return moved, committed, missing

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        check_openids([openid])
        _, month = check_at(at)
        with self._lock:
            total, pending = self._usage(
                keys=[self._tags[self._bucket(openid)]], args=[month, openid]
            )
        return Usage(month, int(total) - int(pending), int(pending), self._limit)

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """`usage` of many followers: per chunk, one script call per bucket, pipelined."""
        listed = check_many(openids)
        _, month = check_at(at)
        limit = self._limit
        out: dict[str, Usage] = {}
        # Usage is frozen: followers with the same raw counts share one instance.
        shared: dict[tuple[object, object], Usage] = {}
        for chunk in chunks(listed, self._chunk):
            groups = self._split(chunk)
            calls = [
                (self._tags[bucket], [month, *(chunk[p] for p in positions)])
                for bucket, positions in groups.items()
            ]
            replies = self._evaluate(self._usage_many, calls)
            for positions, (totals, pendings) in zip(groups.values(), replies, strict=True):
                for position, total, pending in zip(positions, totals, pendings, strict=True):
                    usage = shared.get((total, pending))
                    if usage is None:
                        t, p = int(total or 0), int(pending or 0)
                        usage = shared[total, pending] = Usage(month, t - p, p, limit)
                    out[chunk[position]] = usage
        return {openid: out[openid] for openid in listed}

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Which of ``content_keys`` each follower holds; followers holding none left out."""
        listed = check_many(openids)
        keys = check_keys(content_keys)
        held: dict[str, frozenset[str]] = {}
        if not keys:
            return held
        for chunk in chunks(listed, self._chunk):
            groups = self._split(chunk)
            calls = [
                (self._tags[bucket], [len(keys), *keys, *(chunk[p] for p in positions)])
                for bucket, positions in groups.items()
            ]
            replies = self._evaluate(self._held, calls)
            for positions, flags in zip(groups.values(), replies, strict=True):
                for position, mask in zip(positions, flags, strict=True):
                    bits = zip(keys, _text(mask), strict=True)
                    have = frozenset(key for key, bit in bits if bit == "1")
                    if have:
                        held[chunk[position]] = have
        return held

    def month_usage(self, *, at: datetime) -> Mapping[str, Usage]:
        """Every follower with pushes in the month of ``at``: one script call per bucket."""
        _, month = check_at(at)
        replies = self._evaluate(self._scan_month, [(tag, [month]) for tag in self._tags])
        openids: list[str] = []
        pairs: list[tuple[int, int]] = []
        for ids, sums, pends in replies:
            listed = _joined(ids, "\0")
            if not listed:
                continue
            openids.extend(listed)
            totals = map(int, _joined(sums, ","))
            pending = list(map(int, _joined(pends, ",")))
            pairs.extend(zip(map(int.__sub__, totals, pending), pending, strict=True))
        return scanned_usages(openids, pairs, month, self._limit)

    def content_holders(self, content_keys: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """The followers holding each content key: one script call per bucket."""
        keys = check_keys(content_keys)
        if not keys:
            return {}
        replies = self._evaluate(self._scan_holders, [(tag, keys) for tag in self._tags])
        found: dict[str, list[str]] = {key: [] for key in keys}
        for reply in replies:
            for key, joined in zip(keys, reply, strict=True):
                found[key].extend(_joined(joined, "\0"))
        return {key: frozenset(openids) for key, openids in found.items()}

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Pending reservations ordered by campaign then openid."""
        if campaign is not None:
            check_id(campaign, "campaign")
        with self._lock:
            if campaign is None:
                pipe = self._pipeline()
                for tag in self._tags:
                    pipe.hkeys(f"{tag}:c")
                names = [[_text(n) for n in reply] for reply in pipe.execute()]
            else:
                names = [[campaign] for _ in self._tags]
            pipe = self._pipeline()
            asked: list[str] = []
            for tag, mine in zip(self._tags, names, strict=True):
                for name in mine:
                    pipe.hgetall(f"{tag}:r:{name}")
                    asked.append(name)
            replies = pipe.execute()
        entries: list[PendingEntry] = []
        for name, rows in zip(asked, replies, strict=True):
            for openid, value in rows.items():
                text = _text(value)
                if text[0] != "p":
                    continue
                _, month, stamp, key = text.split("|", 3)
                entries.append(
                    PendingEntry(
                        name, _text(openid), month, key or None, datetime.fromisoformat(stamp)
                    )
                )
        entries.sort(key=lambda e: (e.campaign, e.openid))
        return iter(entries)

    def record_external(
        self,
        external_id: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Transition:
        """Count pushes made outside the library as committed (idempotent per external id)."""
        key, at, month, targets = check_batch(external_id, "external_id", openids, at, content_key)
        head = [external_id, month, key or "", _stamp(at)]
        done: list[str] = []
        already: list[str] = []
        for chunk in chunks(targets, self._chunk):
            letters = self._run(self._external, head, chunk)
            for openid, letter in zip(chunk, letters, strict=True):
                (done if letter == "g" else already).append(openid)
        return Transition(done=tuple(done), already=tuple(already))

    def close(self) -> None:
        """Close the client if the ledger opened it."""
        with self._lock:
            if self._owned:
                if self._cluster:
                    # RedisCluster.close leaves its nodes' pooled sockets to the garbage
                    # collector (which warns); close them now.
                    for node in self._client.get_nodes():
                        if node.redis_connection is not None:
                            node.redis_connection.connection_pool.disconnect()
                self._client.close()


# What keeps every acknowledged grant across a restart: an append-only file synced at least
# every second, and no eviction of keys without a TTL (the ledger never sets one). See the
# deployment section of docs/quota-backends.md for what each other setting risks.
_SAFE_FSYNC: Final = frozenset({"always", "everysec"})
_SAFE_POLICIES: Final = frozenset(
    {"noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}
)
_OPT_OUT: Final = (
    "; pass require_durable=False to use it anyway (e.g. a disposable test server), "
    "accepting that a restart may forget grants and allow a fifth push"
)


def _check_durable(client: Any, cluster: bool, refused: type[Exception]) -> None:
    """Raise `NotDurableError` unless every master keeps grants across a restart."""
    nodes = client.get_primaries() if cluster else [None]
    problems: list[str] = []
    for node in nodes:
        where = f" on {node.host}:{node.port}" if node is not None else ""
        options = {} if node is None else {"target_nodes": node}
        try:
            found: dict[str, str] = {}
            for name in ("appendonly", "appendfsync", "maxmemory-policy"):
                reply = client.config_get(name, **options)
                found.update({_text(k): _text(v) for k, v in reply.items()})
        except refused as error:
            # CONFIG is disabled, renamed or denied by an ACL: durability cannot be known.
            raise NotDurableError(
                f"cannot read the Redis server's persistence settings{where} with CONFIG GET "
                f"({type(error).__name__}){_OPT_OUT}"
            ) from None
        if found.get("appendonly") != "yes":
            problems.append(f"appendonly is {found.get('appendonly')!r}, not 'yes'{where}")
        elif found.get("appendfsync") not in _SAFE_FSYNC:
            problems.append(
                f"appendfsync is {found.get('appendfsync')!r}, not 'always' or 'everysec'{where}"
            )
        if found.get("maxmemory-policy") not in _SAFE_POLICIES:
            problems.append(
                f"maxmemory-policy is {found.get('maxmemory-policy')!r}, which may evict "
                f"ledger keys (use 'noeviction'){where}"
            )
    if problems:
        raise NotDurableError("the Redis server may lose grants: " + "; ".join(problems) + _OPT_OUT)


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()
