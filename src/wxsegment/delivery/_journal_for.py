"""`journal_for`: the delivery journal that lives beside a ledger, on the same backend."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from wxsegment.delivery._journal import DeliveryJournal, MemoryJournal
from wxsegment.quota import MemoryLedger, PostgresLedger, QuotaLedger, RedisLedger, SQLiteLedger

__all__ = ["journal_for"]

_lock = threading.Lock()
_journals: weakref.WeakKeyDictionary[Any, DeliveryJournal] = weakref.WeakKeyDictionary()


def _open(ledger: QuotaLedger) -> DeliveryJournal:
    # The ledgers do not expose where they keep their data, so this reads their private
    # attributes; a public accessor on each backend would remove that coupling.
    account = ledger.account
    if isinstance(ledger, MemoryLedger):
        return MemoryJournal(account=account)
    if isinstance(ledger, SQLiteLedger):
        from wxsegment.delivery._journal_sqlite import SQLiteJournal

        return SQLiteJournal(ledger._path, account=account)
    if isinstance(ledger, PostgresLedger):
        from wxsegment.delivery._journal_postgres import PostgresJournal

        return PostgresJournal(
            ledger._db, account=account, schema=ledger._schema, lock=ledger._lock
        )
    if isinstance(ledger, RedisLedger):
        from wxsegment.delivery._journal_redis import RedisJournal

        return RedisJournal(ledger._client, account=account, prefix=ledger._prefix)
    raise _no_default(ledger)


def _no_default(ledger: object) -> TypeError:
    return TypeError(
        f"no default journal for {type(ledger).__name__}; pass journal= to execute "
        "(a MemoryJournal, SQLiteJournal, PostgresJournal or RedisJournal)"
    )


def journal_for(ledger: QuotaLedger) -> DeliveryJournal:
    """The journal kept with ``ledger``: same file, schema, Redis prefix or process memory.

    One journal per ledger object (cached while the ledger lives): a `MemoryLedger`'s journal
    is shared by every run given that ledger, a `SQLiteLedger`'s lives in the same file,
    a `PostgresLedger`'s in the same schema (over the ledger's connection) and a
    `RedisLedger`'s under the same prefix. Other ledgers raise ``TypeError``.
    """
    if not isinstance(ledger, (MemoryLedger, SQLiteLedger, PostgresLedger, RedisLedger)):
        raise _no_default(ledger)
    with _lock:
        journal = _journals.get(ledger)
        if journal is None:
            journal = _journals[ledger] = _open(ledger)
            weakref.finalize(ledger, journal.close)
        return journal
