"""Where access tokens are kept between calls, and between processes.

A `TokenStore` maps a key (one per appid and token kind) to a `Token`. `MemoryTokenStore` is
the per-client default; `FileTokenStore` lets several processes on one host share one token
(a lock file serializes writers, each write atomically replaces the file, mode 0600);
`RedisTokenStore` does the same across hosts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from wxsegment.api._core import Token

__all__ = [
    "FileTokenStore",
    "MemoryTokenStore",
    "RedisTokenStore",
    "SharedTokenStore",
    "TokenStore",
]


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


class MemoryTokenStore:
    """Tokens in this process's memory (the default)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

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


class RedisTokenStore:
    """Tokens in Redis, shared by every process and host (needs the ``redis`` extra).

    Keys get ``prefix``; each entry expires with its token.
    """

    def __init__(self, redis: Any, *, prefix: str = "wxsegment:token:") -> None:
        self._redis = redis
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "wxsegment:token:") -> RedisTokenStore:
        """Connect with ``redis.Redis.from_url``."""
        import redis

        return cls(redis.Redis.from_url(url), prefix=prefix)

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
        import time

        ttl = max(1, int(token.expires_at - time.time()))
        self._redis.set(self.prefix + key, token.to_json(), ex=ttl)

    def __repr__(self) -> str:
        return f"RedisTokenStore(prefix={self.prefix!r})"
