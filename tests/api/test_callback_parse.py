"""Tests of parse: every message and event type from a sample, safety limits, garbage input."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxsegment.api.callback import (
    CallbackError,
    CallbackParseError,
    ClickEvent,
    Event,
    ImageMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    LocationSelectEvent,
    MassSendJobFinishEvent,
    Message,
    PayloadTooLarge,
    PicPhotoOrAlbumEvent,
    PicSysPhotoEvent,
    PicWeixinEvent,
    ScanCodePushEvent,
    ScanCodeWaitMsgEvent,
    ScanEvent,
    ShortVideoMessage,
    SubscribeEvent,
    TemplateSendJobFinishEvent,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    UnsubscribeEvent,
    VideoMessage,
    ViewEvent,
    VoiceMessage,
    parse,
)

ACCOUNT = "gh_0123456789ab"
OPENID = "oABCD1234efgh5678ijkl9012mnop"
STAMP = 1700000000
WHEN = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
BIG_ID = 18446744073709551615  # 2**64 - 1: exact only as an int, not as a float


def push(msg_type: str, body: str, *, sender: str = OPENID) -> str:
    """A push as WeChat sends it: the common header, then the type-specific body."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{STAMP}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}</xml>"
    )


def event(name: str, body: str = "", **kwargs: Any) -> str:
    """An event push."""
    return push("event", f"<Event><![CDATA[{name}]]></Event>{body}", **kwargs)


def check_common(result: Message | Event, msg_type: str) -> None:
    """The header fields every push carries."""
    assert result.to_user_name == ACCOUNT
    assert result.from_user_name == OPENID
    assert result.create_time == WHEN
    assert result.create_time.tzinfo is not None
    assert result.create_timestamp == STAMP
    assert result.msg_type == msg_type


# -- messages ---------------------------------------------------------------------------------


def test_text_message() -> None:
    """A text message: content and the exact 64-bit MsgId."""
    result = parse(push("text", f"<Content><![CDATA[你好 <b>]]></Content><MsgId>{BIG_ID}</MsgId>"))
    assert isinstance(result, TextMessage)
    check_common(result, "text")
    assert result.content == "你好 <b>"
    assert result.msg_id == BIG_ID
    assert type(result.msg_id) is int


def test_image_message() -> None:
    """An image message: picture URL and media id."""
    result = parse(
        push(
            "image",
            "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl>"
            "<MediaId><![CDATA[media_1]]></MediaId><MsgId>1234567890123456</MsgId>",
        )
    )
    assert isinstance(result, ImageMessage)
    check_common(result, "image")
    assert (result.pic_url, result.media_id, result.msg_id) == (
        "http://mmbiz.qpic.cn/x",
        "media_1",
        1234567890123456,
    )


def test_voice_message_with_and_without_recognition() -> None:
    """A voice message: format, and the transcript when present."""
    body = "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format><MsgId>7</MsgId>"
    plain = parse(push("voice", body))
    assert isinstance(plain, VoiceMessage)
    assert (plain.media_id, plain.format, plain.recognition) == ("m", "amr", None)
    heard = parse(push("voice", body + "<Recognition><![CDATA[腾讯微信团队]]></Recognition>"))
    assert isinstance(heard, VoiceMessage)
    assert heard.recognition == "腾讯微信团队"


@pytest.mark.parametrize(
    ("msg_type", "kind"), [("video", VideoMessage), ("shortvideo", ShortVideoMessage)]
)
def test_video_messages(msg_type: str, kind: type[Message]) -> None:
    """Video and short-video messages: media id and thumbnail media id."""
    result = parse(
        push(
            msg_type,
            "<MediaId><![CDATA[v1]]></MediaId><ThumbMediaId><![CDATA[t1]]></ThumbMediaId>"
            "<MsgId>99</MsgId>",
        )
    )
    assert type(result) is kind
    check_common(result, msg_type)
    assert isinstance(result, (VideoMessage, ShortVideoMessage))
    assert (result.media_id, result.thumb_media_id, result.msg_id) == ("v1", "t1", 99)


def test_location_message() -> None:
    """A location message: coordinates, scale and label."""
    result = parse(
        push(
            "location",
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>"
            "<Scale>20</Scale><Label><![CDATA[广州市天河区]]></Label><MsgId>5</MsgId>",
        )
    )
    assert isinstance(result, LocationMessage)
    assert result.location_x == pytest.approx(23.134521)
    assert result.location_y == pytest.approx(113.358803)
    assert (result.scale, result.label) == (20, "广州市天河区")


