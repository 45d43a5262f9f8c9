"""Child-process worker for the multi-process service-window test (importable under spawn)."""

from __future__ import annotations

from datetime import datetime, timezone

from wxsegment.quota import ServiceWindow, SQLiteWindowStore

NOW = datetime(2026, 7, 15, 12, 0, 30, tzinfo=timezone.utc)


def consume_many(path: str, openids: list[str], attempts: int) -> dict[str, int]:
    """Try ``attempts`` sends to each follower; return how many were granted per follower."""
    store = SQLiteWindowStore(path)
    window = ServiceWindow(store, account="acct")
    granted = dict.fromkeys(openids, 0)
    try:
        for _ in range(attempts):
            for openid in openids:
                granted[openid] += window.consume(openid, now=NOW).granted
    finally:
        store.close()
    return granted
