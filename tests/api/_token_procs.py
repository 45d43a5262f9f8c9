"""Child-process workers for the cross-process token tests (importable under spawn)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wxsegment.api import AsyncClient, Client, RedisTokenStore


def refresh_rounds(
    setup: dict[str, Any], asynchronous: bool, barrier: Any, rounds: int, results: Any
) -> None:
    """Each round, wait for the others, make one API call, then wait again; report errors.

    Between rounds the parent expires every token, so each round needs one fresh token.
    """
    if setup["cluster"]:
        from redis.cluster import RedisCluster

        store = RedisTokenStore(RedisCluster.from_url(setup["redis_url"]), prefix=setup["prefix"])
    else:
        store = RedisTokenStore.from_url(setup["redis_url"], prefix=setup["prefix"])
    args = (setup["appid"], setup["secret"])
    options = {"base_url": setup["base_url"], "token_store": store}
    failure = None
    try:
        if asynchronous:

            async def main() -> None:
                async with AsyncClient(
                    *args, token_endpoint=setup["endpoint"], **options
                ) as client:
                    for _ in range(rounds):
                        await asyncio.to_thread(barrier.wait, 60)
                        await client.tags.list()
                        await asyncio.to_thread(barrier.wait, 60)

            asyncio.run(main())
        else:
            with Client(*args, token_endpoint=setup["endpoint"], **options) as client:
                for _ in range(rounds):
                    barrier.wait(60)
                    client.tags.list()
                    barrier.wait(60)
    except Exception as error:  # reported to the parent, which fails the test
        failure = f"{type(error).__name__}: {error}"
        barrier.abort()
    results.put(failure)


def hold_lock(redis_url: str, prefix: str, key: str, lease: float, ready: Any) -> None:
    """Take the refresh lock, say so, and hold it until killed."""
    store = RedisTokenStore.from_url(redis_url, prefix=prefix, lease=lease)
    with store.refresh_lock(key):
        ready.set()
        time.sleep(3600)
