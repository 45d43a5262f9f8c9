"""Campaigns and their results: ids, audiences, batch ids, outcomes, reports, dry-run plans.

`execute` (in ``_execute``) runs the flow of ``_flow`` over these types; `plan` is its dry run
from ledger reads only.
"""

from __future__ import annotations

import enum
import hashlib
import string
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs

from wxsegment._clock import ensure_aware, month_key
from wxsegment._model import Follower
from wxsegment.api import (
    ERRCODE_FAMILIES,
    MASS_BATCH_MAX,
    MASS_BATCH_MIN,
    AsyncClient,
    BusyError,
    Client,
    ClientMsgIdRetryTooFastError,
    DuplicateClientMsgIdError,
    MassMessage,
    MpNews,
    MpVideo,
    SendDeadlineError,
    Text,
    WeChatError,
    WeChatTransportError,
)
from wxsegment.api import Image as ImageMessage
from wxsegment.api import Voice as VoiceMessage
from wxsegment.api import WxCard as WxCardMessage
from wxsegment.delivery._table import count_table
from wxsegment.quota import QuotaLedger
from wxsegment.segment import Segment, matches

if TYPE_CHECKING:
    from wxsegment.segment import SegmentIndex

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchOutcome",
    "BatchResult",
    "Campaign",
    "DeliveryError",
    "Plan",
    "Report",
    "ResumeMismatchError",
    "batch_clientmsgid",
    "form_batches",
    "is_definite_refusal",
    "plan",
    "resolve_audience",
]

#: Openids per WeChat call (and per ledger commit) unless the caller chooses otherwise.
DEFAULT_BATCH_SIZE: Final = MASS_BATCH_MAX

_MAX_ID_LENGTH: Final = 128
#: A readable campaign id is used verbatim as the clientmsgid base up to this many characters;
#: the rest of WeChat's safe 32 bytes is left for ``.<batch index>`` (up to 7 digits).
_READABLE_BASE: Final = 24
_MAX_BATCHES: Final = 10_000_000
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.:")
_MASS_TYPES: Final = (Text, ImageMessage, VoiceMessage, MpNews, MpVideo, WxCardMessage)


class DeliveryError(ValueError):
    """Root of the errors `wxsegment.delivery` raises for input it cannot act on."""


class ResumeMismatchError(DeliveryError):
    """The journal's stored batches cannot belong to this campaign (their ids differ).

    Raised before anything is reserved or sent: resuming from a foreign layout could send ids
    WeChat already saw with other followers.
    """


def check_client(client: object, wanted: type, *, twin: str | None = None) -> None:
    """Refuse, before any write, a client of the wrong kind (naming ``twin`` for the other)."""
    if isinstance(client, wanted):
        return
    other = isinstance(client, (Client, AsyncClient))
    hint = f"; use {twin}" if twin is not None and other else ""
    raise TypeError(
        f"client must be a wxsegment.api.{wanted.__name__}, not {type(client).__name__}{hint}"
    )


def _check_campaign_id(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"campaign id must be a string, not {type(value).__name__}")
    if not value:
        raise DeliveryError("campaign id must not be empty")
    if len(value) > _MAX_ID_LENGTH:
        raise DeliveryError(
            f"campaign id must be at most {_MAX_ID_LENGTH} characters, got {len(value)}"
        )
    return value


def _check_optional_key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"content_key must be a string or None, not {type(value).__name__}")
    if not value or len(value) > _MAX_ID_LENGTH:
        raise DeliveryError(f"content_key must be 1..{_MAX_ID_LENGTH} characters")
    return value


def _check_priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"priority must be an int, not {type(value).__name__}")
    return value


def _check_message(value: object) -> MassMessage:
    if not isinstance(value, _MASS_TYPES):
        raise TypeError(
            f"{type(value).__name__} cannot be mass-sent; use one of "
            + ", ".join(t.__name__ for t in _MASS_TYPES)
        )
    return value


def _check_send_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"send_at must be an aware datetime, not {type(value).__name__}")
    return ensure_aware(value, "send_at")


def _check_segment(value: object) -> Segment:
    if not isinstance(value, Segment):
        raise TypeError(f"segment must be a segment expression, not {type(value).__name__}")
    return value


