"""Mass-send reconciliation: what ``MASSSENDJOBFINISH`` reports against what was sent.

The application says what it sent under a ``msg_id`` (an `ExpectedSend`, from a lookup it
provides). WeChat drops some recipients before sending (not following any more, refused, or
already at four mass pushes this month): ``TotalCount - FilterCount``. A drop the application
did not predict means the ledger missed a push (made from the web console, say); it is
reported as a `Finding`, and can be recorded with ``QuotaLedger.record_external``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Protocol, TypeAlias, runtime_checkable

import attrs

from wxsegment.api.callback import MassSendJobFinishEvent, TemplateSendJobFinishEvent
from wxsegment.quota import QuotaLedger

__all__ = [
    "ExpectedSend",
    "ExpectedSends",
    "Finding",
    "FindingKind",
    "MassSendReconciler",
    "Reconciliation",
    "TemplateOutcome",
]

_log = logging.getLogger("wxsegment.events")


def _openids(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("openids must be an iterable of openids, not a single string")
    return frozenset(value)


@attrs.frozen(kw_only=True)
class ExpectedSend:
    """What the application sent under one ``msg_id``.

    ``openids`` (or just ``count``) are the recipients it asked for; ``predicted_filtered``
    is how many of them it expected WeChat to drop (e.g. known to have unfollowed).
    """

    openids: frozenset[str] | None = attrs.field(default=None, converter=_openids)
    count: int | None = None
    predicted_filtered: int = 0

    def __attrs_post_init__(self) -> None:
        if self.openids is None and self.count is None:
            raise ValueError("an ExpectedSend needs openids or a count")
        if self.count is not None and (isinstance(self.count, bool) or self.count < 0):
            raise ValueError("count must be a non-negative int")
        if self.predicted_filtered < 0:
            raise ValueError("predicted_filtered must be non-negative")

    @property
    def recipients(self) -> int:
        """How many recipients were asked for."""
        return len(self.openids) if self.openids is not None else int(self.count or 0)


@runtime_checkable
class ExpectedSends(Protocol):
    """Looks up what the application sent under a ``msg_id`` (None: not one of its sends)."""

    def expected(self, msg_id: int) -> ExpectedSend | None:
        """The recipients of ``msg_id`` according to the application's delivery records."""
        ...


_Lookup: TypeAlias = "ExpectedSends | Callable[[int], ExpectedSend | None]"


class FindingKind(enum.Enum):
    """What reconciliation found, in precedence order."""

    #: No delivery record has this msg_id: a send made outside the application.
    UNKNOWN_JOB = "unknown_job"
    #: WeChat reports the job failed (``send fail``, ``err(...)``).
    SEND_FAILED = "send_failed"
    #: ``TotalCount`` differs from the number of recipients asked for.
    TOTAL_MISMATCH = "total_mismatch"
    #: WeChat dropped more recipients than predicted: the ledger missed pushes.
    UNEXPLAINED_FILTER = "unexplained_filter"
    #: Some sends failed (``ErrorCount`` > 0).
    SEND_ERRORS = "send_errors"


@attrs.frozen(kw_only=True)
class Finding:
    """One discrepancy: its kind, the job, how many followers, and who may be concerned."""

    kind: FindingKind
    msg_id: int
    count: int
    detail: str
    suspects: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class Reconciliation:
    """A finished mass job compared with the application's record of it."""

    msg_id: int
    status: str
    total_count: int
    filter_count: int
    sent_count: int
    error_count: int
    expected: ExpectedSend | None
    findings: tuple[Finding, ...]
    recorded_external: int = 0

    @property
    def clean(self) -> bool:
        """True when nothing was found."""
        return not self.findings


@attrs.frozen(kw_only=True)
class TemplateOutcome:
    """What ``TEMPLATESENDJOBFINISH`` said about one template message."""

    msg_id: int
    openid: str
    status: str
    at: datetime

    @property
    def delivered(self) -> bool:
        """True when ``status`` is ``success``."""
        return self.status.strip().lower() == "success"


