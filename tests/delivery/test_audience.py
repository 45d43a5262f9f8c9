"""resolve_audience: a segment over followers or a SegmentIndex gives the same openids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wxsegment import Follower
from wxsegment.delivery import resolve_audience
from wxsegment.segment import attr, tag

from .conftest import START

FOLLOWERS = [
    Follower(
        openid=f"o{i:03d}",
        subscribe_time=START - timedelta(days=10 * i),
        tags=frozenset({"vip"} if i % 3 == 0 else set()),
        attributes={"spend": i * 10},
    )
    for i in range(60)
]
SEGMENT = tag("vip") & (attr("spend") >= 100) & attr("subscribe_time").within(timedelta(days=400))


def test_followers_and_index_agree_with_a_direct_filter() -> None:
    """Both sources give the sorted openids a plain filter computes."""
    expected = sorted(
        f.openid
        for f in FOLLOWERS
        if "vip" in f.tags
        and int(f.attributes["spend"]) >= 100  # type: ignore[call-overload]
        and START - f.subscribe_time <= timedelta(days=400)
    )
    assert expected
    assert resolve_audience(SEGMENT, FOLLOWERS, now=START) == expected
    pytest.importorskip("pyroaring")
    from wxsegment.segment import SegmentIndex

    index = SegmentIndex.build(FOLLOWERS)
    assert resolve_audience(SEGMENT, index, now=START) == expected


def test_resolve_audience_refuses_bad_sources() -> None:
    """A string, non-followers or a naive now raise typed errors."""
    with pytest.raises(TypeError):
        resolve_audience(SEGMENT, "o1", now=START)
    with pytest.raises(TypeError):
        resolve_audience(SEGMENT, ["o1"], now=START)
    with pytest.raises(ValueError, match="aware"):
        resolve_audience(SEGMENT, FOLLOWERS, now=START.replace(tzinfo=None))
