"""Fixtures running each client test with both `Client` and `AsyncClient` over a MockTransport."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.api._wechat import MiniWeChat
from wxsegment import FixedClock
from wxsegment.api import AsyncClient, Client, RetryPolicy

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


async def _collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Harness:
    """One client (sync or async) over a WeChat stand-in; `run` hides the difference."""

    def __init__(
        self, kind: str, wechat: Any, *, clock: FixedClock | None = None, **options: Any
    ) -> None:
        self.kind = kind
        self.wechat = wechat
        self.clock = clock or FixedClock(START)
        self.sleeps: list[float] = []
        options.setdefault("retry", RetryPolicy(attempts=4, initial=0.5, maximum=4, jitter=0.1))
        if kind == "sync":

            def sleep(seconds: float) -> None:
                self.sleeps.append(seconds)
                self.clock.advance(timedelta(seconds=seconds))

            self.client: Any = Client(
                wechat.appid,
                wechat.secret,
                http_client=httpx.Client(transport=httpx.MockTransport(wechat.handler)),
                clock=self.clock,
                sleep=sleep,
                **options,
            )
        else:

            async def asleep(seconds: float) -> None:
                self.sleeps.append(seconds)
                self.clock.advance(timedelta(seconds=seconds))

            self.client = AsyncClient(
                wechat.appid,
                wechat.secret,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler)),
                clock=self.clock,
                sleep=asleep,
                **options,
            )

    def run(self, action: Callable[[Any], Any]) -> Any:
        """Call ``action(client)``; await it or collect its iterator as needed."""
        result = action(self.client)
        if inspect.isawaitable(result):
            return asyncio.run(_await(result))
        if isinstance(result, AsyncIterator):
            return asyncio.run(_collect(result))
        if isinstance(result, Iterator):
            return list(result)
        return result


@pytest.fixture
def wechat() -> MiniWeChat:
    """A fresh in-memory WeChat."""
    return MiniWeChat()


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, wechat: MiniWeChat) -> Callable[..., Harness]:
    """Build a harness of the parametrized kind over ``wechat``."""
    return lambda **options: Harness(request.param, wechat, **options)


@pytest.fixture
def api(make: Callable[..., Harness]) -> Harness:
    """A harness with default options."""
    return make()
