"""The `make_store` fixture: one suite over the SQLite and PostgreSQL follower stores.

``make_store(**options)`` opens a store; every store one fixture instance opens shares one
database (one SQLite file, one fresh PostgreSQL schema dropped afterwards), so a test can open
the same data twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._services import PG_DSN, unreachable
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.followers._base import SqlFollowerStore

BACKENDS = ("sqlite", "postgres")

StoreFactory = Callable[..., SqlFollowerStore]


def drop_schema(schema: str) -> None:
    """Drop a PostgreSQL schema this test run created."""
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_or_skip() -> None:
    """Skip, saying why, when the PostgreSQL test server is unreachable."""
    reason = unreachable(PG_DSN)
    if reason:
        pytest.skip(f"PostgreSQL: {reason}")
    pytest.importorskip("psycopg")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    name: str = request.param
    if name == "postgres":
        postgres_or_skip()
    return name


@pytest.fixture
def make_store(backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of stores over one fresh database of ``backend``; all closed at the end."""
    made: list[SqlFollowerStore] = []
    schema = f"wxs_followers_{uuid.uuid4().hex[:12]}"

    def make(**options: Any) -> SqlFollowerStore:
        store: SqlFollowerStore
        if backend == "sqlite":
            store = SQLiteFollowerStore(tmp_path / "followers.sqlite3", **options)
        else:
            from wxsegment.followers import PostgresFollowerStore

            store = PostgresFollowerStore(PG_DSN, schema=schema, **options)
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            store.close()
        if backend == "postgres":
            drop_schema(schema)


@pytest.fixture
def store(make_store: StoreFactory) -> SqlFollowerStore:
    """A store declaring the default strategies' attributes (spend as a float)."""
    return make_store(
        attributes={"city": "str", "spend": "float", "member": "bool", "last_order_at": "datetime"}
    )