def test_link_message() -> None:
    """A link message: title, description and URL."""
    result = parse(
        push(
            "link",
            "<Title><![CDATA[标题]]></Title><Description><![CDATA[描述]]></Description>"
            "<Url><![CDATA[https://example.com/a?b=1&amp;c=2]]></Url><MsgId>6</MsgId>",
        )
    )
    assert isinstance(result, LinkMessage)
    assert (result.title, result.description) == ("标题", "描述")
    assert result.url == "https://example.com/a?b=1&amp;c=2"


def test_unknown_message_keeps_every_field() -> None:
    """A message type not modelled becomes UnknownMessage with all its fields."""
    result = parse(push("miniprogrampage", "<Title>t</Title><AppId>wxapp</AppId><MsgId>8</MsgId>"))
    assert isinstance(result, UnknownMessage)
    assert result.msg_id == 8
    assert result.fields["AppId"] == "wxapp"
    assert result.fields["Title"] == "t"
    assert result.fields["ToUserName"] == ACCOUNT


def test_message_types_are_case_insensitive() -> None:
    """MsgType "TEXT" is a text message."""
    result = parse(push("TEXT", "<Content>x</Content><MsgId>1</MsgId>"))
    assert isinstance(result, TextMessage)
    assert result.msg_type == "TEXT"


# -- events -----------------------------------------------------------------------------------


def test_plain_subscribe() -> None:
    """A follow without a QR code has no scene, ticket or key."""
    for body in ("", "<EventKey><![CDATA[]]></EventKey>"):
        result = parse(event("subscribe", body))
        assert isinstance(result, SubscribeEvent)
        check_common(result, "event")
        assert (result.event, result.scene, result.ticket, result.event_key) == (
            "subscribe",
            None,
            None,
            None,
        )


def test_subscribe_through_qr_code_strips_prefix() -> None:
    """A follow through a parameterized QR code: scene without "qrscene_", and the ticket."""
    result = parse(
        event(
            "subscribe",
            "<EventKey><![CDATA[qrscene_store:42|qrscene_x]]></EventKey>"
            "<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRw]]></Ticket>",
        )
    )
    assert isinstance(result, SubscribeEvent)
    assert result.scene == "store:42|qrscene_x"
    assert result.event_key == "qrscene_store:42|qrscene_x"
    assert result.ticket == "gQH47joAAAAAAAAAASxodHRw"


def test_unsubscribe() -> None:
    """An unfollow."""
    result = parse(event("unsubscribe", "<EventKey><![CDATA[]]></EventKey>"))
    assert isinstance(result, UnsubscribeEvent)
    check_common(result, "event")


def test_scan_keeps_scene_verbatim() -> None:
    """SCAN by a follower: the scene is EventKey as is (no prefix to strip)."""
    result = parse(
        event("SCAN", "<EventKey><![CDATA[123]]></EventKey><Ticket><![CDATA[T]]></Ticket>")
    )
    assert isinstance(result, ScanEvent)
    assert (result.event, result.scene, result.event_key, result.ticket) == (
        "SCAN",
        "123",
        "123",
        "T",
    )


def test_location_event() -> None:
    """LOCATION: latitude, longitude, precision."""
    result = parse(
        event(
            "LOCATION",
            "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
            "<Precision>119.385040</Precision>",
        )
    )
    assert isinstance(result, LocationEvent)
    assert result.latitude == pytest.approx(23.137466)
    assert result.longitude == pytest.approx(113.352425)
    assert result.precision == pytest.approx(119.38504)


def test_click_event() -> None:
    """CLICK: the button's key."""
    result = parse(event("CLICK", "<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>"))
    assert isinstance(result, ClickEvent)
    assert result.event_key == "V1001_TODAY_MUSIC"


def test_view_event_with_and_without_menu_id() -> None:
    """VIEW: the URL, and MenuId when the menu is conditional."""
    body = "<EventKey><![CDATA[https://example.com/]]></EventKey>"
    plain = parse(event("VIEW", body))
    assert isinstance(plain, ViewEvent)
    assert (plain.event_key, plain.menu_id) == ("https://example.com/", None)
    conditional = parse(event("VIEW", body + "<MenuId>208379533</MenuId>"))
    assert isinstance(conditional, ViewEvent)
    assert conditional.menu_id == 208379533


