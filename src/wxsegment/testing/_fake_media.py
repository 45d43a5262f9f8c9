"""Media of the fake WeChat: temporary media (3 days on the fake clock), article images and
permanent materials, with WeChat's type, format and size checks and errcodes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.testing._fake_multipart import UploadedFile, media_part
from wxsegment.testing._fake_wire import Reply, get_str

if TYPE_CHECKING:
    from wxsegment.testing._fake import _Request
    from wxsegment.testing._fake_types import FakeConfig

__all__ = ["FakeFile", "FakeMaterial", "FakeMedia"]

_MB: Final = 1024 * 1024
_KINDS: Final = ("image", "voice", "video", "thumb")
# WeChat's per-type "invalid size" codes: image, voice, video, thumb.
_SIZE_ERRCODE: Final = {"image": 40009, "voice": 40010, "video": 40011, "thumb": 40012}
_TEMP_FORMATS: Final = {
    "image": {"png", "jpeg", "jpg", "gif"},
    "voice": {"amr", "mp3"},
    "video": {"mp4"},
    "thumb": {"jpg", "jpeg"},
}
_MATERIAL_FORMATS: Final = {
    "image": {"bmp", "png", "jpeg", "jpg", "gif"},
    "voice": {"mp3", "wma", "wav", "amr"},
    "video": {"mp4"},
    "thumb": {"jpg", "jpeg"},
}
_MATERIAL_SIZES: Final = {
    "image": 10 * _MB,
    "voice": 2 * _MB,
    "video": 10 * _MB,
    "thumb": 64 * 1024,
}


@attrs.frozen
class FakeFile:
    """A file answer (``media/get``, ``get_material``): bytes and their Content-Type."""

    content: bytes = attrs.field(repr=lambda c: f"<{len(c)} bytes>")
    content_type: str


@attrs.frozen(kw_only=True)
class FakeMaterial:
    """A permanent material as the fake holds it (news materials carry ``articles``)."""

    media_id: str
    kind: str
    filename: str
    content: bytes = attrs.field(repr=lambda c: f"<{len(c)} bytes>")
    content_type: str
    url: str | None
    title: str
    introduction: str
    update_time: datetime
    articles: tuple[Mapping[str, Any], ...] = ()


@attrs.frozen
class _Temp:
    kind: str
    file: UploadedFile
    created_at: datetime


def _extension(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[1].lower() if "." in base.strip(".") else ""


def _check_file(part: UploadedFile, kind: str, formats: set[str], max_bytes: int) -> None:
    if _extension(part.filename) not in formats:
        raise Reply(40005, f"{part.filename!r} is not one of {sorted(formats)}")
    if not part.content:
        raise Reply(44001)
    if len(part.content) > max_bytes:
        raise Reply(_SIZE_ERRCODE[kind])


def _kind(query: Mapping[str, str]) -> str:
    kind = query.get("type", "")
    if kind not in _KINDS:
        raise Reply(40004)
    return kind


class FakeMedia:
    """Temporary media, article images and permanent materials of one fake account."""

    def __init__(self, config: FakeConfig, lock: threading.RLock, now: Any) -> None:
        self._config = config
        self._lock = lock
        self._now = now
        self._temp: dict[str, _Temp] = {}
        self._images: dict[str, UploadedFile] = {}
        self._materials: dict[str, FakeMaterial] = {}
        self._serial = 0

    def __repr__(self) -> str:
        return f"FakeMedia(temporary={len(self._temp)}, materials={len(self._materials)})"

    def _next(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:06d}_fake_media_id"

    # -- views and set-up

    @property
    def materials(self) -> Mapping[str, FakeMaterial]:
        """Permanent materials by media_id."""
        with self._lock:
            return dict(self._materials)

    def temporary(self, media_id: str, at: datetime | None = None) -> UploadedFile | None:
        """A temporary upload that is still valid at ``at`` (default: now), or None."""
        with self._lock:
            return self._valid_temp(media_id, at or self._now())

    def add_news_material(self, articles: Sequence[Mapping[str, Any]]) -> str:
        """Add a legacy news material (its add endpoint is retired); returns its media_id."""
        if not articles:
            raise ValueError("a news material needs at least one article")
        with self._lock:
            media_id = self._next("news")
            self._materials[media_id] = FakeMaterial(
                media_id=media_id,
                kind="news",
                filename="",
                content=b"",
                content_type="",
                url=None,
                title="",
                introduction="",
                update_time=self._now(),
                articles=tuple(dict(a) for a in articles),
            )
            return media_id

    def is_permanent_image(self, media_id: object) -> bool:
        """Whether ``media_id`` is a permanent image or thumb (what article covers need)."""
        material = self._materials.get(media_id) if isinstance(media_id, str) else None
        return material is not None and material.kind in ("image", "thumb")

    def is_news(self, media_id: str) -> bool:
        """Whether ``media_id`` is a (legacy) news material."""
        material = self._materials.get(media_id)
        return material is not None and material.kind == "news"

    def _valid_temp(self, media_id: object, now: datetime) -> UploadedFile | None:
        temp = self._temp.get(media_id) if isinstance(media_id, str) else None
        ttl = timedelta(seconds=self._config.temp_media_ttl)
        if temp is None or now >= temp.created_at + ttl:
            return None
        return temp.file

    # -- temporary media

    def upload(self, req: _Request) -> dict[str, Any]:
        """``media/upload``."""
        kind = _kind(req.query)
        part = media_part(req.files)
        limit = self._config.temp_image_max_bytes if kind == "image" else _MATERIAL_SIZES[kind]
        _check_file(part, kind, _TEMP_FORMATS[kind], limit)
        media_id = self._next("temp")
        self._temp[media_id] = _Temp(kind, part, req.now)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "type": kind,
            "media_id": media_id,
            "created_at": int(req.now.timestamp()),
        }

    def get(self, req: _Request) -> dict[str, Any] | FakeFile:
        """``media/get``: the file, or ``video_url`` for a video; 40007 once expired."""
        media_id = req.query.get("media_id")
        if not media_id:
            raise Reply(41006)
        file = self._valid_temp(media_id, req.now)
        if file is None:
            raise Reply(40007)
        if self._temp[media_id].kind == "video":
            return {"video_url": f"http://mmbiz.qpic.cn/fake/video/{media_id}.mp4"}
        return FakeFile(file.content, file.content_type or "application/octet-stream")

    def upload_image(self, req: _Request) -> dict[str, Any]:
        """``media/uploadimg``: JPG/PNG under 1 MB; not counted in the material library."""
        part = media_part(req.files)
        if _extension(part.filename) not in {"jpg", "jpeg", "png"}:
            raise Reply(40005)
        if not part.content:
            raise Reply(44001)
        if len(part.content) >= _MB:
            raise Reply(40009)
        url = f"http://mmbiz.qpic.cn/mmbiz_jpg/{self._next('img')}/0"
        self._images[url] = part
        return {"url": url, "errcode": 0, "errmsg": "ok"}

    # -- permanent materials

    def _count(self, *kinds: str) -> int:
        return sum(1 for m in self._materials.values() if m.kind in kinds)

    def add_material(self, req: _Request) -> dict[str, Any]:
        """``material/add_material`` (video: form part ``description`` with a title)."""
        kind = _kind(req.query)
        part = media_part(req.files)
        _check_file(part, kind, _MATERIAL_FORMATS[kind], _MATERIAL_SIZES[kind])
        title = introduction = ""
        if kind == "video":
            title, introduction = self._video_description(req.body.get("description"))
        if kind == "image":
            full = self._count("image", "news") >= self._config.max_image_materials
        else:
            full = self._count(kind) >= self._config.max_other_materials
        if full:
            raise Reply(self._config.material_limit_errcode, "material library full")
        media_id = self._next("perm")
        url = f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id}/0" if kind == "image" else None
        self._materials[media_id] = FakeMaterial(
            media_id=media_id,
            kind=kind,
            filename=part.filename,
            content=part.content,
            content_type=part.content_type,
            url=url,
            title=title,
            introduction=introduction,
            update_time=req.now,
        )
        answer: dict[str, Any] = {"media_id": media_id}
        if url is not None:
            answer["url"] = url
        return answer

    @staticmethod
    def _video_description(raw: object) -> tuple[str, str]:
        if not isinstance(raw, str):
            raise Reply(40035, "video needs a description part")
        try:
            description = json.loads(raw)
        except ValueError:
            raise Reply(47001, "description") from None
        if not isinstance(description, dict):
            raise Reply(47001, "description")
        title = get_str(description, "title", 40035)
        introduction = description.get("introduction", "")
        if not isinstance(introduction, str):
            raise Reply(40035, "introduction")
        return title, introduction

    def _material(self, body: Mapping[str, Any]) -> FakeMaterial:
        media_id = get_str(body, "media_id", 40007, missing=41006)
        material = self._materials.get(media_id)
        if material is None:
            raise Reply(40007)
        return material

    def get_material(self, req: _Request) -> dict[str, Any] | FakeFile:
        """``material/get_material``: news and video as JSON, other types as bytes."""
        material = self._material(req.body)
        if material.kind == "news":
            return {"news_item": [dict(a) for a in material.articles]}
        if material.kind == "video":
            return {
                "title": material.title,
                "description": material.introduction,
                "down_url": f"http://mmbiz.qpic.cn/fake/video/{material.media_id}.mp4",
            }
        return FakeFile(material.content, material.content_type or "application/octet-stream")

    def del_material(self, req: _Request) -> dict[str, Any]:
        """``material/del_material``."""
        del self._materials[self._material(req.body).media_id]
        return {"errcode": 0, "errmsg": "ok"}

    def count(self, req: _Request) -> dict[str, Any]:
        """``material/get_materialcount``."""
        return {f"{kind}_count": self._count(kind) for kind in ("voice", "video", "image", "news")}

    def batchget(self, req: _Request) -> dict[str, Any]:
        """``material/batchget_material``: newest first, 1..20 per page."""
        kind = req.body.get("type")
        if kind not in ("image", "video", "voice", "news"):
            raise Reply(40004)
        offset, count = req.body.get("offset", 0), req.body.get("count", 20)
        for value, low in ((offset, 0), (count, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise Reply(40035, "offset/count")
        if count > 20:
            raise Reply(40035, "count must be 1..20")
        matching = sorted(
            (m for m in self._materials.values() if m.kind == kind),
            key=lambda m: (m.update_time, m.media_id),
            reverse=True,
        )
        page = matching[offset : offset + count]
        items: list[dict[str, Any]] = []
        for material in page:
            item: dict[str, Any] = {
                "media_id": material.media_id,
                "update_time": int(material.update_time.timestamp()),
            }
            if kind == "news":
                item["content"] = {"news_item": [dict(a) for a in material.articles]}
            else:
                item["name"] = material.filename
                item["url"] = material.url or ""
            items.append(item)
        return {"total_count": len(matching), "item_count": len(items), "item": items}


def retired(req: _Request) -> dict[str, Any]:
    """The article-material endpoints retired in 2022 (add_news, update_news, uploadnews)."""
    raise Reply(
        45106,
        "This API has been unsupported. For more details, please view "
        "https://mp.weixin.qq.com/cgi-bin/announce?action=getannouncement"
        "&announce_id=11644831863qFQSh",
    )
