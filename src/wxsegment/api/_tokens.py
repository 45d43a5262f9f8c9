"""Where access tokens are kept between calls, and between processes.

A `TokenStore` maps a key (one per appid and token kind) to a `Token`. `MemoryTokenStore` is
the per-client default; `FileTokenStore` lets several processes on one host share one token
(a lock file serializes writers, each write atomically replaces the file, mode 0600);
`RedisTokenStore` does the same across hosts. All three are `SharedTokenStore`s: their
``refresh_lock`` makes clients sharing the store refresh one at a time (a thread lock, an
``flock``, a Redis lease), so a token one host fetched is found by the others instead of
being invalidated by their own fetches.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from wxsegment.api._core import Token

__all__ = [
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "SharedTokenStore",
    "TokenStore",
]

logger = logging.getLogger("wxsegment.api")


@runtime_checkable
class TokenStore(Protocol):
    """Storage for access tokens, keyed per account and token kind."""

    def get(self, key: str) -> Token | None:
        """The stored token, or None."""
        ...

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``, replacing any previous one."""
        ...


@runtime_checkable
class SharedTokenStore(TokenStore, Protocol):
    """A token store that can also make processes refresh one at a time.

    While one process holds ``refresh_lock(key)``, others wait, then find its token in the store
    instead of fetching their own (which, with ``/cgi-bin/token``, would invalidate it).
    """

    def refresh_lock(self, key: str) -> AbstractContextManager[None]:
        """Hold while checking the store and fetching a token."""
        ...


@contextlib.contextmanager
def _holding(lock: threading.Lock) -> Iterator[None]:
    with lock:
        yield


class MemoryTokenStore:
    """Tokens in this process's memory (the default); clients given one share its tokens."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self._refreshing: dict[str, threading.Lock] = {}

    def refresh_lock(self, key: str) -> AbstractContextManager[None]:
        """A lock per key shared by every client of this store (in this process)."""
        with self._lock:
            # A plain Lock, not an RLock: AsyncClient may release it from another thread.
            lock = self._refreshing.setdefault(key, threading.Lock())
        return _holding(lock)

    def get(self, key: str) -> Token | None:
        """The stored token, or None."""
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: Token) -> None:
        """Store ``token`` under ``key``."""
        with self._lock:
            self._tokens[key] = token

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} tokens>)"


class FileTokenStore:
    """Tokens in a directory shared by the processes of one host.

    Each key is one file (mode 0600) written to a temporary file and renamed over the old one,
    so readers never see a half-written token; writers hold an ``flock`` on a lock file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"{name}.token"

    @contextlib.contextmanager
    def _locked(self, key: str, suffix: str = ".lock") -> Iterator[None]:
        # Imported here so that the package still imports where fcntl does not exist.
        import fcntl

        lock_path = self._path(key).with_suffix(suffix)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def refresh_lock(self, key: str) -> AbstractContextManager[None]:
        """An exclusive ``flock`` shared by every process using this directory."""
        # A lock file of its own: ``set`` takes the write lock while this one is held.
        return self._locked(key, ".refresh")

    def get(self, key: str) -> Token | None:
        """The stored token, or None when absent or unreadable."""
        try:
            text = self._path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Token.from_json(text)
        except (ValueError, KeyError, TypeError):
            return None

    def set(self, key: str, token: Token) -> None:
        """Atomically replace the stored token."""
        path = self._path(key)
        with self._locked(key):
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".token")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(token.to_json())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.directory)!r})"


#: How long a host may hold the Redis refresh lock without renewing it.
DEFAULT_LEASE: Final = 15.0
#: How long a host waits for the Redis refresh lock before giving up.
DEFAULT_LOCK_WAIT: Final = 60.0

