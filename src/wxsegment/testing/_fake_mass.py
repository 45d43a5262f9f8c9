"""Mass sends of the fake WeChat: ``message/mass/*``, the jobs they create, the per-minute
pace, ``clientmsgid`` de-duplication and the monthly count that filters a follower out after
``monthly_mass_limit`` pushes in a Shanghai natural month.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment._clock import month_key
from wxsegment.testing._fake_datacube import article_url
from wxsegment.testing._fake_limits import check_media
from wxsegment.testing._fake_types import MassJob
from wxsegment.testing._fake_wire import Reply, get_dict, get_int, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat, _Request

__all__ = ["FakeMass"]

_REALSPEED: Final = {0: 80, 1: 60, 2: 45, 3: 30, 4: 10}
_DELETABLE: Final = frozenset({"mpnews", "mpvideo", "video"})
_FIRST_MSG_ID: Final = 3_147_494_441
_FIRST_MSG_DATA_ID: Final = 2_247_483_647


class FakeMass:
    """Mass jobs by msg_id, pushes per (openid, month), and the mass-send speed level."""

    def __init__(self, fake: FakeWeChat) -> None:
        self._fake = fake
        self._times: deque[datetime] = deque()
        self.monthly: dict[tuple[str, str], int] = {}
        self.jobs: dict[int, MassJob] = {}
        self._next_msg_id = _FIRST_MSG_ID
        self._next_msg_data_id = _FIRST_MSG_DATA_ID
        self._clientmsgids: dict[str, tuple[int, datetime]] = {}
        self.speed = 0

    def set_status(self, msg_id: int, status: str) -> None:
        """Give a job its final status; ``ValueError`` for an unknown job or status."""
        if status not in ("SEND_SUCCESS", "SEND_FAIL", "SENDING", "DELETE"):
            raise ValueError(f"unknown mass job status {status!r}")
        job = self.jobs.get(msg_id)
        if job is None:
            raise ValueError(f"unknown mass job {msg_id!r}")
        self.jobs[msg_id] = attrs.evolve(job, status=status)

    def pace(self, now: datetime) -> None:
        """45011 past ``mass_per_minute`` paced calls in the last minute."""
        window = now - timedelta(minutes=1)
        while self._times and self._times[0] <= window:
            self._times.popleft()
        if len(self._times) >= self._fake.config.mass_per_minute:
            raise Reply(45011)
        self._times.append(now)

    @staticmethod
    def _content(body: Mapping[str, Any], endpoint: str) -> tuple[str, dict[str, Any]]:
        msgtype = body.get("msgtype")
        allowed = {"mpnews", "text", "voice", "image", "mpvideo", "wxcard"}
        if endpoint != "sendall":
            allowed.add("video")
        if not isinstance(msgtype, str) or msgtype not in allowed:
            raise Reply(40008)
        if msgtype == "image" and "images" in body:
            images = get_dict(body, "images", 40007)
            ids = images.get("media_ids")
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise Reply(40007)
            return msgtype, {"images": images}
        payload = get_dict(body, msgtype, 40035, missing=44001 if msgtype == "text" else 41006)
        if msgtype == "text":
            get_str(payload, "content", 44004)
        elif msgtype == "wxcard":
            get_str(payload, "card_id", 40035)
        else:
            get_str(payload, "media_id", 40007, missing=41006)
        return msgtype, {msgtype: payload}

    def _send(
        self, req: _Request, endpoint: str, audience: list[str], scope: str
    ) -> dict[str, Any]:
        body = req.body
        msgtype, content = self._content(body, endpoint)
        self._check_mpnews(msgtype, content)
        check_media(self._fake.config, self._fake._media, body, msgtype, req.now)
        reprint = body.get("send_ignore_reprint", 0)
        if reprint not in (0, 1) or isinstance(reprint, bool):
            raise Reply(40035, "send_ignore_reprint must be 0 or 1")
        clientmsgid: str | None = None
        key: str | None = None
        if "clientmsgid" in body:
            clientmsgid = get_str(body, "clientmsgid", 45067)
            if len(clientmsgid.encode("utf-8")) > self._fake.config.clientmsgid_max_bytes:
                raise Reply(45067)
            key = "id:" + clientmsgid
        elif self._fake.config.implicit_clientmsgid:
            digest = hashlib.sha256(
                json.dumps([scope, msgtype, content], sort_keys=True).encode("utf-8")
            ).hexdigest()
            key = "digest:" + digest
        if key is not None:
            seen = self._clientmsgids.get(key)
            if seen is not None:
                msg_id, at = seen
                age = (req.now - at).total_seconds()
                if age < self._fake.config.clientmsgid_min_retry:
                    raise Reply(45066)
                if age < self._fake.config.clientmsgid_window:
                    raise Reply(45065, msg_id=msg_id)
        job = self._deliver(req.now, endpoint, msgtype, clientmsgid, audience, monthly=True)
        if msgtype == "mpnews":
            self._fake._content_store.consume_draft(content["mpnews"]["media_id"])
        if key is not None:
            self._clientmsgids[key] = (job.msg_id, req.now)
        answer: dict[str, Any] = {
            "errcode": 0,
            "errmsg": "send job submission success",
            "msg_id": job.msg_id,
        }
        if job.msg_data_id is not None:
            answer["msg_data_id"] = job.msg_data_id
        return answer

    def _check_mpnews(self, msgtype: str, content: Mapping[str, Any]) -> None:
        # Mass mpnews takes a draft's media_id (or a legacy news material's), nothing else.
        if msgtype != "mpnews" or not self._fake.config.require_known_mpnews:
            return
        if not self._fake._content_store.knows_mpnews(content["mpnews"]["media_id"]):
            raise Reply(40007, "mpnews needs the media_id of a draft")

    def _deliver(
        self,
        now: datetime,
        endpoint: str,
        msgtype: str,
        clientmsgid: str | None,
        audience: list[str],
        *,
        monthly: bool,
    ) -> MassJob:
        month = month_key(now)
        delivered: list[str] = []
        filtered: list[str] = []
        for openid in audience:
            follower = self._fake._user_store.records.get(openid)
            if follower is None or not follower.subscribed or openid in self._fake._blacklist:
                filtered.append(openid)
                continue
            if monthly:
                count = self.monthly.get((openid, month), 0)
                if count >= self._fake.config.monthly_mass_limit:
                    filtered.append(openid)
                    continue
                self.monthly[(openid, month)] = count + 1
            delivered.append(openid)
        msg_data_id = None
        if msgtype == "mpnews" and endpoint != "preview":
            msg_data_id = self._next_msg_data_id
            self._next_msg_data_id += 1
        job = MassJob(
            msg_id=self._next_msg_id,
            msg_data_id=msg_data_id,
            endpoint=endpoint,
            msgtype=msgtype,
            clientmsgid=clientmsgid,
            status="SEND_SUCCESS",
            created_at=now,
            total_count=len(audience),
            filter_count=len(delivered),
            sent_count=len(delivered),
            error_count=0,
            delivered=tuple(delivered),
            filtered=tuple(filtered),
        )
        self._next_msg_id += 1
        self.jobs[job.msg_id] = job
        self._fake._events.job_finished(job)
        return job

    def sendall(self, req: _Request) -> dict[str, Any]:
        """``mass/sendall``: to every current follower or to a tag's members."""
        flt = get_dict(req.body, "filter", 40035)
        to_all = flt.get("is_to_all", False)
        if not isinstance(to_all, bool):
            raise Reply(40035, "is_to_all must be a boolean")
        if to_all:
            audience = self._fake._user_store.subscribed()
            return self._send(req, "sendall", audience, "all")
        key = "tag_id"
        if "tag_id" not in flt and "group_id" in flt and self._fake.config.legacy_group_id == "tag":
            key = "group_id"
        tag = self._fake._tag_store.records.get(get_int(flt, key, 40050))
        if tag is None:
            raise Reply(40050)
        members = self._fake._user_store.in_follow_order(tag.members)
        return self._send(req, "sendall", members, f"tag:{tag.id}")

    def send(self, req: _Request) -> dict[str, Any]:
        """``mass/send``: to a list of 2 to 10,000 openids."""
        touser = req.body.get("touser")
        if not isinstance(touser, list):
            raise Reply(40031)
        if len(touser) < 2:
            raise Reply(40130)
        if len(touser) > 10_000:
            raise Reply(40032)
        if not all(isinstance(o, str) and o for o in touser):
            raise Reply(40031)
        audience = list(dict.fromkeys(touser))
        if len(audience) < len(touser) and self._fake.config.mass_duplicate_touser == "reject":
            raise Reply(40031, "duplicate openid in touser")
        return self._send(req, "send", audience, "openids:" + ",".join(sorted(audience)))

    def preview(self, req: _Request) -> dict[str, Any]:
        """``mass/preview``: to one follower (or a WeChat id); mass/get refuses its msg_id."""
        msgtype, content = self._content(req.body, "preview")
        self._check_mpnews(msgtype, content)
        check_media(self._fake.config, self._fake._media, req.body, msgtype, req.now)
        towxname = req.body.get("towxname")
        if towxname is not None:
            if not isinstance(towxname, str) or not towxname:
                raise Reply(40132 if towxname else 40035)
            audience: list[str] = []
        else:
            audience = [
                self._fake._user_store.lookup(req.body.get("touser"), subscribed=True).openid
            ]
        monthly = self._fake.config.preview_counts_toward_monthly
        job = self._deliver(req.now, "preview", msgtype, None, audience, monthly=monthly)
        return {"errcode": 0, "errmsg": "preview success", "msg_id": job.msg_id}

    def _job(self, body: Mapping[str, Any]) -> MassJob:
        msg_id = body.get("msg_id")
        if isinstance(msg_id, str) and msg_id.isdigit():
            msg_id = int(msg_id)
        job = self.jobs.get(msg_id) if isinstance(msg_id, int) else None
        if job is None or job.endpoint == "preview":
            raise Reply(40059)
        return job

    def status(self, job: MassJob, now: datetime) -> str:
        """What mass/get answers for ``job`` at ``now``."""
        sending = timedelta(seconds=self._fake.config.mass_sending_duration)
        if job.status == "SEND_SUCCESS" and now < job.created_at + sending:
            return "SENDING"
        return job.status

    def _job_by_url(self, body: Mapping[str, Any]) -> MassJob:
        url = body.get("url")
        for job in self.jobs.values():
            if (
                job.msg_data_id is not None
                and job.endpoint != "preview"
                and isinstance(url, str)
                and url.startswith(article_url(job.msg_data_id, 1)[:-1])
            ):
                return job
        raise Reply(40059, "no send of this article url")

    def delete(self, req: _Request) -> dict[str, Any]:
        """``mass/delete``: a successful mpnews or video send, by msg_id or article url."""
        # The article url identifies the send only when msg_id is absent.
        job = self._job(req.body) if "msg_id" in req.body else self._job_by_url(req.body)
        status = self.status(job, req.now)
        if job.msgtype not in _DELETABLE or status not in ("SEND_SUCCESS", "DELETE"):
            raise Reply(40059, "only successful mpnews and video sends can be deleted")
        index = req.body.get("article_idx", 0)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 8:
            raise Reply(40060)
        if index == 0:
            self.jobs[job.msg_id] = attrs.evolve(job, status="DELETE")
        return {"errcode": 0, "errmsg": "ok"}

    def get(self, req: _Request) -> dict[str, Any]:
        """``mass/get``: a job's status."""
        job = self._job(req.body)
        return {"msg_id": job.msg_id, "msg_status": self.status(job, req.now)}

    def speed_get(self, req: _Request) -> dict[str, Any]:
        """``mass/speed/get``."""
        return {"speed": self.speed, "realspeed": _REALSPEED[self.speed]}

    def speed_set(self, req: _Request) -> dict[str, Any]:
        """``mass/speed/set``: a level from 0 to 4."""
        if "speed" not in req.body:
            raise Reply(45084)
        speed = get_int(req.body, "speed", 45083)
        if speed not in _REALSPEED:
            raise Reply(45083)
        self.speed = speed
        return {"errcode": 0, "errmsg": "ok"}
