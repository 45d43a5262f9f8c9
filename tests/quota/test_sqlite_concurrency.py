"""Several processes share one SQLite ledger file; a SIGKILL mid-reserve leaves it consistent."""

from __future__ import annotations

from pathlib import Path

from tests.quota import _checks


def test_processes_never_overbook_sqlite(tmp_path: Path) -> None:
    """Four processes reserving overlapping audiences never exceed the limit; grants add up."""
    _checks.check_no_overbooking(("sqlite", str(tmp_path / "shared.sqlite3")), "acct")


def test_sigkill_mid_reserve_leaves_sqlite_consistent(tmp_path: Path) -> None:
    """A process killed during a large reserve leaves each follower fully reserved or absent."""
    _checks.check_crash_consistency(("sqlite", str(tmp_path / "crash.sqlite3")), "acct")
