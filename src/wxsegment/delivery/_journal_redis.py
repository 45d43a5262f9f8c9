"""`RedisJournal`: the delivery journal in Redis, under the ledger's key prefix.

A campaign's lease and batches share one hash tag (a digest of the campaign id), so each write
is one Lua script that checks the lease token and changes the batch atomically, in Redis
Cluster too. Batches are JSON values of one hash, keyed by index.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from wxsegment._clock import ensure_aware
from wxsegment.delivery._journal import (
    BatchRecord,
    BatchState,
    CampaignBusyError,
    JournalConflictError,
    Lease,
    LeaseLostError,
    check_records,
    check_transition,
    check_ttl,
    new_token,
)

__all__ = ["RedisJournal"]

# KEYS: lease. ARGV: now (µs), token, expires (µs). Returns "" when taken, else the holder's
# expiry.
_ACQUIRE: Final = """
local held = redis.call('HMGET', KEYS[1], 'token', 'expires')
if held[1] and tonumber(held[2]) > tonumber(ARGV[1]) then return held[2] end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'expires', ARGV[3])
return ''
"""
# KEYS: lease. ARGV: token, expires (µs) or "" to delete. Returns 1 if the token held.
_RENEW: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('HSET', KEYS[1], 'expires', ARGV[2]) end
return 1
"""
# KEYS: lease, batches. ARGV: token, then index/json pairs. Returns 1, 0 (lost) or -1 (taken).
_ADD: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return -1 end
end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""
# KEYS: lease, batches. ARGV: token, index, expect, state, attempted_at, msg_id ("" = keep).
# Returns 1, 0 (lost) or -1 (not in the expected state).
_UPDATE: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return -1 end
local record = cjson.decode(raw)
if record['state'] ~= ARGV[3] then return -1 end
record['state'] = ARGV[4]
if ARGV[5] ~= '' and record['attempted_at'] == '' then record['attempted_at'] = ARGV[5] end
if ARGV[6] ~= '' then record['msg_id'] = ARGV[6] end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(record))
return 1
"""


# KEYS: lease, batches; ARGV: token. 0 when the lease is not ours, else 1 + batches dropped.
_FORGET: Final = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local dropped = redis.call('HLEN', KEYS[2])
redis.call('DEL', KEYS[2], KEYS[1])
return dropped + 1
"""


