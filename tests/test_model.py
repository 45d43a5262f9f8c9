"""Tests of the shared value types: `Follower` and the clock helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from wxsegment import SHANGHAI, FixedClock, Follower, month_key, month_start

NOW = datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)


def test_follower_rejects_naive_subscribe_time() -> None:
    """A naive subscribe_time is a ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Follower("o1", datetime(2026, 1, 1))


def test_follower_rejects_naive_attribute_datetime() -> None:
    """A naive datetime attribute is a ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Follower("o1", NOW, attributes={"last_order_at": datetime(2026, 1, 1)})


def test_follower_rejects_unsupported_attribute_type() -> None:
    """Attribute values outside str/int/float/bool/datetime are a TypeError."""
    with pytest.raises(TypeError, match="unsupported value type"):
        Follower("o1", NOW, attributes={"cities": ["杭州"]})  # type: ignore[dict-item]


def test_follower_rejects_nan_and_reserved_names() -> None:
    """NaN values and attributes shadowing built-in fields are ValueErrors."""
    with pytest.raises(ValueError, match="finite"):
        Follower("o1", NOW, attributes={"spend": float("nan")})
    with pytest.raises(ValueError, match="reserved"):
        Follower("o1", NOW, attributes={"subscribe_time": NOW})


def test_follower_rejects_empty_openid_and_string_tags() -> None:
    """An empty openid or a bare string as tags is refused."""
    with pytest.raises(ValueError, match="openid"):
        Follower("", NOW)
    with pytest.raises(TypeError, match="single string"):
        Follower("o1", NOW, tags="vip")  # type: ignore[arg-type]


def test_follower_is_frozen_hashable_and_copies_attributes() -> None:
    """Followers are immutable: later changes to the caller's dict do not leak in."""
    attributes: dict[str, str | int | float | bool | datetime] = {"city": "杭州"}
    follower = Follower("o1", NOW, tags=["vip"], attributes=attributes)
    attributes["city"] = "上海"
    assert follower.value("city") == "杭州"
    assert follower.tags == frozenset({"vip"})
    assert hash(follower) == hash(Follower("o1", NOW, tags=["vip"], attributes={"city": "杭州"}))
    with pytest.raises(TypeError):
        follower.attributes["city"] = "北京"  # type: ignore[index]


def test_follower_value_reads_builtin_fields() -> None:
    """Built-in fields are readable by name like attributes; missing ones are None."""
    follower = Follower("o1", NOW, unionid="u1")
    assert follower.value("subscribe_time") == NOW
    assert follower.value("openid") == "o1"
    assert follower.value("unionid") == "u1"
    assert follower.value("last_interaction_at") is None
    assert follower.value("city") is None


def test_month_key_uses_shanghai_time() -> None:
    """16:00 UTC on Jan 31 is already February 1st in Asia/Shanghai."""
    assert month_key(NOW) == "2026-02"
    assert month_key(NOW - timedelta(seconds=1)) == "2026-01"
    assert month_start(NOW) == datetime(2026, 2, 1, tzinfo=SHANGHAI)


def test_month_key_rejects_naive() -> None:
    """month_key refuses naive datetimes."""
    with pytest.raises(ValueError, match="timezone-aware"):
        month_key(datetime(2026, 1, 1))


def test_fixed_clock_moves_only_when_told() -> None:
    """FixedClock returns its instant until advanced or set."""
    clock = FixedClock(NOW)
    assert clock.now() == NOW
    assert clock.advance(timedelta(hours=1)) == NOW + timedelta(hours=1)
    clock.set(NOW)
    assert clock.now() == NOW
