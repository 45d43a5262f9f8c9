"""`store.index()` column readers on the edge cases the bulk path has of its own."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.followers.conftest import StoreFactory
from tests.followers.test_conformance import NOW, STORE_SETTINGS, reset
from wxsegment import Follower
from wxsegment.segment import Segment, attr, tag

KINDS = {"level": "int", "flag": "bool", "city": "str", "seen": "datetime", "spend": "float"}
EXTREMES = [2**53 + 1, -(2**60), -(2**63), 2**63 - 1]
LEVELS = st.none() | st.integers(-5, 5) | st.sampled_from(EXTREMES)
AUDIENCES: tuple[Segment, ...] = (
    attr("level") >= 3,
    attr("level") == 2**53 + 1,
    attr("level") < -(2**59),
    attr("level").exists(),
    ~attr("level").exists(),
    attr("flag") == True,  # noqa: E712 - a segment, not a comparison
    attr("flag") == False,  # noqa: E712
    attr("flag").exists(),
    attr("city").isin(["杭州", "a"]),
    attr("seen").within(timedelta(days=2)),
    attr("spend") > 1.5,
    tag("t"),
    tag("u"),
)


@STORE_SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            LEVELS,
            st.none() | st.booleans(),
            st.none() | st.sampled_from(["杭州", "a", "b"]),
            st.none() | st.integers(0, 4),
            st.none() | st.floats(-3, 3),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_typed_columns_with_gaps_and_huge_ints_agree_with_sql(
    make_store: StoreFactory,
    rows: list[tuple[int | None, bool | None, str | None, int | None, float | None, bool]],
) -> None:
    """Ints with gaps (NaN-marked or, past 2**53, kept as Python ints), bools with gaps."""
    store = make_store(attributes=KINDS)
    reset(store)
    followers = []
    for number, (level, flag, city, days, spend, tagged) in enumerate(rows):
        values = {"level": level, "flag": flag, "city": city, "spend": spend}
        if days is not None:
            values["seen"] = NOW - timedelta(days=days)
        present = {name: value for name, value in values.items() if value is not None}
        followers.append(
            Follower(f"o{number}", NOW, tags={"t"} if tagged else set(), attributes=present)
        )
    # Stored out of openid order ("o10" sorts before "o2"), then the first ones again.
    store.upsert(followers)
    store.upsert(followers[: len(followers) // 2])
    # Tags recorded ahead of the follower, for openids longer than any stored one.
    store.add_tags(["o-not-stored-yet-and-longer-than-all"], ["t", "u"])
    index = store.index()
    assert len(index) == len(followers)
    for audience in AUDIENCES:
        expected = store.select(audience, now=NOW)
        # Rows in openid order, whatever order the followers went in.
        assert index.evaluate(audience, now=NOW).openids() == expected
