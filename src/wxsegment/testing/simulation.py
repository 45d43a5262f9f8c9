"""A seeded, deterministic simulation of the whole delivery system, in the manner of VOPR.

One seed fixes everything: followers, overlapping campaigns with content keys, sync and async
runs and their interleaving (one thread per run, one moving at a time, picked by the seeded
RNG), faults injected at FakeWeChat (lost answers after acceptance, timeouts, 5xx, -1, 45009,
45011, 45066, token expiry), crashes between any two steps (the ledger, the HTTP transport and
the sleep are wrapped; the code under test is not patched), resumes with grown or shrunk
audiences and another batch size, a month boundary crossed mid-campaign, and console sends.

After each month's runs it checks, against FakeWeChat's record of deliveries:

- ``fifth_push`` / ``silent_filter``: nobody gets more than 4 pushes in a Shanghai month, and
  WeChat's silent filter (the 5th) never fires;
- ``ledger_under_count``: ledger committed + pending >= delivered, per follower and month;
- ``duplicate_content`` / ``pushed_twice``: no content key, no campaign, twice to one follower;
- ``unsettled`` / ``committed_undelivered``: once faults stop and every campaign is resumed,
  nothing is pending and the ledger's committed pushes are exactly WeChat's deliveries;
- ``run_error``: a run ended with an error other than a crash or a tolerated refusal.

A failure raises `SimulationFailure` with the seed and the last steps; ``simulate(seed, config)``
replays it exactly. Plug in another composition with a `SystemUnderTest`.
"""

from __future__ import annotations

from wxsegment.testing._sim_checks import Violation
from wxsegment.testing._sim_config import (
    DEFAULT_FAULTS,
    SimulationConfig,
    SimulationFailure,
    SimulationResult,
)
from wxsegment.testing._sim_engine import Simulation as _Simulation
from wxsegment.testing._sim_scheduler import SimulatedCrash
from wxsegment.testing._sim_system import (
    DeliverySystem,
    JournalFactory,
    LedgerFactory,
    RunEnv,
    SystemUnderTest,
    memory_ledgers,
)

__all__ = [
    "DEFAULT_FAULTS",
    "DeliverySystem",
    "JournalFactory",
    "LedgerFactory",
    "RunEnv",
    "SimulatedCrash",
    "SimulationConfig",
    "SimulationFailure",
    "SimulationResult",
    "SystemUnderTest",
    "Violation",
    "memory_ledgers",
    "simulate",
]


def simulate(
    seed: int,
    config: SimulationConfig | None = None,
    ledger_factory: LedgerFactory | None = None,
    *,
    system: SystemUnderTest | None = None,
    account: str | None = None,
    check: bool = True,
) -> SimulationResult:
    """Simulate one seed; raise `SimulationFailure` if an invariant broke (unless not ``check``).

    ``ledger_factory(account)`` opens a handle on the backend under test (default: one fresh
    in-memory store); ``system`` defaults to `DeliverySystem`; ``account`` (default
    ``"wxsim-<seed>"``) names the fake's appid and the ledger account, so seeds can share a store.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    chosen = SimulationConfig() if config is None else config
    if not isinstance(chosen, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig, not {type(chosen).__name__}")
    simulation = _Simulation(
        seed,
        chosen,
        ledger_factory if ledger_factory is not None else memory_ledgers(),
        system if system is not None else DeliverySystem(),
        account if account is not None else f"wxsim-{seed}",
    )
    result = simulation.run()
    if check and result.violations:
        raise SimulationFailure(result)
    return result
