"""Template industries, private templates, typed keyword values and subscribe notifications."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import Harness
from wxsegment import FixedClock
from wxsegment.api import (
    KEYWORD_RULES,
    InvalidRequestError,
    KeywordRule,
    RecipientRefusedError,
    TemplateError,
    WeChatValidationError,
    check_keyword_values,
)
from wxsegment.testing import FakeConfig, FakeWeChat, LibraryKeyword, LibraryTitle, SubscribeLibrary


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("thing1", "上海静安店" * 4, "上海静安店" * 4 + "x"),
        ("number2", "3.1415", "12a"),
        ("letter3", "abc", "ab1"),
        ("symbol4", "+-*/%", "+-*/%#"),
        ("character_string5", "SF1234567890-X", "含中文"),
        ("time6", "2019年10月1日 15:01", "25:00"),
        ("time7", "15:01~16:30", "tomorrow"),
        ("date8", "2026-03-01", "2026年3月"),
        ("date9", "2026-03-01 10:00 ~ 2026-03-02 10:00", "01/03"),
        ("amount10", "¥99.00", "99 dollars"),
        ("amount11", "100元", "¥12345678901"),
        ("phone_number12", "+86-0766-66888866", "call me"),
        ("car_number13", "粤A12345", "粤A123456789"),
        ("name14", "张三丰", "张" * 11),
        ("name15", "A" * 20, "A" * 21),
        ("phrase16", "已发货", "shipped"),
        ("phrase17", "五个字短语", "六个字的短语"),
    ],
)
def test_keyword_rules(key: str, good: str, bad: str) -> None:
    """Each documented type accepts a value inside its rule and refuses one outside."""
    check_keyword_values({key: good})
    check_keyword_values({key: {"value": good}})
    with pytest.raises(WeChatValidationError, match=key):
        check_keyword_values({key: bad})


def test_untyped_keys_are_not_checked() -> None:
    """keyword1 / first / remark carry no type prefix and pass as they are; non-strings fail."""
    check_keyword_values({"first": "x" * 500, "keyword1": "y" * 500, "remark": ""})
    with pytest.raises(WeChatValidationError):
        check_keyword_values({"thing1": 5})


@given(st.text(max_size=40))
def test_thing_counts_characters(value: str) -> None:
    """thing accepts exactly the strings of at most 20 characters (not bytes)."""
    accepted = KEYWORD_RULES["thing"].accepts(value)
    assert accepted == (len(value) <= 20)


def test_rules_are_replaceable(kind: str, clock: FixedClock) -> None:
    """A replaced rule table (client and fake) changes what send_template refuses."""
    relaxed = {**KEYWORD_RULES, "short_thing": KeywordRule(10)}
    fake = FakeWeChat(clock=clock, config=FakeConfig(keyword_rules=relaxed))
    (openid,) = fake.add_followers(1)
    api = Harness(kind, fake, clock=clock)
    data = {"short_thing1": "六个字的内容"}
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.messages.send_template(openid, "t", data))
    api.client.messages.keyword_rules = relaxed
    assert api.run(lambda c: c.messages.send_template(openid, "t", data)).msgid


def test_send_template_is_checked_before_the_call(api: Harness, fake: FakeWeChat) -> None:
    """A thing over 20 characters is refused locally; nothing reaches WeChat."""
    (openid,) = fake.add_followers(1)
    calls = len(fake.calls)
    with pytest.raises(WeChatValidationError, match="thing1"):
        api.run(lambda c: c.messages.send_template(openid, "t", {"thing1": "字" * 21}))
    assert len(fake.calls) == calls


def test_fake_answers_47003_for_bad_values(api: Harness, fake: FakeWeChat) -> None:
    """With local checks off, the fake refuses the same value with 47003 naming the key."""
    (openid,) = fake.add_followers(1)
    api.client.messages.keyword_rules = {}
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.messages.send_template(openid, "t", {"phrase2": "太长的短语呀"}))
    assert caught.value.errcode == 47003
    assert "data.phrase2.value" in caught.value.errmsg


def test_industry_and_private_templates(api: Harness, fake: FakeWeChat) -> None:
    """set/get industry; add (category templates with names), list, send, delete."""
    api.run(lambda c: c.templates.set_industry(1, "4"))
    industry = api.run(lambda c: c.templates.get_industry())
    assert industry.primary[1] == "行业1"
    assert industry.secondary[1] == "行业4"
    body = next(c.json for c in fake.calls if c.path == "/cgi-bin/template/api_set_industry")
    assert body == {"industry_id1": "1", "industry_id2": "4"}
    old = api.run(lambda c: c.templates.add("TM00015"))
    new = api.run(lambda c: c.templates.add("47123", ["金额", "时间"]))
    templates = {t.template_id: t for t in api.run(lambda c: c.templates.list())}
    assert templates[new].keys == ("amount1", "time2")
    assert "first" in templates[old].keys
    (openid,) = fake.add_followers(1)
    sent = api.run(
        lambda c: c.messages.send_template(openid, new, {"amount1": "¥5", "time2": "10:00"})
    )
    assert sent.msgid is not None
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.messages.send_template(openid, new, {"thing9": "x"}))
    assert caught.value.errcode == 47003
    api.run(lambda c: c.templates.delete(new))
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.delete(new))
    assert caught.value.errcode == 40037


def test_template_errors(api: Harness) -> None:
    """Unknown short ids 40037, unknown keyword names 40246, bad industry 40103; local checks."""
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.add("TM99999"))
    assert caught.value.errcode == 40037
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.add("47123", ["不存在"]))
    assert caught.value.errcode == 40246
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.set_industry(1, 99))
    assert caught.value.errcode == 40103
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.templates.add("47123"))
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.templates.add("47123", ["时间", ""]))
    with pytest.raises(WeChatValidationError):
        api.run(lambda c: c.templates.set_industry(0, 1))


def test_template_cap_and_industry_change(kind: str, clock: FixedClock) -> None:
    """25 templates at most (45026); a second industry change in a month 43100."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(max_private_templates=2))
    api = Harness(kind, fake, clock=clock)
    api.run(lambda c: c.templates.set_industry(1, 2))
    for _ in range(2):
        api.run(lambda c: c.templates.add("TM00015"))
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.add("TM00015"))
    assert caught.value.errcode == 45026
    assert FakeConfig().max_private_templates == 25
    api.run(lambda c: c.templates.set_industry(1, 2))
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.templates.set_industry(3, 4))
    assert caught.value.errcode == 43100
    assert len(fake.templates.private) == 2


