"""The simulation's knobs, and what a simulated seed hands back (or raises)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from wxsegment.api import WeChatError
from wxsegment.testing._fake_types import FAULT_KINDS, FakeConfig, FaultKind
from wxsegment.testing._sim_checks import Violation

__all__ = ["DEFAULT_FAULTS", "SimulationConfig", "SimulationFailure", "SimulationResult"]

#: The fault kinds a simulation injects unless told otherwise.
DEFAULT_FAULTS: Final[tuple[FaultKind, ...]] = (
    "busy",
    "http_500",
    "http_502",
    "timeout",
    "rate_limited",
    "mass_rate",
    "clientmsgid_too_fast",
    "token_expired",
    "token_invalid",
)
_TRACE_TAIL: Final = 60

_rate = attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0))
_positive = attrs.validators.ge(1)


def _batch_sizes(value: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(value)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 3 for s in sizes):
        raise ValueError(f"batch_sizes must be a non-empty sequence of ints >= 3, got {value!r}")
    return sizes


def _pace(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"client_mass_per_minute must be None or an int >= 1, got {value!r}")
    return value


def _span(value: Sequence[int]) -> tuple[int, int]:
    low, high = value
    if isinstance(low, bool) or isinstance(high, bool) or not 0 <= low <= high:
        raise ValueError(
            f"before_boundary must be (low, high) with 0 <= low <= high, got {value!r}"
        )
    return int(low), int(high)


def _fault_kinds(value: Sequence[FaultKind]) -> tuple[FaultKind, ...]:
    kinds = tuple(value)
    unknown = sorted(set(kinds) - FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}")
    return kinds


@attrs.frozen(kw_only=True)
class SimulationConfig:
    """The shape of one simulation; every random choice within it comes from the seed.

    Rates are chances per scheduler step (faults, token expiry, console sends) or per run
    (crashes, async). ``months`` is how many month boundaries the runs cross, one per month.
    """

    followers: int = attrs.field(default=10, validator=attrs.validators.ge(2))
    campaigns: int = attrs.field(default=4, validator=_positive)
    #: At most this many extra runs per campaign while faults are on (resumes, overlaps).
    resumes: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    #: Chance a resume grows or shrinks the audience, and that it uses another batch size.
    audience_change_rate: float = attrs.field(default=0.5, validator=_rate)
    batch_change_rate: float = attrs.field(default=0.3, validator=_rate)
    #: Content keys shared between campaigns (a campaign has one of them or none).
    content_keys: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    batch_sizes: tuple[int, ...] = attrs.field(default=(3, 4, 5), converter=_batch_sizes)
    months: int = attrs.field(default=2, validator=_positive)
    #: Each month's runs start this many seconds (drawn between the two) before its end.
    before_boundary: tuple[int, int] = attrs.field(default=(30, 900), converter=_span)
    fault_rate: float = attrs.field(default=0.1, validator=_rate)
    #: Share of ambiguous faults (timeout, 5xx, -1) that replace the answer of a request that
    #: took effect: a lost answer after WeChat accepted the send.
    lost_answer_rate: float = attrs.field(default=0.5, validator=_rate)
    fault_kinds: tuple[FaultKind, ...] = attrs.field(default=DEFAULT_FAULTS, converter=_fault_kinds)
    token_expiry_rate: float = attrs.field(default=0.01, validator=_rate)
    crash_rate: float = attrs.field(default=0.25, validator=_rate)
    #: A crashing run dies at a step drawn from its first ``crash_within`` steps.
    crash_within: int = attrs.field(default=16, validator=_positive)
    console_rate: float = attrs.field(default=0.02, validator=_rate)
    async_rate: float = attrs.field(default=0.3, validator=_rate)
    #: The client's own pacing of mass sends (None: none); its waits move the fake clock.
    client_mass_per_minute: int | None = attrs.field(default=30, converter=_pace)
    #: Steps per month before every run still going is crashed.
    max_steps: int = attrs.field(default=2000, validator=_positive)
    #: Seconds that pass before the fault-free resumes (longer than a crashed run's lease).
    settle_delay: int = attrs.field(default=900, validator=attrs.validators.ge(0))
    #: Sequential fault-free resumes of every campaign at the end of each month.
    settle_rounds: int = attrs.field(default=2, validator=_positive)
    #: The fake's knobs (its seed is replaced by the simulation's).
    fake: FakeConfig = attrs.field(factory=FakeConfig)
    #: Errors a run may end with without it being a violation (refusals of bad input).
    tolerated_errors: tuple[type[BaseException], ...] = (ValueError, WeChatError)


@attrs.frozen
class SimulationResult:
    """What one seed did: counts, every step of the trace, and the violations found."""

    seed: int
    steps: int
    runs: int
    crashes: int
    faults: int
    console_sends: int
    jobs: int
    pushes: int
    violations: tuple[Violation, ...]
    trace: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no invariant was broken."""
        return not self.violations


class SimulationFailure(AssertionError):
    """A seed broke an invariant; the message shows the seed, the violations and last steps."""

    def __init__(self, result: SimulationResult) -> None:
        self.result = result
        shown = "\n".join(f"  - {v}" for v in result.violations[:12])
        more = len(result.violations) - 12
        if more > 0:
            shown += f"\n  ... and {more} more"
        tail = "\n".join(f"  {line}" for line in result.trace[-_TRACE_TAIL:])
        super().__init__(
            f"simulation seed {result.seed} broke {len(result.violations)} invariant(s):\n"
            f"{shown}\nlast {min(_TRACE_TAIL, len(result.trace))} of {len(result.trace)} "
            f"steps:\n{tail}\nreplay: simulate({result.seed}, config) with the same config"
        )
