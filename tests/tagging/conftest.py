"""Fixtures for the tagging tests: a FakeWeChat, a `Client` over it, scene strategies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
from hypothesis import strategies as st

from wxsegment import FixedClock
from wxsegment.api import Client
from wxsegment.tagging import Scene
from wxsegment.testing import FakeWeChat

START = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)

# Lone surrogates cannot be sent as UTF-8, so a tag name never holds one.
_unicode = st.characters(exclude_categories=("Cs",))
_ascii = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_. ")

tag_names = st.one_of(
    st.text(_ascii, min_size=1, max_size=12),
    st.text(_unicode, min_size=1, max_size=10).filter(lambda t: len(t.encode("utf-8")) <= 30),
)
fields = st.one_of(
    st.text(_ascii, min_size=1, max_size=10), st.text(_unicode, min_size=1, max_size=64)
)
scenes = st.builds(
    Scene,
    channel=fields,
    tags=st.frozensets(tag_names, max_size=20),
    referrer=st.none() | fields,
    store=st.none() | fields,
    activity=st.none() | fields,
)
#: Scenes small enough to fit inline more often than not.
small_scenes = st.builds(
    Scene,
    channel=st.text(_ascii, min_size=1, max_size=6),
    tags=st.frozensets(st.text(_ascii, min_size=1, max_size=5), max_size=4),
    referrer=st.none() | st.text(_ascii, min_size=1, max_size=4),
    store=st.none(),
    activity=st.none() | st.text(_unicode, min_size=1, max_size=2),
)


@pytest.fixture
def fake() -> FakeWeChat:
    """A fresh FakeWeChat on a fixed clock."""
    return FakeWeChat(clock=FixedClock(START))


@pytest.fixture
def client(fake: FakeWeChat) -> Iterator[Client]:
    """A blocking Client over the fake through httpx.MockTransport, never sleeping."""
    with Client(
        fake.appid,
        fake.secret,
        http_client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
        clock=fake.clock,
        sleep=lambda s: None,
    ) as c:
        yield c
