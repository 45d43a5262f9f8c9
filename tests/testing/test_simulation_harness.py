"""The simulation harness itself: seeded replay, its configuration, and that it catches bugs.

The bug-catching tests run deliberately broken compositions written here (not the library's
delivery code), so they keep proving the checks can fail whatever delivery does today.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from wxsegment.api import Client, MassMessage, Text, WeChatError
from wxsegment.delivery import Campaign
from wxsegment.quota import QuotaLedger
from wxsegment.testing.simulation import (
    RunEnv,
    SimulationConfig,
    SimulationFailure,
    SimulationResult,
    simulate,
)

#: Whole months far from a boundary, no crashes, sync runs only: the simplest world.
CALM = {
    "async_rate": 0.0,
    "before_boundary": (5 * 86_400, 5 * 86_400 + 600),
    "crash_rate": 0.0,
    "fault_rate": 0.0,
    "console_rate": 0.0,
    "token_expiry_rate": 0.0,
    "months": 1,
}


def _send_batches(
    client: Client,
    ledger: QuotaLedger,
    campaign: Campaign,
    openids: list[str],
    size: int,
    message: MassMessage,
) -> None:
    for start in range(0, len(openids) - 1, size):
        batch = openids[start : start + size]
        if len(batch) < 2:
            ledger.release(campaign.id, batch)
            continue
        try:
            client.mass.send_to_openids(batch, message, clientmsgid=f"{campaign.id}.{start}")
        except WeChatError:
            ledger.release(campaign.id, batch)  # the bug: an unknown outcome is not a refusal
        else:
            ledger.commit(campaign.id, batch)


class ReleasesOnAnyError:
    """A composition that releases a batch on every error, even a lost answer."""

    def execute(self, env: RunEnv) -> object:
        """Reserve the audience, send in batches, commit or release."""
        assert isinstance(env.client, Client)
        granted = env.ledger.reserve(
            env.campaign.id,
            env.audience,
            at=env.clock.now(),
            content_key=env.campaign.content_key,
        ).granted
        _send_batches(
            env.client, env.ledger, env.campaign, list(granted), env.batch_size, Text("x")
        )
        return None

    def resume(self, env: RunEnv) -> object:
        """Send whatever this campaign still holds pending."""
        assert isinstance(env.client, Client)
        held = sorted(e.openid for e in env.ledger.pending(env.campaign.id))
        _send_batches(env.client, env.ledger, env.campaign, held, env.batch_size, Text("x"))
        return None


class NeverSettles(ReleasesOnAnyError):
    """A composition whose resume does nothing, so crashed reservations stay pending."""

    def resume(self, env: RunEnv) -> object:
        """Do nothing."""
        return None


class KeepsNotes(ReleasesOnAnyError):
    """A composition that writes to a store of its own, routed through ``env.wrap``."""

    def execute(self, env: RunEnv) -> object:
        """Note the run in its store, then deliver."""
        notes = env.wrap(Counter[str](), "notes")
        notes.update([env.name])
        try:
            return super().execute(env)
        finally:
            notes.update(["cleanup"])  # a killed process never gets here; the wrapper knows


def _first_failure(
    config: SimulationConfig, system: object, seeds: range
) -> SimulationResult | None:
    for seed in seeds:
        result = simulate(seed, config, system=system, check=False)  # type: ignore[arg-type]
        if result.violations:
            return result
    return None


def test_a_seed_replays_exactly() -> None:
    """Two simulations of one seed take the same steps in the same order."""
    config = SimulationConfig(async_rate=0.5, crash_rate=0.5, fault_rate=0.2)
    first = simulate(7, config, system=ReleasesOnAnyError(), check=False)
    second = simulate(7, config, system=ReleasesOnAnyError(), check=False)
    assert first.trace == second.trace
    assert first == second
    assert first.steps > 20


def test_different_seeds_interleave_differently() -> None:
    """The seed chooses the interleaving: other seeds give other traces."""
    config = SimulationConfig(**CALM)
    runs = [simulate(s, config, system=ReleasesOnAnyError(), check=False) for s in range(4)]
    traces = {run.trace for run in runs}
    assert len(traces) == 4


def test_a_composition_that_releases_lost_answers_is_caught() -> None:
    """Releasing after a lost answer under-counts the ledger; the failure names the seed."""
    config = SimulationConfig(
        **{**CALM, "fault_rate": 0.3, "fault_kinds": ("timeout",), "lost_answer_rate": 1.0}
    )
    found = _first_failure(config, ReleasesOnAnyError(), range(20))
    assert found is not None
    assert {v.invariant for v in found.violations} >= {"ledger_under_count"}
    with pytest.raises(SimulationFailure) as failure:
        simulate(found.seed, config, system=ReleasesOnAnyError())
    message = str(failure.value)
    assert f"seed {found.seed}" in message
    assert "ledger_under_count" in message
    assert failure.value.result == found


def test_reservations_left_pending_are_reported_unsettled() -> None:
    """Crashed runs whose resume never sends leave reservations pending: 'unsettled'."""
    config = SimulationConfig(**{**CALM, "crash_rate": 1.0, "crash_within": 4})
    found = _first_failure(config, NeverSettles(), range(20))
    assert found is not None
    assert "unsettled" in {v.invariant for v in found.violations}


def test_months_fixed_at_reserve_time_are_caught_at_the_boundary() -> None:
    """Reserving in one month and sending in the next is seen as an under-count there."""
    config = SimulationConfig(**{**CALM, "before_boundary": (10, 60), "months": 2})
    found = _first_failure(config, ReleasesOnAnyError(), range(20))
    assert found is not None
    assert "ledger_under_count" in {v.invariant for v in found.violations}


def test_a_crash_raised_by_the_wrappers_is_not_a_run_error() -> None:
    """Crashes end runs without counting as violations of a correct-enough composition."""
    config = SimulationConfig(**{**CALM, "crash_rate": 1.0, "crash_within": 3})
    result = simulate(3, config, system=ReleasesOnAnyError(), check=False)
    assert result.crashes > 0
    assert "run_error" not in {v.invariant for v in result.violations}


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"fault_rate": 1.5}, "fault_rate"),
        ({"followers": 1}, "followers"),
        ({"batch_sizes": (2,)}, "batch_sizes"),
        ({"batch_sizes": ()}, "batch_sizes"),
        ({"fault_kinds": ("meteor",)}, "meteor"),
        ({"before_boundary": (10, 5)}, "before_boundary"),
        ({"months": 0}, "months"),
    ],
)
def test_bad_configuration_is_refused(bad: dict[str, object], match: str) -> None:
    """Out-of-range knobs raise ValueError naming the knob when the config is built."""
    with pytest.raises(ValueError, match=match):
        SimulationConfig(**bad)  # type: ignore[arg-type]


def test_seed_must_be_an_int() -> None:
    """A non-integer seed is a TypeError before anything runs."""
    with pytest.raises(TypeError):
        simulate("1")  # type: ignore[arg-type]


def test_a_seed_replays_in_another_process() -> None:
    """The trace does not depend on the process's hash seed (no set order leaks in)."""
    code = (
        "import hashlib, warnings; warnings.simplefilter('ignore');"
        "from wxsegment.testing.simulation import SimulationConfig, simulate;"
        "r = simulate(11, SimulationConfig(async_rate=0.0, crash_rate=0.5), check=False);"
        "print(hashlib.sha256(chr(10).join(r.trace).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_a_wrapped_store_is_where_crashes_can_strike() -> None:
    """A store given to env.wrap takes steps, and a run can crash at it."""
    config = SimulationConfig(**{**CALM, "crash_rate": 1.0, "crash_within": 1})
    result = simulate(5, config, system=KeepsNotes(), check=False)
    crashed_at_notes = [line for line in result.trace if "notes.update -- CRASH" in line]
    assert crashed_at_notes
    assert result.crashes >= len(crashed_at_notes)


def test_a_crashed_run_does_no_more_io() -> None:
    """After its crash, a run's cleanup code cannot reach any store: it is a dead process."""
    config = SimulationConfig(**{**CALM, "crash_rate": 1.0, "crash_within": 3})
    result = simulate(2, config, system=KeepsNotes(), check=False)
    crashed = {line.split()[3].rstrip(":") for line in result.trace if "-- CRASH" in line}
    assert crashed
    for name in crashed:
        steps = [line for line in result.trace if f" {name}: " in line and f"{name}:  " not in line]
        steps = [line for line in steps if f"end {name}" not in line]
        assert "-- CRASH" in steps[-1]


def test_simulation_exports_are_sorted_complete_and_documented() -> None:
    """wxsegment.testing.simulation's __all__ is sorted and names every public attribute."""
    import wxsegment.testing.simulation as simulation

    assert simulation.__all__ == sorted(simulation.__all__)
    public = {n for n in vars(simulation) if not n.startswith("_") and n != "annotations"}
    assert set(simulation.__all__) == public
    for name in simulation.__all__:
        value = getattr(simulation, name)
        if isinstance(value, type) or (callable(value) and hasattr(value, "__code__")):
            assert value.__doc__, name
