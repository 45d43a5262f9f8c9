"""The quota ledger contract: result types, refusal reasons and the `QuotaLedger` protocol.

Invariant Q1: for every (account, follower, month), the ledger never *grants* a reservation
that would make ``committed + pending`` exceed ``limit``. Sends recorded with
`QuotaLedger.record_external` happened outside the ledger's control and are counted in full,
so only they can push a follower's count above the limit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Final, Protocol, runtime_checkable

import attrs

__all__ = [
    "DEFAULT_ACCOUNT",
    "MAX_ID_LENGTH",
    "MAX_LIMIT",
    "MAX_OPENID_LENGTH",
    "MAX_PUSHES_PER_MONTH",
    "ConnectionBusyError",
    "NotDurableError",
    "PendingEntry",
    "QuotaLedger",
    "RefusalReason",
    "Reservation",
    "ScanningLedger",
    "Transition",
    "Usage",
]

#: WeChat delivers at most four mass pushes per follower per natural month to a service account.
MAX_PUSHES_PER_MONTH: Final = 4

#: The longest openid a ledger accepts, in characters. WeChat's are 28; the margin leaves room
#: for other id schemes while keeping every backend's keys and index entries small.
MAX_OPENID_LENGTH: Final = 64

#: The longest account, campaign id, external id or content key a ledger accepts, in characters.
MAX_ID_LENGTH: Final = 128

#: The highest monthly limit a ledger accepts; WeChat's is four.
MAX_LIMIT: Final = 1000

#: The account a ledger is bound to when none is given.
DEFAULT_ACCOUNT: Final = "default"


class ConnectionBusyError(RuntimeError):
    """A connection handed to a ledger is inside a transaction (or a query) of someone else.

    Writing there would tie grants to a transaction the ledger does not control. Nothing was
    written; finish the caller's transaction, or give the ledger a connection of its own.
    """


class NotDurableError(RuntimeError):
    """The ledger's server could lose granted reservations (or may: its settings are hidden).

    Raised when a ledger opens, before anything is written; the message names each unsafe
    setting and how to opt out when the risk is accepted.
    """


class RefusalReason(enum.Enum):
    """Why `QuotaLedger.reserve` refused a follower, in precedence order.

    When several reasons apply, the first one listed is reported.
    """

    #: The follower already has this content key committed or pending (in any month).
    DUPLICATE_CONTENT = "duplicate_content"
    #: The follower's month already holds ``limit`` committed or pending pushes.
    QUOTA_EXHAUSTED = "quota_exhausted"


@attrs.frozen
class Reservation:
    """What one `QuotaLedger.reserve` call did, per follower (in input order, duplicates once).

    ``granted``: newly reserved (pending) by this call. ``already``: this campaign already held
    a pending or committed reservation for them; nothing changed and nothing was counted twice.
    ``refused``: not reserved, with the reason.
    """

    campaign: str
    month: str
    granted: tuple[str, ...]
    already: tuple[str, ...]
    refused: Mapping[str, RefusalReason]


@attrs.frozen
class Transition:
    """What a `QuotaLedger.commit` or `QuotaLedger.release` call did, per follower.

    ``done``: moved by this call (pending -> committed, or pending -> dropped).
    ``already``: already in the target state (committed, for commit); nothing changed.
    ``missing``: the campaign holds no reservation for them (for release: also not any more).
    ``refused``: release of a committed push, which is never undone.
    """

    done: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


@attrs.frozen
class Usage:
    """A follower's pushes in one month."""

    month: str
    committed: int
    pending: int
    limit: int

    @property
    def remaining(self) -> int:
        """Slots still free this month (never negative)."""
        return max(0, self.limit - self.committed - self.pending)


@attrs.frozen
class PendingEntry:
    """A reservation whose send outcome is not known yet, listed for reconciliation."""

    campaign: str
    openid: str
    month: str
    content_key: str | None
    reserved_at: datetime


@runtime_checkable
class QuotaLedger(Protocol):
    """Per-follower monthly push quota with two-phase reservations.

    A ledger is bound to one account (``account``) and one ``limit`` (default 4). Months are
    natural months in Asia/Shanghai, fixed when a reservation is made. Every method validates
    all its input before writing anything: bad input raises ``ValueError``/``TypeError`` and
    changes nothing.
    """

    @property
    def account(self) -> str:
        """The service account this ledger counts for (e.g. its appid)."""
        ...

    @property
    def limit(self) -> int:
        """Maximum committed + pending pushes per follower per month."""
        ...

    def reserve(
        self,
        campaign: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Reservation:
        """Reserve one push of ``campaign`` for each follower, atomically per follower."""
        ...

    def commit(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Mark reservations as sent (WeChat accepted the job); ``None`` means all pending."""
        ...

    def release(self, campaign: str, openids: Iterable[str] | None = None) -> Transition:
        """Drop pending reservations (the send definitely failed); ``None`` means all pending."""
        ...

    def usage(self, openid: str, *, at: datetime) -> Usage:
        """Committed and pending pushes of ``openid`` in the month of ``at``."""
        ...

    def usage_many(self, openids: Iterable[str], *, at: datetime) -> Mapping[str, Usage]:
        """`usage` of many followers, in one round trip per chunk; every openid is a key."""
        ...

    def held_content(
        self, openids: Iterable[str], content_keys: Iterable[str]
    ) -> Mapping[str, frozenset[str]]:
        """Which of ``content_keys`` each follower holds (committed or pending, any month).

        Followers holding none of them are left out.
        """
        ...

    def remaining(self, openid: str, *, at: datetime) -> int:
        """Free slots of ``openid`` in the month of ``at``."""
        ...

    def pending(self, campaign: str | None = None) -> Iterator[PendingEntry]:
        """Reservations still pending (of one campaign, or all), for reconciliation."""
        ...

    def record_external(
        self,
        external_id: str,
        openids: Iterable[str],
        *,
        at: datetime,
        content_key: str | None = None,
    ) -> Transition:
        """Count a send made outside the library as committed; idempotent per ``external_id``."""
        ...

    def close(self) -> None:
        """Release connections and files held by the ledger."""
        ...


@runtime_checkable
class ScanningLedger(QuotaLedger, Protocol):
    """A `QuotaLedger` that can also read a whole account at once.

    `usage_many` and `held_content` answer for the followers asked, one chunk at a time; when
    nearly every follower of the account is asked (a calendar planned for the whole audience),
    reading everything the account holds in a few statements is much cheaper. Answers hold
    only followers with something recorded, so their size follows the ledger's contents, not
    the audience.
    """

    def month_usage(self, *, at: datetime) -> Mapping[str, Usage]:
        """Every follower with committed or pending pushes in the month of ``at``, and those.

        Followers with no push that month are left out (their `usage` is zero).
        """
        ...

    def content_holders(self, content_keys: Iterable[str]) -> Mapping[str, frozenset[str]]:
        """For each of ``content_keys``, the followers holding it (committed or pending).

        Every key asked is a key of the answer, with an empty set when nobody holds it.
        """
        ...
