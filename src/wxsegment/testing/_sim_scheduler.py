"""One thread per simulated run, but only one of them moving at a time, in a seeded order.

A run is ordinary blocking (or asyncio) code. Every I/O it does goes through the simulation's
wrappers, which call `Scheduler.pause` first: the run hands control back and waits until the
scheduler picks it again. The scheduler (the simulation's main thread) decides which run takes
the next step with its seeded RNG, so a seed fixes the interleaving exactly.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Final

__all__ = ["Scheduler", "SchedulerStuckError", "SimulatedCrash", "Task"]

#: How long the scheduler waits for a run to reach its next step before calling it stuck.
_STEP_TIMEOUT: Final = 60.0


class SimulatedCrash(BaseException):
    """The simulated process died at this point.

    A `BaseException` like `KeyboardInterrupt`, so that no ``except Exception`` in the code
    under test can swallow it: a crash ends the run as abruptly as a killed process.
    """


class SchedulerStuckError(RuntimeError):
    """A run neither took its next step nor finished: it blocked outside the simulation."""


class Task:
    """One simulated run: its thread, its turn signal and how it ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = False
        self.error: BaseException | None = None
        self.steps = 0
        self.go = threading.Semaphore(0)
        self.thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Task({self.name!r}, steps={self.steps}, done={self.done})"


class Scheduler:
    """Runs tasks one step at a time; the caller picks which task moves next."""

    def __init__(self) -> None:
        self._back = threading.Semaphore(0)
        self._tasks: list[Task] = []
        # A context variable rather than a thread-local: a run that hands blocking work to a
        # worker thread (`asyncio.to_thread` copies the context) is still the same run there.
        self._current: contextvars.ContextVar[Task | None] = contextvars.ContextVar(
            "wxsegment_sim_task", default=None
        )
        self._cancelled = False

    def spawn(self, name: str, body: Callable[[], None]) -> Task:
        """Start ``body`` on its own thread, parked until it is first picked."""
        task = Task(name)

        def main() -> None:
            self._current.set(task)
            task.go.acquire()
            try:
                if self._cancelled:
                    raise SimulatedCrash("cancelled before it started")
                body()
            except BaseException as error:  # the run's ending, whatever it is, is the result
                task.error = error
            finally:
                task.done = True
                self._back.release()

        task.thread = threading.Thread(target=main, name=f"sim-{name}", daemon=True)
        self._tasks.append(task)
        task.thread.start()
        return task

    def runnable(self) -> list[Task]:
        """Tasks that have not finished, in the order they were spawned."""
        return [task for task in self._tasks if not task.done]

    def advance(self, task: Task) -> None:
        """Let ``task`` run until its next pause (or its end)."""
        if task.done:
            raise ValueError(f"task {task.name!r} has finished")
        task.go.release()
        if not self._back.acquire(timeout=_STEP_TIMEOUT):
            raise SchedulerStuckError(
                f"run {task.name!r} neither paused nor finished within {_STEP_TIMEOUT:.0f} s"
            )

    def pause(self) -> Task:
        """Called by a run before each step: wait for the scheduler's go, then return the task."""
        task = self._current.get()
        if task is None:
            raise RuntimeError("Scheduler.pause called outside a simulated run")
        if self._cancelled:
            raise SimulatedCrash("the simulation stopped this run")
        self._back.release()
        task.go.acquire()
        if self._cancelled:
            raise SimulatedCrash("the simulation stopped this run")
        task.steps += 1
        return task

    def current(self) -> Task | None:
        """The task of the calling run (its thread, or a worker it handed work to), else None."""
        return self._current.get()

    def cancel(self) -> None:
        """Crash every unfinished task at its next step and wait for all threads to end."""
        self._cancelled = True
        for task in self.runnable():
            self.advance(task)
        for task in self._tasks:
            if task.thread is not None:
                task.thread.join(timeout=_STEP_TIMEOUT)
