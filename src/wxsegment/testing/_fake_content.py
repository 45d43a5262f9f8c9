"""Drafts and publishing of the fake WeChat.

Drafts are checked as ``draft/add`` checks them (limits, a permanent cover image). A publish
task stays ``publishing`` for ``FakeConfig.publish_seconds`` on the fake clock and then ends
with its planned outcome (success unless `FakeContent.plan_publish` or `finish_publish` say
otherwise). A draft leaves the box once published or mass-sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.testing._fake_media import FakeMedia
from wxsegment.testing._fake_wire import Reply, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import _Request
    from wxsegment.testing._fake_types import FakeConfig

__all__ = ["FakeContent", "FakeDraft", "PublishJob"]

_FIRST_PUBLISH_ID: Final = 2_650_177_668
_FIRST_MSG_DATA_ID: Final = 2_247_490_000
_PUBLISHING: Final = 1


@attrs.frozen(kw_only=True)
class FakeDraft:
    """A draft in the box: its articles as stored, and its times."""

    media_id: str
    articles: tuple[Mapping[str, Any], ...]
    create_time: datetime
    update_time: datetime


@attrs.frozen(kw_only=True)
class PublishJob:
    """A publish task: ``status`` 1 while publishing, then 0 (success) or a failure code."""

    publish_id: int
    media_id: str
    submitted_at: datetime
    status: int
    outcome: int
    fail_idx: tuple[int, ...]
    article_id: str | None
    article_urls: tuple[str, ...]
    msg_data_id: int

    def finish_event(self) -> dict[str, Any]:
        """The ``PUBLISHJOBFINISH`` push fields (``PublishEventInfo`` children in snake_case)."""
        info: dict[str, Any] = {
            "publish_id": str(self.publish_id),
            "publish_status": str(self.status),
        }
        if self.article_id is not None:
            info["article_id"] = self.article_id
            info["article_detail"] = {
                "count": str(len(self.article_urls)),
                "item": [
                    {"idx": str(i), "article_url": url}
                    for i, url in enumerate(self.article_urls, start=1)
                ],
            }
        if self.fail_idx:
            info["fail_idx"] = [str(i) for i in self.fail_idx]
        return {
            "MsgType": "event",
            "Event": "PUBLISHJOBFINISH",
            "CreateTime": str(int(self.submitted_at.timestamp())),
            "PublishEventInfo": info,
        }


@attrs.define
class _Published:
    article_id: str
    articles: list[dict[str, Any]]
    deleted: list[bool]
    update_time: datetime
    publish_id: int


def _bit(article: Mapping[str, Any], key: str) -> int:
    value = article.get(key, 0)
    if isinstance(value, bool) or value not in (0, 1):
        raise Reply(40035, f"{key} must be 0 or 1")
    return int(value)


class FakeContent:
    """The draft box, publish tasks and published articles of one fake account."""

    def __init__(
        self,
        config: FakeConfig,
        lock: threading.RLock,
        now: Callable[[], datetime],
        media: FakeMedia,
    ) -> None:
        self._config = config
        self._lock = lock
        self._now = now
        self._media = media
        self._drafts: dict[str, FakeDraft] = {}
        self._gone: set[str] = set()
        self._mass_sent: set[str] = set()
        self._jobs: dict[int, PublishJob] = {}
        self._published: dict[str, _Published] = {}
        self._next_publish_id = _FIRST_PUBLISH_ID
        self._next_msg_data_id = _FIRST_MSG_DATA_ID
        self._serial = 0
        self._planned: list[tuple[int, tuple[int, ...]]] = []

    def __repr__(self) -> str:
        return f"FakeContent(drafts={len(self._drafts)}, published={len(self._published)})"

    # -- views and test controls

    @property
    def drafts(self) -> Mapping[str, FakeDraft]:
        """Drafts in the box by media_id."""
        with self._lock:
            return MappingProxyType(dict(self._drafts))

    @property
    def publish_jobs(self) -> Mapping[int, PublishJob]:
        """Publish tasks by publish_id (finished ones included)."""
        with self._lock:
            self._settle(self._now())
            return MappingProxyType(dict(self._jobs))

    def add_draft(
        self, title: str = "fake draft", *, articles: Sequence[Mapping[str, Any]] | None = None
    ) -> str:
        """Put a draft in the box without the API's checks (set-up); returns its media_id.

        Handy where a test needs an mpnews media_id and no permanent cover image.
        """
        stored = (
            tuple(dict(a) for a in articles)
            if articles
            else ({"article_type": "news", "title": title, "content": f"<p>{title}</p>"},)
        )
        with self._lock:
            return self._store(stored, self._now())

    def plan_publish(self, status: int, fail_idx: Sequence[int] = ()) -> None:
        """Make the next submitted task end with ``status`` (2, 3, 4: failures) once it runs out."""
        if isinstance(status, bool) or not isinstance(status, int) or status == _PUBLISHING:
            raise ValueError(f"a final publish status is an int other than 1, got {status!r}")
        with self._lock:
            self._planned.append((status, tuple(fail_idx)))

    def finish_publish(
        self, publish_id: int, status: int | None = None, fail_idx: Sequence[int] = ()
    ) -> PublishJob:
        """End a task now (with ``status``, default its planned outcome); returns it."""
        with self._lock:
            job = self._jobs.get(int(publish_id))
            if job is None:
                raise ValueError(f"unknown publish_id {publish_id!r}")
            if job.status != _PUBLISHING:
                raise ValueError(f"publish task {publish_id} already finished")
            if status is not None:
                job = attrs.evolve(job, outcome=status, fail_idx=tuple(fail_idx))
            return self._finish(job, self._now())

    def knows_mpnews(self, media_id: str) -> bool:
        """Whether an mpnews send may use ``media_id`` (a draft or a legacy news material)."""
        if media_id in self._mass_sent and self._config.mpnews_reusable_after_send:
            return True
        return media_id in self._drafts or self._media.is_news(media_id)

    def consume_draft(self, media_id: str) -> None:
        """A mass send used the draft: WeChat removes it from the box."""
        if self._drafts.pop(media_id, None) is not None:
            self._gone.add(media_id)
            self._mass_sent.add(media_id)

    # -- drafts

    def _article(self, raw: object) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise Reply(44003)
        kind = raw.get("article_type", "news")
        if kind not in ("news", "newspic"):
            raise Reply(40035, "article_type")
        title = get_str(raw, "title", 45003, missing=44003)
        if len(title) > 32:
            raise Reply(45003)
        author = raw.get("author", "")
        if not isinstance(author, str) or len(author) > 16:
            raise Reply(40035, "author")
        digest = raw.get("digest", "")
        if not isinstance(digest, str) or len(digest) > 128:
            raise Reply(45004)
        content = raw.get("content")
        if not isinstance(content, str) or not content:
            raise Reply(44004)
        if len(content) >= 20_000 or len(content.encode("utf-8")) >= 1024 * 1024:
            raise Reply(45002)
        source = raw.get("content_source_url", "")
        if not isinstance(source, str) or len(source.encode("utf-8")) > 1024:
            raise Reply(45005)
        thumb = raw.get("thumb_media_id")
        if kind == "news" and not self._media.is_permanent_image(thumb):
            raise Reply(40007, "thumb_media_id must be a permanent image")
        article: dict[str, Any] = {
            "article_type": kind,
            "title": title,
            "author": author,
            "digest": digest or content[:54],
            "content": content,
            "content_source_url": source,
            "thumb_media_id": thumb if isinstance(thumb, str) else "",
            "need_open_comment": _bit(raw, "need_open_comment"),
            "only_fans_can_comment": _bit(raw, "only_fans_can_comment"),
            "show_cover_pic": 0,
        }
        if kind == "newspic":
            images = (raw.get("image_info") or {}).get("image_list")
            if not isinstance(images, list) or not 1 <= len(images) <= 20:
                raise Reply(40035, "image_info.image_list")
            for image in images:
                if not isinstance(image, dict) or not self._media.is_permanent_image(
                    image.get("image_media_id")
                ):
                    raise Reply(40007, "image_media_id")
            article["image_info"] = {"image_list": images}
        return article

    def _draft(self, body: Mapping[str, Any]) -> FakeDraft:
        media_id = get_str(body, "media_id", 40007)
        draft = self._drafts.get(media_id)
        if draft is None:
            raise Reply(40007)
        return draft

    def _shown(self, media_id: str, articles: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                **a,
                "url": f"http://mp.weixin.qq.com/s?__biz=fake&tempkey={media_id}&idx={i}",
                "thumb_url": f"http://mmbiz.qpic.cn/mmbiz_jpg/{a.get('thumb_media_id', '')}/0",
            }
            for i, a in enumerate(articles, start=1)
        ]

    def add(self, req: _Request) -> dict[str, Any]:
        """``draft/add``."""
        raw = req.body.get("articles")
        if not isinstance(raw, list) or not raw:
            raise Reply(44003)
        if len(raw) > self._config.max_draft_articles:
            raise Reply(45008)
        articles = tuple(self._article(a) for a in raw)
        return {"media_id": self._store(articles, req.now), "item": []}

    def _store(self, articles: tuple[Mapping[str, Any], ...], now: datetime) -> str:
        self._serial += 1
        media_id = f"draft{self._serial:06d}_fake_media_id"
        self._drafts[media_id] = FakeDraft(
            media_id=media_id, articles=articles, create_time=now, update_time=now
        )
        return media_id

    def get(self, req: _Request) -> dict[str, Any]:
        """``draft/get``."""
        draft = self._draft(req.body)
        return {
            "news_item": self._shown(draft.media_id, draft.articles),
            "create_time": int(draft.create_time.timestamp()),
            "update_time": int(draft.update_time.timestamp()),
        }

    def update(self, req: _Request) -> dict[str, Any]:
        """``draft/update``: ``index`` 0-based, ``articles`` one object."""
        draft = self._draft(req.body)
        index = req.body.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise Reply(40035, "index")
        if not 0 <= index < len(draft.articles):
            raise Reply(40035, "index out of range")
        articles = list(draft.articles)
        articles[index] = self._article(req.body.get("articles"))
        self._drafts[draft.media_id] = attrs.evolve(
            draft, articles=tuple(articles), update_time=req.now
        )
        return {"errcode": 0, "errmsg": "ok"}

    def delete(self, req: _Request) -> dict[str, Any]:
        """``draft/delete``; deleting an already deleted draft answers 0 too."""
        media_id = get_str(req.body, "media_id", 40007)
        if media_id in self._drafts:
            del self._drafts[media_id]
            self._gone.add(media_id)
        elif media_id not in self._gone:
            raise Reply(40007)
        return {"errcode": 0, "errmsg": "ok"}

    def count(self, req: _Request) -> dict[str, Any]:
        """``draft/count``."""
        return {"total_count": len(self._drafts)}

    def _page_args(self, body: Mapping[str, Any]) -> tuple[int, int, bool]:
        offset, count = body.get("offset", 0), body.get("count", 20)
        for value, low in ((offset, 0), (count, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise Reply(40035, "offset/count")
        if count > 20:
            raise Reply(40035, "count must be 1..20")
        no_content = body.get("no_content", 0)
        if isinstance(no_content, bool) and not self._config.accept_bool_no_content:
            raise Reply(40035, "no_content must be 0 or 1")
        if no_content not in (0, 1):
            raise Reply(40035, "no_content must be 0 or 1")
        return offset, count, bool(no_content)

    @staticmethod
    def _strip(articles: list[dict[str, Any]], no_content: bool) -> list[dict[str, Any]]:
        if not no_content:
            return articles
        return [{k: v for k, v in a.items() if k != "content"} for a in articles]

    def batchget(self, req: _Request) -> dict[str, Any]:
        """``draft/batchget``: newest update first."""
        offset, count, no_content = self._page_args(req.body)
        drafts = sorted(
            self._drafts.values(), key=lambda d: (d.update_time, d.media_id), reverse=True
        )
        page = drafts[offset : offset + count]
        items = [
            {
                "media_id": d.media_id,
                "content": {
                    "news_item": self._strip(self._shown(d.media_id, d.articles), no_content)
                },
                "update_time": int(d.update_time.timestamp()),
            }
            for d in page
        ]
        return {"total_count": len(drafts), "item_count": len(items), "item": items}

    # -- publishing

    def _check_permission(self) -> None:
        if not self._config.can_publish:
            raise Reply(48001)

    def _publish_id(self, value: int) -> int | str:
        return value if self._config.publish_id_type == "number" else str(value)

    def submit(self, req: _Request) -> dict[str, Any]:
        """``freepublish/submit``: queue a task for a draft."""
        self._check_permission()
        draft = self._draft(req.body)
        outcome, fail_idx = self._planned.pop(0) if self._planned else (0, ())
        publish_id = self._next_publish_id
        self._next_publish_id += 1
        msg_data_id = self._next_msg_data_id
        self._next_msg_data_id += 1
        self._jobs[publish_id] = PublishJob(
            publish_id=publish_id,
            media_id=draft.media_id,
            submitted_at=req.now,
            status=_PUBLISHING,
            outcome=outcome,
            fail_idx=fail_idx,
            article_id=None,
            article_urls=(),
            msg_data_id=msg_data_id,
        )
        self._settle(req.now)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "publish_id": self._publish_id(publish_id),
            "msg_data_id": msg_data_id,
        }

    def _settle(self, now: datetime) -> None:
        due = timedelta(seconds=self._config.publish_seconds)
        for job in list(self._jobs.values()):
            if job.status == _PUBLISHING and now >= job.submitted_at + due:
                self._finish(job, now)

    def _finish(self, job: PublishJob, now: datetime) -> PublishJob:
        if job.outcome != 0:
            finished = attrs.evolve(job, status=job.outcome)
            self._jobs[job.publish_id] = finished
            return finished
        draft = self._drafts.pop(job.media_id, None)
        self._gone.add(job.media_id)
        articles = [dict(a) for a in draft.articles] if draft is not None else []
        article_id = f"article_{job.publish_id}_fake"
        urls = tuple(
            f"http://mp.weixin.qq.com/s?__biz=fake&mid={job.publish_id}&idx={i}"
            for i in range(1, len(articles) + 1)
        )
        for article, url in zip(articles, urls, strict=True):
            article["url"] = url
        self._published[article_id] = _Published(
            article_id, articles, [False] * len(articles), now, job.publish_id
        )
        finished = attrs.evolve(job, status=0, article_id=article_id, article_urls=urls)
        self._jobs[job.publish_id] = finished
        return finished

    def _job(self, body: Mapping[str, Any]) -> PublishJob:
        raw = body.get("publish_id")
        text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
        job = self._jobs.get(int(text)) if text.isdigit() else None
        if job is None:
            raise Reply(40035, "invalid publish_id")
        return job

    def status(self, req: _Request) -> dict[str, Any]:
        """``freepublish/get``."""
        self._settle(req.now)
        job = self._job(req.body)
        answer: dict[str, Any] = {
            "publish_id": self._publish_id(job.publish_id),
            "publish_status": job.status,
            "fail_idx": list(job.fail_idx) if job.status in (2, 4) else [],
        }
        if job.article_id is not None:
            answer["article_id"] = job.article_id
            answer["article_detail"] = {
                "count": len(job.article_urls),
                "item": [
                    {"idx": i, "article_url": url}
                    for i, url in enumerate(job.article_urls, start=1)
                ],
            }
        return answer

    def _published_item(self, body: Mapping[str, Any]) -> _Published:
        article_id = get_str(body, "article_id", 40035)
        item = self._published.get(article_id)
        if item is None:
            raise Reply(40035, "invalid article_id")
        return item

    def delete_published(self, req: _Request) -> dict[str, Any]:
        """``freepublish/delete``: ``index`` 1-based, 0 deletes every article."""
        self._check_permission()
        self._settle(req.now)
        item = self._published_item(req.body)
        index = req.body.get("index", 0)
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not (0 <= index <= len(item.articles))
        ):
            raise Reply(40035, "index")
        if index == 0:
            item.deleted = [True] * len(item.articles)
        else:
            item.deleted[index - 1] = True
        if all(item.deleted):
            job = self._jobs[item.publish_id]
            self._jobs[item.publish_id] = attrs.evolve(job, status=5)
        return {"errcode": 0, "errmsg": "ok"}

    def _articles_of(self, item: _Published, no_content: bool = False) -> list[dict[str, Any]]:
        shown = [{**a, "is_deleted": d} for a, d in zip(item.articles, item.deleted, strict=True)]
        return self._strip(shown, no_content)

    def get_article(self, req: _Request) -> dict[str, Any]:
        """``freepublish/getarticle``."""
        self._settle(req.now)
        item = self._published_item(req.body)
        return {
            "news_item": self._articles_of(item),
            "create_time": int(item.update_time.timestamp()),
            "update_time": int(item.update_time.timestamp()),
        }

    def batchget_published(self, req: _Request) -> dict[str, Any]:
        """``freepublish/batchget``: published (not mass-sent) content, newest first."""
        self._settle(req.now)
        offset, count, no_content = self._page_args(req.body)
        items = sorted(
            self._published.values(), key=lambda p: (p.update_time, p.article_id), reverse=True
        )
        page = items[offset : offset + count]
        shown = [
            {
                "article_id": p.article_id,
                "content": {"news_item": self._articles_of(p, no_content)},
                "update_time": int(p.update_time.timestamp()),
            }
            for p in page
        ]
        return {"total_count": len(items), "item_count": len(shown), "item": shown}
