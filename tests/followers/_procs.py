"""Child-process workers for the store's concurrency and crash tests (importable under spawn).

A *spec* names a backend and how to open it: ``("sqlite", path)`` or ``("postgres", dsn,
schema)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from wxsegment import Follower
from wxsegment.followers._base import SqlFollowerStore

AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)
KINDS: dict[str, Any] = {"batch": "int", "worker": "int"}
Spec = tuple[str, ...]


def open_store(spec: Spec) -> SqlFollowerStore:
    """Open the store a spec names."""
    if spec[0] == "sqlite":
        from wxsegment.followers import SQLiteFollowerStore

        return SQLiteFollowerStore(spec[1], attributes=KINDS)
    from wxsegment.followers import PostgresFollowerStore

    return PostgresFollowerStore(spec[1], schema=spec[2], attributes=KINDS)


def write_followers(spec: Spec, worker: int, shared: list[str], batches: int, size: int) -> None:
    """Upsert own followers in batches; tag and touch the shared followers between batches."""
    store = open_store(spec)
    try:
        for batch in range(batches):
            store.upsert(
                Follower(
                    f"w{worker}-{batch}-{i}",
                    AT,
                    tags={f"w{worker}"},
                    attributes={"batch": batch, "worker": worker},
                )
                for i in range(size)
            )
            store.add_tags(shared, [f"w{worker}"])
            store.touch(shared, at=AT + timedelta(seconds=worker * batches + batch))
    finally:
        store.close()


def import_until_killed(spec: Spec, committed: Any, size: int) -> None:
    """Import batches of ``size`` rows forever, publishing how many have committed."""
    store = open_store(spec)
    batch = 0
    while True:
        store.import_rows(
            {"openid": f"k{batch}-{i}", "subscribe_time": AT, "batch": batch} for i in range(size)
        )
        batch += 1
        committed.value = batch
