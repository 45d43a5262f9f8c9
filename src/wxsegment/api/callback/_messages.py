"""Typed pushes: the messages and events WeChat posts to the callback URL, and `parse`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Final, TypedDict

import attrs

from wxsegment.api.callback._errors import CallbackParseError
from wxsegment.api.callback._xml import DEFAULT_MAX_SIZE, FieldValue, fields_of, parse_xml

__all__ = [
    "QR_SCENE_PREFIX",
    "ClickEvent",
    "Event",
    "ImageMessage",
    "LinkMessage",
    "LocationEvent",
    "LocationMessage",
    "LocationSelectEvent",
    "MassSendJobFinishEvent",
    "Message",
    "PicEvent",
    "PicPhotoOrAlbumEvent",
    "PicSysPhotoEvent",
    "PicWeixinEvent",
    "PublishJobFinishEvent",
    "ScanCodeEvent",
    "ScanCodePushEvent",
    "ScanCodeWaitMsgEvent",
    "ScanEvent",
    "ShortVideoMessage",
    "SubscribeEvent",
    "SubscribeMsgChangeEvent",
    "SubscribeMsgChoice",
    "SubscribeMsgPopupEvent",
    "SubscribeMsgSent",
    "SubscribeMsgSentEvent",
    "TemplateSendJobFinishEvent",
    "TextMessage",
    "UnknownEvent",
    "UnknownMessage",
    "UnsubscribeEvent",
    "VideoMessage",
    "ViewEvent",
    "VoiceMessage",
    "parse",
]

#: WeChat prefixes the scene of a parameterized QR code with this in a ``subscribe`` event.
QR_SCENE_PREFIX: Final = "qrscene_"

_DIGITS: Final = re.compile(r"[0-9]+")
_DECIMAL: Final = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


@attrs.frozen(kw_only=True)
class _Push:
    """Fields every push carries. ``fields`` keeps the whole body, known fields included."""

    to_user_name: str
    from_user_name: str
    create_time: datetime
    create_timestamp: int
    msg_type: str
    fields: Mapping[str, FieldValue] = attrs.field(repr=False, hash=False)


@attrs.frozen(kw_only=True)
class Message(_Push):
    """A message a follower sent (``MsgType`` other than ``event``)."""


@attrs.frozen(kw_only=True)
class Event(_Push):
    """An event (``MsgType=event``); ``event`` is the name exactly as WeChat sent it."""

    event: str


# -- messages ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TextMessage(Message):
    """A text message."""

    msg_id: int
    content: str


@attrs.frozen(kw_only=True)
class ImageMessage(Message):
    """An image message."""

    msg_id: int
    pic_url: str
    media_id: str


@attrs.frozen(kw_only=True)
class VoiceMessage(Message):
    """A voice message; ``recognition`` is WeChat's transcript when that feature is on."""

    msg_id: int
    media_id: str
    format: str
    recognition: str | None = None


@attrs.frozen(kw_only=True)
class VideoMessage(Message):
    """A video message."""

    msg_id: int
    media_id: str
    thumb_media_id: str


@attrs.frozen(kw_only=True)
class ShortVideoMessage(Message):
    """A short-video message."""

    msg_id: int
    media_id: str
    thumb_media_id: str


@attrs.frozen(kw_only=True)
class LocationMessage(Message):
    """A location the follower shared: latitude ``location_x``, longitude ``location_y``."""

    msg_id: int
    location_x: float
    location_y: float
    scale: int
    label: str


@attrs.frozen(kw_only=True)
class LinkMessage(Message):
    """A link the follower shared."""

    msg_id: int
    title: str
    description: str
    url: str


@attrs.frozen(kw_only=True)
class UnknownMessage(Message):
    """A message of a type this library does not model; every field is in ``fields``."""

    msg_id: int | None = None


# -- events -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SubscribeEvent(Event):
    """A follow. Through a parameterized QR code: ``scene`` without ``qrscene_``, ``ticket``.

    A plain follow has ``scene``, ``ticket`` and ``event_key`` all None.
    """

    event_key: str | None = None
    scene: str | None = None
    ticket: str | None = None


