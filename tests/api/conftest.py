"""Fixtures running each client test with both `Client` and `AsyncClient` against `FakeWeChat`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from wxsegment import FixedClock
from wxsegment.api import AsyncClient, Client, RetryPolicy
from wxsegment.testing import FakeConfig, FakeWeChat

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


async def _collect(iterator: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in iterator]


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Harness:
    """One client (sync or async) over a WeChat's handler; `run` hides the difference.

    Sleeps are recorded and advance the shared clock instead of waiting.
    """

    def __init__(
        self,
        kind: str,
        wechat: Any,
        *,
        clock: FixedClock | None = None,
        secret: str | None = None,
        **options: Any,
    ) -> None:
        self.kind = kind
        self.wechat = wechat
        self.clock = clock or FixedClock(START)
        self.sleeps: list[float] = []
        options.setdefault("retry", RetryPolicy(attempts=4, initial=0.5, maximum=4, jitter=0.1))
        transport = httpx.MockTransport(wechat.handler)
        secret = wechat.secret if secret is None else secret
        if kind == "sync":

            def sleep(seconds: float) -> None:
                self.sleeps.append(seconds)
                self.clock.advance(timedelta(seconds=seconds))

            self.client: Any = Client(
                wechat.appid,
                secret,
                http_client=httpx.Client(transport=transport),
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
                secret,
                http_client=httpx.AsyncClient(transport=transport),
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
def clock() -> FixedClock:
    """One clock for the fake and the client."""
    return FixedClock(START)


@pytest.fixture
def config() -> FakeConfig:
    """Small pages, so paging is exercised with few followers."""
    return FakeConfig(user_page_size=7, tag_members_page_size=5)


@pytest.fixture
def fake(clock: FixedClock, config: FakeConfig) -> FakeWeChat:
    """A fresh FakeWeChat on the shared clock."""
    return FakeWeChat(appid="wxfake0000000001", secret="fake-secret", clock=clock, config=config)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """The client kind under test: ``sync`` or ``async``."""
    return str(request.param)


@pytest.fixture
def make(kind: str, fake: FakeWeChat, clock: FixedClock) -> Callable[..., Harness]:
    """Build a harness of the parametrized kind over ``fake`` (options go to the client)."""
    return lambda **options: Harness(kind, fake, clock=clock, **options)


@pytest.fixture
def api(make: Callable[..., Harness]) -> Harness:
    """A harness with default options."""
    return make()