@attrs.frozen
class Campaign:
    """One push: who (``segment``), what (``message``), and how it ranks (``priority``).

    ``id`` is the ledger's campaign id (1..128 characters) and the base of every batch's
    ``clientmsgid``; ``content_key`` makes the ledger refuse followers who already had it.
    """

    id: str = attrs.field(converter=_check_campaign_id)
    segment: Segment = attrs.field(converter=_check_segment)
    message: MassMessage = attrs.field(converter=_check_message)
    content_key: str | None = attrs.field(default=None, converter=_check_optional_key)
    priority: int = attrs.field(default=0, converter=_check_priority)
    #: When the campaign goes out (aware); needed for a `Calendar`, unused by `execute`.
    send_at: datetime | None = attrs.field(default=None, converter=_check_send_at)


def _clientmsgid_base(campaign_id: str) -> str:
    if len(campaign_id) <= _READABLE_BASE and all(c in _SAFE for c in campaign_id):
        return campaign_id
    # Long or non-ASCII ids are hashed; the "~" (never in a readable base) keeps the two forms
    # apart, and a short readable prefix helps a human match the id in WeChat's console.
    digest = hashlib.blake2b(campaign_id.encode("utf-8"), digest_size=8).hexdigest()
    prefix = "".join(c for c in campaign_id[:7] if c in _SAFE and c != ".")
    return f"{prefix}~{digest}"


def batch_clientmsgid(campaign_id: str, index: int) -> str:
    """The ``clientmsgid`` of batch ``index`` of a campaign: deterministic, unique, ≤ 32 bytes.

    Readable ids (≤ 24 of ``A-Za-z0-9-_.:``) give ``<id>.<index>``; others give a short prefix,
    ``~`` and a 64-bit blake2b digest of the id. The index suffix makes batches distinct.
    """
    _check_campaign_id(campaign_id)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < _MAX_BATCHES:
        raise DeliveryError(f"batch index must be an int in 0..{_MAX_BATCHES - 1}, got {index!r}")
    return f"{_clientmsgid_base(campaign_id)}.{index}"


def is_definite_refusal(error: WeChatError) -> bool:
    """Whether WeChat's answer proves the send job was *not* created (safe to release).

    True for every known errcode (invalid openids, quotas, credentials, permissions, malformed
    requests...). False for transport failures, 5xx, busy (-1, 9500002), 45066 (a send with this
    id was just made), 45065 (already sent) and unknown errcodes: their outcome is unknown. False
    too when the client retried after such a failure (the ``__cause__`` chain): the earlier
    attempt may have created the job even though the last one was refused.
    """
    cause = error.__cause__
    if isinstance(cause, WeChatError) and not is_definite_refusal(cause):
        return False
    if isinstance(error, SendDeadlineError):
        return True  # this attempt never left the process; the chain above decided the rest
    if isinstance(
        error,
        (WeChatTransportError, BusyError, ClientMsgIdRetryTooFastError, DuplicateClientMsgIdError),
    ):
        return False
    return error.errcode is not None and error.errcode in ERRCODE_FAMILIES


def resolve_audience(
    segment: Segment, source: SegmentIndex | Iterable[Follower], *, now: datetime
) -> list[str]:
    """The openids of ``source`` matching ``segment``, sorted.

    ``source`` is a `wxsegment.segment.SegmentIndex` (evaluated with its bitmaps) or an
    iterable of `wxsegment.Follower` (evaluated with `wxsegment.segment.matches`).
    """
    ensure_aware(now, "now")
    _check_segment(segment)
    index_type = _segment_index_type()
    if index_type is not None and isinstance(source, index_type):
        return sorted(source.evaluate(segment, now=now).openids())
    if not isinstance(source, Iterable) or isinstance(source, (str, bytes)):
        raise TypeError("source must be a SegmentIndex or an iterable of Follower")
    chosen: list[str] = []
    for follower in source:
        if not isinstance(follower, Follower):
            raise TypeError(f"source must yield Follower, got {type(follower).__name__}")
        if matches(segment, follower, now=now):
            chosen.append(follower.openid)
    return sorted(set(chosen))


def _segment_index_type() -> type[SegmentIndex] | None:
    try:
        from wxsegment.segment import SegmentIndex
    except ImportError:  # the bitmap extra is missing, so no index can exist
        return None
    return SegmentIndex


def _unique_openids(audience: Iterable[str]) -> list[str]:
    if isinstance(audience, (str, bytes)):
        raise TypeError("audience must be an iterable of openids, not a single string")
    unique: dict[str, None] = {}
    for openid in audience:
        if not isinstance(openid, str):
            raise TypeError(f"audience must yield openid strings, got {type(openid).__name__}")
        if not openid or openid != openid.strip():
            raise DeliveryError("audience openids must be non-empty, without surrounding spaces")
        unique[openid] = None
    return list(unique)