# Release or renew only while still the owner: a holder whose lease ran out must not free
# (or extend) the lock another host has taken since.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class _Lease:
    """The Redis refresh lock: ``SET NX PX`` with a random owner, renewed while held."""

    def __init__(self, store: RedisTokenStore, key: str) -> None:
        self._store = store
        self._key = key
        self._owner = secrets.token_hex(16)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> None:
        store = self._store
        lease_ms = max(1, int(store.lease * 1000))
        deadline = time.monotonic() + store.lock_wait
        pause = 0.01
        while not store._redis.set(self._key, self._owner, nx=True, px=lease_ms):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the token refresh lock stayed taken for {store.lock_wait} s; "
                    "another host may be stuck fetching a token"
                )
            # Jittered backoff, so waiting hosts do not poll Redis in lockstep.
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.25)
        self._renewer = threading.Thread(
            target=self._renew, args=(lease_ms,), name="wxsegment-token-lease", daemon=True
        )
        self._renewer.start()

    def _renew(self, lease_ms: int) -> None:
        # A fetch with retries can outlast one lease; a holder that dies stops renewing, and
        # its lock frees itself at most one lease later. Renewal also stops after
        # ``lock_wait``, so a lease its holder forgot to release (a task cancelled while the
        # lock was being taken) cannot block every other host for good.
        until = time.monotonic() + self._store.lock_wait
        while not self._stop.wait(self._store.lease / 3):
            if time.monotonic() >= until:
                logger.warning("the token refresh lock was held too long; no longer renewed")
                return
            try:
                kept = self._store._renew(keys=[self._key], args=[self._owner, lease_ms])
            except Exception:  # a Redis hiccup: the next round tries again
                logger.warning("could not renew the token refresh lock", exc_info=True)
                continue
            if not kept:
                logger.warning("the token refresh lock expired while held; another host has it")
                return

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self._store._release(keys=[self._key], args=[self._owner])
        except Exception:
            # The token is stored already; an unreleased lease frees itself within one lease.
            logger.warning("could not release the token refresh lock", exc_info=True)


class RedisTokenStore:
    """Tokens in Redis, shared by every process and host (needs the ``redis`` extra).

    Keys get ``prefix``; each entry expires with its token. ``refresh_lock`` is a lease under
    ``lock_prefix`` (default ``prefix + "refresh-lock:"``), renewed every ``lease / 3`` seconds
    while held; waiting longer than ``lock_wait`` seconds for it raises `TimeoutError`.
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "wxsegment:token:",
        lock_prefix: str | None = None,
        lease: float = DEFAULT_LEASE,
        lock_wait: float = DEFAULT_LOCK_WAIT,
    ) -> None:
        for name, value in (("lease", lease), ("lock_wait", lock_wait)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self._redis = redis
        self.prefix = prefix
        self.lock_prefix = prefix + "refresh-lock:" if lock_prefix is None else lock_prefix
        if self.lock_prefix == prefix:
            raise ValueError("lock_prefix must differ from prefix")
        self.lease = float(lease)
        self.lock_wait = float(lock_wait)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "wxsegment:token:",
        lock_prefix: str | None = None,
        lease: float = DEFAULT_LEASE,
        lock_wait: float = DEFAULT_LOCK_WAIT,
    ) -> RedisTokenStore:
        """Connect with ``redis.Redis.from_url``."""
        import redis

        return cls(
            redis.Redis.from_url(url),
            prefix=prefix,
            lock_prefix=lock_prefix,
            lease=lease,
            lock_wait=lock_wait,
        )

    def refresh_lock(self, key: str) -> AbstractContextManager[None]:
        """A lease in Redis that one host at a time holds while checking and fetching."""
        return _Lease(self, self.lock_prefix + key)

    def get(self, key: str) -> Token | None:
        """The stored token, or None."""
        raw = self._redis.get(self.prefix + key)
        if raw is None:
            return None
        try:
            return Token.from_json(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
        except (ValueError, KeyError, TypeError):
            return None

    def set(self, key: str, token: Token) -> None:
        """Store ``token``; Redis drops it when it expires."""
        ttl = max(1, int(token.expires_at - time.time()))
        self._redis.set(self.prefix + key, token.to_json(), ex=ttl)

    def __repr__(self) -> str:
        return f"RedisTokenStore(prefix={self.prefix!r})"
