"""Tests of the shared value types: `Follower` and the clock helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment import SHANGHAI, FixedClock, Follower, month_key, month_start
from wxsegment._model import check_value

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


_NAIVE = datetime(2026, 1, 1)
_ZONED = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


class _Text(str):
    """A str subclass: accepted, through the general path."""


_names = st.one_of(
    st.sampled_from(["city", "spend", "vip", "", "openid", "tags", "subscribe_time", 7]),
    st.text(max_size=3),
)
_values = st.one_of(
    st.sampled_from(
        [
            "杭州",
            _Text("x"),
            0,
            2**70,
            True,
            1.5,
            -0.0,
            float("nan"),
            float("inf"),
            NOW,
            NOW.astimezone(SHANGHAI),
            _ZONED,
            _NAIVE,
            None,
            ["a"],
            b"a",
        ]
    ),
    st.floats(),
    st.integers(),
)


def _reference_error(tags: list[object], attributes: dict[object, object]) -> str | None:
    """What the straightforward validation reports first, as ``"Type: message"``."""
    try:
        for name in frozenset(tags):
            if not isinstance(name, str) or not name:
                raise ValueError(f"tag names must be non-empty strings, got {name!r}")
        for name, value in attributes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"attribute names must be non-empty strings, got {name!r}")
            if name in {"openid", "unionid", "subscribe_time", "last_interaction_at", "tags"}:
                reserved = f"attribute name {name!r} is reserved for a built-in follower field"
                raise ValueError(reserved)
            check_value(value, f"attribute {name!r}")
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@given(
    tags=st.lists(st.one_of(st.sampled_from(["vip", "", 3, _Text("t")]), st.text(max_size=2))),
    attributes=st.dictionaries(_names, _values, max_size=4),
    frozen=st.booleans(),
)
def test_follower_validation_agrees_with_the_reference(
    tags: list[object], attributes: dict[object, object], frozen: bool
) -> None:
    """Follower accepts and refuses exactly what item-by-item validation does, same error."""
    expected = _reference_error(tags, attributes)
    outcome: Follower | str
    try:
        outcome = Follower(
            "o1",
            NOW,
            tags=frozenset(tags) if frozen else tags,  # type: ignore[arg-type]
            attributes=attributes,  # type: ignore[arg-type]
        )
    except (TypeError, ValueError) as error:
        outcome = f"{type(error).__name__}: {error}"
    if expected is not None:
        assert outcome == expected
        return
    assert isinstance(outcome, Follower)
    follower = outcome
    assert expected is None
    assert follower.tags == frozenset(tags)
    assert dict(follower.attributes) == attributes
    assert type(follower.attributes) is MappingProxyType


@pytest.mark.parametrize("when", [NOW, NOW.astimezone(SHANGHAI), _ZONED])
def test_follower_accepts_aware_datetimes_of_any_tzinfo(when: datetime) -> None:
    """Fixed-offset and zoneinfo datetimes are accepted in every datetime field."""
    follower = Follower("o1", when, attributes={"at": when}, last_interaction_at=when)
    assert follower.subscribe_time == follower.last_interaction_at == follower.value("at") == when


def test_follower_rejects_naive_last_interaction_and_bad_types() -> None:
    """A naive last_interaction_at is a ValueError; a non-datetime subscribe_time a TypeError."""
    with pytest.raises(ValueError, match="last_interaction_at must be timezone-aware"):
        Follower("o1", NOW, last_interaction_at=_NAIVE)
    with pytest.raises(TypeError, match="subscribe_time must be a datetime"):
        Follower("o1", "2026-01-01")  # type: ignore[arg-type]


def test_follower_keeps_attrs_introspection_and_evolve() -> None:
    """attrs sees the same fields; evolve re-validates and equality ignores argument form."""
    assert [field.name for field in attrs.fields(Follower)] == [
        "openid",
        "subscribe_time",
        "tags",
        "attributes",
        "unionid",
        "last_interaction_at",
    ]
    follower = Follower("o1", NOW, ["a"], {"city": "杭州"}, "u1", NOW)
    assert attrs.evolve(follower) == follower
    assert Follower("o1", NOW, frozenset({"a"}), {"city": "杭州"}, "u1", NOW) == follower
    with pytest.raises(ValueError, match="reserved"):
        attrs.evolve(follower, attributes={"openid": "x"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        follower.openid = "o2"  # type: ignore[misc]


def test_follower_pickles_and_copies() -> None:
    """A follower survives pickle and copy (for multiprocessing and job queues) unchanged."""
    import copy
    import pickle

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    fan = Follower(
        "o1",
        when,
        tags={"90后"},
        attributes={"city": "杭州", "spend": 1.5, "vip": True, "at": when},
        unionid="u1",
        last_interaction_at=when,
    )
    for clone in (pickle.loads(pickle.dumps(fan)), copy.copy(fan), copy.deepcopy(fan)):
        assert clone == fan
        assert dict(clone.attributes) == dict(fan.attributes)
        assert clone.unionid == "u1"


@pytest.mark.parametrize("bits", [4097, 20_000])
def test_integers_beyond_the_bound_are_refused(bits: int) -> None:
    """Integers wider than MAX_INT_BITS are a ValueError for attributes and segment constants."""
    from wxsegment._model import MAX_INT_BITS
    from wxsegment.segment import attr

    assert bits > MAX_INT_BITS
    huge = -(2 ** (bits - 1))
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="bits"):
        Follower("o1", when, attributes={"spend": huge})
    with pytest.raises(ValueError, match="bits"):
        attr("spend") == huge  # noqa: B015


def test_integers_at_the_bound_render_and_round_trip() -> None:
    """The widest accepted integer renders, parses back and survives JSON."""
    from wxsegment._model import MAX_INT_BITS
    from wxsegment.segment import attr, from_json, parse, render, to_json

    widest = 2**MAX_INT_BITS - 1
    segment = attr("spend") >= widest
    assert parse(render(segment)) == segment
    assert from_json(to_json(segment)) == segment
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert Follower("o1", when, attributes={"spend": widest}).value("spend") == widest
