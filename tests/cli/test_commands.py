"""The ``wxsegment`` command through click's runner: output, exit codes, and secrets kept out."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from wxsegment.cli import cli, load_settings
from wxsegment.cli._config import ConfigError
from wxsegment.quota import SQLiteLedger

AT = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
APPID = "wxcli000000000001"


@pytest.fixture
def runner() -> CliRunner:
    """A runner with no WXSEGMENT_* variables leaking in from the environment."""
    return CliRunner(
        env={
            f"WXSEGMENT_{k}": None
            for k in ("APPID", "SECRET", "TOKEN", "AES_KEY", "LEDGER", "STORE", "CONFIG")
        }
    )


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    """A SQLite ledger with one committed and two pending reservations."""
    path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(path, account=APPID)
    try:
        ledger.reserve("nov-a", ["oA", "oB", "oC"], at=AT)
        ledger.commit("nov-a", ["oA"])
    finally:
        ledger.close()
    return f"sqlite:///{path}"


def test_help_lists_every_command(runner: CliRunner) -> None:
    """`--help` names the command groups a newcomer looks for."""
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("demo", "segment", "quota", "calendar", "callback", "fake"):
        assert name in result.output


def test_unknown_option_exits_2_naming_it(runner: CliRunner) -> None:
    """A usage error exits 2 and names the offending option."""
    result = runner.invoke(cli, ["demo", "--folowers", "10"])
    assert result.exit_code == 2
    assert "--folowers" in result.output


def test_segment_check_prints_the_canonical_form(runner: CliRunner) -> None:
    """A valid expression is rendered canonically."""
    result = runner.invoke(cli, ["segment", "check", 'city == "杭州" and tag:90后'])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == 'city == "杭州" and tag:90后'


def test_bad_dsl_exits_2_with_the_caret_line(runner: CliRunner) -> None:
    """Unparseable DSL exits 2 and shows where the problem is."""
    result = runner.invoke(cli, ["segment", "check", "tag:a and and tag:b"])
    assert result.exit_code == 2
    assert "^" in result.output
    assert "tag:a and and tag:b" in result.output


def test_segment_sql_compiles_with_parameters(runner: CliRunner) -> None:
    """`segment sql` prints the query and its parameters; values never inlined."""
    result = runner.invoke(
        cli,
        [
            "segment",
            "sql",
            "spend >= 100",
            "--dialect",
            "postgresql",
            "--now",
            "2026-11-02T10:00:00+0000",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SELECT" in result.output
    assert "%s" in result.output
    assert "-- params:" in result.output


def test_quota_pending_shows_counts_per_campaign(runner: CliRunner, ledger_url: str) -> None:
    """Two pending reservations of one campaign appear as one row with count 2."""
    result = runner.invoke(cli, ["quota", "pending", "--ledger", ledger_url, "--account", APPID])
    assert result.exit_code == 0, result.output
    assert "nov-a" in result.output
    assert "2026-11" in result.output
    row = next(line for line in result.output.splitlines() if "nov-a" in line)
    assert " 2 " in row


def test_quota_pending_without_a_ledger_is_a_usage_error(runner: CliRunner) -> None:
    """No --ledger and no WXSEGMENT_LEDGER: exit 2, naming both ways to set it."""
    result = runner.invoke(cli, ["quota", "pending"])
    assert result.exit_code == 2
    assert "--ledger" in result.output
    assert "WXSEGMENT_LEDGER" in result.output


def test_unreachable_ledger_exits_1_without_the_password(runner: CliRunner) -> None:
    """A ledger that cannot be reached exits 1; the URL's password is not shown."""
    url = "postgresql://user:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"
    result = runner.invoke(cli, ["quota", "pending", "--ledger", url])
    assert result.exit_code == 1
    assert "cannot open the ledger" in result.output
    assert "hunter2" not in result.output


def test_settle_needs_yes_and_changes_nothing_without_it(
    runner: CliRunner, ledger_url: str, tmp_path: Path
) -> None:
    """Without --yes, settle says what it would do and the reservations stay pending."""
    args = ["quota", "settle", "nov-a", "--commit", "--ledger", ledger_url, "--account", APPID]
    dry = runner.invoke(cli, args)
    assert dry.exit_code == 0, dry.output
    assert "would commit 2" in dry.output
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3", account=APPID)
    try:
        assert len(list(ledger.pending("nov-a"))) == 2
    finally:
        ledger.close()
    done = runner.invoke(cli, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert "committed 2" in done.output
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3", account=APPID)
    try:
        assert list(ledger.pending("nov-a")) == []
        assert ledger.usage("oB", at=AT).committed == 1
    finally:
        ledger.close()


def test_settle_release_of_some_followers(
    runner: CliRunner, ledger_url: str, tmp_path: Path
) -> None:
    """--release with --openid frees only those followers' slots."""
    result = runner.invoke(
        cli,
        [
            "quota",
            "settle",
            "nov-a",
            "--release",
            "--openid",
            "oB",
            "--yes",
            "--ledger",
            ledger_url,
            "--account",
            APPID,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "released 1" in result.output
    ledger = SQLiteLedger(tmp_path / "ledger.sqlite3", account=APPID)
    try:
        assert [e.openid for e in ledger.pending("nov-a")] == ["oC"]
    finally:
        ledger.close()


def test_settle_without_an_action_is_a_usage_error(runner: CliRunner, ledger_url: str) -> None:
    """settle needs --commit or --release."""
    result = runner.invoke(cli, ["quota", "settle", "nov-a", "--ledger", ledger_url])
    assert result.exit_code == 2
    assert "--commit or --release" in result.output


def test_config_file_and_environment(tmp_path: Path) -> None:
    """The environment overrides the file; secrets never show in the settings' repr."""
    path = tmp_path / "wx.toml"
    path.write_text('[wxsegment]\nappid = "wxfile"\nsecret = "s3cr3t-from-file"\n', "utf-8")
    settings = load_settings(path, {"WXSEGMENT_APPID": "wxenv"})
    assert settings.appid == "wxenv"
    assert settings.require("secret") == "s3cr3t-from-file"
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings.secret)


def test_config_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    """An unknown key or broken TOML is a ConfigError naming the file, not the value."""
    path = tmp_path / "wx.toml"
    path.write_text('secrett = "oops-value"\n', "utf-8")
    with pytest.raises(ConfigError, match="unknown key 'secrett'") as caught:
        load_settings(path, {})
    assert "oops-value" not in str(caught.value)
    path.write_text('secret = "unterminated\n', "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, {})


def test_missing_secret_is_named(tmp_path: Path) -> None:
    """require() on an unset secret says which variable to set."""
    with pytest.raises(ConfigError, match="WXSEGMENT_SECRET"):
        load_settings(None, {}).require("secret")


def test_missing_config_file_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """--config pointing nowhere exits 1 with the path in the message."""
    result = runner.invoke(cli, ["--config", str(tmp_path / "absent.toml"), "quota", "pending"])
    assert result.exit_code == 1
    assert "absent.toml" in result.output
