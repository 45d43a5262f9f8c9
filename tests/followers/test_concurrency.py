"""Several processes write one store at once; a SIGKILL mid-import loses nothing committed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests._services import PG_DSN
from tests.followers import _procs
from tests.followers.conftest import drop_schema, postgres_or_skip
from wxsegment import Follower
from wxsegment.segment import attr, tag

WORKERS = 4
BATCHES = 5
SIZE = 200


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_procs.Spec]:
    """Where the processes meet: one SQLite file or one fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield ("sqlite", str(tmp_path / "shared.sqlite3"))
        return
    postgres_or_skip()
    schema = f"wxs_followers_{uuid.uuid4().hex[:12]}"
    try:
        yield ("postgres", PG_DSN, schema)
    finally:
        drop_schema(schema)


@pytest.mark.slow
def test_concurrent_writers_stay_consistent(spec: _procs.Spec) -> None:
    """Four processes' upserts, tag changes and touches all land, none lost or doubled."""
    store = _procs.open_store(spec)
    try:
        shared = [f"shared-{i}" for i in range(50)]
        store.upsert(Follower(o, _procs.AT) for o in shared)
        context = multiprocessing.get_context("spawn")
        children = [
            context.Process(target=_procs.write_followers, args=(spec, w, shared, BATCHES, SIZE))
            for w in range(WORKERS)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=240)
            assert child.exitcode == 0
        assert len(store) == len(shared) + WORKERS * BATCHES * SIZE
        latest = _procs.AT + timedelta(seconds=WORKERS * BATCHES - 1)
        for worker in range(WORKERS):
            own = attr("worker") == worker
            assert store.count(own, now=_procs.AT) == BATCHES * SIZE
            assert store.count(tag(f"w{worker}"), now=_procs.AT) == BATCHES * SIZE + len(shared)
        for openid in shared:
            follower = store.get(openid)
            assert follower is not None
            assert follower.tags == {f"w{w}" for w in range(WORKERS)}
            assert follower.last_interaction_at == latest
        index = store.index()
        assert index.count(tag("w0") & tag("w3"), now=_procs.AT) == len(shared)
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_mid_import_loses_nothing_committed(spec: _procs.Spec) -> None:
    """Every batch that committed is whole; the batch being written is whole or absent."""
    size = 20_000
    store = _procs.open_store(spec)
    context = multiprocessing.get_context("spawn")
    committed = context.Value("i", 0)
    child = context.Process(target=_procs.import_until_killed, args=(spec, committed, size))
    child.start()
    try:
        deadline = time.monotonic() + 120
        while committed.value < 2:
            assert child.is_alive(), "the child ended before importing"
            assert time.monotonic() < deadline, "the child never committed an import"
            time.sleep(0.01)
        time.sleep(0.05)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        done = committed.value
        for batch in range(done + 2):
            present = store.count(attr("batch") == batch, now=_procs.AT)
            if batch < done:
                assert present == size, f"committed batch {batch} is incomplete"
            else:
                assert present in (0, size), f"batch {batch} is partly written"
        assert len(store) % size == 0
        store.import_rows([{"openid": "after", "subscribe_time": _procs.AT}])
        assert store.get("after") is not None
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        store.close()
