"""The errors of the follower store; each subclasses the builtin it refines.

::

    ValueError
     ├── AttributeSchemaError        a segment or value does not fit the attribute schema
     │    ├── UndeclaredAttributeError
     │    └── AttributeKindError
     └── ImportRejectedError         a write was refused as a whole; nothing changed
    LookupError
     └── StaleVersionError           the change feed no longer reaches back that far
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wxsegment.followers._report import RejectedRow

__all__ = [
    "AttributeKindError",
    "AttributeSchemaError",
    "ImportRejectedError",
    "StaleVersionError",
    "UndeclaredAttributeError",
]


class AttributeSchemaError(ValueError):
    """A segment or an attribute value does not fit the store's attribute schema."""

    def __init__(self, message: str, *, attribute: str) -> None:
        super().__init__(message)
        self.attribute = attribute


class UndeclaredAttributeError(AttributeSchemaError):
    """An attribute the schema does not declare, in a store that does not accept those."""


class AttributeKindError(AttributeSchemaError):
    """A value (or a segment constant) of another kind than the attribute's declared kind."""

    def __init__(self, message: str, *, attribute: str, declared: str, got: str) -> None:
        super().__init__(message, attribute=attribute)
        self.declared = declared
        self.got = got


class ImportRejectedError(ValueError):
    """A write was refused as a whole because of the listed rows; the store did not change."""

    def __init__(self, rejected: tuple[RejectedRow, ...]) -> None:
        first = rejected[0]
        more = f" (and {len(rejected) - 1} more rejected rows)" if len(rejected) > 1 else ""
        super().__init__(f"row {first.row} rejected: {first.reason}{more}; nothing was written")
        self.rejected = rejected


class StaleVersionError(LookupError):
    """The change feed was trimmed past the position asked for: rebuild instead of replaying."""
