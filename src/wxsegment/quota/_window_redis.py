"""`RedisWindowStore`: the customer-service window in Redis (single node or Cluster).

Each follower has two keys sharing one hash tag, so they live in one cluster slot and every
script touches one slot: ``<prefix>:w{<account>:<openid>}:h``, a sorted set holding the
history, and ``...:v``, a version that every write replaces with a fresh random token.
Components are percent-escaped (``%``, ``:``, ``{``, ``}``), so no prefix, account or openid
can end a component early, open another hash tag, or make two followers share a key.

History members all have score 0 and sort by their text: ``i<instant><kind>`` for an
interaction, ``s<instant>:<token>`` for a send, the instant written as 18 fixed-width digits
(microseconds since the Unix epoch plus 10**17), so text order is time order and pruning is
one ``ZREMRANGEBYLEX`` per half.

`consume` is optimistic: read the history and version in one script, let ``decide`` judge in
Python, then a second script stores the send only if the version is unchanged (and starts
over otherwise). Another writer changing the follower in between always changes the version,
and random tokens cannot come back, so no two consumers can both take the last message.

Memory: with ``ttl`` set, both keys of a follower get one absolute expiry, renewed by every
write. Expiry drops interactions and sends *together*, which can only close windows, never
reopen one; a ``ttl`` shorter than the policy's horizon would close windows early.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from wxsegment.quota._redis import _import_redis, _text
from wxsegment.quota._window import Interaction, WindowHistory
from wxsegment.quota._window_stores import _instant, _micros

__all__ = ["RedisWindowStore"]

#: How long a follower's keys outlive its last write by default (WeChat's windows last 48 h).
DEFAULT_TTL: Final = timedelta(days=7)

_OFFSET: Final = 10**17
_SCAN_BATCH: Final = 500

# Expiry: one absolute instant for both keys, from the server's clock.
_EXPIRE: Final = """
local function expire(ttl)
    if ttl > 0 then
        local now = redis.call('TIME')
        local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl
        redis.call('PEXPIREAT', KEYS[1], at)
        redis.call('PEXPIREAT', KEYS[2], at)
    end
end
local function prune(cut)
    return redis.call('ZREMRANGEBYLEX', KEYS[1], '[i', '(i' .. cut)
        + redis.call('ZREMRANGEBYLEX', KEYS[1], '[s', '(s' .. cut)
end
"""

# KEYS = history, version. Returns the version ('' when none), then the history members.
_READ: Final = """
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, redis.call('GET', KEYS[2]) or '')
return out
"""

# KEYS = history, version; ARGV = member, new version, ttl (ms, 0 for none).
_ADD: Final = (
    _EXPIRE
    + """
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
expire(tonumber(ARGV[3]))
return 1
"""
)

# KEYS = history, version; ARGV = expected version, new version, cut, send member ('' for
# none), ttl (ms). Returns -1 when the version moved on, else how many entries were pruned.
_CONSUME: Final = (
    _EXPIRE
    + """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return -1 end
local dropped = prune(ARGV[3])
if ARGV[4] == '' and dropped == 0 then return 0 end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[1], 0, ARGV[4]) end
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
    return dropped
end
redis.call('SET', KEYS[2], ARGV[2])
expire(tonumber(ARGV[5]))
return dropped
"""
)

# KEYS = history, version; ARGV = cut, new version. Returns how many entries were pruned.
_PRUNE: Final = (
    _EXPIRE
    + """
local dropped = prune(ARGV[1])
if dropped > 0 then
    if redis.call('EXISTS', KEYS[1]) == 0 then
        redis.call('DEL', KEYS[2])
    else
        redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
    end
