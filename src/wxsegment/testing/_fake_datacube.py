"""The fake's statistics (``/datacube/*``), computed from what happened to its own state.

Follows and unfollows, messages followers sent, mass jobs, and the article reads and shares a
test simulates (`FakeWeChat.read_article`, `FakeWeChat.share_article`) are logged with their
instant; each datacube endpoint aggregates the log per Asia/Shanghai day, as WeChat does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment._clock import SHANGHAI
from wxsegment.testing._fake_wire import Reply, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["DATACUBE_SPANS", "FakeDatacube", "article_url", "user_source_of"]

#: Maximum span (days, inclusive) of each endpoint, as WeChat documents them.
DATACUBE_SPANS: Final[Mapping[str, int]] = {
    "getusersummary": 7,
    "getusercumulate": 7,
    "getarticlesummary": 1,
    "getarticletotal": 1,
    "getuserread": 3,
    "getuserreadhour": 1,
    "getusershare": 7,
    "getusersharehour": 1,
    "getupstreammsg": 7,
    "getupstreammsghour": 1,
    "getupstreammsgweek": 30,
    "getupstreammsgmonth": 30,
    "getupstreammsgdist": 15,
    "getupstreammsgdistweek": 30,
    "getupstreammsgdistmonth": 30,
    "getinterfacesummary": 30,
    "getinterfacesummaryhour": 1,
}

_SOURCES: Final[Mapping[str, int]] = {
    "ADD_SCENE_SEARCH": 1,
    "ADD_SCENE_PROFILE_CARD": 17,
    "ADD_SCENE_QR_CODE": 30,
    "ADD_SCENE_PROFILE_LINK": 57,
    "ADD_SCENE_WECHAT_ADVERTISEMENT": 100,
    "ADD_SCENE_REPRINT": 161,
    "ADD_SCENE_CHANNELS": 200,
    "ADD_SCENE_LIVESTREAM": 201,
}
#: Article ``user_source`` meaning "all sources" in ``getuserread``.
_ALL_SOURCES: Final = 99_999_999
_READ_ZERO: Final = (
    "ori_page_read_user",
    "ori_page_read_count",
    "add_to_fav_user",
    "add_to_fav_count",
)


def article_url(msg_data_id: int, index: int) -> str:
    """The permanent link of article ``index`` (1-based) of a mass-sent message."""
    return f"http://mp.weixin.qq.com/s?__biz=MzFake&mid={msg_data_id}&idx={index}"


def user_source_of(subscribe_scene: str) -> int:
    """The ``getusersummary`` ``user_source`` of a ``subscribe_scene`` (0: others)."""
    return _SOURCES.get(subscribe_scene, 0)


def _day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def _hour(at: datetime) -> int:
    return at.astimezone(SHANGHAI).hour * 100


@attrs.frozen
class _Event:
    at: datetime
    openid: str
    key: str = ""
    kind: int = 0


class FakeDatacube:
    """Logs of what happened, and the answers of the datacube endpoints."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self.follows: list[_Event] = []
        self.unfollows: list[_Event] = []
        self.upstream: list[_Event] = []
        self.reads: list[_Event] = []
        self.shares: list[_Event] = []
        self.callbacks: list[tuple[datetime, bool, int]] = []

    # ------------------------------------------------------------------ logging

    def follow(self, openid: str, at: datetime, subscribe_scene: str) -> None:
        """Log a follow."""
        self.follows.append(_Event(at, openid, kind=user_source_of(subscribe_scene)))

    def unfollow(self, openid: str, at: datetime, subscribe_scene: str) -> None:
        """Log an unfollow (counted under the source the follower came from)."""
        self.unfollows.append(_Event(at, openid, kind=user_source_of(subscribe_scene)))

    def message(self, openid: str, at: datetime, msg_type: int = 1) -> None:
        """Log a message a follower sent (1 text, 2 image, 3 voice, 4 video, 6 link)."""
        self.upstream.append(_Event(at, openid, kind=msg_type))

    def article_msgid(self, msg_id: int, index: int) -> str:
        """The datacube ``msgid`` of article ``index`` (1-based) of mass job ``msg_id``."""
        job = self._fake.jobs.get(msg_id)
        if job is None or job.msg_data_id is None or job.endpoint == "preview":
            raise ValueError(f"no mass-sent article job with msg_id {msg_id!r}")
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 8:
            raise ValueError(f"index must be 1..8, got {index!r}")
        return f"{job.msg_data_id}_{index}"

    def read(self, openid: str, msgid: str, at: datetime, source: int) -> None:
        """Log an article read (``source``: 0 session, 1 friends, 2 moments, 4 history, …)."""
        self.reads.append(_Event(at, openid, msgid, source))

    def share(self, openid: str, msgid: str, at: datetime, scene: int) -> None:
        """Log an article share (``scene``: 1 friend, 2 moments, 255 other)."""
        self.shares.append(_Event(at, openid, msgid, scene))

    def callback(self, at: datetime, ok: bool, cost_ms: int) -> None:
        """Log one passive reply to a push, for the interface statistics."""
        self.callbacks.append((at, ok, cost_ms))

    # ------------------------------------------------------------------ answers

    def answer(self, name: str, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """The answer of ``/datacube/<name>`` for a request body at ``now``."""
        begin, end = self._range(name, body, now)
        days = [begin + timedelta(days=n) for n in range((end - begin).days + 1)]
        ready = self._ready(now)
        days = [d for d in days if d <= ready]
        rows: list[dict[str, Any]] = _BUILDERS[name](self, days, now)
        return {"list": rows}

    def _range(self, name: str, body: Mapping[str, Any], now: datetime) -> tuple[date, date]:
        try:
            begin = date.fromisoformat(get_str(body, "begin_date", 61500))
            end = date.fromisoformat(get_str(body, "end_date", 61500))
        except ValueError:
            raise Reply(61500) from None
        yesterday = _day(now) - timedelta(days=1)
        if begin > end or end > yesterday or (end - begin).days + 1 > DATACUBE_SPANS[name]:
            raise Reply(61501)
        return begin, end

    def _ready(self, now: datetime) -> date:
        """The latest day with published figures: yesterday once the day's hour has come."""
        local = now.astimezone(SHANGHAI)
        latest = local.date() - timedelta(days=1)
        if local.hour < self._fake.config.datacube_ready_hour:
            latest -= timedelta(days=1)
        return latest

    # users

    def _user_summary(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        counts: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
        wanted = set(days)
        for position, log in enumerate((self.follows, self.unfollows)):
            for event in log:
                day = _day(event.at)
                if day in wanted:
                    counts[(day, event.kind)][position] += 1
        rows = []
        for day in days:
            sources = sorted(s for d, s in counts if d == day) or [0]
            for source in sources:
                new, cancel = counts.get((day, source), (0, 0))
                rows.append(
                    {
                        "ref_date": day.isoformat(),
                        "user_source": source,
                        "new_user": new,
                        "cancel_user": cancel,
                    }
                )
        return rows

    def _user_cumulate(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        rows = []
        for day in days:
            follows = sum(1 for e in self.follows if _day(e.at) <= day)
            unfollows = sum(1 for e in self.unfollows if _day(e.at) <= day)
            rows.append(
                {
                    "ref_date": day.isoformat(),
                    "user_source": 0,
                    "cumulate_user": follows - unfollows,
                }
            )
        return rows

    # articles

    @staticmethod
    def _title(msgid: str) -> str:
        # The fake never sees the article itself (drafts hold it); WeChat would name it here.
        return ""

    @staticmethod
    def _counters(reads: Iterable[_Event], shares: Iterable[_Event]) -> dict[str, int]:
        reads, shares = list(reads), list(shares)
        counters = {
            "int_page_read_user": len({e.openid for e in reads}),
            "int_page_read_count": len(reads),
            "share_user": len({e.openid for e in shares}),
            "share_count": len(shares),
        }
        counters.update(dict.fromkeys(_READ_ZERO, 0))
        return counters

    def _article_summary(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        rows = []
        for day in days:
            reads = [e for e in self.reads if _day(e.at) == day]
            shares = [e for e in self.shares if _day(e.at) == day]
            for msgid in sorted({e.key for e in reads} | {e.key for e in shares}):
                rows.append(
                    {
                        "ref_date": day.isoformat(),
                        "msgid": msgid,
                        "title": self._title(msgid),
                        **self._counters(
                            (e for e in reads if e.key == msgid),
                            (e for e in shares if e.key == msgid),
                        ),
                    }
                )
        return rows

    def _article_total(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        latest = self._ready(now)
        rows = []
        for day in days:
            jobs = [
                j
                for j in self._fake.jobs.values()
                if j.msg_data_id is not None
                and j.endpoint != "preview"
                and _day(j.created_at) == day
            ]
            for job in sorted(jobs, key=lambda j: j.msg_id):
                indexes = {1} | {
                    int(e.key.split("_")[1])
                    for e in (*self.reads, *self.shares)
                    if e.key.split("_")[0] == str(job.msg_data_id)
                }
                for index in sorted(indexes):
                    msgid = f"{job.msg_data_id}_{index}"
                    details = []
                    for offset in range(7):
                        stat = day + timedelta(days=offset)
                        if stat > latest:
                            break
                        details.append(
                            {
                                "stat_date": stat.isoformat(),
                                "target_user": job.sent_count,
                                **self._counters(
                                    (
                                        e
                                        for e in self.reads
                                        if e.key == msgid and _day(e.at) <= stat
                                    ),
                                    (
                                        e
                                        for e in self.shares
                                        if e.key == msgid and _day(e.at) <= stat
                                    ),
                                ),
                            }
                        )
                    rows.append(
                        {
                            "ref_date": day.isoformat(),
                            "msgid": msgid,
                            "title": self._title(msgid),
                            "url": article_url(int(job.msg_data_id or 0), index),
                            "user_source": 0,
                            "details": details,
                        }
                    )
        return rows

    def _reads_by(self, days: list[date], hourly: bool) -> list[dict[str, Any]]:
        rows = []
        for day in days:
            reads = [e for e in self.reads if _day(e.at) == day]
            shares = [e for e in self.shares if _day(e.at) == day]
            hours = sorted({_hour(e.at) for e in (*reads, *shares)}) if hourly else [None]
            for hour in hours:
                hour_reads = [e for e in reads if hour is None or _hour(e.at) == hour]
                hour_shares = [e for e in shares if hour is None or _hour(e.at) == hour]
                if not hour_reads and not hour_shares:
                    continue
                sources = sorted({e.kind for e in hour_reads})
                for source in [_ALL_SOURCES, *sources]:
                    picked = [e for e in hour_reads if source in (_ALL_SOURCES, e.kind)]
                    row: dict[str, Any] = {"ref_date": day.isoformat()}
                    if hour is not None:
                        row["ref_hour"] = hour
                    row["user_source"] = source
                    row.update(
                        self._counters(picked, hour_shares if source == _ALL_SOURCES else ())
                    )
                    rows.append(row)
        return rows

    def _user_read(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._reads_by(days, hourly=False)

    def _user_read_hour(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._reads_by(days, hourly=True)

    def _shares_by(self, days: list[date], hourly: bool) -> list[dict[str, Any]]:
        groups: dict[tuple[date, int | None, int], list[_Event]] = defaultdict(list)
        wanted = set(days)
        for event in self.shares:
            day = _day(event.at)
            if day in wanted:
                groups[(day, _hour(event.at) if hourly else None, event.kind)].append(event)
        rows = []
        for (day, hour, scene), events in sorted(groups.items(), key=lambda kv: str(kv[0])):
            row: dict[str, Any] = {"ref_date": day.isoformat()}
            if hour is not None:
                row["ref_hour"] = hour
            row.update(
                share_scene=scene,
                share_count=len(events),
                share_user=len({e.openid for e in events}),
            )
            rows.append(row)
        return rows

    def _user_share(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._shares_by(days, hourly=False)

    def _user_share_hour(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._shares_by(days, hourly=True)

    # upstream messages

    def _upstream_by(
        self, days: list[date], bucket: Callable[[datetime], tuple[date, int | None]]
    ) -> list[dict[str, Any]]:
        groups: dict[tuple[date, int | None, int], list[_Event]] = defaultdict(list)
        wanted = set(days)
        for event in self.upstream:
            if _day(event.at) in wanted:
                day, hour = bucket(event.at)
                groups[(day, hour, event.kind)].append(event)
        rows = []
        for (day, hour, msg_type), events in sorted(groups.items(), key=lambda kv: str(kv[0])):
            row: dict[str, Any] = {"ref_date": day.isoformat()}
            if hour is not None:
                row["ref_hour"] = hour
            row.update(
                msg_type=msg_type,
                msg_user=len({e.openid for e in events}),
                msg_count=len(events),
            )
            rows.append(row)
        return rows

    def _upstream(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._upstream_by(days, lambda at: (_day(at), None))

    def _upstream_hour(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._upstream_by(days, lambda at: (_day(at), _hour(at)))

    def _upstream_week(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._upstream_by(days, lambda at: (_week(_day(at)), None))

    def _upstream_month(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._upstream_by(days, lambda at: (_day(at).replace(day=1), None))

    def _dist_by(self, days: list[date], period: Callable[[date], date]) -> list[dict[str, Any]]:
        sent: dict[tuple[date, str], int] = defaultdict(int)
        wanted = set(days)
        for event in self.upstream:
            day = _day(event.at)
            if day in wanted:
                sent[(period(day), event.openid)] += 1
        users: dict[tuple[date, int], int] = defaultdict(int)
        for (start, _openid), count in sent.items():
            interval = 1 if count <= 5 else 2 if count <= 10 else 3
            users[(start, interval)] += 1
        return [
            {"ref_date": start.isoformat(), "count_interval": interval, "msg_user": n}
            for (start, interval), n in sorted(users.items())
        ]

    def _dist(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._dist_by(days, lambda d: d)

    def _dist_week(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._dist_by(days, _week)

    def _dist_month(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._dist_by(days, lambda d: d.replace(day=1))

    # interface

    def _interface_by(self, days: list[date], hourly: bool) -> list[dict[str, Any]]:
        groups: dict[tuple[date, int | None], list[tuple[bool, int]]] = defaultdict(list)
        wanted = set(days)
        for at, ok, cost in self.callbacks:
            if _day(at) in wanted:
                groups[(_day(at), _hour(at) if hourly else None)].append((ok, cost))
        rows = []
        for (day, hour), calls in sorted(groups.items(), key=lambda kv: str(kv[0])):
            row: dict[str, Any] = {"ref_date": day.isoformat()}
            if hour is not None:
                row["ref_hour"] = hour
            row.update(
                callback_count=len(calls),
                fail_count=sum(1 for ok, _ in calls if not ok),
                total_time_cost=sum(cost for _, cost in calls),
                max_time_cost=max(cost for _, cost in calls),
            )
            rows.append(row)
        return rows

    def _interface(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._interface_by(days, hourly=False)

    def _interface_hour(self, days: list[date], now: datetime) -> list[dict[str, Any]]:
        return self._interface_by(days, hourly=True)


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


_Builder = Callable[[FakeDatacube, list[date], datetime], list[dict[str, Any]]]

_BUILDERS: Final[Mapping[str, _Builder]] = {
    "getusersummary": FakeDatacube._user_summary,
    "getusercumulate": FakeDatacube._user_cumulate,
    "getarticlesummary": FakeDatacube._article_summary,
    "getarticletotal": FakeDatacube._article_total,
    "getuserread": FakeDatacube._user_read,
    "getuserreadhour": FakeDatacube._user_read_hour,
    "getusershare": FakeDatacube._user_share,
    "getusersharehour": FakeDatacube._user_share_hour,
    "getupstreammsg": FakeDatacube._upstream,
    "getupstreammsghour": FakeDatacube._upstream_hour,
    "getupstreammsgweek": FakeDatacube._upstream_week,
    "getupstreammsgmonth": FakeDatacube._upstream_month,
    "getupstreammsgdist": FakeDatacube._dist,
    "getupstreammsgdistweek": FakeDatacube._dist_week,
    "getupstreammsgdistmonth": FakeDatacube._dist_month,
    "getinterfacesummary": FakeDatacube._interface,
    "getinterfacesummaryhour": FakeDatacube._interface_hour,
}