def _findings(event: MassSendJobFinishEvent, expected: ExpectedSend | None) -> list[Finding]:
    msg_id = event.msg_id
    if expected is None:
        return [
            Finding(
                kind=FindingKind.UNKNOWN_JOB,
                msg_id=msg_id,
                count=event.total_count,
                detail="no delivery record for this msg_id",
            )
        ]
    found: list[Finding] = []
    suspects = expected.openids or frozenset()
    if not event.succeeded:
        found.append(
            Finding(
                kind=FindingKind.SEND_FAILED,
                msg_id=msg_id,
                count=event.total_count,
                detail=f"status {event.status!r}",
            )
        )
    if event.total_count != expected.recipients:
        found.append(
            Finding(
                kind=FindingKind.TOTAL_MISMATCH,
                msg_id=msg_id,
                count=abs(event.total_count - expected.recipients),
                detail=f"TotalCount {event.total_count}, recipients {expected.recipients}",
            )
        )
    surplus = event.filtered - expected.predicted_filtered
    if surplus > 0:
        found.append(
            Finding(
                kind=FindingKind.UNEXPLAINED_FILTER,
                msg_id=msg_id,
                count=surplus,
                detail=f"WeChat filtered {event.filtered}, predicted {expected.predicted_filtered}",
                suspects=suspects,
            )
        )
    if event.error_count > 0:
        found.append(
            Finding(
                kind=FindingKind.SEND_ERRORS,
                msg_id=msg_id,
                count=event.error_count,
                detail=f"ErrorCount {event.error_count}",
            )
        )
    return found


class MassSendReconciler:
    """Compares each ``MASSSENDJOBFINISH`` with ``lookup`` and keeps the results.

    With ``ledger`` and ``record_unexplained=True``, an unexplained filter is recorded as an
    external send to every suspect (``external_id`` ``wechat-filter:<msg_id>``, idempotent):
    WeChat does not say who was dropped, so this errs towards sending less, never more.
    """

    def __init__(
        self,
        lookup: _Lookup,
        *,
        ledger: QuotaLedger | None = None,
        record_unexplained: bool = False,
        on_finding: Callable[[Finding], None] | None = None,
    ) -> None:
        if record_unexplained and ledger is None:
            raise ValueError("record_unexplained needs a ledger")
        self._lookup = lookup
        self._ledger = ledger
        self._record = record_unexplained
        self._on_finding = on_finding
        self._results: dict[int, Reconciliation] = {}
        self._templates: dict[int, TemplateOutcome] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MassSendReconciler(jobs={len(self._results)}, templates={len(self._templates)})"

    def _expected(self, msg_id: int) -> ExpectedSend | None:
        if isinstance(self._lookup, ExpectedSends):
            return self._lookup.expected(msg_id)
        return self._lookup(msg_id)

    def reconcile(self, event: MassSendJobFinishEvent) -> Reconciliation:
        """Compare one finished job; record an unexplained filter when configured to."""
        if not isinstance(event, MassSendJobFinishEvent):
            raise TypeError(f"expected a MassSendJobFinishEvent, not {type(event).__name__}")
        expected = self._expected(event.msg_id)
        findings = _findings(event, expected)
        recorded = 0
        if self._record and self._ledger is not None:
            for finding in findings:
                if finding.kind is FindingKind.UNEXPLAINED_FILTER and finding.suspects:
                    self._ledger.record_external(
                        f"wechat-filter:{event.msg_id}",
                        sorted(finding.suspects),
                        at=event.create_time,
                    )
                    recorded = len(finding.suspects)
        result = Reconciliation(
            msg_id=event.msg_id,
            status=event.status,
            total_count=event.total_count,
            filter_count=event.filter_count,
            sent_count=event.sent_count,
            error_count=event.error_count,
            expected=expected,
            findings=tuple(findings),
            recorded_external=recorded,
        )
        with self._lock:
            first = event.msg_id not in self._results
            self._results[event.msg_id] = result
        if first:
            for finding in findings:
                _log.warning(
                    "mass job %s: %s (%s)", finding.msg_id, finding.kind.value, finding.detail
                )
                if self._on_finding is not None:
                    self._on_finding(finding)
        return result

    def record_template(self, event: TemplateSendJobFinishEvent) -> TemplateOutcome:
        """Keep what WeChat said about one template message."""
        outcome = TemplateOutcome(
            msg_id=event.msg_id,
            openid=event.from_user_name,
            status=event.status,
            at=event.create_time,
        )
        with self._lock:
            self._templates[event.msg_id] = outcome
        return outcome

    @property
    def results(self) -> Mapping[int, Reconciliation]:
        """Every reconciled job by msg_id (a snapshot)."""
        with self._lock:
            return MappingProxyType(dict(self._results))

    @property
    def templates(self) -> Mapping[int, TemplateOutcome]:
        """Every template outcome by msg_id (a snapshot)."""
        with self._lock:
            return MappingProxyType(dict(self._templates))