def _library(titles: int) -> SubscribeLibrary:
    keywords = (
        LibraryKeyword(1, "名称", "x", "thing"),
        LibraryKeyword(2, "时间", "08:00", "time"),
        LibraryKeyword(3, "金额", "¥1", "amount"),
    )
    return SubscribeLibrary(
        {616: "公交"}, tuple(LibraryTitle(1000 + i, f"题{i}", 616, keywords) for i in range(titles))
    )


def test_subscribe_library_and_templates(kind: str, clock: FixedClock) -> None:
    """categories, titles paged 30 at a time, keywords, add (2..5 kids), list, delete."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(subscribe_library=_library(65)))
    api = Harness(kind, fake, clock=clock)
    assert [c.id for c in api.run(lambda c: c.subscribe_messages.categories())] == [616]
    titles = api.run(lambda c: c.subscribe_messages.iter_pub_titles([616]))
    assert len(titles) == 65
    assert titles[0].category_id == 616
    queries = [c.query for c in fake.calls if c.path.endswith("getpubtemplatetitles")]
    assert [q["start"] for q in queries] == ["0", "30", "60"]
    assert queries[0]["ids"] == "616"
    total, page = api.run(lambda c: c.subscribe_messages.pub_titles([616], start=60, limit=10))
    assert (total, len(page)) == (65, 5)
    keywords = api.run(lambda c: c.subscribe_messages.pub_keywords(1000))
    assert [k.rule for k in keywords] == ["thing", "time", "amount"]
    pri = api.run(lambda c: c.subscribe_messages.add_template(1000, [1, 3], "提醒"))
    (template,) = api.run(lambda c: c.subscribe_messages.templates())
    assert (template.pri_tmpl_id, template.keys) == (pri, ("thing1", "amount3"))
    api.run(lambda c: c.subscribe_messages.delete_template(pri))
    assert api.run(lambda c: c.subscribe_messages.templates()) == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1000, [1], "提醒"), "keywords"),
        ((1000, [1, 2, 3, 4, 5, 6], "提醒"), "keywords"),
        ((1000, [1, 1], "提醒"), "repeats"),
        ((1000, [1, 2], "场" * 16), "scene_desc"),
        ((0, [1, 2], "提醒"), "tid"),
    ],
)
def test_subscribe_add_is_checked_locally(
    api: Harness, fake: FakeWeChat, args: tuple[Any, ...], match: str
) -> None:
    """kidList 2..5 without repeats and sceneDesc ≤ 15 characters, before the call."""
    with pytest.raises(WeChatValidationError, match=match):
        api.run(lambda c: c.subscribe_messages.add_template(*args))
    assert not [c for c in fake.calls if c.path.startswith("/wxaapi/")]


def test_subscribe_library_errcodes(kind: str, clock: FixedClock) -> None:
    """Unknown tid 200014, unknown kid 200020, the 25-template cap 200012 (TemplateError)."""
    fake = FakeWeChat(clock=clock, config=FakeConfig(max_subscribe_templates=1))
    api = Harness(kind, fake, clock=clock)
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.subscribe_messages.pub_keywords(424242))
    assert caught.value.errcode == 200014
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.subscribe_messages.add_template(99, [1, 9], "x"))
    assert caught.value.errcode == 200020
    api.run(lambda c: c.subscribe_messages.add_template(99, [1, 2], "x"))
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.subscribe_messages.add_template(99, [1, 2], "x"))
    assert caught.value.errcode == 200012


def test_bizsend_spends_one_subscription(api: Harness, fake: FakeWeChat) -> None:
    """One accepted subscription allows one send; the next answers 43101."""
    (openid,) = fake.add_followers(1)
    pri = api.run(lambda c: c.subscribe_messages.add_template(99, [1, 2], "开通"))
    data = {"thing1": "1路", "time2": "08:00"}
    with pytest.raises(RecipientRefusedError) as caught:
        api.run(lambda c: c.subscribe_messages.send(openid, pri, data))
    assert caught.value.errcode == 43101
    fake.templates.accept(openid, pri)
    api.run(
        lambda c: c.subscribe_messages.send(
            openid, pri, data, page="https://example.com", miniprogram=("wxapp", "pages/a")
        )
    )
    body = next(c.json for c in fake.calls if c.path.endswith("bizsend") and not c.errcode)
    assert body["miniprogram"] == {"appid": "wxapp", "pagepath": "pages/a"}
    assert body["data"]["thing1"] == {"value": "1路"}
    assert fake.messages[-1].kind == "subscribe"
    with pytest.raises(RecipientRefusedError):
        api.run(lambda c: c.subscribe_messages.send(openid, pri, data))


def test_bizsend_checks_values_and_template(api: Harness, fake: FakeWeChat) -> None:
    """Values are checked locally; an unknown template 40037; a bad page 41030."""
    (openid,) = fake.add_followers(1)
    pri = api.run(lambda c: c.subscribe_messages.add_template(99, [1, 2], "开通"))
    fake.templates.accept(openid, pri, times=3)
    with pytest.raises(WeChatValidationError, match="time2"):
        api.run(lambda c: c.subscribe_messages.send(openid, pri, {"time2": "早上"}))
    with pytest.raises(TemplateError) as caught:
        api.run(lambda c: c.subscribe_messages.send(openid, "nope", {"thing1": "x"}))
    assert caught.value.errcode == 40037
    with pytest.raises(InvalidRequestError) as caught:
        api.run(lambda c: c.subscribe_messages.send(openid, pri, {"thing1": "x"}, page=""))
    assert caught.value.errcode == 41030
    assert fake.templates.subscriptions(openid, pri) == 3