def _check_storable(openids: list[str]) -> list[str]:
    """Refuse openids no ledger can store, before the first write of a run.

    A ledger refusing one mid-run would leave the earlier chunks reserved.
    """
    joined = "".join(openids)
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise DeliveryError("audience openids must not contain lone surrogates") from None
    if "\x00" in joined:
        raise DeliveryError("audience openids must not contain NUL")
    return openids


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    if not MASS_BATCH_MIN + 1 <= batch_size <= MASS_BATCH_MAX:
        raise DeliveryError(
            f"batch_size must be in {MASS_BATCH_MIN + 1}..{MASS_BATCH_MAX}, got {batch_size}"
        )
    return batch_size


def form_batches(openids: Iterable[str], batch_size: int) -> list[tuple[str, ...]]:
    """The audience's sorted openids cut into batches of ``batch_size`` (the last may be shorter).

    A last batch of one (WeChat needs two per call) takes one openid from the batch before it.
    """
    ordered = sorted(set(openids))
    batches = [
        tuple(ordered[start : start + batch_size]) for start in range(0, len(ordered), batch_size)
    ]
    if len(batches) >= 2 and len(batches[-1]) == 1:
        batches[-2:] = [batches[-2][:-1], batches[-2][-1:] + batches[-1]]
    if len(batches) > _MAX_BATCHES:
        raise DeliveryError(f"{len(batches)} batches exceed the {_MAX_BATCHES} a campaign may use")
    return batches


class BatchOutcome(enum.Enum):
    """What happened to one batch in one `execute` run."""

    #: WeChat accepted the job now; the batch is committed.
    SENT = "sent"
    #: WeChat answered 45065 (an earlier run's send went through); the batch is committed.
    ALREADY_SENT = "already_sent"
    #: Every member was committed by an earlier run; nothing was sent.
    COMMITTED_BEFORE = "committed_before"
    #: WeChat definitely refused the job (`is_definite_refusal`); the batch was released.
    RELEASED = "released"
    #: The outcome is unknown (transport error, 5xx, busy after retries), or a batch with an
    #: unknown outcome could not be resent safely now; the batch stays pending.
    PENDING = "pending"
    #: A single follower cannot be mass-sent (WeChat needs two per call); released.
    UNSENDABLE = "unsendable"
    #: Never used since the journal keeps every batch's layout; kept for old reports' sake.
    LATE = "late"
    #: Reserved and stored but not sent: the Shanghai month ends too soon; a later run sends it.
    DEFERRED = "deferred"


@attrs.frozen
class BatchResult:
    """One batch of one run: its id, members, outcome, WeChat's msg_id or error, its month.

    ``month`` is the quota month the batch's reservations belong to; the repr counts members.
    """

    index: int
    clientmsgid: str
    openids: tuple[str, ...] = attrs.field(repr=lambda o: f"<{len(o)} openids>")
    outcome: BatchOutcome
    msg_id: int | None = None
    error: str | None = None
    month: str | None = None
    #: The article send's id in the statistics (``mpnews`` sent by this run), else None.
    msg_data_id: int | None = None


