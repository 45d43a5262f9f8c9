"""Auto-tag rules over parsed callbacks: QR scenes, menu clicks, keywords, conflicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tagging.conftest import scenes
from wxsegment.api import Client
from wxsegment.api.callback import Event, Message, parse
from wxsegment.tagging import (
    ClickRule,
    ConflictingTagChangesError,
    InvalidTagNameError,
    KeywordRule,
    MalformedSceneError,
    MemorySceneRegistry,
    RuleSet,
    Scene,
    SceneCodec,
    SceneRule,
    TagChanges,
    create_tagging_qrcode,
)
from wxsegment.testing import FakeWeChat

OPENID = "o_follower_1"


def push(msg_type: str, **fields: str) -> Message | Event:
    """Parse a plaintext push from OPENID with the given extra fields."""
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return parse(
        f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{OPENID}</FromUserName>"
        f"<CreateTime>1780000000</CreateTime><MsgType>{msg_type}</MsgType>{body}</xml>"
    )


def text(content: str) -> Message | Event:
    """A text message."""
    return push("text", Content=content, MsgId="1234567890123456")


def event(name: str, **fields: str) -> Message | Event:
    """An event."""
    return push("event", Event=name, **fields)


RULES = RuleSet(
    [
        SceneRule(),
        ClickRule(event_key="V1001_VIP", add={"clicked-vip"}),
        KeywordRule(keyword="退订", remove={"promo"}),
        KeywordRule(keyword="优惠", match="contains", add={"promo"}),
    ]
)


def test_subscribe_with_scene_adds_its_tags() -> None:
    """A follow through a tagging QR code adds the scene's tags (qrscene_ prefix stripped)."""
    changes = RULES.changes(event("subscribe", EventKey="qrscene_wxs1.poster.new-vip", Ticket="t"))
    assert changes == TagChanges(openid=OPENID, add={"new", "vip"})


def test_scan_with_scene_adds_its_tags() -> None:
    """A SCAN by a current follower adds the scene's tags."""
    value = SceneCodec().encode(Scene(channel="poster", tags={"广东"}))
    changes = RULES.changes(event("SCAN", EventKey=value, Ticket="t"))
    assert changes.add == {"广东"}
    assert changes.remove == frozenset()


def test_scene_rule_can_ignore_scans() -> None:
    """SceneRule(on_scan=False) reacts to follows only."""
    rules = RuleSet([SceneRule(on_scan=False)])
    assert rules.changes(event("SCAN", EventKey="wxs1.c.a", Ticket="t")).empty
    assert rules.changes(event("subscribe", EventKey="qrscene_wxs1.c.a")).add == {"a"}


@pytest.mark.parametrize(
    "push_",
    [
        event("subscribe"),  # plain follow
        event("subscribe", EventKey="qrscene_12345", Ticket="t"),  # numeric scene
        event("SCAN", EventKey="other-app-scene", Ticket="t"),
        event("unsubscribe"),
        event("VIEW", EventKey="https://example.com"),
        event("CLICK", EventKey="OTHER_KEY"),
        event("LOCATION", Latitude="23.1", Longitude="113.2", Precision="10"),
        text("hello"),
        push("image", PicUrl="http://x/p.jpg", MediaId="m", MsgId="1"),
    ],
)
def test_events_no_rule_matches_change_nothing(push_: Message | Event) -> None:
    """Foreign scenes, plain follows and unmatched events give empty changes for the sender."""
    changes = RULES.changes(push_)
    assert changes.empty
    assert changes.openid == OPENID


def test_malformed_own_scene_raises() -> None:
    """A scene with the codec's prefix that does not decode raises MalformedSceneError."""
    with pytest.raises(MalformedSceneError):
        RULES.changes(event("SCAN", EventKey="wxs1.a.vip-new", Ticket="t"))


def test_click_adds_tags() -> None:
    """A CLICK with the rule's key adds its tags."""
    assert RULES.changes(event("CLICK", EventKey="V1001_VIP")).add == {"clicked-vip"}


