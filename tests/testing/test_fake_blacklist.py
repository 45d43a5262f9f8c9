"""FakeWeChat's blacklist endpoints on the wire."""

from __future__ import annotations

from tests.testing.conftest import Wire, errcode

BLOCK = "/cgi-bin/tags/members/batchblacklist"


def test_more_than_20_openids_answer_40032(wire: Wire) -> None:
    """batchblacklist refuses 21 openids (and an empty list) with 40032."""
    assert errcode(wire.post(BLOCK, {"openid_list": ["oA"] * 21})) == 40032
    assert errcode(wire.post(BLOCK, {"openid_list": []})) == 40032


def test_getblacklist_shape(wire: Wire) -> None:
    """getblacklist answers total, count, data.openid and next_openid like user/get."""
    assert errcode(wire.post(BLOCK, {"openid_list": ["oA", "oB"]})) == 0
    answer = wire.post("/cgi-bin/tags/members/getblacklist", {"begin_openid": ""})
    assert answer == {"total": 2, "count": 2, "data": {"openid": ["oA", "oB"]}, "next_openid": "oB"}
    after = wire.post("/cgi-bin/tags/members/getblacklist", {"begin_openid": "oB"})
    assert after == {"total": 2, "count": 0, "next_openid": ""}
