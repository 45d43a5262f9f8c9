"""Reachability of the PostgreSQL and Redis servers used by integration tests.

Tests that need a server skip only when it is unreachable, and say so in the skip reason.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlsplit

PG_DSN = os.environ.get("WXSEGMENT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WXSEGMENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@functools.cache
def unreachable(url: str) -> str | None:
    """None when a TCP connection to the URL's host and port succeeds, else the reason."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5432 if parts.scheme.startswith("postgres") else 6379)
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as error:
        return f"server at {host}:{port} is unreachable ({error})"
