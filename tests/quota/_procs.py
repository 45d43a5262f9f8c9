"""Child-process workers for the concurrency and crash tests (importable under spawn).

A *spec* names a backend and how to open it in another process: ``("sqlite", path)``,
``("postgres", dsn, schema)``, ``("redis", url, prefix)`` or ``("redis_cluster", url, prefix)``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from wxsegment.quota import QuotaLedger

AT = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)
Spec = tuple[str, ...]


def open_ledger(spec: Spec, account: str, limit: int = 4) -> QuotaLedger:
    """Open a ledger on the store a spec names."""
    kind = spec[0]
    if kind == "sqlite":
        from wxsegment.quota import SQLiteLedger

        return SQLiteLedger(spec[1], account=account, limit=limit)
    if kind == "postgres":
        from wxsegment.quota import PostgresLedger

        return PostgresLedger(spec[1], account=account, limit=limit, schema=spec[2])
    from wxsegment.quota import RedisLedger

    if kind == "redis_cluster":
        return RedisLedger(spec[1], account=account, limit=limit, prefix=spec[2], cluster=True)
    # The shared test Redis may run without persistence (see tests.quota.servers).
    return RedisLedger(spec[1], account=account, limit=limit, prefix=spec[2], require_durable=False)


def reserve_many(spec: Spec, account: str, worker: int, audience: list[str], rounds: int) -> int:
    """Reserve ``rounds`` campaigns for the whole audience; commit every other one.

    Returns how many reservations this worker was granted.
    """
    ledger = open_ledger(spec, account)
    granted = 0
    try:
        for index in range(rounds):
            campaign = f"w{worker}-c{index}"
            result = ledger.reserve(campaign, audience, at=AT, content_key=f"w{worker}-k{index}")
            granted += len(result.granted)
            if index % 2 == 0:
                ledger.commit(campaign)
    finally:
        ledger.close()
    return granted


def reserve_until_killed(spec: Spec, account: str, audience: list[str]) -> None:
    """Reserve one huge campaign (many chunks); the parent kills this process midway."""
    ledger = open_ledger(spec, account)
    ledger.reserve("doomed", audience, at=AT, content_key="doomed-key")
