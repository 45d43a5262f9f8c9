"""Configuration and read-only state records of the fake WeChat.

Every number WeChat documents is a default here; every behaviour the facts leave UNCONFIRMED or
in CONFLICT is an option, so a test can pin the variant it cares about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from wxsegment._keywords import KEYWORD_RULES

__all__ = [
    "DEFAULT_WINDOW_RULES",
    "FAULT_KINDS",
    "FakeCall",
    "FakeConfig",
    "FakeFollower",
    "FakeMessage",
    "FakeQRCode",
    "FakeTag",
    "FaultKind",
    "MassJob",
    "WindowRule",
]

FaultKind = Literal[
    "busy",
    "http_500",
    "http_502",
    "timeout",
    "rate_limited",
    "mass_rate",
    "token_expired",
    "token_invalid",
    "mass_quota",
    "mass_agreement",
    "mass_busy",
    "clientmsgid_too_fast",
]

#: The fault kinds `FakeWeChat.inject` accepts.
FAULT_KINDS: Final[frozenset[str]] = frozenset(
    {
        "busy",
        "http_500",
        "http_502",
        "timeout",
        "rate_limited",
        "mass_rate",
        "token_expired",
        "token_invalid",
        "mass_quota",
        "mass_agreement",
        "mass_busy",
        "clientmsgid_too_fast",
    }
)


def _seconds(value: float | timedelta) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected seconds or a timedelta, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return float(value)


def _at_least(low: int) -> Callable[[Any, Any, Any], None]:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{attribute.name} must be at least {low}, got {value}")

    return check


def _frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


def _reserved_default() -> Mapping[int, str]:
    return MappingProxyType({2: "星标组"})


def _daily_default() -> Mapping[str, int]:
    # The documented defaults of a new account (API_Call_Limits); the console value may differ.
    return MappingProxyType(
        {
            "/cgi-bin/token": 2000,
            "/cgi-bin/stable_token": 500_000,
            "/cgi-bin/menu/create": 1000,
            "/cgi-bin/menu/get": 10_000,
            "/cgi-bin/menu/delete": 1000,
            "/cgi-bin/menu/addconditional": 2000,
            "/cgi-bin/menu/delconditional": 2000,
            "/cgi-bin/menu/trymatch": 20_000,
            "/cgi-bin/media/upload": 100_000,
            "/cgi-bin/media/get": 200_000,
            "/cgi-bin/message/custom/send": 500_000,
            "/cgi-bin/message/mass/sendall": 100,
            "/cgi-bin/message/mass/send": 100,
            "/cgi-bin/message/template/send": 100_000,
            "/cgi-bin/qrcode/create": 100_000,
            "/cgi-bin/user/get": 500,
            "/cgi-bin/user/info": 5_000_000,
            "/cgi-bin/user/info/updateremark": 10_000,
        }
    )


def _minute_default() -> Mapping[str, int]:
    return MappingProxyType({"/cgi-bin/stable_token": 10_000})


def _optional_frozenset(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


@attrs.frozen
class WindowRule:
    """What one kind of follower interaction allows: messages within a duration (None: any)."""

    duration: timedelta
    messages: int | None


#: The current 服务号 table: a message opens 5 sends in 48 h; a menu click, a follow or a QR scan
#: 3 sends in 1 minute; a payment unlimited sends in 48 h. The numbers have changed before.
DEFAULT_WINDOW_RULES: Final[Mapping[str, WindowRule]] = MappingProxyType(
    {
        "message": WindowRule(timedelta(hours=48), 5),
        "menu": WindowRule(timedelta(minutes=1), 3),
        "follow": WindowRule(timedelta(minutes=1), 3),
        "scan": WindowRule(timedelta(minutes=1), 3),
        "payment": WindowRule(timedelta(hours=48), None),
    }
)


@attrs.frozen(kw_only=True)
class FakeConfig:
    """Knobs of the fake WeChat; durations accept seconds or a `timedelta` (stored as seconds).

    Defaults follow the documented values; options marked UNCONFIRMED in the docs pick the
    stricter reading unless said otherwise.
    """

    #: ``expires_in`` of every token (WeChat: "a value ≤ 7200 s").
    token_ttl: float = attrs.field(default=7200.0, converter=_seconds)
    #: How long a classic token keeps working after a newer one was fetched (~5 minutes).
    token_grace: float = attrs.field(default=300.0, converter=_seconds)
    #: stable_token hands out a fresh token once the current one has less than this left.
    stable_rotate_before: float = attrs.field(default=300.0, converter=_seconds)
    #: force_refresh=true: at least this far apart, at most this many per day (Asia/Shanghai).
    stable_force_min_interval: float = attrs.field(default=30.0, converter=_seconds)
    stable_force_per_day: int = attrs.field(default=20, validator=_at_least(0))
    #: UNCONFIRMED: the errcode for a force_refresh beyond its limits.
    stable_force_errcode: int = 45009
    #: Wrong secret when fetching a token: 40125 today, 40001 in older answers.
    bad_secret_errcode: int = 40125
    #: Mass-send calls (sendall, send, preview) allowed per rolling minute before 45011.
    mass_per_minute: int = attrs.field(default=60, validator=_at_least(1))
    #: Delay added to each request by the ASGI app (not by ``handler``).
    latency: float = attrs.field(default=0.0, converter=_seconds)
    #: Mass pushes a follower receives per natural month; further ones are filtered silently.
    monthly_mass_limit: int = attrs.field(default=4, validator=_at_least(0))
    #: UNCONFIRMED: whether a preview counts toward the monthly limit.
    preview_counts_toward_monthly: bool = False
    #: ``user/get`` page size.
    user_page_size: int = attrs.field(default=10_000, validator=_at_least(1))
    #: UNCONFIRMED: ``user/tag/get`` page size (undocumented).
    tag_members_page_size: int = attrs.field(default=10_000, validator=_at_least(1))
    #: The last non-empty page echoes its last openid as ``next_openid`` (as in WeChat's
    #: example) and the call after it returns no ``data``; ``"empty"`` answers ``""`` at once.
    last_page_next_openid: Literal["last", "empty"] = attrs.field(
        default="last", validator=attrs.validators.in_(("last", "empty"))
    )
    #: UNCONFIRMED: ``user/info/batchget`` maximum (documented 100; one report says 50).
    batchget_max: int = attrs.field(default=100, validator=_at_least(1))
    #: Tags an account may create (reserved tags not counted), tags per follower.
    max_tags: int = attrs.field(default=100, validator=_at_least(0))
    max_tags_per_follower: int = attrs.field(default=20, validator=_at_least(0))
    #: A tag with more fans than this cannot be deleted (45057).
    max_deletable_tag_fans: int = attrs.field(default=100_000, validator=_at_least(0))
    #: Tags present from the start, never modifiable (id -> name); ids 0, 1, 2 are reserved.
    reserved_tags: Mapping[int, str] = attrs.field(
        factory=_reserved_default, converter=_frozen_mapping
    )
    #: First id handed to a created tag.
    first_tag_id: int = attrs.field(default=100, validator=_at_least(3))
    #: CONFLICT: the clientmsgid length limit (docs 64 bytes, 45067 observed above 32).
    clientmsgid_max_bytes: int = attrs.field(default=32, validator=_at_least(1))
    #: How long a clientmsgid is remembered (45065).
    clientmsgid_window: float = attrs.field(default=86400.0, converter=_seconds)
    #: UNCONFIRMED: a repeated clientmsgid sooner than this after the first send gets 45066
    #: instead of 45065 (0 disables).
    clientmsgid_min_retry: float = attrs.field(default=0.0, converter=_seconds)
    #: Without a clientmsgid WeChat dedups on a digest of audience + content.
    implicit_clientmsgid: bool = True
    #: How long a template ``client_msg_id`` is remembered per openid (~10 minutes).
    template_dedup_window: float = attrs.field(default=600.0, converter=_seconds)
    #: Template ids that exist; ``None`` accepts any non-empty id.
    templates: frozenset[str] | None = attrs.field(default=None, converter=_optional_frozenset)
    #: Customer-service window per interaction kind.
    window_rules: Mapping[str, WindowRule] = attrs.field(
        default=DEFAULT_WINDOW_RULES, converter=_frozen_mapping
    )
    #: Typing needs an interaction this recent; a typing state lasts this long.
    typing_interaction_within: float = attrs.field(default=30.0, converter=_seconds)
    typing_duration: float = attrs.field(default=15.0, converter=_seconds)
    #: QR codes: default expiry (current docs 60 s, older 30 s), maximum, permanent pool.
    qrcode_default_expire: int = attrs.field(default=60, validator=_at_least(1))
    qrcode_max_expire: int = attrs.field(default=2_592_000, validator=_at_least(1))
    #: UNCONFIRMED: an expiry above the maximum is refused (40035) or clamped.
    qrcode_over_max: Literal["error", "clamp"] = attrs.field(
        default="error", validator=attrs.validators.in_(("error", "clamp"))
    )
    max_permanent_qrcodes: int = attrs.field(default=100_000, validator=_at_least(0))
    #: UNCONFIRMED: the maximum number of conditional menus (65305); ``None`` = no limit.
    max_conditional_menus: int | None = None
    #: Distinct URL domains all conditional menus together may link to (65316).
    max_conditional_menu_domains: int = attrs.field(default=3, validator=_at_least(0))
    #: Calls per Asia/Shanghai day per API path before 45009 (paths not listed: unlimited).
    #: Defaults: WeChat's table for a new account; ``clear_quota`` resets the counters.
    daily_quotas: Mapping[str, int] = attrs.field(factory=_daily_default, converter=_frozen_mapping)
    #: Calls per rolling minute per API path before 45011 (mass sends: ``mass_per_minute``).
    minute_quotas: Mapping[str, int] = attrs.field(
        factory=_minute_default, converter=_frozen_mapping
    )
    #: UNCONFIRMED: the largest temporary QR ``scene_id`` ("a 32-bit non-zero integer"; read as
    #: a positive signed int32).
    qrcode_temp_scene_max: int = attrs.field(default=2**31 - 1, validator=_at_least(1))
    #: UNCONFIRMED limits of customer-service messages: text content in UTF-8 bytes (45002), a
    #: news article's title (45003, 64 characters per wechatpy) and description (45004).
    custom_text_max_bytes: int = attrs.field(default=2048, validator=_at_least(1))
    custom_news_title_max_chars: int = attrs.field(default=64, validator=_at_least(1))
    custom_news_description_max_chars: int = attrs.field(default=120, validator=_at_least(1))
    #: UNCONFIRMED: a mass ``touser`` naming an openid twice is delivered once (``"dedup"``) or
    #: refused with 40031 (``"reject"``). The at-least-two rule (40130) counts list entries.
    mass_duplicate_touser: Literal["dedup", "reject"] = attrs.field(
        default="dedup", validator=attrs.validators.in_(("dedup", "reject"))
    )
    #: A mass job answers ``SENDING`` from mass/get this long before its final status.
    mass_sending_duration: float = attrs.field(default=0.0, converter=_seconds)
    #: Check media ids in customer-service and mass messages against those registered with
    #: `FakeWeChat.add_media` (40007 for unknown or expired ones); off: any id is accepted.
    check_media_ids: bool = False
    #: The account's WeChat ID: customer-service accounts are ``prefix@<wechat_id>``.
    wechat_id: str = "fakeaccount"
    #: Customer-service accounts per account (65405 beyond).
    max_kf_accounts: int = attrs.field(default=100, validator=_at_least(0))
    #: CONFLICT: ``getblacklist`` page size (new docs 1,000; legacy 10,000).
    blacklist_page_size: int = attrs.field(default=1000, validator=_at_least(1))
    #: ``clear_quota`` (and ``clear_quota/v2``) resets per natural month before 48006.
    clear_quota_per_month: int = attrs.field(default=10, validator=_at_least(0))
    #: ``getcallbackip`` and ``get_api_domain_ip`` answers (single IPs or CIDR ranges).
    callback_ips: tuple[str, ...] = ("101.226.103.0/25", "101.226.62.77", "203.205.254.0/24")
    api_domain_ips: tuple[str, ...] = ("101.89.47.18", "101.91.34.103", "109.244.145.10")
    #: The callback URL ``callback/check`` probes; ``None`` answers 40201 (none configured).
    callback_url: str | None = "https://example.com/wechat/callback"
    #: Asia/Shanghai hour from which yesterday's datacube figures are published (WeChat: after
    #: 08:00; earlier queries get an empty ``list`` for that day, not an error).
    datacube_ready_hour: int = attrs.field(default=8, validator=_at_least(0))
    #: Refuse request bodies carrying ``\\uXXXX`` escapes (40033), as WeChat does.
    reject_unicode_escapes: bool = True
    #: Keep a record of every call in `FakeWeChat.calls`.
    record_calls: bool = True
    #: Seed for tokens, tickets and sampled faults, so runs are reproducible.
    seed: int = 0
    # -- content APIs (media, materials, drafts, publishing, templates, subscribe notifications)
    #: CONFLICT: the temporary image cap (documented as both 2 MB and 10 MB); the stricter one.
    temp_image_max_bytes: int = attrs.field(default=2 * 1024 * 1024, validator=_at_least(1))
    #: How long a temporary media_id works after its upload (3 days).
    temp_media_ttl: float = attrs.field(default=3 * 86400.0, converter=_seconds)
    #: Permanent materials: images and news together, and every other type, at most this many.
    max_image_materials: int = attrs.field(default=100_000, validator=_at_least(0))
    max_other_materials: int = attrs.field(default=1_000, validator=_at_least(0))
    #: UNCONFIRMED: the errcode for a full material library.
    material_limit_errcode: int = 45001
    #: UNCONFIRMED: the most articles in one draft (the retired news materials allowed 8).
    max_draft_articles: int = attrs.field(default=8, validator=_at_least(1))
    #: UNCONFIRMED: whether batchget accepts ``no_content`` as a JSON boolean (doc: a number).
    accept_bool_no_content: bool = False
    #: A publish task stays "publishing" this long on the fake clock, then finishes.
    publish_seconds: float = attrs.field(default=60.0, converter=_seconds)
    #: False: freepublish answers 48001, as for unverified or personal accounts.
    can_publish: bool = True
    #: CONFLICT: ``publish_id`` answered as a JSON number (real answers) or a string (doc).
    publish_id_type: Literal["number", "string"] = attrs.field(
        default="number", validator=attrs.validators.in_(("number", "string"))
    )
    #: An mpnews mass send or preview needs a media_id the fake knows (a draft or a news
    #: material); others answer 40007.
    require_known_mpnews: bool = True
    #: UNCONFIRMED: whether a draft's media_id still works for further mass sends once the
    #: first send took the draft out of the box (needed to send one article in several
    #: batches); False answers 40007 to the later sends.
    mpnews_reusable_after_send: bool = True
    #: Template messages: templates an account holds at most (45026 beyond).
    max_private_templates: int = attrs.field(default=25, validator=_at_least(0))
    #: Industry ids and their (first, second) class names; None: ids 1..41 with generic names.
    industries: Mapping[int, tuple[str, str]] | None = None
    #: UNCONFIRMED (legacy rule): the industry may change once per natural month (43100).
    industry_change_once_a_month: bool = True
    #: The template-message library (short id -> template); None: a small built-in one.
    template_library: Mapping[str, Any] | None = None
    #: Keyword value rules checked by template/send and bizsend (47003).
    keyword_rules: Mapping[str, Any] = KEYWORD_RULES
    #: The subscribe-notification library (`SubscribeLibrary`); None: a small built-in one.
    subscribe_library: Any = None
    #: Subscribe-notification templates an account holds at most (200012 beyond).
    max_subscribe_templates: int = attrs.field(default=25, validator=_at_least(0))
    #: bizsend needs a one-time subscription the user accepted (43101 otherwise).
    bizsend_requires_subscription: bool = True
    #: The account's original id (``gh_...``): ``ToUserName`` of every push.
    original_id: str = "gh_fa4e00000001"
    #: WeChat waits this long for the callback's answer, then drops the connection.
    callback_timeout: float = attrs.field(default=5.0, converter=_seconds)
    #: Deliveries of one push in all when no valid answer comes (WeChat: 3).
    callback_tries: int = attrs.field(default=3, validator=_at_least(1))
    #: Extra deliveries of every push after a good answer, as when WeChat lost the answer.
    callback_redeliver: int = attrs.field(default=0, validator=_at_least(0))
    #: UNCONFIRMED: an HTTP error answer (not 200) is retried like no answer.
    callback_retry_on_error: bool = True
    #: UNCONFIRMED: ``FromUserName`` of ``MASSSENDJOBFINISH`` (the mass-send assistant).
    mass_assistant_openid: str = "oMassSendAssistant00000000000"
    #: UNCONFIRMED: how ``sendall`` treats wechatpy 1.8.18's legacy ``filter.group_id``
    #: (from the groups API that tags replaced). Today's documentation names only ``tag_id``
    #: and SDKs fixed ``group_id`` as a parameter error when tags came (2016-2018), so the
    #: default ``"error"`` refuses it like any send without ``tag_id`` (40050); ``"tag"``
    #: reads it as ``tag_id``.
    legacy_group_id: Literal["tag", "error"] = attrs.field(
        default="error", validator=attrs.validators.in_(("tag", "error"))
    )


@attrs.frozen(kw_only=True)
class FakeFollower:
    """A snapshot of one follower as the fake holds it."""

    openid: str
    subscribed: bool
    subscribe_time: datetime
    unionid: str | None
    language: str
    remark: str
    subscribe_scene: str
    qr_scene: int
    qr_scene_str: str
    #: Tag ids in the order they were applied (the last one drives conditional menus).
    tag_ids: tuple[int, ...]
    #: ``client_platform_type`` used by conditional menus: 1 iOS, 2 Android, 3 others.
    platform: int


@attrs.frozen(kw_only=True)
class FakeTag:
    """A snapshot of one tag."""

    id: int
    name: str
    count: int
    reserved: bool


@attrs.frozen(kw_only=True)
class MassJob:
    """One accepted mass-send job and the counts its MASSSENDJOBFINISH event would carry.

    ``total_count`` = audience size; ``filter_count`` = after WeChat's filtering (not following,
    monthly limit reached); ``sent_count + error_count == filter_count``.
    """

    msg_id: int
    msg_data_id: int | None
    endpoint: str
    msgtype: str
    clientmsgid: str | None
    status: str
    created_at: datetime
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int
    #: Openids that received the push, and openids filtered out.
    delivered: tuple[str, ...]
    filtered: tuple[str, ...]

    def finish_event(self) -> dict[str, str]:
        """The job's MASSSENDJOBFINISH fields as WeChat would push them (XML text values)."""
        return {
            "MsgType": "event",
            "Event": "MASSSENDJOBFINISH",
            "CreateTime": str(int(self.created_at.timestamp())),
            "MsgID": str(self.msg_id),
            "Status": "send success" if self.status != "SEND_FAIL" else "send fail",
            "TotalCount": str(self.total_count),
            "FilterCount": str(self.filter_count),
            "SentCount": str(self.sent_count),
            "ErrorCount": str(self.error_count),
        }


@attrs.frozen(kw_only=True)
class FakeMessage:
    """One customer-service, template or subscribe message the fake delivered."""

    kind: Literal["custom", "template", "subscribe"]
    openid: str
    msgtype: str
    msgid: int | None
    at: datetime
    body: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class FakeQRCode:
    """One created QR code."""

    ticket: str
    action_name: str
    scene_id: int | None
    scene_str: str | None
    created_at: datetime
    expires_at: datetime | None
    url: str


@attrs.frozen(kw_only=True)
class FakeCall:
    """One request the fake answered; secrets and tokens are redacted."""

    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    at: datetime
    status: int
    errcode: int | None
    fault: str | None