@attrs.frozen(repr=False)
class Report:
    """What `execute` did, counted in followers per outcome, plus every batch.

    ``pending`` lists the followers whose send outcome is unknown: their reservations still
    count, and the next `execute` of the same campaign re-sends them under the same ids.
    ``errors`` names what went wrong beside WeChat's answers (e.g. a commit that found no
    reservation); a report with errors is not `complete`. The repr shows counts only.
    """

    campaign: str
    month: str
    matched: int
    refused_quota: int
    refused_duplicate: int
    batches: tuple[BatchResult, ...]
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Counts per outcome and the errors, for JSON (no openids)."""
        return {
            "campaign": self.campaign,
            "month": self.month,
            "matched": self.matched,
            "sent": self.sent,
            "already_sent": self.already_sent,
            "committed_before": self.committed_before,
            "released": self.released,
            "pending": len(self.pending),
            "deferred": self.deferred,
            "refused_quota": self.refused_quota,
            "refused_duplicate": self.refused_duplicate,
            "batches": len(self.batches),
            "errors": list(self.errors),
        }

    def table(self) -> str:
        """A text table for a terminal: one line per outcome, then each error."""
        counts = [(k, v) for k, v in self.to_dict().items() if isinstance(v, int)]
        title = f"campaign {self.campaign} ({self.month})"
        return count_table(title, counts, self.errors)

    def __repr__(self) -> str:
        return (
            f"Report(campaign={self.campaign!r}, month={self.month!r}, matched={self.matched}, "
            f"sent={self.sent}, already_sent={self.already_sent}, "
            f"committed_before={self.committed_before}, released={self.released}, "
            f"pending={len(self.pending)}, deferred={self.deferred}, "
            f"refused_quota={self.refused_quota}, refused_duplicate={self.refused_duplicate}, "
            f"batches={len(self.batches)}, errors={len(self.errors)})"
        )

    def _count(self, outcome: BatchOutcome) -> int:
        return sum(len(b.openids) for b in self.batches if b.outcome is outcome)

    @property
    def sent(self) -> int:
        """Followers in batches WeChat accepted in this run."""
        return self._count(BatchOutcome.SENT)

    @property
    def already_sent(self) -> int:
        """Followers in batches WeChat had already accepted (45065), committed now."""
        return self._count(BatchOutcome.ALREADY_SENT)

    @property
    def committed_before(self) -> int:
        """Followers committed by an earlier run of this campaign."""
        return self._count(BatchOutcome.COMMITTED_BEFORE)

    @property
    def released(self) -> int:
        """Followers released unsent: definite refusals, unsendable singles, late grants."""
        return sum(
            self._count(outcome)
            for outcome in (BatchOutcome.RELEASED, BatchOutcome.UNSENDABLE, BatchOutcome.LATE)
        )

    @property
    def pending(self) -> tuple[str, ...]:
        """Followers whose outcome is unknown; their reservations stay pending."""
        return tuple(
            o for b in self.batches if b.outcome is BatchOutcome.PENDING for o in b.openids
        )

    @property
    def delivered(self) -> int:
        """Followers the campaign has reached, in this run or before (sent + already + before)."""
        return self.sent + self.already_sent + self.committed_before

    @property
    def deferred(self) -> int:
        """Followers reserved in stored batches a later run sends (the month was ending)."""
        return self._count(BatchOutcome.DEFERRED)

    @property
    def complete(self) -> bool:
        """True when no batch is left pending or deferred and nothing went wrong."""
        return not self.pending and not self.deferred and not self.errors


@attrs.frozen
class Plan:
    """A dry run of `execute`: nothing was reserved, sent or written.

    ``granted`` counts followers a run now would reserve; ``already_reserved`` those the
    campaign already holds as pending. Duplicates are the followers holding the content key,
    committed or pending (`QuotaLedger.held_content`).
    """

    campaign: str
    month: str
    matched: int
    granted: int
    already_reserved: int
    refused_quota: int
    refused_duplicate: int
    #: WeChat calls (one per batch with at least two followers to send).
    batches: int
    #: Followers alone in their batch: WeChat cannot mass-send to one, so they would be released.
    unsendable: int

    def to_dict(self) -> dict[str, int | str]:
        """The counts, for JSON."""
        return attrs.asdict(self)

    def table(self) -> str:
        """A text table for a terminal: one line per count."""
        counts = [(k, v) for k, v in self.to_dict().items() if isinstance(v, int)]
        return count_table(f"plan of campaign {self.campaign} ({self.month})", counts)


def plan(
    campaign: Campaign,
    audience: Iterable[str],
    ledger: QuotaLedger,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Plan:
    """What `execute` would do now, from bulk ledger reads (``pending``, ``held_content``,
    ``usage_many``): one round trip per chunk, not one per follower."""
    ensure_aware(now, "now")
    _check_batch_size(batch_size)
    openids = _unique_openids(audience)
    month = month_key(now)
    mine = {entry.openid for entry in ledger.pending(campaign.id)}
    key = campaign.content_key
    keyed: set[str] = set()
    if key is not None:
        keyed = set(ledger.held_content([o for o in openids if o not in mine], [key]))
    usage = ledger.usage_many([o for o in openids if o not in mine and o not in keyed], at=now)
    granted = refused_quota = refused_duplicate = already = 0
    sendable: set[str] = set()
    for openid in openids:
        if openid in mine:
            already += 1
            sendable.add(openid)
        elif openid in keyed:
            refused_duplicate += 1
        elif usage[openid].remaining > 0:
            granted += 1
            sendable.add(openid)
        else:
            refused_quota += 1
    sizes = [sum(o in sendable for o in batch) for batch in form_batches(openids, batch_size)]
    batches = sum(1 for size in sizes if size >= MASS_BATCH_MIN)
    unsendable = sum(1 for size in sizes if size == 1)
    return Plan(
        campaign=campaign.id,
        month=month,
        matched=len(openids),
        granted=granted,
        already_reserved=already,
        refused_quota=refused_quota,
        refused_duplicate=refused_duplicate,
        batches=batches,
        unsendable=unsendable,
    )