@pytest.mark.parametrize(
    ("name", "kind"),
    [("scancode_push", ScanCodePushEvent), ("scancode_waitmsg", ScanCodeWaitMsgEvent)],
)
def test_scancode_events(name: str, kind: type[Event]) -> None:
    """scancode_push / scancode_waitmsg: the scan type and result."""
    result = parse(
        event(
            name,
            "<EventKey><![CDATA[6]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
            "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
        )
    )
    assert type(result) is kind
    assert isinstance(result, (ScanCodePushEvent, ScanCodeWaitMsgEvent))
    assert (result.event_key, result.scan_type, result.scan_result) == ("6", "qrcode", "1")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("pic_sysphoto", PicSysPhotoEvent),
        ("pic_photo_or_album", PicPhotoOrAlbumEvent),
        ("pic_weixin", PicWeixinEvent),
    ],
)
def test_picture_events(name: str, kind: type[Event]) -> None:
    """pic_*: the count and each picture's MD5, for one and for several pictures."""
    one = (
        "<EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList>"
        "<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
        "</PicList></SendPicsInfo>"
    )
    result = parse(event(name, one))
    assert type(result) is kind
    assert isinstance(result, (PicSysPhotoEvent, PicPhotoOrAlbumEvent, PicWeixinEvent))
    assert (result.count, result.pic_md5_sums) == (1, ("1b5f7c23b5bf75682a53e7b6d163e185",))
    two = (
        "<EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList>"
        "<item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
        "</PicList></SendPicsInfo>"
    )
    several = parse(event(name, two))
    assert isinstance(several, (PicSysPhotoEvent, PicPhotoOrAlbumEvent, PicWeixinEvent))
    assert several.pic_md5_sums == ("a", "b")
    empty = parse(
        event(
            name,
            "<EventKey>6</EventKey><SendPicsInfo><Count>0</Count><PicList></PicList></SendPicsInfo>",
        )
    )
    assert isinstance(empty, (PicSysPhotoEvent, PicPhotoOrAlbumEvent, PicWeixinEvent))
    assert empty.pic_md5_sums == ()


def test_location_select_event() -> None:
    """location_select: the chosen place."""
    result = parse(
        event(
            "location_select",
            "<EventKey><![CDATA[6]]></EventKey><SendLocationInfo>"
            "<Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y>"
            "<Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州市海珠区]]></Label>"
            "<Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
        )
    )
    assert isinstance(result, LocationSelectEvent)
    assert (result.location_x, result.location_y, result.scale) == (23.0, 113.0, 15)
    assert (result.label, result.poiname) == (" 广州市海珠区", None)


def test_mass_send_job_finish() -> None:
    """MASSSENDJOBFINISH: MsgID (capital D) exact, the counts, and how many were filtered."""
    result = parse(
        event(
            "MASSSENDJOBFINISH",
            f"<MsgID>{BIG_ID}</MsgID><Status><![CDATA[send success]]></Status>"
            "<TotalCount>100</TotalCount><FilterCount>80</FilterCount>"
            "<SentCount>75</SentCount><ErrorCount>5</ErrorCount>"
            "<CopyrightCheckResult><Count>0</Count><ResultList/><CheckState>1</CheckState>"
            "</CopyrightCheckResult>",
            sender="mphelper",
        )
    )
    assert isinstance(result, MassSendJobFinishEvent)
    assert result.msg_id == BIG_ID
    assert result.status == "send success"
    assert (result.total_count, result.filter_count, result.sent_count, result.error_count) == (
        100,
        80,
        75,
        5,
    )
    assert result.filtered == 20
    assert result.succeeded
    assert result.from_user_name == "mphelper"
    copyright_check = result.fields["CopyrightCheckResult"]
    assert isinstance(copyright_check, dict) or hasattr(copyright_check, "keys")


def test_mass_send_job_failure_status_kept_verbatim() -> None:
    """An err(...) status is kept as is and is not a success."""
    result = parse(
        event(
            "masssendjobfinish",
            "<MsgID>1</MsgID><Status>err(20431)</Status><TotalCount>3</TotalCount>"
            "<FilterCount>3</FilterCount><SentCount>0</SentCount><ErrorCount>3</ErrorCount>",
        )
    )
    assert isinstance(result, MassSendJobFinishEvent)
    assert result.status == "err(20431)"
    assert not result.succeeded
    assert result.filtered == 0


