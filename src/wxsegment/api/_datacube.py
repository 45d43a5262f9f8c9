"""Statistics (``/datacube/*``): followers, articles, upstream messages, interface calls.

Every endpoint takes an inclusive ``begin_date``..``end_date`` no wider than its own maximum
span and ending no later than yesterday (Asia/Shanghai): WeChat publishes a day's figures the
next morning. Both rules are checked locally; `iter` splits a long range into allowed spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from wxsegment._clock import SHANGHAI
from wxsegment.api._core import Call
from wxsegment.api._errors import WeChatValidationError

if TYPE_CHECKING:
    from wxsegment.api._client import AsyncClient, Client

__all__ = [
    "DATACUBE_FIRST_DAY",
    "ArticleDaily",
    "ArticleTotal",
    "ArticleTotalDetail",
    "AsyncDatacube",
    "Datacube",
    "DatacubeRangeError",
    "InterfaceSummary",
    "Metric",
    "Metrics",
    "ShareStats",
    "UpstreamMsg",
    "UpstreamMsgDist",
    "UserCumulate",
    "UserSummary",
]

#: WeChat keeps statistics from this day on.
DATACUBE_FIRST_DAY: Final = date(2014, 12, 1)

_RowT = TypeVar("_RowT")


class DatacubeRangeError(WeChatValidationError):
    """A date range a datacube endpoint would refuse (61501): reversed, too wide, or too recent."""


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return int(value) if value not in (None, "") else 0


def _day(data: Mapping[str, Any], key: str = "ref_date") -> date:
    return date.fromisoformat(str(data[key]))


def _hour(data: Mapping[str, Any]) -> int | None:
    return _int(data, "ref_hour") if "ref_hour" in data else None


@attrs.frozen
class UserSummary:
    """``getusersummary``: follows and unfollows of one day from one ``user_source``."""

    ref_date: date
    user_source: int
    new_user: int
    cancel_user: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> UserSummary:
        """Parse one row."""
        return cls(
            _day(data), _int(data, "user_source"), _int(data, "new_user"), _int(data, "cancel_user")
        )


@attrs.frozen
class UserCumulate:
    """``getusercumulate``: the number of followers at the end of one day."""

    ref_date: date
    cumulate_user: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> UserCumulate:
        """Parse one row."""
        return cls(_day(data), _int(data, "cumulate_user"))


@attrs.frozen
class ArticleDaily:
    """Reads and shares of one day (``getarticlesummary``, ``getuserread``, ``…hour``).

    ``msgid`` (``"<msg_data_id>_<index>"``) and ``title`` are empty for per-source rows;
    ``ref_hour`` (0, 100, …, 2300) is set only by the hourly endpoint.
    """

    ref_date: date
    msgid: str
    title: str
    user_source: int | None
    ref_hour: int | None
    int_page_read_user: int
    int_page_read_count: int
    ori_page_read_user: int
    ori_page_read_count: int
    share_user: int
    share_count: int
    add_to_fav_user: int
    add_to_fav_count: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> ArticleDaily:
        """Parse one row."""
        source = data.get("user_source")
        return cls(
            _day(data),
            str(data.get("msgid", "")),
            str(data.get("title", "")),
            None if source is None else int(source),
            _hour(data),
            *(_int(data, key) for key in _READ_COUNTERS),
        )


_READ_COUNTERS: Final = (
    "int_page_read_user",
    "int_page_read_count",
    "ori_page_read_user",
    "ori_page_read_count",
    "share_user",
    "share_count",
    "add_to_fav_user",
    "add_to_fav_count",
)


@attrs.frozen
class ArticleTotalDetail:
    """Cumulative figures of one article up to ``stat_date`` (at most 7 days after sending)."""

    stat_date: date
    target_user: int
    int_page_read_user: int
    int_page_read_count: int
    ori_page_read_user: int
    ori_page_read_count: int
    share_user: int
    share_count: int
    add_to_fav_user: int
    add_to_fav_count: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> ArticleTotalDetail:
        """Parse one ``details`` entry."""
        return cls(
            _day(data, "stat_date"),
            _int(data, "target_user"),
            *(_int(data, key) for key in _READ_COUNTERS),
        )


@attrs.frozen
class ArticleTotal:
    """``getarticletotal``: one mass-sent article of the send day and its daily totals."""

    ref_date: date
    msgid: str
    title: str
    url: str
    details: tuple[ArticleTotalDetail, ...]

    @property
    def msg_data_id(self) -> int:
        """The ``msg_data_id`` the mass send returned (the part of ``msgid`` before ``_``)."""
        return int(self.msgid.split("_", 1)[0])

    @property
    def latest(self) -> ArticleTotalDetail | None:
        """The most recent cumulative figures, if any."""
        return max(self.details, key=lambda d: d.stat_date, default=None)

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> ArticleTotal:
        """Parse one row."""
        return cls(
            _day(data),
            str(data.get("msgid", "")),
            str(data.get("title", "")),
            str(data.get("url", "")),
            tuple(ArticleTotalDetail.from_wechat(d) for d in data.get("details", ())),
        )


@attrs.frozen
class ShareStats:
    """``getusershare`` / ``getusersharehour``: shares of one day in one ``share_scene``."""

    ref_date: date
    share_scene: int
    share_count: int
    share_user: int
    ref_hour: int | None

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> ShareStats:
        """Parse one row."""
        return cls(
            _day(data),
            _int(data, "share_scene"),
            _int(data, "share_count"),
            _int(data, "share_user"),
            _hour(data),
        )


@attrs.frozen
class UpstreamMsg:
    """``getupstreammsg*``: messages followers sent, by ``msg_type`` (1 text, 2 image, …)."""

    ref_date: date
    msg_type: int
    msg_user: int
    msg_count: int
    ref_hour: int | None

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> UpstreamMsg:
        """Parse one row."""
        return cls(
            _day(data),
            _int(data, "msg_type"),
            _int(data, "msg_user"),
            _int(data, "msg_count"),
            _hour(data),
        )


@attrs.frozen
class UpstreamMsgDist:
    """``getupstreammsgdist*``: followers by how many messages they sent (``count_interval``)."""

    ref_date: date
    count_interval: int
    msg_user: int

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> UpstreamMsgDist:
        """Parse one row."""
        return cls(_day(data), _int(data, "count_interval"), _int(data, "msg_user"))


@attrs.frozen
class InterfaceSummary:
    """``getinterfacesummary*``: passive replies to pushes (time units UNCONFIRMED; ms assumed)."""

    ref_date: date
    callback_count: int
    fail_count: int
    total_time_cost: int
    max_time_cost: int
    ref_hour: int | None

    @classmethod
    def from_wechat(cls, data: Mapping[str, Any]) -> InterfaceSummary:
        """Parse one row."""
        return cls(
            _day(data),
            _int(data, "callback_count"),
            _int(data, "fail_count"),
            _int(data, "total_time_cost"),
            _int(data, "max_time_cost"),
            _hour(data),
        )


@attrs.frozen
class Metric(Generic[_RowT]):
    """One datacube endpoint: its name, its maximum span in days and how its rows parse."""

    name: str
    max_span: int
    parse: Callable[[Mapping[str, Any]], _RowT] = attrs.field(eq=False, repr=False)

    @property
    def path(self) -> str:
        """The endpoint path (datacube lives outside ``/cgi-bin``)."""
        return f"/datacube/{self.name}"


class Metrics:
    """Every datacube endpoint the library wraps, with the spans WeChat documents."""

    USER_SUMMARY: Final = Metric("getusersummary", 7, UserSummary.from_wechat)
    USER_CUMULATE: Final = Metric("getusercumulate", 7, UserCumulate.from_wechat)
    ARTICLE_SUMMARY: Final = Metric("getarticlesummary", 1, ArticleDaily.from_wechat)
    ARTICLE_TOTAL: Final = Metric("getarticletotal", 1, ArticleTotal.from_wechat)
    USER_READ: Final = Metric("getuserread", 3, ArticleDaily.from_wechat)
    USER_READ_HOUR: Final = Metric("getuserreadhour", 1, ArticleDaily.from_wechat)
    USER_SHARE: Final = Metric("getusershare", 7, ShareStats.from_wechat)
    USER_SHARE_HOUR: Final = Metric("getusersharehour", 1, ShareStats.from_wechat)
    UPSTREAM_MSG: Final = Metric("getupstreammsg", 7, UpstreamMsg.from_wechat)
    UPSTREAM_MSG_HOUR: Final = Metric("getupstreammsghour", 1, UpstreamMsg.from_wechat)
    UPSTREAM_MSG_WEEK: Final = Metric("getupstreammsgweek", 30, UpstreamMsg.from_wechat)
    UPSTREAM_MSG_MONTH: Final = Metric("getupstreammsgmonth", 30, UpstreamMsg.from_wechat)
    UPSTREAM_MSG_DIST: Final = Metric("getupstreammsgdist", 15, UpstreamMsgDist.from_wechat)
    UPSTREAM_MSG_DIST_WEEK: Final = Metric(
        "getupstreammsgdistweek", 30, UpstreamMsgDist.from_wechat
    )
    UPSTREAM_MSG_DIST_MONTH: Final = Metric(
        "getupstreammsgdistmonth", 30, UpstreamMsgDist.from_wechat
    )
    INTERFACE_SUMMARY: Final = Metric("getinterfacesummary", 30, InterfaceSummary.from_wechat)
    INTERFACE_SUMMARY_HOUR: Final = Metric(
        "getinterfacesummaryhour", 1, InterfaceSummary.from_wechat
    )


def yesterday(now: datetime) -> date:
    """The latest day datacube has figures for, in Asia/Shanghai."""
    return now.astimezone(SHANGHAI).date() - timedelta(days=1)


def _check_dates(begin: date, end: date, latest: date) -> None:
    for name, value in (("begin", begin), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")
    if begin > end:
        raise DatacubeRangeError(f"begin {begin} is after end {end}")
    if end > latest:
        raise DatacubeRangeError(
            f"end {end} is later than yesterday ({latest}, Asia/Shanghai): no figures yet"
        )
    if begin < DATACUBE_FIRST_DAY:
        raise DatacubeRangeError(f"begin {begin} is before {DATACUBE_FIRST_DAY}")


def range_call(metric: Metric[Any], begin: date, end: date, latest: date) -> Call:
    """The call for one span, refusing what WeChat would refuse (61501)."""
    _check_dates(begin, end, latest)
    span = (end - begin).days + 1
    if span > metric.max_span:
        raise DatacubeRangeError(
            f"{metric.name} covers at most {metric.max_span} day(s) per call, asked {span}"
        )
    body = {"begin_date": begin.isoformat(), "end_date": end.isoformat()}
    return Call("POST", metric.path, body=body)


def span_calls(metric: Metric[Any], begin: date, end: date, latest: date) -> list[Call]:
    """Calls covering ``begin``..``end`` in consecutive spans of at most ``max_span`` days."""
    _check_dates(begin, end, latest)
    calls = []
    start = begin
    while start <= end:
        stop = min(end, start + timedelta(days=metric.max_span - 1))
        calls.append(range_call(metric, start, stop, latest))
        start = stop + timedelta(days=1)
    return calls


def parse_rows(metric: Metric[_RowT], data: Mapping[str, Any]) -> list[_RowT]:
    """The rows of one answer; an empty ``list`` is normal (no data yet)."""
    return [metric.parse(row) for row in data.get("list", ())]


class Datacube:
    """Statistics of the account (blocking)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _latest(self) -> date:
        return yesterday(self._client._clock.now())

    def fetch(self, metric: Metric[_RowT], begin: date, end: date) -> list[_RowT]:
        """The rows of one call (``POST /datacube/<name>``); the span must fit the metric."""
        call = range_call(metric, begin, end, self._latest())
        return parse_rows(metric, self._client._request(call))

    def iter(self, metric: Metric[_RowT], begin: date, end: date) -> Iterator[_RowT]:
        """Rows of any range, lazily, one allowed span per call (checked before the first)."""
        for call in span_calls(metric, begin, end, self._latest()):
            yield from parse_rows(metric, self._client._request(call))

    def user_summary(self, begin: date, end: date) -> list[UserSummary]:
        """Follows and unfollows per day and source (``getusersummary``, ≤ 7 days)."""
        return self.fetch(Metrics.USER_SUMMARY, begin, end)

    def user_cumulate(self, begin: date, end: date) -> list[UserCumulate]:
        """Followers at the end of each day (``getusercumulate``, ≤ 7 days)."""
        return self.fetch(Metrics.USER_CUMULATE, begin, end)

    def article_summary(self, day: date) -> list[ArticleDaily]:
        """Reads and shares per article on one day (``getarticlesummary``)."""
        return self.fetch(Metrics.ARTICLE_SUMMARY, day, day)

    def article_total(self, sent_on: date) -> list[ArticleTotal]:
        """Articles mass-sent on one day with their cumulative figures (``getarticletotal``)."""
        return self.fetch(Metrics.ARTICLE_TOTAL, sent_on, sent_on)


