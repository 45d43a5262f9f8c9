"""The README's first command: the end-to-end demo on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from wxsegment._demo import main


def test_demo_runs_a_month_without_a_fifth_push(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo exits 0 (its own invariant checks passed) and shows both refusal reasons."""
    assert main(["--followers", "3000", "--ledger", str(tmp_path / "ledger.sqlite3")]) == 0
    out = capsys.readouterr().out
    assert "skipped: they already had 'double-11-day'" in out
    assert "skipped: their 4 pushes this month are used" in out
    assert "confirmed by WeChat as an earlier send with the same clientmsgid" in out
    assert "waiting: WeChat took the job but its answer was lost" in out
    assert "followers on whom the ledger and WeChat disagree: 0" in out
    assert "followers stored in" in out
    assert "promise kept" in out


def test_demo_ledger_file_persists_the_month(tmp_path: Path) -> None:
    """A second run on the same ledger file grants nothing more to the same audience."""
    from wxsegment.quota import SQLiteLedger

    path = tmp_path / "ledger.sqlite3"
    assert main(["--followers", "1000", "--ledger", str(path)]) == 0
    ledger = SQLiteLedger(path, account="wxdemo0000000001")
    try:
        assert list(ledger.pending()) == []
    finally:
        ledger.close()