end
return dropped
"""
)


def _escape(text: str) -> str:
    """Percent-escape the characters that delimit key components and hash tags."""
    return text.replace("%", "%25").replace(":", "%3A").replace("{", "%7B").replace("}", "%7D")


def _glob(text: str) -> str:
    """Escape Redis glob metacharacters, for a SCAN pattern matching ``text`` literally."""
    return "".join("\\" + c if c in "*?[]\\^" else c for c in text)


def _instant_text(at: datetime) -> str:
    return f"{_micros(at) + _OFFSET:018d}"


def _token() -> str:
    return secrets.token_hex(12)


def _parse(members: list[Any], cut: str | None) -> WindowHistory:
    """The history the members hold, leaving out those before the ``cut`` instant text."""
    interactions: list[tuple[datetime, Interaction]] = []
    sends: list[datetime] = []
    for raw in members:
        member = _text(raw)
        stamp = member[1:19]
        if cut is not None and stamp < cut:
            continue
        at = _instant(int(stamp) - _OFFSET)
        if member[0] == "i":
            interactions.append((at, Interaction(member[19:])))
        else:
            sends.append(at)
    return WindowHistory(tuple(interactions), tuple(sends))


class RedisWindowStore:
    """A `WindowStore` in Redis (needs the ``redis`` extra): shared by processes and hosts.

    ``url`` is a Redis URL (of any node with ``cluster=True``) or a client (``redis.Redis`` or
    ``redis.cluster.RedisCluster``; the store then uses, and never closes, it). Keys start with
    ``prefix`` (escaped) and expire ``ttl`` after a follower's last write (``None``: never).
    """

    def __init__(
        self,
        url: str | Any,
        *,
        prefix: str = "wxsegment",
        ttl: timedelta | None = DEFAULT_TTL,
        cluster: bool = False,
    ) -> None:
        redis = _import_redis()
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {type(prefix).__name__}")
        if not prefix:
            raise ValueError("prefix must not be empty")
        if ttl is not None and not isinstance(ttl, timedelta):
            raise TypeError(f"ttl must be a timedelta or None, not {type(ttl).__name__}")
        if ttl is not None and ttl < timedelta(seconds=1):
            raise ValueError(f"ttl must be at least one second, got {ttl}")
        self._prefix = prefix
        self._head = _escape(prefix) + ":w{"
        self._ttl_ms = 0 if ttl is None else ttl // timedelta(milliseconds=1)
        self._owned = isinstance(url, str)
        if isinstance(url, str):
            opener = redis.cluster.RedisCluster if cluster else redis.Redis
            self._client: Any = opener.from_url(url)
        else:
            self._client = url
        self._cluster = isinstance(self._client, redis.cluster.RedisCluster)
        self._lock = threading.Lock()
        self._read = self._client.register_script(_READ)
        self._add = self._client.register_script(_ADD)
        self._consume = self._client.register_script(_CONSUME)
        self._prune = self._client.register_script(_PRUNE)

    def __repr__(self) -> str:
        return f"RedisWindowStore(prefix={self._prefix!r})"

    def _keys(self, account: str, openid: str) -> list[str]:
        base = f"{self._head}{_escape(account)}:{_escape(openid)}}}:"
        return [base + "h", base + "v"]

    def _snapshot(self, keys: list[str]) -> tuple[str, list[Any]]:
        with self._lock:
            reply = self._read(keys=keys)
        return _text(reply[0]), reply[1:]

    def add_interaction(self, account: str, openid: str, kind: Interaction, at: datetime) -> None:
        """Store an interaction (the same kind at the same instant is stored once)."""
        member = f"i{_instant_text(at)}{kind.value}"
        with self._lock:
            self._add(keys=self._keys(account, openid), args=[member, _token(), self._ttl_ms])

    def add_send(self, account: str, openid: str, at: datetime) -> None:
        """Store one customer-service message sent at ``at``."""
        token = _token()
        member = f"s{_instant_text(at)}:{token}"
        with self._lock:
            self._add(keys=self._keys(account, openid), args=[member, token, self._ttl_ms])

    def history(self, account: str, openid: str) -> WindowHistory:
        """The follower's stored interactions and sends (one consistent snapshot)."""
        _, members = self._snapshot(self._keys(account, openid))
        return _parse(members, None)

    def consume(
        self,
        account: str,
        openid: str,
        at: datetime,
        decide: Callable[[WindowHistory], bool],
        *,
        prune_before: datetime,
    ) -> tuple[WindowHistory, bool]:
        """Atomically: read the history; if ``decide`` says so, store a send at ``at``.

        ``decide`` runs again whenever another writer changed the follower meanwhile.
        """
        keys = self._keys(account, openid)
        cut = _instant_text(prune_before)
        while True:
            version, members = self._snapshot(keys)
            history = _parse(members, cut)
            granted = decide(history)
            token = _token()
            send = f"s{_instant_text(at)}:{token}" if granted else ""
            with self._lock:
                done = self._consume(keys=keys, args=[version, token, cut, send, self._ttl_ms])
            if int(done) >= 0:
                return history, granted

    def _prune_batch(self, keys: list[str], cut: str) -> int:
        calls = [([key, key[:-1] + "v"], [cut, _token()]) for key in keys]
        with self._lock:
            if self._cluster:
                # A cluster pipeline does not run scripts by digest: one call per follower.
                return sum(int(self._prune(keys=k, args=a)) for k, a in calls)
            pipe = self._client.pipeline(transaction=False)
            for k, a in calls:
                self._prune(keys=k, args=a, client=pipe)
            return sum(int(n) for n in pipe.execute())

    def prune(self, account: str, before: datetime) -> int:
        """Drop every follower's interactions and sends older than ``before``.

        Walks the account's keys with ``SCAN`` (every primary of a cluster); with ``ttl`` set,
        Redis drops idle followers by itself and this is rarely needed.
        """
        cut = _instant_text(before)
        pattern = _glob(f"{self._head}{_escape(account)}:") + "*}:h"
        dropped = 0
        batch: list[str] = []
        # SCAN may return a key twice; pruning it again drops nothing more.
        for key in self._client.scan_iter(match=pattern, count=1000):
            batch.append(_text(key))
            if len(batch) >= _SCAN_BATCH:
                dropped += self._prune_batch(batch, cut)
                batch = []
        if batch:
            dropped += self._prune_batch(batch, cut)
        return dropped

    def close(self) -> None:
        """Close the client if the store opened it."""
        with self._lock:
            if self._owned:
                self._client.close()