@attrs.frozen(kw_only=True)
class UnsubscribeEvent(Event):
    """An unfollow."""


@attrs.frozen(kw_only=True)
class ScanEvent(Event):
    """A follower already following scanned a parameterized QR code; ``scene`` is its value."""

    event_key: str
    scene: str
    ticket: str | None = None


@attrs.frozen(kw_only=True)
class LocationEvent(Event):
    """The follower's location, reported when they open the chat (if they allowed it)."""

    latitude: float
    longitude: float
    precision: float


@attrs.frozen(kw_only=True)
class ClickEvent(Event):
    """A click on a ``click`` menu button; ``event_key`` is the button's key."""

    event_key: str


@attrs.frozen(kw_only=True)
class ViewEvent(Event):
    """A click on a ``view`` menu button; ``event_key`` is the URL.

    ``menu_id`` is set when the button belongs to a conditional menu.
    """

    event_key: str
    menu_id: int | None = None


@attrs.frozen(kw_only=True)
class ScanCodeEvent(Event):
    """A scan through a ``scancode_*`` menu button (``ScanCodeInfo``)."""

    event_key: str
    scan_type: str
    scan_result: str


@attrs.frozen(kw_only=True)
class ScanCodePushEvent(ScanCodeEvent):
    """``scancode_push``: the client handled the scanned code itself."""


@attrs.frozen(kw_only=True)
class ScanCodeWaitMsgEvent(ScanCodeEvent):
    """``scancode_waitmsg``: the client waits for the account's reply."""


@attrs.frozen(kw_only=True)
class PicEvent(Event):
    """Pictures sent through a ``pic_*`` menu button (``SendPicsInfo``)."""

    event_key: str
    count: int
    pic_md5_sums: tuple[str, ...]


@attrs.frozen(kw_only=True)
class PicSysPhotoEvent(PicEvent):
    """``pic_sysphoto``: taken with the camera."""


@attrs.frozen(kw_only=True)
class PicPhotoOrAlbumEvent(PicEvent):
    """``pic_photo_or_album``: camera or album."""


@attrs.frozen(kw_only=True)
class PicWeixinEvent(PicEvent):
    """``pic_weixin``: from the WeChat album."""


@attrs.frozen(kw_only=True)
class LocationSelectEvent(Event):
    """A location chosen through a ``location_select`` menu button (``SendLocationInfo``)."""

    event_key: str
    location_x: float
    location_y: float
    scale: int
    label: str
    poiname: str | None = None


@attrs.frozen(kw_only=True)
class MassSendJobFinishEvent(Event):
    """A mass send (nearly) finished. ``from_user_name`` is WeChat's mass-send assistant.

    ``status`` is kept verbatim: ``send success``, ``send fail`` or ``err(<code>)``.
    """

    msg_id: int
    status: str
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int

    @property
    def filtered(self) -> int:
        """Followers WeChat dropped before sending (region, refusal, monthly limit reached)."""
        return self.total_count - self.filter_count

    @property
    def succeeded(self) -> bool:
        """True when ``status`` is ``send success`` (a few individual failures are possible)."""
        return self.status.strip().lower() == "send success"


@attrs.frozen(kw_only=True)
class TemplateSendJobFinishEvent(Event):
    """A template message was delivered, refused by the user, or failed (``status``)."""

    msg_id: int
    status: str


@attrs.frozen(kw_only=True)
class PublishJobFinishEvent(Event):
    """A publish task (``freepublish/submit``) ended (``PUBLISHJOBFINISH``).

    ``publish_status``: 0 success, 2-4 failures (``fail_idx`` lists the 1-based articles that
    failed), other values kept raw. ``article_urls`` are in article order.
    """

    publish_id: str
    publish_status: int
    article_id: str | None = None
    article_urls: tuple[str, ...] = ()
    fail_idx: tuple[int, ...] = ()

    @property
    def succeeded(self) -> bool:
        """True when the articles were published."""
        return self.publish_status == 0


