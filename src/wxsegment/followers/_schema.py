"""The attribute schema: which attributes a store holds and the kind of each.

Kinds are finer than the kinds segments compare by: ``int`` and ``float`` are both numbers to a
segment, but a store keeps them apart so a value reads back as it was declared. A segment is
checked against the schema before it runs, so ``spend >= "100"`` on a numeric ``spend`` is an
`AttributeKindError` rather than an audience of nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

import attrs

from wxsegment._model import BUILTIN_FIELDS, AttributeValue, check_value, value_kind
from wxsegment.followers._errors import AttributeKindError, UndeclaredAttributeError
from wxsegment.segment import (
    And,
    Between,
    Compare,
    Constant,
    Exists,
    In,
    Not,
    Or,
    Segment,
    Tag,
    Within,
)

__all__ = ["KINDS", "WECHAT_ATTRIBUTES", "AttributeKind", "AttributeSchema"]

#: The kind of an attribute: what values it holds.
AttributeKind: TypeAlias = Literal["str", "int", "float", "bool", "datetime"]

#: Every attribute kind, in the order the documentation lists them.
KINDS: Final[tuple[AttributeKind, ...]] = ("str", "int", "float", "bool", "datetime")

#: Attributes every store declares: what WeChat says about a follower besides its identity.
WECHAT_ATTRIBUTES: Final[Mapping[str, AttributeKind]] = MappingProxyType(
    {
        "language": "str",
        "qr_scene": "int",
        "qr_scene_str": "str",
        "remark": "str",
        "subscribe_scene": "str",
        "subscribed": "bool",
        "unsubscribed_at": "datetime",
    }
)

_COMPARED_AS: Final[Mapping[str, str]] = MappingProxyType(
    {"str": "str", "int": "number", "float": "number", "bool": "bool", "datetime": "datetime"}
)
_BUILTIN_KINDS: Final[Mapping[str, AttributeKind]] = MappingProxyType(
    {
        "openid": "str",
        "unionid": "str",
        "subscribe_time": "datetime",
        "last_interaction_at": "datetime",
    }
)


def _kind_of_value(value: object) -> str:
    """The attribute kind a Python value naturally has (``int`` and ``float`` kept apart)."""
    kind = value_kind(value)
    if kind == "number":
        return "int" if isinstance(value, int) else "float"
    return kind


def _freeze(kinds: Mapping[str, str]) -> Mapping[str, AttributeKind]:
    copy: dict[str, AttributeKind] = {}
    for name, kind in dict(kinds).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"attribute names must be identifiers, got {name!r}")
        if name in BUILTIN_FIELDS or name == "tags":
            raise ValueError(f"{name!r} is a built-in follower field, not an attribute")
        if kind not in KINDS:
            raise ValueError(
                f"attribute {name!r}: unknown kind {kind!r}, expected one of {', '.join(KINDS)}"
            )
        copy[name] = kind
    for name, kind in WECHAT_ATTRIBUTES.items():
        declared = copy.setdefault(name, kind)
        if declared != kind:
            raise ValueError(f"attribute {name!r} comes from WeChat and is always a {kind}")
    return MappingProxyType(dict(sorted(copy.items())))


@attrs.frozen(slots=True)
class AttributeSchema:
    """Declared attribute names and kinds; the WeChat attributes are always declared.

    With ``allow_undeclared`` other attributes are stored too (numbers may then read back as
    ``int`` when integral) and segments may name them.
    """

    kinds: Mapping[str, AttributeKind] = attrs.field(factory=dict, converter=_freeze, hash=False)
    allow_undeclared: bool = False

    def kind(self, name: str) -> AttributeKind | None:
        """The declared kind of ``name`` (built-in fields included), or ``None``."""
        return _BUILTIN_KINDS.get(name) or self.kinds.get(name)

    def merged(self, kinds: Mapping[str, str]) -> AttributeSchema:
        """This schema with more declarations; redeclaring a name as another kind is an error."""
        extra = _freeze(kinds)
        for name, kind in extra.items():
            if self.kinds.get(name, kind) != kind:
                raise AttributeKindError(
                    f"attribute {name!r} is declared {self.kinds[name]}, cannot redeclare it "
                    f"as {kind}",
                    attribute=name,
                    declared=self.kinds[name],
                    got=kind,
                )
        return AttributeSchema({**self.kinds, **extra}, self.allow_undeclared)

    def value(self, name: str, value: object) -> AttributeValue:
        """Check one attribute value against the schema; an ``int`` widens to a ``float`` kind."""
        checked = check_value(value, f"attribute {name!r}")
        declared = self.kinds.get(name)
        got = _kind_of_value(checked)
        if declared is None:
            if not self.allow_undeclared:
                raise UndeclaredAttributeError(
                    f"attribute {name!r} is not declared (declared: "
                    f"{', '.join(self.kinds)}); declare it or allow undeclared attributes",
                    attribute=name,
                )
            return checked
        if declared == got:
            return checked
        if declared == "float" and got == "int":
            return float(checked)  # type: ignore[arg-type]
        raise AttributeKindError(
            f"attribute {name!r} is declared {declared}, got a {got}: {checked!r}",
            attribute=name,
            declared=declared,
            got=got,
        )

    def check_segment(self, segment: Segment) -> None:
        """Raise `AttributeSchemaError` if ``segment`` names an attribute it cannot hold."""
        if not isinstance(segment, Segment):
            raise TypeError(f"expected a Segment, got {type(segment).__name__}")
        stack: list[Segment] = [segment]
        while stack:
            node = stack.pop()
            if isinstance(node, (And, Or)):
                stack.extend(node.children)
            elif isinstance(node, Not):
                stack.append(node.child)
            elif isinstance(node, (Constant, Tag)):
                continue
            elif isinstance(node, Compare):
                self._compared(node.attr, (node.value,))
            elif isinstance(node, In):
                self._compared(node.attr, node.values)
            elif isinstance(node, Between):
                self._compared(node.attr, (node.lo, node.hi))
            elif isinstance(node, Within):
                self._compared(node.attr, (), within=True)
            elif isinstance(node, Exists):
                self._compared(node.attr, ())
            else:  # pragma: no cover - every node type is listed above
                raise TypeError(f"unknown segment node {type(node).__name__}")

    def _compared(
        self, name: str, values: tuple[AttributeValue, ...], *, within: bool = False
    ) -> None:
        declared = self.kind(name)
        if declared is None:
            if self.allow_undeclared:
                return
            raise UndeclaredAttributeError(
                f"the segment names attribute {name!r}, which is not declared (declared: "
                f"{', '.join(self.kinds)})",
                attribute=name,
            )
        expected = _COMPARED_AS[declared]
        if within and expected != "datetime":
            raise AttributeKindError(
                f"'within' needs a datetime, but attribute {name!r} is declared {declared}",
                attribute=name,
                declared=declared,
                got="duration",
            )
        for value in values:
            got = value_kind(value)
            if got != expected:
                shown = value.isoformat() if isinstance(value, datetime) else repr(value)
                raise AttributeKindError(
                    f"attribute {name!r} is declared {declared}, but the segment compares it "
                    f"with a {got} ({shown})",
                    attribute=name,
                    declared=declared,
                    got=got,
                )