def _micros(at: datetime) -> str:
    delta = ensure_aware(at) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return str(delta // timedelta(microseconds=1))


def _text(at: datetime | None) -> str:
    return "" if at is None else ensure_aware(at).astimezone(timezone.utc).isoformat()


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("RedisJournal needs redis-py: pip install 'wxsegment[redis]'") from error
    return redis


class RedisJournal:
    """A `DeliveryJournal` in Redis; ``url`` is a Redis URL or a ``redis.Redis`` client.

    A client handed in is used and never closed (`journal_for` passes the ledger's own). Keys
    start with ``{prefix:account:delivery:<digest of the campaign id>}``.
    """

    def __init__(
        self, url: str | Any, *, account: str = "default", prefix: str = "wxsegment"
    ) -> None:
        redis = _import_redis()
        self._account = account
        self._prefix = prefix
        self._owned = isinstance(url, str)
        self._client: Any = redis.Redis.from_url(url) if isinstance(url, str) else url
        self._lock = threading.Lock()
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew = self._client.register_script(_RENEW)
        self._add = self._client.register_script(_ADD)
        self._update = self._client.register_script(_UPDATE)
        self._forget = self._client.register_script(_FORGET)

    def __repr__(self) -> str:
        return f"RedisJournal(prefix={self._prefix!r}, account={self._account!r})"

    @property
    def account(self) -> str:
        """The service account this journal belongs to."""
        return self._account

    def _keys(self, campaign: str) -> list[str]:
        digest = hashlib.blake2b(campaign.encode("utf-8"), digest_size=12).hexdigest()
        tag = f"{{{self._prefix}:{self._account}:delivery:{digest}}}"
        return [f"{tag}:lease", f"{tag}:batches"]

    def acquire(self, campaign: str, *, now: datetime, ttl: timedelta) -> Lease:
        """Take the campaign's lease until ``now + ttl``, or raise `CampaignBusyError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        token = new_token()
        held = self._acquire(
            keys=self._keys(campaign)[:1], args=[_micros(now), token, _micros(now + ttl)]
        )
        held = held.decode() if isinstance(held, bytes) else str(held)
        if held:
            until = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(held))
            raise CampaignBusyError(
                f"campaign {campaign!r} is being delivered by another run until {until.isoformat()}"
            )
        return Lease(campaign, token, now + ttl)

    def renew(self, lease: Lease, *, now: datetime, ttl: timedelta) -> Lease:
        """Extend a still-held lease to ``now + ttl``, or raise `LeaseLostError`."""
        ensure_aware(now, "now")
        check_ttl(ttl)
        held = self._renew(
            keys=self._keys(lease.campaign)[:1], args=[lease.token, _micros(now + ttl)]
        )
        if int(held) != 1:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")
        return Lease(lease.campaign, lease.token, now + ttl)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up if it is still held."""
        self._renew(keys=self._keys(lease.campaign)[:1], args=[lease.token, ""])

    def batches(self, campaign: str) -> list[BatchRecord]:
        """Every stored batch of the campaign, by index."""
        stored = self._client.hgetall(self._keys(campaign)[1])
        records = []
        for raw in stored.values():
            data = json.loads(raw)
            records.append(
                BatchRecord(
                    campaign=campaign,
                    index=int(data["index"]),
                    clientmsgid=data["clientmsgid"],
                    members=tuple(data["members"]),
                    month=data["month"],
                    state=BatchState(data["state"]),
                    formed_at=datetime.fromisoformat(data["formed_at"]),
                    attempted_at=(
                        datetime.fromisoformat(data["attempted_at"])
                        if data["attempted_at"]
                        else None
                    ),
                    msg_id=int(data["msg_id"]) if data["msg_id"] else None,
                )
            )
        return sorted(records, key=lambda r: r.index)

    def add_batches(self, lease: Lease, records: Sequence[BatchRecord]) -> None:
        """Store new batches; indexes must be unused."""
        checked = check_records(records, lease)
        args: list[str] = [lease.token]
        for r in checked:
            # Every value is a string: Lua's cjson would round large integers through doubles.
            record = {
                "index": str(r.index),
                "clientmsgid": r.clientmsgid,
                "members": list(r.members),
                "month": r.month,
                "state": r.state.value,
                "formed_at": _text(r.formed_at),
                "attempted_at": "",
                "msg_id": "",
            }
            args += [str(r.index), json.dumps(record, ensure_ascii=False)]
        done = int(self._add(keys=self._keys(lease.campaign), args=args))
        if done == 0:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")
        if done < 0:
            raise JournalConflictError("a batch index is already used")

    def update(
        self,
        lease: Lease,
        campaign: str,
        index: int,
        *,
        expect: BatchState,
        state: BatchState,
        attempted_at: datetime | None = None,
        msg_id: int | None = None,
    ) -> None:
        """Move batch ``index`` from ``expect`` to ``state``; the first ``attempted_at`` sticks."""
        check_transition(expect, state)
        if campaign != lease.campaign:
            raise ValueError("the lease belongs to another campaign")
        args = [
            lease.token,
            str(index),
            expect.value,
            state.value,
            _text(attempted_at),
            "" if msg_id is None else str(msg_id),
        ]
        done = int(self._update(keys=self._keys(campaign), args=args))
        if done == 0:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")
        if done < 0:
            raise JournalConflictError(
                f"batch {index} of {campaign!r} is not {expect.value} (or is missing)"
            )

    def forget(self, lease: Lease) -> int:
        """Drop the campaign's batches and its lease, if the lease is still held."""
        answer = int(self._forget(keys=self._keys(lease.campaign), args=[lease.token]))
        if answer == 0:
            raise LeaseLostError(f"the lease on campaign {lease.campaign!r} was lost")
        return answer - 1

    def close(self) -> None:
        """Close the client if the journal opened it."""
        if self._owned:
            with self._lock:
                self._client.close()
