"""wechatpy 1.8.18, driven against FakeWeChat, gets the shapes its own code expects.

wechatpy builds its own ``requests.Session``; a transport adapter hands each request to the
fake's handler, so nothing listens on a socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.testing.conftest import APPID, SECRET
from wxsegment import FixedClock
from wxsegment.testing import FakeWeChat

requests = pytest.importorskip("requests", reason="wechatpy needs requests")
wechatpy = pytest.importorskip("wechatpy", reason="wechatpy is in the bench extra")
from requests.adapters import BaseAdapter  # noqa: E402
from requests.structures import CaseInsensitiveDict  # noqa: E402
from wechatpy.exceptions import WeChatClientException  # noqa: E402

YESTERDAY = date(2026, 5, 19)


class FakeAdapter(BaseAdapter):  # type: ignore[misc]
    """A requests transport adapter answering from a FakeWeChat."""

    def __init__(self, fake: FakeWeChat) -> None:
        super().__init__()
        self.fake = fake

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        answer = self.fake.handler(httpx.Request(request.method, request.url, content=body))
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(answer.headers)
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def client(fake: FakeWeChat) -> Iterator[Any]:
    """A wechatpy client whose HTTP goes to the fake."""
    wechat = wechatpy.WeChatClient(APPID, SECRET)
    wechat._http.mount("https://", FakeAdapter(fake))
    yield wechat
    wechat._http.close()


def test_datacube_methods(client: Any, fake: FakeWeChat, clock: FixedClock) -> None:
    """Every wechatpy datacube method gets a list of rows with the keys WeChat documents."""
    week = YESTERDAY - timedelta(days=6)
    summary = client.datacube.get_user_summary(week, YESTERDAY)
    assert {"ref_date", "user_source", "new_user", "cancel_user"} <= set(summary[0])
    cumulate = client.datacube.get_user_cumulate(week, YESTERDAY)
    assert [row["ref_date"] for row in cumulate][-1] == "2026-05-19"
    for name, begin in [
        ("get_interface_summary", week),
        ("get_interface_summary_hour", YESTERDAY),
        ("get_article_summary", YESTERDAY),
        ("get_article_total", YESTERDAY),
        ("get_user_read", YESTERDAY - timedelta(days=2)),
        ("get_user_read_hour", YESTERDAY),
        ("get_user_share", week),
        ("get_user_share_hour", YESTERDAY),
        ("get_upstream_msg", week),
        ("get_upstream_msg_hour", YESTERDAY),
        ("get_upstream_msg_week", YESTERDAY - timedelta(days=29)),
        ("get_upstream_msg_month", YESTERDAY - timedelta(days=29)),
        ("get_upstream_msg_dist", YESTERDAY - timedelta(days=14)),
        ("get_upstream_msg_dist_week", YESTERDAY - timedelta(days=29)),
        ("get_upstream_msg_dist_month", YESTERDAY - timedelta(days=29)),
    ]:
        assert isinstance(getattr(client.datacube, name)(begin, YESTERDAY), list), name


def test_datacube_article_rows(client: Any, fake: FakeWeChat, clock: FixedClock) -> None:
    """getarticletotal rows carry msgid and a details list, as wechatpy callers read them."""
    clock.advance(timedelta(days=-1))
    job = client.message.send_mass_article(["oA", "oB"], "draft-media")
    fake.read_article("oA", job["msg_id"])
    clock.advance(timedelta(days=1))
    (row,) = client.datacube.get_article_total(YESTERDAY, YESTERDAY)
    assert row["msgid"] == f"{job['msg_data_id']}_1"
    assert row["details"][0]["int_page_read_user"] == 1


def test_datacube_range_error(client: Any) -> None:
    """A range wider than the endpoint allows raises wechatpy's exception with 61501."""
    with pytest.raises(WeChatClientException) as caught:
        client.datacube.get_user_summary(YESTERDAY - timedelta(days=7), YESTERDAY)
    assert caught.value.errcode == 61501


def test_blacklist(client: Any) -> None:
    """get_black_list (without begin_openid) and the batch calls work as wechatpy sends them."""
    client.tag.batch_black_list(["oA", "oB"])
    listed = client.tag.get_black_list()
    assert listed["data"]["openid"] == ["oA", "oB"]
    client.tag.batch_unblack_list(["oA"])
    assert client.tag.get_black_list()["data"]["openid"] == ["oB"]


def test_customservice_accounts(client: Any, fake: FakeWeChat) -> None:
    """wechatpy's add (with its MD5 password), list, online list and GET delete all work."""
    client.customservice.add_account("alice@fakeaccount", "Alice", "secret-password")
    fake.set_kf_online("alice@fakeaccount")
    accounts = client.customservice.get_accounts()
    assert [a["kf_account"] for a in accounts] == ["alice@fakeaccount"]
    online = client.customservice.get_online_accounts()
    assert online[0]["kf_account"] == "alice@fakeaccount"
    client.customservice.delete_account("alice@fakeaccount")
    assert client.customservice.get_accounts() == []


def test_send_as_kf_account(client: Any, fake: FakeWeChat) -> None:
    """message.send_text(account=...) reaches the fake with customservice.kf_account."""
    client.customservice.add_account("alice@fakeaccount", "Alice", "pw")
    fake.open_window("oA", "message")
    client.message.send_text("oA", "您好", account="alice@fakeaccount")
    assert fake.messages[-1].body["customservice"] == {"kf_account": "alice@fakeaccount"}


def test_ips_and_remark(client: Any, fake: FakeWeChat) -> None:
    """get_wechat_ips returns the ip_list; update_remark changes the follower's remark."""
    assert "101.226.62.77" in client.misc.get_wechat_ips()
    client.user.update_remark("oA", "老客户")
    assert fake.followers["oA"].remark == "老客户"


def test_mass_send_get_delete(client: Any, fake: FakeWeChat) -> None:
    """send_mass_text, get_mass and delete_mass see WeChat's answer shapes."""
    sent = client.message.send_mass_text(["oA", "oB"], "会员日", client_msg_id="wechatpy-1")
    assert client.message.get_mass(sent["msg_id"])["msg_status"] == "SEND_SUCCESS"
    article = client.message.send_mass_article(["oA", "oB"], "draft-media")
    assert client.message.delete_mass(article["msg_id"])["errcode"] == 0
