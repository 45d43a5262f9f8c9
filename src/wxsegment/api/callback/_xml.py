"""Safe XML in and out: size-limited parsing without DTDs or entities, CDATA-safe rendering."""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Final, TypeAlias

from wxsegment.api.callback._errors import CallbackParseError, PayloadTooLarge

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH",
    "FieldValue",
    "Fields",
    "cdata",
    "check_size",
    "fields_of",
    "parse_xml",
    "require_extra",
]

#: Default limit on a push body, in bytes. WeChat's pushes are a few kilobytes at most.
DEFAULT_MAX_SIZE: Final = 1 << 20

#: A field of a push: text for a leaf, a mapping for nested elements, a tuple when repeated.
FieldValue: TypeAlias = "str | Mapping[str, FieldValue] | tuple[FieldValue, ...]"

# Characters XML 1.0 cannot carry at all, not even in CDATA.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Fields(Mapping[str, "FieldValue"]):
    """A read-only mapping of a push's fields; unlike ``MappingProxyType`` it pickles."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, FieldValue]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> FieldValue:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Fields({self._data!r})"

    def __reduce__(self) -> tuple[type[Fields], tuple[dict[str, FieldValue]]]:
        return (Fields, (self._data,))


def check_size(data: str | bytes, max_size: int) -> bytes:
    """``data`` as UTF-8 bytes, or `PayloadTooLarge` when it exceeds ``max_size`` bytes."""
    if isinstance(data, str):
        # A str longer than the limit is too large in any encoding; refuse before encoding it.
        if len(data) > max_size:
            raise PayloadTooLarge(f"body exceeds {max_size} bytes")
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise CallbackParseError("body is not valid Unicode text") from None
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"XML body must be str or bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise PayloadTooLarge(f"body exceeds {max_size} bytes")
    return data


@contextlib.contextmanager
def require_extra(package: str) -> Iterator[None]:
    """Turn a missing optional dependency into an ImportError that names the extra to install."""
    # Imported on first use, so that the event types (used by `wxsegment.tagging`) need no extra.
    try:
        yield
    except ImportError as error:
        raise ImportError(
            f"{package} is needed here: install wxsegment with the 'callback' extra "
            "(pip install 'wxsegment[callback]')"
        ) from error


def parse_xml(data: str | bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> ET.Element:
    """Parse a push body whose root must be ``<xml>``; DTDs, entities and external refs fail.

    Every failure is a `CallbackParseError` (`PayloadTooLarge` when over ``max_size`` bytes).
    """
    raw = check_size(data, max_size)
    with require_extra("defusedxml"):
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import fromstring
    try:
        root: ET.Element = fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as error:
        raise CallbackParseError(f"unsafe XML refused: {type(error).__name__}") from None
    except (ET.ParseError, ValueError, LookupError) as error:
        # ValueError/LookupError: expat rejects some declared encodings outright.
        raise CallbackParseError(f"malformed XML: {error}") from None
    if root.tag != "xml":
        raise CallbackParseError(f"root element must be <xml>, not <{root.tag}>")
    return root


#: WeChat's pushes nest four levels at most; deeper input is refused instead of recursed into.
MAX_DEPTH: Final = 16


def _value(element: ET.Element, depth: int) -> FieldValue:
    if len(element) == 0:
        return element.text or ""
    return fields_of(element, _depth=depth + 1)


def fields_of(element: ET.Element, *, _depth: int = 0) -> Mapping[str, FieldValue]:
    """Every child of ``element`` as a read-only mapping; repeated tags become tuples."""
    if _depth >= MAX_DEPTH:
        raise CallbackParseError(f"XML nested deeper than {MAX_DEPTH} levels")
    collected: dict[str, list[FieldValue]] = {}
    for child in element:
        collected.setdefault(str(child.tag), []).append(_value(child, _depth))
    return Fields(
        {tag: values[0] if len(values) == 1 else tuple(values) for tag, values in collected.items()}
    )


def _checked(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    bad = _NOT_XML.search(text)
    if bad is not None:
        raise ValueError(f"{what} holds a character XML cannot carry: U+{ord(bad.group()):04X}")
    return text


def cdata(text: str, what: str = "text") -> str:
    """``text`` as CDATA; a ``]]>`` inside is split across two sections so it stays literal.

    A carriage return goes between sections as ``&#13;``: parsers turn a raw one into ``\\n``.
    """
    body = _checked(text, what).replace("]]>", "]]]]><![CDATA[>").replace("\r", "]]>&#13;<![CDATA[")
    return f"<![CDATA[{body}]]>"
