"""Upload sources and the size/format limits checked before a byte is sent.

A source is a path, bytes, or a binary file object. Its size is found without reading it
(``os.stat``, ``len``, seek/tell), so a 100 MB file is refused without loading it; accepted
files are streamed by httpx in chunks (multipart field ``media``).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import IO, Any, Final, TypeAlias

import attrs

from wxsegment.api._errors import WeChatValidationError

__all__ = [
    "ARTICLE_IMAGE_LIMIT",
    "MATERIAL_LIMITS",
    "TEMP_MEDIA_LIMITS",
    "MediaLimit",
    "MediaSource",
    "open_source",
]

#: A path (str or os.PathLike), the bytes themselves, or a binary file object.
MediaSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"

_MB: Final = 1024 * 1024
_CONTENT_TYPES: Final = MappingProxyType(
    {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "gif": "image/gif",
        "bmp": "image/bmp",
        "amr": "audio/amr",
        "mp3": "audio/mpeg",
        "wma": "audio/x-ms-wma",
        "wav": "audio/wav",
        "mp4": "video/mp4",
    }
)


@attrs.frozen
class MediaLimit:
    """What WeChat accepts for one media type: a size cap (bytes) and file extensions."""

    max_bytes: int = attrs.field(validator=attrs.validators.ge(1))
    extensions: frozenset[str]


#: Temporary media (``media/upload``). CONFLICT: images are documented as both 2 MB and 10 MB;
#: 2 MB is the safe reading (replace the entry to allow more). Voice must also be ≤ 60 s,
#: which only WeChat checks.
TEMP_MEDIA_LIMITS: Final[Mapping[str, MediaLimit]] = MappingProxyType(
    {
        "image": MediaLimit(2 * _MB, frozenset({"png", "jpeg", "jpg", "gif"})),
        "voice": MediaLimit(2 * _MB, frozenset({"amr", "mp3"})),
        "video": MediaLimit(10 * _MB, frozenset({"mp4"})),
        "thumb": MediaLimit(64 * 1024, frozenset({"jpg", "jpeg"})),
    }
)
#: Permanent materials (``material/add_material``).
MATERIAL_LIMITS: Final[Mapping[str, MediaLimit]] = MappingProxyType(
    {
        "image": MediaLimit(10 * _MB, frozenset({"bmp", "png", "jpeg", "jpg", "gif"})),
        "voice": MediaLimit(2 * _MB, frozenset({"mp3", "wma", "wav", "amr"})),
        "video": MediaLimit(10 * _MB, frozenset({"mp4"})),
        "thumb": MediaLimit(64 * 1024, frozenset({"jpg", "jpeg"})),
    }
)
#: Images inside article content (``media/uploadimg``): JPG/PNG under 1 MB.
ARTICLE_IMAGE_LIMIT: Final = MediaLimit(_MB, frozenset({"jpg", "jpeg", "png"}))


#: Bytes read (and written to the socket) per chunk of an upload. httpx asks for 64 KiB; on
#: asyncio each chunk is one write-and-drain, and 1 MiB chunks nearly doubled upload throughput
#: on loopback while keeping memory bounded.
UPLOAD_CHUNK: Final = 1024 * 1024


class _Chunked:
    """A read-only view of a binary stream that reads ``UPLOAD_CHUNK`` bytes at a time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(max(size, UPLOAD_CHUNK) if size >= 0 else -1)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def fileno(self) -> int:
        return self._stream.fileno()


def _extension(filename: str) -> str:
    base = os.path.basename(filename)
    return base.rsplit(".", 1)[1].lower() if "." in base.strip(".") else ""


def _stream_size(stream: IO[bytes]) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    try:
        position = stream.tell()
        size = stream.seek(0, os.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError) as error:
        raise WeChatValidationError(
            "the file object must be seekable so its size can be checked before the upload"
        ) from error
    return size


def _check(kind: str, limit: MediaLimit, filename: str, size: int) -> None:
    extension = _extension(filename)
    if extension not in limit.extensions:
        allowed = ", ".join(sorted(limit.extensions))
        raise WeChatValidationError(
            f"{kind} files must end in one of {allowed}; got {os.path.basename(filename)!r} "
            "(WeChat answers 40005 to other names)"
        )
    if size == 0:
        raise WeChatValidationError(f"the {kind} file is empty")
    if size > limit.max_bytes:
        raise WeChatValidationError(
            f"{kind} files may be at most {limit.max_bytes} bytes, got {size}"
        )


@contextlib.contextmanager
def open_source(
    source: Any, filename: str | None, kind: str, limit: MediaLimit
) -> Iterator[tuple[str, Any, str]]:
    """Check ``source`` against ``limit`` and yield ``(filename, stream, content_type)``.

    A path is opened here and closed on exit; bytes are wrapped; a file object is used as it
    is, from its start. ``filename`` (with its extension) is required for bytes and for file
    objects without a ``name``.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        name = filename or os.path.basename(path)
        _check(kind, limit, name, os.stat(path).st_size)
        with open(path, "rb") as stream:
            yield name, _Chunked(stream), _content_type(name)
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        if filename is None:
            raise WeChatValidationError("uploading bytes needs a filename with an extension")
        data = bytes(source)
        _check(kind, limit, filename, len(data))
        yield filename, _Chunked(io.BytesIO(data)), _content_type(filename)
        return
    if not hasattr(source, "read"):
        raise TypeError(
            f"a media source is a path, bytes or a binary file, not {type(source).__name__}"
        )
    own = getattr(source, "name", None)
    if filename is None and not isinstance(own, str):
        raise WeChatValidationError("this file object has no name; pass filename=")
    given = filename if filename is not None else os.path.basename(str(own))
    if isinstance(source, io.TextIOBase):
        raise TypeError("open the file in binary mode ('rb')")
    # httpx sends a file object from its start (it seeks to 0), so the whole file counts.
    _check(kind, limit, given, _stream_size(source))
    yield given, _Chunked(source), _content_type(given)


def _content_type(filename: str) -> str:
    return _CONTENT_TYPES.get(_extension(filename), "application/octet-stream")