@attrs.frozen
class SubscribeMsgChoice:
    """A user's answer for one template: ``status`` ``accept`` or ``reject``.

    ``popup_scene`` (popup events only): 1 an H5 page, 2 an article; None when absent.
    """

    template_id: str
    status: str
    popup_scene: int | None = None

    @property
    def accepted(self) -> bool:
        """True for ``accept``."""
        return self.status.strip().lower() == "accept"


@attrs.frozen
class SubscribeMsgSent:
    """The delivery result of one subscribe notification (``error_code`` 0: delivered)."""

    template_id: str
    msg_id: int
    error_code: int
    error_status: str


@attrs.frozen(kw_only=True)
class SubscribeMsgPopupEvent(Event):
    """A user answered a subscription popup (``subscribe_msg_popup_event``), per template."""

    choices: tuple[SubscribeMsgChoice, ...]


@attrs.frozen(kw_only=True)
class SubscribeMsgChangeEvent(Event):
    """A user changed subscriptions in the settings (``subscribe_msg_change_event``)."""

    choices: tuple[SubscribeMsgChoice, ...]


@attrs.frozen(kw_only=True)
class SubscribeMsgSentEvent(Event):
    """Delivery results of subscribe notifications (``subscribe_msg_sent_event``)."""

    results: tuple[SubscribeMsgSent, ...]


@attrs.frozen(kw_only=True)
class UnknownEvent(Event):
    """An event this library does not model; every field is in ``fields``."""

    event_key: str | None = None


# -- parsing ----------------------------------------------------------------------------------

_Fields = Mapping[str, FieldValue]
_MessageBuilder = Callable[[_Fields, "_Common"], Message]
_EventBuilder = Callable[[_Fields, "_EventCommon"], Event]


def _text(fields: _Fields, name: str, where: str = "") -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CallbackParseError(f"<{where}{name}> must hold text, not nested elements")
    return value


def _required(fields: _Fields, name: str, where: str = "") -> str:
    value = _text(fields, name, where)
    if value is None:
        raise CallbackParseError(f"push lacks <{where}{name}>")
    return value


def _optional(fields: _Fields, name: str) -> str | None:
    value = _text(fields, name)
    return value if value else None


def _int(text: str, name: str) -> int:
    stripped = text.strip()
    if _DIGITS.fullmatch(stripped) is None:
        raise CallbackParseError(f"<{name}> must be a non-negative integer")
    try:
        return int(stripped)
    except ValueError:  # beyond int()'s digit limit
        raise CallbackParseError(f"<{name}> is too long") from None


def _float(text: str, name: str) -> float:
    stripped = text.strip()
    if _DECIMAL.fullmatch(stripped) is None:
        raise CallbackParseError(f"<{name}> must be a decimal number")
    value = float(stripped)
    if not math.isfinite(value):
        raise CallbackParseError(f"<{name}> is out of range")
    return value


def _required_int(fields: _Fields, name: str) -> int:
    return _int(_required(fields, name), name)


def _required_float(fields: _Fields, name: str) -> float:
    return _float(_required(fields, name), name)


def _section(fields: _Fields, name: str) -> _Fields:
    value = fields.get(name)
    if not isinstance(value, Mapping):
        raise CallbackParseError(f"push lacks the <{name}> section")
    return value


class _Common(TypedDict):
    to_user_name: str
    from_user_name: str
    create_time: datetime
    create_timestamp: int
    msg_type: str
    fields: _Fields


class _EventCommon(_Common):
    event: str


