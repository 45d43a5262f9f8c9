"""Templates of the fake WeChat: template-message industries and private templates, the
subscribe-notification library (``/wxaapi/newtmpl/*``), subscriptions and ``bizsend``.

Keyword values of both kinds are checked by their key's type (47003), with
`FakeConfig.keyword_rules`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment._clock import month_key
from wxsegment._keywords import first_violation
from wxsegment.testing._fake_wire import Reply, get_int, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import _Request
    from wxsegment.testing._fake_types import FakeConfig

__all__ = [
    "DEFAULT_SUBSCRIBE_LIBRARY",
    "DEFAULT_TEMPLATE_LIBRARY",
    "FakePrivateTemplate",
    "FakeTemplates",
    "LibraryKeyword",
    "LibraryTemplate",
    "LibraryTitle",
    "SubscribeLibrary",
]


@attrs.frozen
class LibraryTemplate:
    """A template of the template-message library: a title and its keywords (name, type).

    Industry templates (``TM…`` ids) take all their keywords; category templates (numeric
    ids) take the ones named in ``keyword_name_list``, in that order.
    """

    title: str
    keywords: tuple[tuple[str, str], ...]


@attrs.frozen
class LibraryKeyword:
    """A keyword of a public subscribe title."""

    kid: int
    name: str
    example: str
    rule: str


@attrs.frozen
class LibraryTitle:
    """A public subscribe-notification title of a category; ``type`` 2 one-time, 3 long-term."""

    tid: int
    title: str
    category_id: int
    keywords: tuple[LibraryKeyword, ...]
    type: int = 2


@attrs.frozen
class SubscribeLibrary:
    """The account's categories (id -> name) and the public titles."""

    categories: Mapping[int, str]
    titles: tuple[LibraryTitle, ...]


#: A small library: one industry template and one category template.
DEFAULT_TEMPLATE_LIBRARY: Final[Mapping[str, LibraryTemplate]] = MappingProxyType(
    {
        "TM00015": LibraryTemplate(
            "订单支付成功",
            (("first", ""), ("orderMoneySum", ""), ("orderProductName", ""), ("remark", "")),
        ),
        "47123": LibraryTemplate(
            "订单发货提醒",
            (
                ("时间", "time"),
                ("地点", "thing"),
                ("金额", "amount"),
                ("商品", "thing"),
                ("单号", "character_string"),
            ),
        ),
    }
)

#: Two categories and three public titles.
DEFAULT_SUBSCRIBE_LIBRARY: Final = SubscribeLibrary(
    MappingProxyType({616: "公交", 617: "快递"}),
    (
        LibraryTitle(
            99,
            "线路开通提醒",
            616,
            (
                LibraryKeyword(1, "线路名称", "1路", "thing"),
                LibraryKeyword(2, "开通时间", "2026年3月1日 08:00", "time"),
                LibraryKeyword(3, "票价", "¥2.00", "amount"),
                LibraryKeyword(4, "备注", "请留意站牌", "thing"),
            ),
        ),
        LibraryTitle(
            100,
            "到站提醒",
            616,
            (
                LibraryKeyword(1, "站点", "人民广场", "thing"),
                LibraryKeyword(2, "到站时间", "08:30", "time"),
            ),
        ),
        LibraryTitle(
            200,
            "快递签收通知",
            617,
            (
                LibraryKeyword(1, "快递单号", "SF1234567890", "character_string"),
                LibraryKeyword(2, "签收时间", "2026-03-01 10:00", "time"),
                LibraryKeyword(3, "签收人", "张三", "name"),
            ),
        ),
    ),
)


def _industry_name(industry_id: int) -> tuple[str, str]:
    return "行业大类", f"行业{industry_id}"


@attrs.frozen(kw_only=True)
class FakePrivateTemplate:
    """A template of either kind held by the account."""

    template_id: str
    title: str
    content: str
    example: str
    kind: str
    keys: tuple[str, ...]


