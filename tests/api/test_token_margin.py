"""Tokens inside the refresh margin: stable_token's unchanged answer is not asked for per call."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import FileTokenStore, MemoryTokenStore, Token
from wxsegment.api._core import TOKEN_RECHECK_INTERVAL
from wxsegment.testing import FakeWeChat

STABLE = "/cgi-bin/stable_token"
TTL = 7200.0
MARGIN = 600.0


def _stable_calls(fake: FakeWeChat) -> int:
    return sum(c.path == STABLE for c in fake.calls)


def _advance_to_remaining(clock: FixedClock, fake: FakeWeChat, remaining: float) -> None:
    """Move the clock to ``remaining`` seconds before the first token's expiry."""
    first = next(c.at for c in fake.calls if c.path == STABLE)
    clock.advance(first + timedelta(seconds=TTL - remaining) - clock.now())


def test_same_token_inside_margin_is_fetched_once(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """Six calls inside the margin, while stable_token returns the same token, ask it once."""
    api = make(token_margin=MARGIN)
    api.run(lambda c: c.tags.list())
    first = api.run(lambda c: c.access_token())
    _advance_to_remaining(clock, fake, MARGIN - 10)
    for _ in range(6):
        api.run(lambda c: c.tags.list())
        clock.advance(timedelta(seconds=5))
    assert _stable_calls(fake) == 2
    assert api.run(lambda c: c.access_token()) == first
    assert not any(c.errcode for c in fake.calls)


def test_walk_through_margin_picks_up_the_rotated_token(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """Calls every 10 s through the margin ask stable_token at most once per recheck interval."""
    api = make(token_margin=MARGIN)
    api.run(lambda c: c.tags.list())
    first = api.run(lambda c: c.access_token())
    _advance_to_remaining(clock, fake, MARGIN + 50)
    calls = 0
    while clock.now() < next(c.at for c in fake.calls if c.path == STABLE) + timedelta(
        seconds=TTL - 10
    ):
        api.run(lambda c: c.tags.list())
        calls += 1
        clock.advance(timedelta(seconds=10))
    # One initial fetch, then at most one per recheck interval across the margin.
    budget = 1 + math.ceil(MARGIN / TOKEN_RECHECK_INTERVAL)
    assert 2 <= _stable_calls(fake) <= budget < calls
    # WeChat rotates about five minutes before expiry; the client ends on the new token.
    assert api.run(lambda c: c.access_token()) != first
    assert not any(c.errcode for c in fake.calls)
    assert not any(c.json["force_refresh"] for c in fake.calls if c.path == STABLE)


def test_cold_client_inside_margin_fetches_once(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """A new client whose first token is already inside the margin does not re-ask per call."""
    make(token_margin=MARGIN).run(lambda c: c.tags.list())
    _advance_to_remaining(clock, fake, MARGIN - 100)
    late = make(token_margin=MARGIN)
    for _ in range(5):
        late.run(lambda c: c.tags.list())
        clock.advance(timedelta(seconds=3))
    assert _stable_calls(fake) == 2
    assert not any(c.errcode for c in fake.calls)


def test_refused_token_inside_margin_is_force_refreshed(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock
) -> None:
    """A token refused while trusted inside the margin is still refreshed, forced, and replayed."""
    api = make(token_margin=MARGIN)
    api.run(lambda c: c.tags.list())
    first = api.run(lambda c: c.access_token())
    _advance_to_remaining(clock, fake, MARGIN - 10)
    api.run(lambda c: c.tags.list())
    fake.inject("token_invalid", path="/cgi-bin/tags/get")
    assert api.run(lambda c: c.tags.list()) is not None
    bodies = [c.json for c in fake.calls if c.path == STABLE]
    assert [b["force_refresh"] for b in bodies] == [False, False, False, True]
    assert [c.errcode for c in fake.calls if c.path == "/cgi-bin/tags/get"] == [
        None,
        None,
        40001,
        None,
    ]
    assert api.run(lambda c: c.access_token()) != first


def test_trusted_token_is_shared_through_a_store(
    make: Callable[..., Harness], fake: FakeWeChat, clock: FixedClock, tmp_path: Path
) -> None:
    """A token one client just re-fetched inside the margin is used by another via the store."""
    store = FileTokenStore(tmp_path / "tokens")
    one = make(token_margin=MARGIN, token_store=store)
    one.run(lambda c: c.tags.list())
    _advance_to_remaining(clock, fake, MARGIN - 10)
    one.run(lambda c: c.tags.list())
    two = make(token_margin=MARGIN, token_store=store)
    for _ in range(3):
        two.run(lambda c: c.tags.list())
    assert _stable_calls(fake) == 2


def test_stored_format_stays_compatible() -> None:
    """Two-key tokens from earlier versions load with the margin rule; new ones keep both keys."""
    loaded = Token.from_json('{"access_token": "abc", "expires_at": 1000.0}')
    assert loaded == Token("abc", 1000.0)
    assert loaded.fetched_at is None
    assert not loaded.usable(950.0, 100.0)
    assert loaded.usable(899.0, 100.0)
    # Earlier versions read only these two keys and ignore the rest.
    data = json.loads(Token("abc", 1000.0, 900.0).to_json())
    assert (data["access_token"], data["expires_at"], data["fetched_at"]) == ("abc", 1000.0, 900.0)


finite = st.floats(min_value=0, max_value=4e9, allow_nan=False)


@given(value=st.text(min_size=1), expires_at=finite, fetched_at=st.none() | finite)
def test_token_json_round_trips(value: str, expires_at: float, fetched_at: float | None) -> None:
    """to_json/from_json keep value, expiry and fetch time, in files and in memory."""
    token = Token(value, expires_at, fetched_at)
    assert Token.from_json(token.to_json()) == token
    store = MemoryTokenStore()
    store.set("k", token)
    assert store.get("k") == token


@given(
    expires_at=finite,
    fetched_at=st.none() | finite,
    now=finite,
    margin=st.floats(min_value=0, max_value=1e4),
)
def test_usable_never_outlives_expiry(
    expires_at: float, fetched_at: float | None, now: float, margin: float
) -> None:
    """A fresh token is usable; no token is usable at or after its expiry."""
    token = Token("t", expires_at, fetched_at)
    if token.fresh(now, margin):
        assert token.usable(now, margin)
    if now >= expires_at:
        assert not token.usable(now, margin)
    if fetched_at is None:
        assert token.usable(now, margin) == token.fresh(now, margin)