def _common(fields: _Fields) -> _Common:
    stamp = _required_int(fields, "CreateTime")
    try:
        created = datetime.fromtimestamp(stamp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise CallbackParseError("<CreateTime> is out of range") from None
    return _Common(
        to_user_name=_required(fields, "ToUserName"),
        from_user_name=_required(fields, "FromUserName"),
        create_time=created,
        create_timestamp=stamp,
        msg_type=_required(fields, "MsgType"),
        fields=fields,
    )


def _text_message(fields: _Fields, common: _Common) -> Message:
    return TextMessage(
        **common, msg_id=_required_int(fields, "MsgId"), content=_required(fields, "Content")
    )


def _image_message(fields: _Fields, common: _Common) -> Message:
    return ImageMessage(
        **common,
        msg_id=_required_int(fields, "MsgId"),
        pic_url=_required(fields, "PicUrl"),
        media_id=_required(fields, "MediaId"),
    )


def _voice_message(fields: _Fields, common: _Common) -> Message:
    return VoiceMessage(
        **common,
        msg_id=_required_int(fields, "MsgId"),
        media_id=_required(fields, "MediaId"),
        format=_required(fields, "Format"),
        recognition=_optional(fields, "Recognition"),
    )


def _video_message(kind: type[VideoMessage] | type[ShortVideoMessage]) -> _MessageBuilder:
    def build(fields: _Fields, common: _Common) -> Message:
        return kind(
            **common,
            msg_id=_required_int(fields, "MsgId"),
            media_id=_required(fields, "MediaId"),
            thumb_media_id=_required(fields, "ThumbMediaId"),
        )

    return build


def _location_message(fields: _Fields, common: _Common) -> Message:
    return LocationMessage(
        **common,
        msg_id=_required_int(fields, "MsgId"),
        location_x=_required_float(fields, "Location_X"),
        location_y=_required_float(fields, "Location_Y"),
        scale=_required_int(fields, "Scale"),
        label=_text(fields, "Label") or "",
    )


def _link_message(fields: _Fields, common: _Common) -> Message:
    return LinkMessage(
        **common,
        msg_id=_required_int(fields, "MsgId"),
        title=_required(fields, "Title"),
        description=_text(fields, "Description") or "",
        url=_required(fields, "Url"),
    )


def _unknown_message(fields: _Fields, common: _Common) -> Message:
    msg_id = _optional(fields, "MsgId")
    return UnknownMessage(
        **common,
        msg_id=None if msg_id is None else _int(msg_id, "MsgId"),
    )


def _subscribe(fields: _Fields, common: _EventCommon) -> Event:
    key = _optional(fields, "EventKey")
    scene = key[len(QR_SCENE_PREFIX) :] if key and key.startswith(QR_SCENE_PREFIX) else None
    return SubscribeEvent(
        **common,
        event_key=key,
        scene=scene,
        ticket=_optional(fields, "Ticket"),
    )


def _unsubscribe(fields: _Fields, common: _EventCommon) -> Event:
    return UnsubscribeEvent(**common)


def _scan(fields: _Fields, common: _EventCommon) -> Event:
    key = _required(fields, "EventKey")
    return ScanEvent(
        **common,
        event_key=key,
        scene=key,
        ticket=_optional(fields, "Ticket"),
    )


def _location_event(fields: _Fields, common: _EventCommon) -> Event:
    return LocationEvent(
        **common,
        latitude=_required_float(fields, "Latitude"),
        longitude=_required_float(fields, "Longitude"),
        precision=_required_float(fields, "Precision"),
    )


def _click(fields: _Fields, common: _EventCommon) -> Event:
    return ClickEvent(**common, event_key=_required(fields, "EventKey"))


def _view(fields: _Fields, common: _EventCommon) -> Event:
    menu_id = _optional(fields, "MenuId")
    return ViewEvent(
        **common,
        event_key=_required(fields, "EventKey"),
        menu_id=None if menu_id is None else _int(menu_id, "MenuId"),
    )


def _scancode(kind: type[ScanCodeEvent]) -> _EventBuilder:
    def build(fields: _Fields, common: _EventCommon) -> Event:
        info = _section(fields, "ScanCodeInfo")
        return kind(
            **common,
            event_key=_required(fields, "EventKey"),
            scan_type=_required(info, "ScanType", "ScanCodeInfo/"),
            scan_result=_required(info, "ScanResult", "ScanCodeInfo/"),
        )

    return build


def _md5_sums(info: _Fields) -> tuple[str, ...]:
    pictures = info.get("PicList")
    if pictures is None or pictures == "":
        return ()
    if not isinstance(pictures, Mapping):
        raise CallbackParseError("<SendPicsInfo/PicList> must hold <item> elements")
    items = pictures.get("item", ())
    if not isinstance(items, tuple):
        items = (items,)
    sums = []
    for item in items:
        if not isinstance(item, Mapping):
            raise CallbackParseError("<PicList/item> must hold <PicMd5Sum>")
        sums.append(_required(item, "PicMd5Sum", "PicList/item/"))
    return tuple(sums)


def _pictures(kind: type[PicEvent]) -> _EventBuilder:
    def build(fields: _Fields, common: _EventCommon) -> Event:
        info = _section(fields, "SendPicsInfo")
        return kind(
            **common,
            event_key=_required(fields, "EventKey"),
            count=_int(_required(info, "Count", "SendPicsInfo/"), "SendPicsInfo/Count"),
            pic_md5_sums=_md5_sums(info),
        )

    return build


def _location_select(fields: _Fields, common: _EventCommon) -> Event:
    info = _section(fields, "SendLocationInfo")
    where = "SendLocationInfo/"
    return LocationSelectEvent(
        **common,
        event_key=_required(fields, "EventKey"),
        location_x=_float(_required(info, "Location_X", where), where + "Location_X"),
        location_y=_float(_required(info, "Location_Y", where), where + "Location_Y"),
        scale=_int(_required(info, "Scale", where), where + "Scale"),
        label=_text(info, "Label", where) or "",
        poiname=_optional(info, "Poiname"),
    )


def _job_msg_id(fields: _Fields) -> int:
    # Job events spell it MsgID (capital D); accept the usual MsgId as well.
    name = "MsgID" if "MsgID" in fields else "MsgId"
    return _required_int(fields, name)


def _mass_send_finish(fields: _Fields, common: _EventCommon) -> Event:
    return MassSendJobFinishEvent(
        **common,
        msg_id=_job_msg_id(fields),
        status=_required(fields, "Status"),
        total_count=_required_int(fields, "TotalCount"),
        filter_count=_required_int(fields, "FilterCount"),
        sent_count=_required_int(fields, "SentCount"),
        error_count=_required_int(fields, "ErrorCount"),
    )


def _template_send_finish(fields: _Fields, common: _EventCommon) -> Event:
    return TemplateSendJobFinishEvent(
        **common,
        msg_id=_job_msg_id(fields),
        status=_required(fields, "Status"),
    )


def _repeated(value: FieldValue | None, where: str) -> tuple[_Fields, ...]:
    """A repeated element (one mapping, or a tuple of them) as a tuple of mappings."""
    if value is None or value == "":
        return ()
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if not isinstance(item, Mapping):
            raise CallbackParseError(f"<{where}> must hold elements")
    return tuple(item for item in items if isinstance(item, Mapping))


def _texts(value: FieldValue | None, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(item, str) for item in items):
        raise CallbackParseError(f"<{where}> must hold text")
    return tuple(item for item in items if isinstance(item, str))


def _publish_finish(fields: _Fields, common: _EventCommon) -> Event:
    info = _section(fields, "PublishEventInfo")
    where = "PublishEventInfo/"
    detail = info.get("article_detail")
    items: tuple[_Fields, ...] = ()
    if isinstance(detail, Mapping):
        items = _repeated(detail.get("item"), where + "article_detail/item")
    ordered = sorted(items, key=lambda item: _int(_required(item, "idx", where + "item/"), "idx"))
    return PublishJobFinishEvent(
        **common,
        # Lower-case snake_case children, unlike every other push.
        publish_id=_required(info, "publish_id", where),
        publish_status=_int(_required(info, "publish_status", where), "publish_status"),
        article_id=_text(info, "article_id", where) or None,
        article_urls=tuple(_required(item, "article_url", where) for item in ordered),
        fail_idx=tuple(
            _int(text, "fail_idx") for text in _texts(info.get("fail_idx"), where + "fail_idx")
        ),
    )


def _subscribe_list(fields: _Fields, wrappers: tuple[str, ...]) -> tuple[_Fields, ...]:
    # The legacy sample of the change event used the popup wrapper: accept either name.
    for wrapper in wrappers:
        if wrapper in fields:
            section = _section(fields, wrapper)
            return _repeated(section.get("List"), wrapper + "/List")
    raise CallbackParseError(f"push lacks the <{wrappers[0]}> section")


def _choices(fields: _Fields, wrappers: tuple[str, ...]) -> tuple[SubscribeMsgChoice, ...]:
    choices = []
    for item in _subscribe_list(fields, wrappers):
        scene = _text(item, "PopupScene")
        choices.append(
            SubscribeMsgChoice(
                template_id=_required(item, "TemplateId", "List/"),
                status=_required(item, "SubscribeStatusString", "List/"),
                popup_scene=_int(scene, "PopupScene") if scene else None,
            )
        )
    return tuple(choices)


def _subscribe_popup(fields: _Fields, common: _EventCommon) -> Event:
    return SubscribeMsgPopupEvent(**common, choices=_choices(fields, ("SubscribeMsgPopupEvent",)))


def _subscribe_change(fields: _Fields, common: _EventCommon) -> Event:
    wrappers = ("SubscribeMsgChangeEvent", "SubscribeMsgPopupEvent")
    return SubscribeMsgChangeEvent(**common, choices=_choices(fields, wrappers))


def _subscribe_sent(fields: _Fields, common: _EventCommon) -> Event:
    results = tuple(
        SubscribeMsgSent(
            template_id=_required(item, "TemplateId", "List/"),
            msg_id=_job_msg_id(item),
            error_code=_int(_required(item, "ErrorCode", "List/"), "ErrorCode"),
            error_status=_text(item, "ErrorStatus", "List/") or "",
        )
        for item in _subscribe_list(fields, ("SubscribeMsgSentEvent",))
    )
    return SubscribeMsgSentEvent(**common, results=results)


def _unknown_event(fields: _Fields, common: _EventCommon) -> Event:
    return UnknownEvent(**common, event_key=_optional(fields, "EventKey"))


_MESSAGES: Final[Mapping[str, _MessageBuilder]] = {
    "text": _text_message,
    "image": _image_message,
    "voice": _voice_message,
    "video": _video_message(VideoMessage),
    "shortvideo": _video_message(ShortVideoMessage),
    "location": _location_message,
    "link": _link_message,
}

_EVENTS: Final[Mapping[str, _EventBuilder]] = {
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "scan": _scan,
    "location": _location_event,
    "click": _click,
    "view": _view,
    "scancode_push": _scancode(ScanCodePushEvent),
    "scancode_waitmsg": _scancode(ScanCodeWaitMsgEvent),
    "pic_sysphoto": _pictures(PicSysPhotoEvent),
    "pic_photo_or_album": _pictures(PicPhotoOrAlbumEvent),
    "pic_weixin": _pictures(PicWeixinEvent),
    "location_select": _location_select,
    "masssendjobfinish": _mass_send_finish,
    "templatesendjobfinish": _template_send_finish,
    "publishjobfinish": _publish_finish,
    "subscribe_msg_popup_event": _subscribe_popup,
    "subscribe_msg_change_event": _subscribe_change,
    "subscribe_msg_sent_event": _subscribe_sent,
}


def parse(xml: str | bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Message | Event:
    """Parse a plaintext push into its typed message or event.

    Message types and event names are matched case-insensitively; unknown ones become
    `UnknownMessage` / `UnknownEvent`. Every failure is a `CallbackParseError`.
    """
    fields = fields_of(parse_xml(xml, max_size=max_size))
    common = _common(fields)
    msg_type = common["msg_type"].strip().lower()
    if msg_type == "event":
        event = _required(fields, "Event")
        builder = _EVENTS.get(event.strip().lower(), _unknown_event)
        return builder(fields, _EventCommon(**common, event=event))
    return _MESSAGES.get(msg_type, _unknown_message)(fields, common)
