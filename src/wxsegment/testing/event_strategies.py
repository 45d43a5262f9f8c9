"""Hypothesis strategies for streams of WeChat pushes, and `play` to run one on a FakeWeChat.

A stream is a list of steps — follows (plain or through a QR scene), scans, menu clicks, text
messages, unfollows, redeliveries of the previous push (WeChat's retries) and mass-send jobs
finishing — in a random interleaving over a few followers. `play` performs each step on a
`FakeWeChat` whose callback is set, so a downstream project can property-test its handlers:

    @given(event_streams())
    def test_handlers(steps): ...

Steps that make no sense at that point (a click by someone not following) are skipped by
`play`, so every generated stream can be played. Install the ``testing`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final, TypeAlias

import attrs
import httpx
from hypothesis import strategies as st

from wxsegment.testing._fake import FakeWeChat
from wxsegment.testing._fake_events import PushResult

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_OPENIDS",
    "DEFAULT_SCENES",
    "DEFAULT_TEXTS",
    "Click",
    "Follow",
    "MassFinish",
    "Redeliver",
    "Scan",
    "SendText",
    "Step",
    "Unfollow",
    "event_streams",
    "play",
]

DEFAULT_OPENIDS: Final = ("o_alice", "o_bob", "o_chen")
DEFAULT_SCENES: Final = ("store-1", "poster", "ref-42")
DEFAULT_KEYS: Final = ("SALE_ON", "SALE_OFF", "HELP")
DEFAULT_TEXTS: Final = ("提醒", "你好", "退订")


@attrs.frozen
class Follow:
    """``openid`` follows, through the QR code of ``scene`` when given."""

    openid: str
    scene: str | None = None


@attrs.frozen
class Scan:
    """``openid`` scans the QR code of ``scene`` (a follow if not following yet)."""

    openid: str
    scene: str


@attrs.frozen
class Click:
    """``openid`` clicks the ``click`` menu button ``key``."""

    openid: str
    key: str


@attrs.frozen
class SendText:
    """``openid`` sends ``text``."""

    openid: str
    text: str


@attrs.frozen
class Unfollow:
    """``openid`` unfollows."""

    openid: str


@attrs.frozen
class Redeliver:
    """WeChat delivers the previous push again (same body, freshly signed)."""


@attrs.frozen
class MassFinish:
    """A mass send to ``openids`` is accepted and its ``MASSSENDJOBFINISH`` is pushed."""

    openids: tuple[str, ...]


#: One step of a stream.
Step: TypeAlias = Follow | Scan | Click | SendText | Unfollow | Redeliver | MassFinish


def event_streams(
    *,
    openids: Sequence[str] = DEFAULT_OPENIDS,
    scenes: Sequence[str] = DEFAULT_SCENES,
    keys: Sequence[str] = DEFAULT_KEYS,
    texts: Sequence[str] = DEFAULT_TEXTS,
    max_steps: int = 25,
) -> st.SearchStrategy[list[Step]]:
    """Random interleavings of follows, scans, clicks, messages, retries and job finishes."""
    who = st.sampled_from(tuple(openids))
    step: st.SearchStrategy[Step] = st.one_of(
        st.builds(Follow, who, st.none() | st.sampled_from(tuple(scenes))),
        st.builds(Scan, who, st.sampled_from(tuple(scenes))),
        st.builds(Click, who, st.sampled_from(tuple(keys))),
        st.builds(SendText, who, st.sampled_from(tuple(texts))),
        st.builds(Unfollow, who),
        st.just(Redeliver()),
        st.builds(
            MassFinish,
            st.lists(who, min_size=2, max_size=len(openids), unique=True).map(tuple),
        ),
    )
    return st.lists(step, max_size=max_steps)


class _Wire:
    """Calls to the fake's own API, for the QR codes and mass sends a stream needs."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._http = httpx.Client(
            transport=httpx.MockTransport(fake.handler), base_url="https://api.weixin.qq.com"
        )
        self._codes: dict[str, str] = {}
        self._sends = 0

    def close(self) -> None:
        self._http.close()

    def _token(self) -> str:
        answer = self._http.get(
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self._fake.appid,
                "secret": self._fake.secret,
            },
        )
        return str(answer.json()["access_token"])

    def ticket(self, scene: str) -> str:
        if scene not in self._codes:
            answer = self._http.post(
                "/cgi-bin/qrcode/create",
                params={"access_token": self._token()},
                json={
                    "action_name": "QR_LIMIT_STR_SCENE",
                    "action_info": {"scene": {"scene_str": scene}},
                },
            )
            self._codes[scene] = str(answer.json()["ticket"])
        return self._codes[scene]

    def mass_send(self, openids: Sequence[str]) -> None:
        self._sends += 1
        self._http.post(
            "/cgi-bin/message/mass/send",
            params={"access_token": self._token()},
            json={
                "touser": list(openids),
                "msgtype": "text",
                "text": {"content": f"push {self._sends}"},
                "clientmsgid": f"stream-{self._sends}",
            },
        )


def play(
    fake: FakeWeChat, steps: Sequence[Step], *, tick: timedelta = timedelta(seconds=1)
) -> list[PushResult]:
    """Perform ``steps`` on ``fake`` (its callback set); return every push delivered, in order.

    Before each step the fake's clock is advanced by ``tick`` when it can be (a `FixedClock`),
    so two steps never share a ``CreateTime``. Steps that do not apply are skipped.
    """
    advance = getattr(fake.clock, "advance", None)
    wire = _Wire(fake)
    results: list[PushResult] = []
    last: PushResult | None = None
    try:
        for step in steps:
            if advance is not None:
                advance(tick)
            pushed = _perform(fake, wire, step, last)
            for result in pushed:
                results.append(result)
                last = result
    finally:
        wire.close()
    return results


def _follows(fake: FakeWeChat, openid: str) -> bool:
    follower = fake.followers.get(openid)
    return follower is not None and follower.subscribed


def _perform(
    fake: FakeWeChat, wire: _Wire, step: Step, last: PushResult | None
) -> list[PushResult]:
    actor = fake.follower(step.openid) if hasattr(step, "openid") else None
    result: PushResult | None = None
    match step:
        case Follow(openid, None):
            if _follows(fake, openid):
                return []
            assert actor is not None
            result = actor.subscribe()
        case Follow(_, str(scene)) | Scan(_, scene):
            assert actor is not None
            result = actor.scan(wire.ticket(scene))
        case Click(openid, key):
            if not _follows(fake, openid):
                return []
            assert actor is not None
            result = actor.click(key)
        case SendText(openid, text):
            if not _follows(fake, openid):
                return []
            assert actor is not None
            result = actor.send_text(text)
        case Unfollow(openid):
            if not _follows(fake, openid):
                return []
            assert actor is not None
            result = actor.unsubscribe()
        case Redeliver():
            if last is None:
                return []
            result = fake._events.push(last.xml)
        case MassFinish(openids):
            wire.mass_send(openids)
            return fake.push_pending()
    return [] if result is None else [result]
