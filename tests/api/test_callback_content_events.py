"""PUBLISHJOBFINISH and the subscribe-notification events parse into typed events."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest

from wxsegment.api import Client
from wxsegment.api.callback import (
    CallbackParseError,
    PublishJobFinishEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgChoice,
    SubscribeMsgPopupEvent,
    SubscribeMsgSent,
    SubscribeMsgSentEvent,
    parse,
)
from wxsegment.testing import FakeWeChat

HEAD = (
    "<ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>"
    "<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>"
    "<CreateTime>1481013459</CreateTime><MsgType><![CDATA[event]]></MsgType>"
)


def _xml(body: str) -> str:
    return f"<xml>{HEAD}{body}</xml>"


def test_publish_finished_success() -> None:
    """Lower-case PublishEventInfo children; article URLs ordered by idx."""
    event = parse(
        _xml(
            "<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
            "<publish_id>2247503051</publish_id><publish_status>0</publish_status>"
            "<article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4]]></article_id>"
            "<article_detail><count>2</count>"
            "<item><idx>2</idx><article_url><![CDATA[http://b]]></article_url></item>"
            "<item><idx>1</idx><article_url><![CDATA[http://a]]></article_url></item>"
            "</article_detail></PublishEventInfo>"
        )
    )
    assert isinstance(event, PublishJobFinishEvent)
    assert event.publish_id == "2247503051"
    assert event.succeeded
    assert event.article_id == "b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4"
    assert event.article_urls == ("http://a", "http://b")
    assert event.fail_idx == ()


def test_publish_finished_failure() -> None:
    """A failure carries fail_idx (repeated or single) and no article."""
    event = parse(
        _xml(
            "<Event><![CDATA[PUBLISHJOBFINISH]]></Event><PublishEventInfo>"
            "<publish_id>1</publish_id><publish_status>2</publish_status>"
            "<fail_idx>1</fail_idx><fail_idx>3</fail_idx></PublishEventInfo>"
        )
    )
    assert isinstance(event, PublishJobFinishEvent)
    assert (event.publish_status, event.fail_idx, event.article_id) == (2, (1, 3), None)
    assert not event.succeeded


def test_publish_finished_without_info_is_refused() -> None:
    """A PUBLISHJOBFINISH without its section is a CallbackParseError."""
    with pytest.raises(CallbackParseError):
        parse(_xml("<Event><![CDATA[PUBLISHJOBFINISH]]></Event>"))


def _render(fields: dict[str, Any]) -> str:
    def value(item: Any) -> str:
        if isinstance(item, dict):
            return "".join(element(k, v) for k, v in item.items())
        return escape(str(item))

    def element(name: str, item: Any) -> str:
        if isinstance(item, list):
            return "".join(element(name, one) for one in item)
        return f"<{name}>{value(item)}</{name}>"

    return "<xml>" + "".join(element(k, v) for k, v in fields.items()) + "</xml>"


def test_fake_publish_event_round_trips() -> None:
    """The fake's finish_event fields, rendered as XML, parse to the task's outcome."""
    fake = FakeWeChat()
    media_id = fake.content.add_draft("t")
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    with Client(fake.appid, fake.secret, http_client=http) as client:
        task = client.publish.submit(media_id)
    job = fake.content.finish_publish(int(task.publish_id))
    fields = {"ToUserName": "gh", "FromUserName": "o", **job.finish_event()}
    event = parse(_render(fields))
    assert isinstance(event, PublishJobFinishEvent)
    assert event.publish_id == str(job.publish_id)
    assert event.article_id == job.article_id
    assert event.article_urls == job.article_urls


def test_subscribe_popup_event() -> None:
    """One List per template, with its status and popup scene."""
    event = parse(
        _xml(
            "<Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent>"
            "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]>"
            "</TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>"
            "<PopupScene>2</PopupScene></List>"
            "<List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]>"
            "</TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>"
            "<PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>"
        )
    )
    assert isinstance(event, SubscribeMsgPopupEvent)
    assert [(c.status, c.popup_scene, c.accepted) for c in event.choices] == [
        ("accept", 2, True),
        ("reject", 2, False),
    ]


@pytest.mark.parametrize("wrapper", ["SubscribeMsgChangeEvent", "SubscribeMsgPopupEvent"])
def test_subscribe_change_event_accepts_either_wrapper(wrapper: str) -> None:
    """The change event parses under its own wrapper and the legacy sample's popup wrapper."""
    event = parse(
        _xml(
            f"<Event><![CDATA[subscribe_msg_change_event]]></Event><{wrapper}>"
            "<List><TemplateId><![CDATA[VRR0UEO9]]></TemplateId>"
            "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List>"
            f"</{wrapper}>"
        )
    )
    assert isinstance(event, SubscribeMsgChangeEvent)
    assert event.choices == (SubscribeMsgChoice("VRR0UEO9", "reject", None),)


def test_subscribe_sent_event_keeps_64_bit_ids() -> None:
    """MsgID (capital D) beyond 2**53 is kept exactly."""
    event = parse(
        _xml(
            "<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"
            "<List><TemplateId><![CDATA[VRR0UEO9]]></TemplateId>"
            "<MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode>"
            "<ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent>"
        )
    )
    assert isinstance(event, SubscribeMsgSentEvent)
    assert event.results == (SubscribeMsgSent("VRR0UEO9", 1700827132819554304, 0, "success"),)


def test_subscribe_event_with_bad_list_is_refused() -> None:
    """A List without TemplateId, or text where elements belong, is a CallbackParseError."""
    with pytest.raises(CallbackParseError):
        parse(
            _xml(
                "<Event>subscribe_msg_popup_event</Event><SubscribeMsgPopupEvent>"
                "<List><SubscribeStatusString>accept</SubscribeStatusString></List>"
                "</SubscribeMsgPopupEvent>"
            )
        )
    with pytest.raises(CallbackParseError):
        parse(
            _xml(
                "<Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent>"
                "<List>text</List></SubscribeMsgSentEvent>"
            )
        )