def test_template_send_job_finish() -> None:
    """TEMPLATESENDJOBFINISH: MsgID and status."""
    result = parse(
        event(
            "TEMPLATESENDJOBFINISH",
            "<MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>",
        )
    )
    assert isinstance(result, TemplateSendJobFinishEvent)
    assert (result.msg_id, result.status) == (200163836, "failed:user block")


def test_unknown_event_keeps_every_field() -> None:
    """An event not modelled becomes UnknownEvent with all its fields, nested ones included."""
    result = parse(
        event(
            "view_miniprogram",
            "<EventKey><![CDATA[pages/index]]></EventKey><MenuId>1</MenuId>"
            "<Extra><A>1</A><A>2</A><B>x</B></Extra>",
        )
    )
    assert isinstance(result, UnknownEvent)
    assert result.event == "view_miniprogram"
    assert result.event_key == "pages/index"
    assert result.fields["MenuId"] == "1"
    extra = result.fields["Extra"]
    assert not isinstance(extra, (str, tuple))
    assert extra["A"] == ("1", "2")
    assert extra["B"] == "x"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Subscribe", SubscribeEvent),
        ("scan", ScanEvent),
        ("click", ClickEvent),
        ("View", ViewEvent),
    ],
)
def test_event_names_are_case_insensitive(name: str, kind: type[Event]) -> None:
    """Event names match whatever their case; the name is kept as sent."""
    result = parse(event(name, "<EventKey>k</EventKey>"))
    assert type(result) is kind
    assert isinstance(result, Event)
    assert result.event == name


def test_parsed_pushes_are_frozen_and_hashable() -> None:
    """Parsed pushes are immutable values: equal parses are equal and hash alike."""
    xml = push("text", "<Content>x</Content><MsgId>1</MsgId>")
    first, second = parse(xml), parse(xml.encode())
    assert first == second
    assert hash(first) == hash(second)
    with pytest.raises(AttributeError):
        first.content = "y"  # type: ignore[misc, union-attr]
    with pytest.raises(TypeError):
        first.fields["Content"] = "y"  # type: ignore[index]


# -- bad and hostile input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        push("text", "<MsgId>1</MsgId>"),
        push("text", "<Content>x</Content><MsgId>12a</MsgId>"),
        push("text", "<Content>x</Content><MsgId>-1</MsgId>"),
        push("text", "<Content><b>x</b></Content><MsgId>1</MsgId>"),
        push("image", "<MediaId>m</MediaId><MsgId>1</MsgId>"),
        push(
            "location",
            "<Location_X>nan</Location_X><Location_Y>1</Location_Y><Scale>1</Scale><MsgId>1</MsgId>",
        ),
        push(
            "location",
            "<Location_X>1e999</Location_X><Location_Y>1</Location_Y><Scale>1</Scale><MsgId>1</MsgId>",
        ),
        event("CLICK"),
        event("scancode_push", "<EventKey>6</EventKey>"),
        event("MASSSENDJOBFINISH", "<MsgID>1</MsgID><Status>x</Status>"),
        event("VIEW", "<EventKey>u</EventKey><MenuId>abc</MenuId>"),
        push("event", ""),
        "<xml><MsgType>text</MsgType></xml>",
        push("text", "<Content>x</Content><MsgId>1</MsgId>").replace(str(STAMP), "x"),
        push("text", "<Content>x</Content><MsgId>1</MsgId>").replace(str(STAMP), "9" * 30),
        "<notxml><a>1</a></notxml>",
        "<xml><a>1</a>",
        "<xml>&unknown;</xml>",
        "",
        "   ",
        "<xml>" * 40 + "</xml>" * 40,
    ],
)
def test_malformed_pushes_raise_parse_error(body: str) -> None:
    """Malformed XML, a missing or malformed field raises CallbackParseError."""
    with pytest.raises(CallbackParseError):
        parse(body)


def test_xxe_is_refused() -> None:
    """An external entity (XXE) is refused, and the file is never read."""
    body = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"
    )
    with pytest.raises(CallbackParseError, match="unsafe"):
        parse(body)


def test_external_dtd_is_refused() -> None:
    """A DOCTYPE pointing at an external DTD is refused."""
    body = '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml/>'
    with pytest.raises(CallbackParseError, match="unsafe"):
        parse(body)


