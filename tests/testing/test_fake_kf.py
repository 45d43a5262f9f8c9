"""FakeWeChat's customer-service account endpoints on the wire."""

from __future__ import annotations

import pytest

from tests.testing.conftest import Wire, errcode
from wxsegment.testing import FakeConfig

ADD = "/customservice/kfaccount/add"


def test_delete_by_post_json_or_legacy_get(wire: Wire) -> None:
    """kfaccount/del accepts the documented POST JSON and the GET ?kf_account= of old SDKs."""
    for prefix in ("a", "b"):
        assert (
            errcode(wire.post(ADD, {"kf_account": f"{prefix}@fakeaccount", "nickname": "n"})) == 0
        )
    assert errcode(wire.post("/customservice/kfaccount/del", {"kf_account": "a@fakeaccount"})) == 0
    assert errcode(wire.get("/customservice/kfaccount/del", kf_account="b@fakeaccount")) == 0
    assert wire.get("/cgi-bin/customservice/getkflist") == {"kf_list": []}


def test_nickname_over_16_characters(wire: Wire) -> None:
    """A nickname longer than 16 characters answers 65403."""
    body = {"kf_account": "a@fakeaccount", "nickname": "客" * 17}
    assert errcode(wire.post(ADD, body)) == 65403


@pytest.mark.parametrize("config", [FakeConfig(max_kf_accounts=2)])
def test_account_count_limit(wire: Wire) -> None:
    """Beyond max_kf_accounts, add answers 65405."""
    codes = [
        errcode(wire.post(ADD, {"kf_account": f"k{n}@fakeaccount", "nickname": "n"}))
        for n in range(3)
    ]
    assert codes == [0, 0, 65405]