def _content(keywords: Iterable[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    lines: list[str] = []
    keys: list[str] = []
    for index, (name, rule) in enumerate(keywords, start=1):
        key = f"{rule}{index}" if rule else name
        keys.append(key)
        lines.append(f"{name}:{{{{{key}.DATA}}}}" if rule else f"{{{{{key}.DATA}}}}")
    return "\n".join(lines), tuple(keys)


class FakeTemplates:
    """Industries, private templates, subscribe templates and subscriptions of one account."""

    def __init__(
        self, config: FakeConfig, lock: threading.RLock, now: Callable[[], datetime]
    ) -> None:
        self._config = config
        self._lock = lock
        self._now = now
        self._industry: tuple[int, int] | None = None
        self._industry_changed: datetime | None = None
        self._private: dict[str, FakePrivateTemplate] = {}
        self._subscribe: dict[str, FakePrivateTemplate] = {}
        self._grants: dict[tuple[str, str], int] = {}
        self._serial = 0

    def __repr__(self) -> str:
        return f"FakeTemplates(private={len(self._private)}, subscribe={len(self._subscribe)})"

    @property
    def _library(self) -> Mapping[str, LibraryTemplate]:
        return self._config.template_library or DEFAULT_TEMPLATE_LIBRARY

    @property
    def _subscribe_library(self) -> SubscribeLibrary:
        return self._config.subscribe_library or DEFAULT_SUBSCRIBE_LIBRARY

    # -- views and test controls

    @property
    def private(self) -> Mapping[str, FakePrivateTemplate]:
        """Template-message templates of the account by template_id."""
        with self._lock:
            return MappingProxyType(dict(self._private))

    @property
    def subscribe(self) -> Mapping[str, FakePrivateTemplate]:
        """Subscribe-notification templates of the account by priTmplId."""
        with self._lock:
            return MappingProxyType(dict(self._subscribe))

    def accept(self, openid: str, pri_tmpl_id: str, times: int = 1) -> None:
        """The user accepts ``times`` one-time subscriptions to a template (popup 'accept')."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            if pri_tmpl_id not in self._subscribe:
                raise ValueError(f"unknown subscribe template {pri_tmpl_id!r}")
            key = (openid, pri_tmpl_id)
            self._grants[key] = self._grants.get(key, 0) + times

    def subscriptions(self, openid: str, pri_tmpl_id: str) -> int:
        """Sends left for a user and a subscribe template."""
        with self._lock:
            return self._grants.get((openid, pri_tmpl_id), 0)

    def knows(self, template_id: str) -> bool:
        """Whether ``template_id`` is a template-message template of the account."""
        return template_id in self._private

    # -- shared checks

    def check_values(self, data: Mapping[str, Any], keys: Sequence[str] | None) -> None:
        """47003 for a value breaking its type rule, or a key the template lacks."""
        for key, item in data.items():
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise Reply(47003, f"data.{key}.value invalid")
            if keys is not None and key not in keys:
                raise Reply(47003, f"data.{key} is not in the template")
            if not _accepts(key, item["value"], self._config.keyword_rules):
                raise Reply(47003, f"data.{key}.value invalid")

    def template_keys(self, template_id: str) -> tuple[str, ...] | None:
        """The keys of an account template, or None when the fake does not hold it."""
        template = self._private.get(template_id)
        return template.keys if template is not None else None

    # -- template-message industries and templates

    def set_industry(self, req: _Request) -> dict[str, Any]:
        """``template/api_set_industry`` (ids as JSON strings)."""
        ids = []
        for key in ("industry_id1", "industry_id2"):
            value = req.body.get(key)
            text = (
                str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            )
            if not text.isdigit() or int(text) not in self._industries():
                raise Reply(40103)
            ids.append(int(text))
        chosen = (ids[0], ids[1])
        if chosen == self._industry:
            return {"errcode": 0, "errmsg": "ok"}
        if (
            self._config.industry_change_once_a_month
            and self._industry_changed is not None
            and month_key(self._industry_changed) == month_key(req.now)
        ):
            raise Reply(43100)
        if self._industry is not None:
            # Changing the industry deletes the templates of the old one.
            self._private.clear()
        self._industry = chosen
        self._industry_changed = req.now
        return {"errcode": 0, "errmsg": "ok"}

    def _industries(self) -> Mapping[int, tuple[str, str]]:
        configured = self._config.industries
        if configured is not None:
            return configured
        return {i: _industry_name(i) for i in range(1, 42)}

    def get_industry(self, req: _Request) -> dict[str, Any]:
        """``template/get_industry``."""
        if self._industry is None:
            return {"primary_industry": {}, "secondary_industry": {}}
        names = self._industries()

        def shown(industry_id: int) -> dict[str, str]:
            first, second = names[industry_id]
            return {"first_class": first, "second_class": second}

        return {
            "primary_industry": shown(self._industry[0]),
            "secondary_industry": shown(self._industry[1]),
        }

    def _next(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:04d}-fake-template-id-0000000000"

    def add_template(self, req: _Request) -> dict[str, Any]:
        """``template/api_add_template`` (category templates need ``keyword_name_list``)."""
        short = get_str(req.body, "template_id_short", 40037)
        spec = self._library.get(short)
        if spec is None:
            raise Reply(40037)
        if len(self._private) >= self._config.max_private_templates:
            raise Reply(45026)
        keywords = spec.keywords
        names = req.body.get("keyword_name_list")
        if short.isdigit() or names is not None:
            if not isinstance(names, list) or not names:
                raise Reply(40246)
            by_name = dict(spec.keywords)
            if any(not isinstance(n, str) or n not in by_name for n in names):
                raise Reply(40246)
            keywords = tuple((n, by_name[n]) for n in names)
        content, keys = _content(keywords)
        template_id = self._next("tpl")
        self._private[template_id] = FakePrivateTemplate(
            template_id=template_id,
            title=spec.title,
            content=content,
            example="",
            kind="template",
            keys=keys,
        )
        return {"errcode": 0, "errmsg": "ok", "template_id": template_id}

    def list_templates(self, req: _Request) -> dict[str, Any]:
        """``template/get_all_private_template``."""
        names = self._industries()
        primary = deputy = ""
        if self._industry is not None:
            primary = "-".join(names[self._industry[0]])
            deputy = "-".join(names[self._industry[1]])
        return {
            "template_list": [
                {
                    "template_id": t.template_id,
                    "title": t.title,
                    "primary_industry": primary,
                    "deputy_industry": deputy,
                    "content": t.content,
                    "example": t.example,
                }
                for t in self._private.values()
            ]
        }

    def delete_template(self, req: _Request) -> dict[str, Any]:
        """``template/del_private_template``."""
        template_id = get_str(req.body, "template_id", 40037)
        if self._private.pop(template_id, None) is None:
            raise Reply(40037)
        return {"errcode": 0, "errmsg": "ok"}

    # -- subscribe notifications

    def categories(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/getcategory``."""
        return {
            "errcode": 0,
            "errmsg": "ok",
            "data": [{"id": i, "name": n} for i, n in self._subscribe_library.categories.items()],
        }

    def titles(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/getpubtemplatetitles``: ``ids`` required, ``limit`` 1..30."""
        raw = req.query.get("ids")
        if not raw:
            raise Reply(200018)
        parts = raw.split(",")
        if not all(p.isdigit() for p in parts):
            raise Reply(200019)
        start_text, limit_text = req.query.get("start", ""), req.query.get("limit", "")
        if not start_text.isdigit():
            raise Reply(200016)
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 30:
            raise Reply(200017)
        wanted = {int(p) for p in parts}
        matching = [t for t in self._subscribe_library.titles if t.category_id in wanted]
        start = int(start_text)
        page = matching[start : start + int(limit_text)]
        return {
            "errcode": 0,
            "errmsg": "ok",
            "count": len(matching),
            # The official example returns categoryId as a string.
            "data": [
                {"tid": t.tid, "title": t.title, "type": t.type, "categoryId": str(t.category_id)}
                for t in page
            ],
        }

    def _title(self, tid: object) -> LibraryTitle:
        for title in self._subscribe_library.titles:
            if str(title.tid) == str(tid):
                return title
        raise Reply(200014)

    def keywords(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/getpubtemplatekeywords``."""
        title = self._title(req.query.get("tid"))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "count": len(title.keywords),
            "data": [
                {"kid": k.kid, "name": k.name, "example": k.example, "rule": k.rule}
                for k in title.keywords
            ],
        }

    def add_subscribe(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/addtemplate``: 2..5 keywords, sceneDesc ≤ 15, 25 at most."""
        title = self._title(get_int(req.body, "tid", 200014))
        kids = req.body.get("kidList")
        by_kid = {k.kid: k for k in title.keywords}
        if (
            not isinstance(kids, list)
            or not 2 <= len(kids) <= 5
            or len(set(map(str, kids))) != len(kids)
            or any(isinstance(k, bool) or not isinstance(k, int) or k not in by_kid for k in kids)
        ):
            raise Reply(200020)
        scene = req.body.get("sceneDesc", "")
        if not isinstance(scene, str) or len(scene) > 15:
            raise Reply(200021)
        if len(self._subscribe) >= self._config.max_subscribe_templates:
            raise Reply(200012)
        chosen = [by_kid[k] for k in kids]
        keys = tuple(f"{k.rule}{k.kid}" for k in chosen)
        content = "\n".join(
            f"{k.name}:{{{{{key}.DATA}}}}" for k, key in zip(chosen, keys, strict=True)
        )
        example = "\n".join(f"{k.name}:{k.example}" for k in chosen)
        pri_tmpl_id = self._next("sub")
        self._subscribe[pri_tmpl_id] = FakePrivateTemplate(
            template_id=pri_tmpl_id,
            title=title.title,
            content=content,
            example=example,
            kind=str(title.type),
            keys=keys,
        )
        return {"errcode": 0, "errmsg": "ok", "priTmplId": pri_tmpl_id}

    def list_subscribe(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/gettemplate``."""
        return {
            "errcode": 0,
            "errmsg": "ok",
            "data": [
                {
                    "priTmplId": t.template_id,
                    "title": t.title,
                    "content": t.content,
                    "example": t.example,
                    "type": int(t.kind),
                }
                for t in self._subscribe.values()
            ],
        }

    def delete_subscribe(self, req: _Request) -> dict[str, Any]:
        """``wxaapi/newtmpl/deltemplate``."""
        pri_tmpl_id = get_str(req.body, "priTmplId", 40037)
        if self._subscribe.pop(pri_tmpl_id, None) is None:
            raise Reply(40037)
        return {"errcode": 0, "errmsg": "ok"}

    def bizsend(self, req: _Request, openid: str) -> dict[str, Any]:
        """``message/subscribe/bizsend`` to a known ``openid``: spends one subscription."""
        template_id = get_str(req.body, "template_id", 40037)
        template = self._subscribe.get(template_id)
        if template is None:
            raise Reply(40037)
        data = req.body.get("data")
        if not isinstance(data, dict) or not data:
            raise Reply(47003, "data missing")
        self.check_values(data, template.keys)
        page = req.body.get("page")
        if page is not None and (not isinstance(page, str) or not page):
            raise Reply(41030)
        key = (openid, template_id)
        if self._config.bizsend_requires_subscription:
            left = self._grants.get(key, 0)
            if left <= 0:
                raise Reply(43101)
            self._grants[key] = left - 1
        return {"errcode": 0, "errmsg": "ok"}


def _accepts(key: str, value: str, rules: Mapping[str, Any]) -> bool:
    return first_violation({key: value}, rules) is None
