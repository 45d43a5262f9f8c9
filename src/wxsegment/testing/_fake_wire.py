"""Wire helpers of the fake WeChat: the error envelope, errmsg texts, body field readers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "ERRMSG",
    "Reply",
    "dumps",
    "get_dict",
    "get_int",
    "get_str",
    "parse_json",
]

# An unescaped backslash followed by u and four hex digits (an even run of backslashes before
# it escapes the backslashes themselves).
_UNICODE_ESCAPE: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")

#: errmsg texts, worded after WeChat's (the fake appends a ``rid`` like WeChat does).
ERRMSG: Final[Mapping[int, str]] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub button level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40031: "invalid openid list",
    40032: "invalid openid list size",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40035: "invalid args",
    40037: "invalid template_id",
    40050: "invalid tag id",
    40053: "invalid action info, please check document",
    40059: "invalid msg id",
    40060: "invalid article idx",
    40092: "invalid remark name",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40201: "invalid url",
    40202: "invalid action",
    40203: "invalid check operator",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41006: "media_id missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43019: "require remove blacklist",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45047: "out of response count limit",
    45056: "too many tags",
    45057: "tag has too many fans, can not delete",
    45058: "can't modify sys tag",
    45059: "some user has too many tags",
    45065: "clientmsgid exist",
    45066: "same clientmsgid retry too fast",
    45067: "clientmsgid size out of limit",
    45072: "command field content is invalid",
    45080: "has not sent message to user in 30 seconds",
    45081: "already in typing state",
    45083: "invalid speed, speed should be 0~4",
    45084: "no speed",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48003: "user not agree mass-send protocol",
    48006: "forbid to clear quota because of reaching the limit",
    49003: "not match openid with appid",
    61500: "date format error",
    61501: "date range error",
    65301: "no such menuid",
    65302: "no such user",
    65303: "there is no selfmenu, please create selfmenu first",
    65304: "match rule empty",
    65305: "menu count limit",
    65316: "menu url domain count limit",
    65320: "privacy field is not allowed in matchrule",
    # Content APIs: media, materials, drafts, publishing, templates, subscribe notifications.
    40004: "invalid media type",
    40005: "invalid file type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40103: "invalid industry index",
    40246: "keyword name invalid",
    41005: "media data missing",
    41030: "invalid page",
    43100: "change template too frequently",
    43101: "user refuse to accept the msg",
    44001: "empty media data",
    44003: "empty news data",
    45001: "media size out of limit",
    45005: "url size out of limit",
    45026: "template num exceeds limit",
    45106: "This API has been unsupported",
    48001: "api unauthorized",
    200012: "template count reaches limit",
    200014: "tid does not exist",
    200016: "start format error",
    200017: "limit format error",
    200018: "ids missing",
    200019: "ids format error",
    200020: "kidList format error",
    200021: "sceneDesc format error",
    65400: "please enable new custom service, or wait for a while if you have enabled",
    65401: "invalid custom service account",
    65403: "invalid nickname",
    65404: "invalid custom service account",
    65405: "account count exceed limit",
    65406: "already exist",
    65407: "invite worker already be custom service",
    76001: "rid not found",
    76002: "rid is error",
    76003: "rid is not belong to this appid",
    76021: "cgi_path not found, please check",
    76022: "could not use this cgi_path, no permission",
    9500002: "masssend task too much, system busy",
}


class Reply(Exception):
    """An errcode answer, raised from deep inside a handler and turned into the envelope."""

    def __init__(self, errcode: int, detail: str = "", **extra: Any) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.detail = detail
        self.extra = extra

    def body(self, rid: str) -> dict[str, Any]:
        """The JSON object WeChat would send for this error."""
        text = ERRMSG.get(self.errcode, "error")
        if self.detail:
            text = f"{text}: {self.detail}"
        return {"errcode": self.errcode, "errmsg": f"{text} rid: {rid}", **self.extra}


def dumps(value: Any) -> bytes:
    """JSON as WeChat sends it: raw UTF-8, no ``\\uXXXX`` escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def get_int(body: Mapping[str, Any], key: str, errcode: int, *, missing: int | None = None) -> int:
    """An integer field (a bool is not one); a bad value answers ``errcode``."""
    if key not in body:
        raise Reply(errcode if missing is None else missing, f"{key} missing")
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise Reply(errcode, f"{key} must be an integer")
    return value


def get_str(
    body: Mapping[str, Any],
    key: str,
    errcode: int,
    *,
    missing: int | None = None,
    allow_empty: bool = False,
) -> str:
    """A string field; missing, non-string or (unless allowed) empty answers an errcode."""
    if key not in body:
        raise Reply(errcode if missing is None else missing, f"{key} missing")
    value = body[key]
    if not isinstance(value, str) or (not value and not allow_empty):
        raise Reply(errcode, f"{key} invalid")
    return value


def get_dict(
    body: Mapping[str, Any], key: str, errcode: int, *, missing: int | None = None
) -> Mapping[str, Any]:
    """An object field; missing or another type answers an errcode."""
    if key not in body:
        raise Reply(errcode if missing is None else missing, f"{key} missing")
    value = body[key]
    if not isinstance(value, dict):
        raise Reply(errcode, f"{key} must be an object")
    return value


def parse_json(raw: bytes, reject_unicode_escapes: bool) -> Mapping[str, Any]:
    """A request's JSON object: 44002 empty, 40033 ``\\uXXXX`` (when rejected), 47001 else."""
    if not raw:
        raise Reply(44002)
    if reject_unicode_escapes and b"\\u" in raw and _UNICODE_ESCAPE.search(raw):
        raise Reply(40033)
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise Reply(47001) from None
    if not isinstance(body, dict):
        raise Reply(47001)
    return body
