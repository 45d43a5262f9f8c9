"""The system under test: what a simulated run is given, and the library's own composition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from wxsegment._clock import FixedClock, month_key
from wxsegment.api import AsyncClient, Client
from wxsegment.delivery import (
    BatchOutcome,
    Campaign,
    CampaignBusyError,
    DeliveryJournal,
    LeaseLostError,
    MemoryJournal,
    Report,
    async_execute,
    execute,
    resolve_batch,
)
from wxsegment.quota import MemoryLedger, MemoryStore, QuotaLedger

__all__ = [
    "DeliverySystem",
    "JournalFactory",
    "LedgerFactory",
    "RunEnv",
    "SystemUnderTest",
    "memory_ledgers",
]

#: Opens a ledger handle for an account; every call for one account reaches the same state.
LedgerFactory = Callable[[str], QuotaLedger]


@attrs.frozen(kw_only=True)
class RunEnv:
    """Everything one simulated run (one process) is given; all I/O goes through it.

    ``client`` is a `wxsegment.api.Client` or, for an async run, an `AsyncClient`. ``settle``
    marks the fault-free resumes at the end of a month, where an operator may also settle by
    hand what the composition cannot (``lookup_send``). Time is ``clock.now()``. Route any
    other store through ``wrap(store, label)`` so crashes can strike there too; ``note`` adds
    a line to the trace.
    """

    name: str
    campaign: Campaign
    audience: tuple[str, ...]
    batch_size: int
    ledger: QuotaLedger
    clock: FixedClock
    client: Client | AsyncClient
    settle: bool
    wrap: Callable[[Any, str], Any] = attrs.field(repr=False, eq=False)
    note: Callable[[str], None] = attrs.field(repr=False, eq=False)
    #: What WeChat's send history (the web console) shows for a clientmsgid: the openids the
    #: job reached, or None when there is no such job. For the operator's checks by hand.
    lookup_send: Callable[[str], tuple[str, ...] | None] = attrs.field(repr=False, eq=False)


class SystemUnderTest(Protocol):
    """A composition to simulate: how it starts a campaign and how it resumes one.

    Each hook does its I/O only through ``env``; for an async run (``env.client`` is an
    `AsyncClient`) it may return an awaitable, which the simulation awaits.
    """

    def execute(self, env: RunEnv) -> object:
        """Start delivering ``env.campaign`` to ``env.audience``."""
        ...

    def resume(self, env: RunEnv) -> object:
        """Continue ``env.campaign`` after an earlier run (crashed, failed or finished)."""
        ...


#: Opens a delivery journal handle for an account; every call for one account shares state.
JournalFactory = Callable[[str], DeliveryJournal]


class DeliverySystem:
    """The library's composition: `execute` (`async_execute`) with a journal; rerun to resume.

    ``journal_factory(account)`` opens the journal of each simulated process on the backend
    paired with the ledger (default: one `MemoryJournal` per account, for `memory_ledgers`).
    A run that finds the campaign leased by another (`CampaignBusyError`) or loses its lease
    (`LeaseLostError`) ends there, as a job runner would retry it later. With
    ``operator_settles``, the fault-free resumes also do what docs/delivery.md asks of an
    operator for a batch attempted in an ended month with an unknown outcome: look the send up
    and settle it with `wxsegment.delivery.resolve_batch`.
    """

    def __init__(
        self, journal_factory: JournalFactory | None = None, *, operator_settles: bool = False
    ) -> None:
        self._factory = journal_factory
        self._operator = operator_settles
        self._memory: dict[str, MemoryJournal] = {}

    def __repr__(self) -> str:
        return "DeliverySystem()"

    def _journal(self, account: str) -> DeliveryJournal:
        if self._factory is not None:
            return self._factory(account)
        journal = self._memory.get(account)
        if journal is None:
            journal = self._memory[account] = MemoryJournal(account=account)
        return journal

    def execute(self, env: RunEnv) -> object:
        """Run `execute` (or `async_execute` for an `AsyncClient`) once."""
        journal = self._journal(env.ledger.account)
        gated: DeliveryJournal = env.wrap(journal, "journal")
        client = env.client
        if isinstance(client, AsyncClient):
            return self._async(env, client, journal, gated)
        try:
            report = execute(
                client,
                env.ledger,
                env.campaign,
                env.audience,
                journal=gated,
                clock=env.clock,
                batch_size=env.batch_size,
            )
            self._by_hand(env, report, gated)
        except (CampaignBusyError, LeaseLostError) as error:
            env.note(f"{type(error).__name__}: {error}")
        finally:
            journal.close()
        return None

    async def _async(
        self,
        env: RunEnv,
        client: AsyncClient,
        journal: DeliveryJournal,
        gated: DeliveryJournal,
    ) -> None:
        try:
            report = await async_execute(
                client,
                env.ledger,
                env.campaign,
                env.audience,
                journal=gated,
                clock=env.clock,
                batch_size=env.batch_size,
            )
            self._by_hand(env, report, gated)
        except (CampaignBusyError, LeaseLostError) as error:
            env.note(f"{type(error).__name__}: {error}")
        finally:
            journal.close()

    def _by_hand(self, env: RunEnv, report: Report, journal: DeliveryJournal) -> None:
        if not (self._operator and env.settle):
            return
        month = month_key(env.clock.now())
        for batch in report.batches:
            if batch.outcome is not BatchOutcome.PENDING or batch.month in (None, month):
                continue
            delivered = env.lookup_send(batch.clientmsgid) is not None
            resolve_batch(
                env.ledger,
                env.campaign,
                batch.index,
                delivered=delivered,
                journal=journal,
                clock=env.clock,
            )
            verdict = "delivered" if delivered else "never sent"
            env.note(f"operator resolved {batch.clientmsgid} ({batch.month}) as {verdict}")

    def resume(self, env: RunEnv) -> object:
        """Resume is another run of the same campaign."""
        return self.execute(env)


def memory_ledgers() -> LedgerFactory:
    """A factory of `MemoryLedger` handles over one fresh shared store."""
    store = MemoryStore()

    def make(account: str) -> QuotaLedger:
        return MemoryLedger(account=account, store=store)

    return make