class AsyncDatacube:
    """Statistics of the account (asyncio)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _latest(self) -> date:
        return yesterday(self._client._clock.now())

    async def fetch(self, metric: Metric[_RowT], begin: date, end: date) -> list[_RowT]:
        """The rows of one call (``POST /datacube/<name>``); the span must fit the metric."""
        call = range_call(metric, begin, end, self._latest())
        return parse_rows(metric, await self._client._request(call))

    async def iter(self, metric: Metric[_RowT], begin: date, end: date) -> AsyncIterator[_RowT]:
        """Rows of any range, lazily, one allowed span per call (checked before the first)."""
        for call in span_calls(metric, begin, end, self._latest()):
            for row in parse_rows(metric, await self._client._request(call)):
                yield row

    async def user_summary(self, begin: date, end: date) -> list[UserSummary]:
        """Follows and unfollows per day and source (``getusersummary``, ≤ 7 days)."""
        return await self.fetch(Metrics.USER_SUMMARY, begin, end)

    async def user_cumulate(self, begin: date, end: date) -> list[UserCumulate]:
        """Followers at the end of each day (``getusercumulate``, ≤ 7 days)."""
        return await self.fetch(Metrics.USER_CUMULATE, begin, end)

    async def article_summary(self, day: date) -> list[ArticleDaily]:
        """Reads and shares per article on one day (``getarticlesummary``)."""
        return await self.fetch(Metrics.ARTICLE_SUMMARY, day, day)

    async def article_total(self, sent_on: date) -> list[ArticleTotal]:
        """Articles mass-sent on one day with their cumulative figures (``getarticletotal``)."""
        return await self.fetch(Metrics.ARTICLE_TOTAL, sent_on, sent_on)
