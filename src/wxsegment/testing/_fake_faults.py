"""Injected faults of the fake WeChat: which calls they reach and what those calls answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs

from wxsegment.testing._fake_types import FAULT_KINDS, FaultKind
from wxsegment.testing._fake_wire import Reply

if TYPE_CHECKING:
    from wxsegment.testing._fake import FakeWeChat

__all__ = ["FakeFaults", "Fault"]

_ERRCODES: Final[dict[str, int]] = {
    "busy": -1,
    "rate_limited": 45009,
    "mass_rate": 45011,
    "token_expired": 42001,
    "token_invalid": 40001,
    "mass_quota": 45028,
    "mass_agreement": 48003,
    "mass_busy": 9500002,
    "clientmsgid_too_fast": 45066,
}


@attrs.define
class Fault:
    """One pending fault; ``times`` counts down to its removal."""

    kind: FaultKind
    times: int | None
    probability: float | None
    path: str | None
    after_processing: bool


class FakeFaults:
    """Pending faults in the order they were injected."""

    def __init__(self, fake: FakeWeChat, named_only: frozenset[str]) -> None:
        self._fake = fake
        # Endpoints a fault reaches only when it names them.
        self._named_only = named_only
        self._faults: list[Fault] = []

    def add(
        self,
        kind: FaultKind,
        times: int | None,
        path: str | None,
        probability: float | None,
        after_processing: bool,
    ) -> None:
        """Queue a fault after checking its arguments (``path`` already normalized)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times is not None and (isinstance(times, bool) or times < 1):
            raise ValueError(f"times must be a positive integer or None, got {times!r}")
        if probability is not None and not 0.0 < probability <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability!r}")
        if times is None and probability is None:
            raise ValueError("a fault without a count needs a probability")
        self._faults.append(Fault(kind, times, probability, path, after_processing))

    def clear(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """The first fault that reaches a call to ``path``, counted down."""
        for fault in self._faults:
            if fault.path is None and path in self._named_only:
                continue
            if fault.path is not None and fault.path != path:
                continue
            if fault.probability is not None and self._fake._rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def answer(self, fault: Fault) -> tuple[int, dict[str, Any] | None]:
        """The status and body a call hit by ``fault`` gets (status 0: no answer at all)."""
        if fault.kind in _ERRCODES:
            return 200, Reply(_ERRCODES[fault.kind]).body(self._fake._next_rid())
        if fault.kind == "http_500":
            return 500, None
        if fault.kind == "http_502":
            return 502, None
        return 0, None
