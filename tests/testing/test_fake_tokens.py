"""Tokens: classic and stable endpoints, expiry by the clock, rollover, credential errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.testing.conftest import APPID, SECRET, Wire, errcode
from wxsegment import FixedClock
from wxsegment.testing import FakeConfig, FakeWeChat


def classic(wire: Wire, **overrides: str) -> dict[str, object]:
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **overrides}
    return wire.get("/cgi-bin/token", token=False, **params)  # type: ignore[no-any-return]


def test_stable_token_shape_and_reuse(wire: Wire, clock: FixedClock) -> None:
    """stable_token returns the same token within validity, with the remaining expires_in."""
    first = wire.fetch_token()
    assert set(first) == {"access_token", "expires_in"}
    assert first["expires_in"] <= 7200
    clock.advance(timedelta(seconds=100))
    second = wire.fetch_token()
    assert second["access_token"] == first["access_token"]
    assert second["expires_in"] == first["expires_in"] - 100


def test_stable_token_rotates_near_expiry_and_old_still_works(
    wire: Wire, clock: FixedClock
) -> None:
    """Within 5 minutes of expiry a new stable token is issued; the old one lives to its end."""
    old = wire.token
    clock.advance(timedelta(seconds=7200 - 200))
    new = wire.fetch_token()["access_token"]
    assert new != old
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=old, token=False)) == 0
    clock.advance(timedelta(seconds=200))
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=old, token=False)) == 42001
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0


def test_token_expires_with_the_clock(wire: Wire, clock: FixedClock) -> None:
    """A token answers 42001 once its expires_in has elapsed on the injected clock."""
    clock.advance(timedelta(seconds=7199))
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0
    clock.advance(timedelta(seconds=1))
    assert errcode(wire.get("/cgi-bin/tags/get")) == 42001


def test_expire_tokens(wire: Wire) -> None:
    """expire_tokens() makes the next call answer 42001 and stable_token issue a new token."""
    old = wire.token
    wire.fake.expire_tokens()
    assert errcode(wire.get("/cgi-bin/tags/get")) == 42001
    assert wire.fetch_token()["access_token"] != old
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0


def test_force_refresh_invalidates_previous_and_is_limited(wire: Wire, clock: FixedClock) -> None:
    """force_refresh issues a new token, kills the previous one, and is spaced ≥ 30 s."""
    old = wire.token
    clock.advance(timedelta(seconds=31))
    new = wire.fetch_token(force_refresh=True)["access_token"]
    assert new != old
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=old, token=False)) == 40001
    assert errcode(wire.fetch_token(force_refresh=True)) == 45009
    clock.advance(timedelta(seconds=30))
    assert "access_token" in wire.fetch_token(force_refresh=True)


def test_force_refresh_daily_limit(wire: Wire, clock: FixedClock) -> None:
    """At most 20 forced refreshes per day; the next day allows more."""
    for _ in range(20):
        clock.advance(timedelta(seconds=31))
        assert "access_token" in wire.fetch_token(force_refresh=True)
    clock.advance(timedelta(seconds=31))
    assert errcode(wire.fetch_token(force_refresh=True)) == 45009
    clock.advance(timedelta(days=1))
    assert "access_token" in wire.fetch_token(force_refresh=True)


def test_classic_token_rollover_grace(wire: Wire, clock: FixedClock) -> None:
    """A new classic token leaves the previous one working for 5 minutes, then 40001."""
    first = classic(wire)
    assert first["expires_in"] == 7200
    second = classic(wire)
    assert second["access_token"] != first["access_token"]
    old = str(first["access_token"])
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=old, token=False)) == 0
    clock.advance(timedelta(seconds=300))
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=old, token=False)) == 40001
    latest = str(second["access_token"])
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=latest, token=False)) == 0


def test_classic_and_stable_are_independent(wire: Wire) -> None:
    """Fetching classic tokens never invalidates the stable token, and the reverse."""
    classic(wire)
    classic(wire)
    assert errcode(wire.get("/cgi-bin/tags/get")) == 0
    token = str(classic(wire)["access_token"])
    wire.fetch_token()
    assert errcode(wire.get("/cgi-bin/tags/get", access_token=token, token=False)) == 0


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"grant_type": "password"}, 40002),
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"appid": "wxother"}, 40013),
        ({"secret": "wrong"}, 40125),
    ],
)
def test_classic_credential_errors(wire: Wire, overrides: dict[str, str], code: int) -> None:
    """Bad grant_type, missing or wrong appid/secret answer their errcodes."""
    assert errcode(classic(wire, **overrides)) == code


def test_stable_token_credential_errors_and_method(wire: Wire) -> None:
    """stable_token checks credentials, the force_refresh type and requires POST."""
    assert errcode(wire.fetch_token(secret="nope")) == 40125
    assert errcode(wire.fetch_token(appid="wxother")) == 40013
    assert errcode(wire.fetch_token(grant_type="x")) == 40002
    assert errcode(wire.fetch_token(force_refresh="yes")) == 40035
    assert errcode(wire.get("/cgi-bin/stable_token", token=False)) == 43002


def test_bad_secret_errcode_is_configurable(clock: FixedClock) -> None:
    """Older WeChat answered 40001 to a wrong secret; FakeConfig can select it."""
    fake = FakeWeChat(clock=clock, secret=SECRET, config=FakeConfig(bad_secret_errcode=40001))
    assert errcode(classic(Wire(fake), secret="wrong")) == 40001


def test_token_errors_on_api_calls(wire: Wire) -> None:
    """Missing token 41001, malformed 40014, well-formed but unknown 40001."""
    assert errcode(wire.get("/cgi-bin/tags/get", token=False)) == 41001
    assert errcode(wire.get("/cgi-bin/tags/get", token=False, access_token="x!")) == 40014
    assert errcode(wire.get("/cgi-bin/tags/get", token=False, access_token="A" * 128)) == 40001


def test_token_ttl_configurable(clock: FixedClock) -> None:
    """token_ttl sets expires_in and the lifetime."""
    fake = FakeWeChat(
        clock=clock, secret=SECRET, config=FakeConfig(token_ttl=timedelta(minutes=10))
    )
    wire = Wire(fake)
    assert wire.fetch_token()["expires_in"] == 600
    clock.advance(timedelta(seconds=600))
    assert errcode(wire.get("/cgi-bin/tags/get")) == 42001


def test_secrets_redacted_in_calls(wire: Wire) -> None:
    """Recorded calls never hold the secret or the access token."""
    classic(wire)
    wire.get("/cgi-bin/tags/get")
    text = repr(wire.fake.calls) + repr(wire.fake)
    assert SECRET not in text
    assert wire.token not in text


def test_config_validation() -> None:
    """FakeConfig refuses negative durations, out-of-range limits and unknown variants."""
    with pytest.raises(ValueError, match="negative"):
        FakeConfig(token_ttl=-1)
    with pytest.raises(TypeError):
        FakeConfig(latency="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mass_per_minute"):
        FakeConfig(mass_per_minute=0)
    with pytest.raises(TypeError, match="max_tags"):
        FakeConfig(max_tags=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="last_page_next_openid"):
        FakeConfig(last_page_next_openid="never")  # type: ignore[arg-type]
    assert FakeConfig(latency=timedelta(milliseconds=20)).latency == 0.02
