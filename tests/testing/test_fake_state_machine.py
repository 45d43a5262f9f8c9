"""Random tag/untag/mass-send calls against a simple model of WeChat's documented rules.

After every step the fake's state must equal the model's, and WeChat's limits must hold in the
fake's state: at most 100 created tags, at most 20 tags per follower, at most 4 delivered mass
pushes per follower per natural month (Asia/Shanghai). The clock crosses a month boundary.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.testing.conftest import APPID, SECRET, Wire, errcode
from wxsegment import FixedClock, month_key
from wxsegment.testing import FakeWeChat

FOLLOWERS = ("o0", "o1", "o2", "o3")
STRANGER = "oStranger"
START = datetime(2026, 5, 31, 15, 59, 58, tzinfo=timezone.utc)
MAX_TAGS, PER_FOLLOWER, MONTHLY = 100, 20, 4


class FakeMachine(RuleBasedStateMachine):
    """Drives the fake over raw HTTP and mirrors every expected effect in plain dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(START)
        self.fake = FakeWeChat(appid=APPID, secret=SECRET, clock=self.clock)
        self.fake.add_followers(list(FOLLOWERS))
        self.wire = Wire(self.fake)
        self.wire.fetch_token()
        self.tags: dict[int, set[str]] = {}
        self.held: dict[str, list[int]] = {o: [] for o in FOLLOWERS}
        self.received: dict[tuple[str, str], int] = {}
        self.sends = 0

    def teardown(self) -> None:
        self.wire.http.close()

    def pick(self, index: int) -> int:
        ids = sorted(self.tags)
        return ids[index % len(ids)] if ids and index < 90 else 99_999

    @rule(count=st.integers(1, 30))
    def create_tags(self, count: int) -> None:
        for _ in range(count):
            name = f"t{len(self.tags)}-{self.sends}-{count}"
            answer = self.wire.post("/cgi-bin/tags/create", {"tag": {"name": name}})
            if len(self.tags) >= MAX_TAGS:
                assert errcode(answer) == 45056
                event("tag limit reached")
                return
            self.tags[answer["tag"]["id"]] = set()
            self.sends += 1

    @rule(index=st.integers(0, 100))
    def delete_tag(self, index: int) -> None:
        tag_id = self.pick(index)
        answer = self.wire.post("/cgi-bin/tags/delete", {"tag": {"id": tag_id}})
        if tag_id not in self.tags:
            assert errcode(answer) == 45159
            return
        assert errcode(answer) == 0
        for openid in self.tags.pop(tag_id):
            self.held[openid].remove(tag_id)

    @rule(
        index=st.integers(0, 100),
        openids=st.lists(st.sampled_from((*FOLLOWERS, STRANGER)), max_size=5),
        untag=st.booleans(),
    )
    def tag_or_untag(self, index: int, openids: list[str], untag: bool) -> None:
        tag_id = self.pick(index)
        path = "batchuntagging" if untag else "batchtagging"
        answer = self.wire.post(
            f"/cgi-bin/tags/members/{path}", {"openid_list": openids, "tagid": tag_id}
        )
        unique = list(dict.fromkeys(openids))
        if not openids:
            expected = 40032
        elif tag_id not in self.tags:
            expected = 45159
        elif STRANGER in unique:
            expected = 40003
        elif not untag and any(
            tag_id not in self.held[o] and len(self.held[o]) >= PER_FOLLOWER for o in unique
        ):
            expected = 45059
        else:
            expected = 0
        assert errcode(answer) == expected
        event(f"tagging answered {expected}")
        if expected:
            return
        for openid in unique:
            if untag and tag_id in self.held[openid]:
                self.held[openid].remove(tag_id)
                self.tags[tag_id].discard(openid)
            elif not untag and tag_id not in self.held[openid]:
                self.held[openid].append(tag_id)
                self.tags[tag_id].add(openid)

    @rule(index=st.integers(0, 100))
    def tag_everyone_with_many(self, index: int) -> None:
        """Push followers toward the 20-tag limit quickly."""
        for tag_id in sorted(self.tags)[index % 7 :: 3]:
            self.tag_or_untag(sorted(self.tags).index(tag_id), list(FOLLOWERS), False)

    def deliver(self, audience: list[str], msg_id: int) -> None:
        month = month_key(self.clock.now())
        delivered = []
        for openid in audience:
            if openid in self.held and self.received.get((openid, month), 0) < MONTHLY:
                self.received[(openid, month)] = self.received.get((openid, month), 0) + 1
                delivered.append(openid)
        job = self.fake.jobs[msg_id]
        event(f"some recipients filtered: {len(audience) - len(delivered) > 0}")
        assert job.delivered == tuple(delivered)
        assert (job.total_count, job.filter_count) == (len(audience), len(delivered))

    @rule(openids=st.lists(st.sampled_from((*FOLLOWERS, STRANGER)), min_size=2, max_size=5))
    def mass_send(self, openids: list[str]) -> None:
        self.sends += 1
        body = {
            "touser": openids,
            "msgtype": "text",
            "text": {"content": "x"},
            "clientmsgid": f"send-{self.sends}",
        }
        answer = self.wire.post("/cgi-bin/message/mass/send", body)
        assert errcode(answer) == 0
        self.deliver(list(dict.fromkeys(openids)), answer["msg_id"])

    @rule(index=st.integers(0, 100), to_all=st.booleans())
    def mass_sendall(self, index: int, to_all: bool) -> None:
        self.sends += 1
        tag_id = self.pick(index)
        body = {
            "filter": {"is_to_all": to_all, "tag_id": tag_id},
            "msgtype": "text",
            "text": {"content": "x"},
            "clientmsgid": f"send-{self.sends}",
        }
        answer = self.wire.post("/cgi-bin/message/mass/sendall", body)
        if not to_all and tag_id not in self.tags:
            assert errcode(answer) == 40050
            return
        assert errcode(answer) == 0
        members = set(FOLLOWERS) if to_all else self.tags[tag_id]
        audience = [o for o in FOLLOWERS if o in members]
        self.deliver(audience, answer["msg_id"])

    @rule(seconds=st.sampled_from((1, 60, 3600, 86400 * 10)))
    def advance(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.wire.fetch_token()

    @invariant()
    def matches_model_and_limits(self) -> None:
        created = {i: t for i, t in self.fake.tags.items() if not t.reserved}
        assert set(created) == set(self.tags)
        assert len(created) <= MAX_TAGS
        for tag_id, tag in created.items():
            assert tag.count == len(self.tags[tag_id])
        for openid, follower in self.fake.followers.items():
            assert list(follower.tag_ids) == self.held[openid]
            assert len(follower.tag_ids) <= PER_FOLLOWER
            for month in ("2026-05", "2026-06", "2026-07"):
                received = self.fake.mass_received(openid, month)
                assert received == self.received.get((openid, month), 0)
                assert received <= MONTHLY


FakeMachine.TestCase.settings = settings(stateful_step_count=25)
TestFakeMachine = FakeMachine.TestCase
