"""Any JSON body to any endpoint gets a WeChat-shaped answer; the fake never crashes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from tests.testing.conftest import APPID, SECRET, START
from wxsegment import FixedClock
from wxsegment.testing import FakeWeChat
from wxsegment.testing._fake import _ROUTES

KEYS = (
    "tag",
    "id",
    "name",
    "tagid",
    "openid",
    "openid_list",
    "next_openid",
    "user_list",
    "lang",
    "remark",
    "touser",
    "msgtype",
    "text",
    "content",
    "mpnews",
    "media_id",
    "filter",
    "is_to_all",
    "tag_id",
    "clientmsgid",
    "msg_id",
    "article_idx",
    "speed",
    "command",
    "template_id",
    "data",
    "client_msg_id",
    "button",
    "matchrule",
    "menuid",
    "user_id",
    "action_name",
    "action_info",
    "scene",
    "scene_id",
    "scene_str",
    "expire_seconds",
    "towxname",
    "images",
    "media_ids",
    "news",
    "articles",
    "sub_button",
    "type",
    "key",
    "url",
    "miniprogram",
    "force_refresh",
    "grant_type",
    "appid",
    "secret",
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.sampled_from(["", "oA", "oB", "text", "mpnews", "Typing", "QR_SCENE", "100", "x" * 70]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


@given(
    path=st.sampled_from(sorted(_ROUTES)),
    body=BODIES,
    query=st.dictionaries(
        st.sampled_from(["openid", "next_openid", "lang", "ticket"]),
        st.sampled_from(["", "oA", "zz", "en"]),
        max_size=2,
    ),
)
def test_random_bodies_get_wechat_answers(
    path: str, body: dict[str, Any], query: dict[str, str]
) -> None:
    """Every answer is HTTP 200 JSON (an object), with an int errcode when it is an error."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=FixedClock(START))
    fake.add_followers(["oA", "oB"])
    fake.open_window("oA")
    with httpx.Client(transport=httpx.MockTransport(fake.handler), base_url="https://x") as http:
        token = http.post(
            "/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        ).json()["access_token"]
        params = {**query, "access_token": token}
        content = json.dumps(body, ensure_ascii=False).encode()
        for method in ("GET", "POST"):
            response = http.request(method, path, params=params, content=content)
            assert response.status_code == 200
            answer = response.json()
            assert isinstance(answer, dict)
            if "errcode" in answer:
                assert isinstance(answer["errcode"], int)
                assert isinstance(answer["errmsg"], str)


def test_concurrent_threads_keep_state_consistent() -> None:
    """Eight threads tagging and sending at once leave counts that add up exactly."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, clock=FixedClock(START))
    openids = fake.add_followers(400)
    transport = httpx.MockTransport(fake.handler)
    with httpx.Client(transport=transport, base_url="https://x") as http:
        token = http.post(
            "/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        ).json()["access_token"]
        tag_id = http.post(
            "/cgi-bin/tags/create", params={"access_token": token}, json={"tag": {"name": "t"}}
        ).json()["tag"]["id"]

    def work(part: int) -> None:
        with httpx.Client(transport=transport, base_url="https://x") as client:
            mine = openids[part * 50 : (part + 1) * 50]
            for start in range(0, 50, 10):
                answer = client.post(
                    "/cgi-bin/tags/members/batchtagging",
                    params={"access_token": token},
                    json={"openid_list": mine[start : start + 10], "tagid": tag_id},
                ).json()
                assert answer["errcode"] == 0
            body = {"touser": mine, "msgtype": "text", "text": {"content": "x"}}
            answer = client.post(
                "/cgi-bin/message/mass/send",
                params={"access_token": token},
                json={**body, "clientmsgid": f"part-{part}"},
            ).json()
            assert answer["errcode"] == 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    assert fake.tags[tag_id].count == 400
    assert sum(job.filter_count for job in fake.jobs.values()) == 400
    assert all(fake.mass_received(o) == 1 for o in openids)