def test_billion_laughs_is_refused() -> None:
    """Nested entity expansion (billion laughs) is refused before expanding anything."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    body = f'<?xml version="1.0"?><!DOCTYPE xml [{entities}]><xml><Content>&lol9;</Content></xml>'
    with pytest.raises(CallbackParseError, match="unsafe"):
        parse(body)


def test_size_limit_is_checked_before_parsing() -> None:
    """A body over max_size raises PayloadTooLarge, for str and bytes, counted in bytes."""
    small = push("text", "<Content>x</Content><MsgId>1</MsgId>")
    assert isinstance(parse(small, max_size=len(small)), TextMessage)
    with pytest.raises(PayloadTooLarge):
        parse(small, max_size=len(small) - 1)
    with pytest.raises(PayloadTooLarge):
        parse(small.encode(), max_size=len(small) - 1)
    wide = push("text", "<Content>微信</Content><MsgId>1</MsgId>")
    with pytest.raises(PayloadTooLarge):
        parse(wide, max_size=len(wide))
    with pytest.raises(PayloadTooLarge):
        parse("<xml>" + "x" * (1 << 20) + "</xml>")


def test_non_text_input_is_a_type_error() -> None:
    """Passing something other than str or bytes is a TypeError (a bug, not a bad request)."""
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]


XML_NAMES = st.sampled_from(
    [
        "xml",
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "Event",
        "EventKey",
        "Content",
        "SendPicsInfo",
        "PicList",
        "item",
        "Count",
        "Location_X",
        "Scale",
        "MsgID",
        "TotalCount",
        "FilterCount",
        "ScanCodeInfo",
        "a",
    ]
)
LEAVES = st.one_of(
    st.sampled_from(
        [
            "text",
            "event",
            "subscribe",
            "SCAN",
            "CLICK",
            "VIEW",
            "location",
            "pic_weixin",
            "MASSSENDJOBFINISH",
            "location_select",
            "scancode_push",
            "1700000000",
            "qrscene_1",
            "-1",
            "1e999",
            "nan",
            "",
            "]]>",
            "&amp;",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def xml_documents(draw: st.DrawFn, depth: int = 0) -> str:
    """Random XML-ish documents built from WeChat's field names, sometimes broken."""
    name = draw(XML_NAMES)
    if depth > 3 or draw(st.booleans()):
        leaf = draw(LEAVES)
        inner = draw(st.sampled_from([leaf, f"<![CDATA[{leaf}]]>"]))
    else:
        inner = "".join(draw(st.lists(xml_documents(depth + 1), max_size=8)))
    closing = draw(st.sampled_from([f"</{name}>", f"</{name}>", "", "</other>"]))
    return f"<{name}>{inner}{closing}"


@given(body=st.one_of(st.text(), st.binary(), xml_documents()))
def test_garbage_raises_only_parse_error(body: str | bytes) -> None:
    """Any text, bytes or random XML either parses or raises CallbackParseError, nothing else."""
    try:
        result = parse(body)
    except CallbackParseError:
        return
    except CallbackError as error:  # pragma: no cover - the assertion explains the failure
        raise AssertionError(f"unexpected {type(error).__name__}") from error
    assert isinstance(result, (Message, Event))


@given(
    names=st.lists(
        st.sampled_from(["text", "image", "voice", "video", "shortvideo", "location", "link"]),
        min_size=1,
        max_size=1,
    ),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "Content",
                "MsgId",
                "PicUrl",
                "MediaId",
                "Format",
                "ThumbMediaId",
                "Location_X",
                "Location_Y",
                "Scale",
                "Label",
                "Title",
                "Url",
            ]
        ),
        st.one_of(st.text(max_size=10), st.integers(-5, 2**70).map(str)),
    ),
)
def test_well_formed_messages_parse_or_raise_parse_error(
    names: list[str], fields: dict[str, str]
) -> None:
    """Random field sets on known message types parse or raise CallbackParseError only."""
    from xml.sax.saxutils import escape

    body = "".join(f"<{key}>{escape(value)}</{key}>" for key, value in fields.items())
    try:
        result = parse(push(names[0], body))
    except CallbackParseError:
        return
    assert isinstance(result, Message)


def test_parsed_pushes_pickle() -> None:
    """A parsed push survives pickling (e.g. to a work queue in another process)."""
    import pickle

    original = parse(
        event(
            "pic_weixin",
            "<EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList>"
            "<item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
            "</PicList></SendPicsInfo>",
        )
    )
    copy = pickle.loads(pickle.dumps(original))
    assert copy == original
    assert copy.fields["SendPicsInfo"] == original.fields["SendPicsInfo"]