@pytest.mark.parametrize(
    ("content", "add", "remove"),
    [
        ("退订", set(), {"promo"}),
        ("  退订 \n", set(), {"promo"}),
        ("请退订", set(), set()),  # exact rule: no match inside a sentence
        ("有优惠吗", {"promo"}, set()),
        ("优惠", {"promo"}, set()),
        ("退订优惠", {"promo"}, set()),  # exact does not match; contains does
    ],
)
def test_keywords_exact_and_contains(content: str, add: set[str], remove: set[str]) -> None:
    """Exact keywords match the trimmed whole message, 'contains' ones any substring."""
    changes = RULES.changes(text(content))
    assert changes.add == add
    assert changes.remove == remove


def test_keyword_case_handling() -> None:
    """Case is ignored by default and respected with ignore_case=False."""
    loose = RuleSet([KeywordRule(keyword="VIP", add={"vip"})])
    strict = RuleSet([KeywordRule(keyword="VIP", add={"vip"}, ignore_case=False)])
    assert loose.changes(text("vip")).add == {"vip"}
    assert strict.changes(text("vip")).empty
    assert strict.changes(text("VIP")).add == {"vip"}


def test_later_rule_wins_on_conflict() -> None:
    """When two rules disagree about a tag, the later one decides."""
    first_add = RuleSet(
        [
            KeywordRule(keyword="x", match="contains", add={"t"}),
            KeywordRule(keyword="xy", remove={"t"}),
        ]
    )
    assert first_add.changes(text("xy")) == TagChanges(openid=OPENID, remove={"t"})
    first_remove = RuleSet(
        [
            KeywordRule(keyword="xy", remove={"t"}),
            KeywordRule(keyword="x", match="contains", add={"t"}),
        ]
    )
    assert first_remove.changes(text("xy")) == TagChanges(openid=OPENID, add={"t"})


@given(scenes, st.booleans())
def test_scene_tags_come_back_from_any_scene(scene: Scene, follow: bool) -> None:
    """Whatever the scene (registry or inline), its tags are exactly the changes' additions."""
    codec = SceneCodec(MemorySceneRegistry())
    value = codec.encode(scene)
    pushed = (
        event("subscribe", EventKey="qrscene_" + value, Ticket="t")
        if follow
        else event("SCAN", EventKey=value, Ticket="t")
    )
    changes = RuleSet([SceneRule()], codec=codec).changes(pushed)
    assert changes.add == scene.tags
    assert changes.remove == frozenset()


def test_rules_on_scans_from_the_fake(fake: FakeWeChat, client: Client) -> None:
    """Events built from fake.scan (follow, then SCAN) both yield the scene's tags."""
    codec = SceneCodec(MemorySceneRegistry())
    scene = Scene(channel="store", tags={"门店", "vip"}, store="SZ-01")
    code = create_tagging_qrcode(client, scene, permanent=False, codec=codec)
    rules = RuleSet([SceneRule()], codec=codec)
    for _ in range(2):
        name, key = fake.scan(OPENID, code.ticket)
        changes = rules.changes(event(name, EventKey=key, Ticket=code.ticket))
        assert changes == TagChanges(openid=OPENID, add={"门店", "vip"})
    assert rules.scene_of(event("SCAN", EventKey=codec.encode(scene))) == scene


def test_bad_rules_are_refused() -> None:
    """Blank keys, invalid tag names, add/remove overlaps and non-rules raise typed errors."""
    with pytest.raises(ValueError, match="blank"):
        ClickRule(event_key=" ", add={"a"})
    with pytest.raises(InvalidTagNameError):
        KeywordRule(keyword="k", add={"x" * 31})
    with pytest.raises(ConflictingTagChangesError):
        KeywordRule(keyword="k", add={"a"}, remove={"a"})
    with pytest.raises(ConflictingTagChangesError):
        TagChanges(openid="o", add={"a"}, remove={"a"})
    with pytest.raises(ValueError, match="exact"):
        KeywordRule(keyword="k", match="regex")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RuleSet(["not a rule"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        RULES.changes("<xml/>")  # type: ignore[arg-type]
