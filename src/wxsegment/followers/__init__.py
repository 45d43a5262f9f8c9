"""The follower store: one persistent home for followers, their tags and CRM attributes.

A store keeps followers in the table layout `segment.to_sql` compiles to, so segments run in
the database (`select`, `count`, `explain`); it checks segments and values against a declared
attribute schema, imports CRM rows and CSV files all-or-nothing, and keeps a change feed so a
`SegmentIndex` stays current without rebuilding. `SQLiteFollowerStore` is the embedded default;
`PostgresFollowerStore` needs the ``postgres`` extra and is imported on first use.
"""

from __future__ import annotations

import typing as _typing

from wxsegment.followers._errors import (
    AttributeKindError,
    AttributeSchemaError,
    ImportRejectedError,
    StaleVersionError,
    UndeclaredAttributeError,
)
from wxsegment.followers._indexed import IndexedStore
from wxsegment.followers._protocol import FollowerStore
from wxsegment.followers._report import ImportReport, RejectedRow
from wxsegment.followers._rows import MAX_OPENID_LENGTH
from wxsegment.followers._schema import KINDS, WECHAT_ATTRIBUTES, AttributeKind, AttributeSchema
from wxsegment.followers._sqlite import SQLiteFollowerStore

if _typing.TYPE_CHECKING:
    from wxsegment.followers._postgres import PostgresFollowerStore

__all__ = [
    "KINDS",
    "MAX_OPENID_LENGTH",
    "WECHAT_ATTRIBUTES",
    "AttributeKind",
    "AttributeKindError",
    "AttributeSchema",
    "AttributeSchemaError",
    "FollowerStore",
    "ImportRejectedError",
    "ImportReport",
    "IndexedStore",
    "PostgresFollowerStore",
    "RejectedRow",
    "SQLiteFollowerStore",
    "StaleVersionError",
    "UndeclaredAttributeError",
]


def __getattr__(name: str) -> _typing.Any:
    # psycopg is the optional 'postgres' extra: import the backend only when asked for.
    if name == "PostgresFollowerStore":
        from wxsegment.followers._postgres import PostgresFollowerStore

        return PostgresFollowerStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
