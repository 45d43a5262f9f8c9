"""`wxsegment callback serve` refusals, through click's runner (none of them starts a server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wxsegment.cli import cli

APPID = "wxclicallback0001"
TOKEN = "clicallbacktoken7"


@pytest.fixture
def runner() -> CliRunner:
    """A runner without WXSEGMENT_* variables from the environment."""
    names = ("APPID", "SECRET", "TOKEN", "AES_KEY", "LEDGER", "STORE", "CONFIG", "BASE_URL")
    return CliRunner(env={f"WXSEGMENT_{n}": None for n in names})


def test_missing_token_names_the_variable(runner: CliRunner) -> None:
    """No token: exit 2 naming WXSEGMENT_TOKEN; no appid: exit 2 naming WXSEGMENT_APPID."""
    result = runner.invoke(cli, ["callback", "serve"], env={"WXSEGMENT_APPID": APPID})
    assert result.exit_code == 2
    assert "WXSEGMENT_TOKEN" in result.output
    no_appid = runner.invoke(cli, ["callback", "serve"], env={"WXSEGMENT_TOKEN": TOKEN})
    assert no_appid.exit_code == 2
    assert "WXSEGMENT_APPID" in no_appid.output
    assert TOKEN not in no_appid.output


def test_bad_options_exit_2_naming_them(runner: CliRunner) -> None:
    """An unknown option, a path without a slash and a port out of range are usage errors."""
    env = {"WXSEGMENT_APPID": APPID, "WXSEGMENT_TOKEN": TOKEN}
    unknown = runner.invoke(cli, ["callback", "serve", "--paht", "/x"], env=env)
    assert unknown.exit_code == 2
    assert "--paht" in unknown.output
    path = runner.invoke(cli, ["callback", "serve", "--path", "wechat"], env=env)
    assert path.exit_code == 2
    assert "--path" in path.output
    port = runner.invoke(cli, ["callback", "serve", "--port", "70000"], env=env)
    assert port.exit_code == 2
    assert "--port" in port.output


def test_bad_aes_key_is_refused_without_showing_it(runner: CliRunner) -> None:
    """An EncodingAESKey of the wrong length exits 2 and the key is not printed."""
    key = "tooshortkey12345"
    env = {"WXSEGMENT_APPID": APPID, "WXSEGMENT_TOKEN": TOKEN, "WXSEGMENT_AES_KEY": key}
    result = runner.invoke(cli, ["callback", "serve"], env=env)
    assert result.exit_code == 2
    assert key not in result.output
    assert TOKEN not in result.output


def test_unreachable_store_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A store in a missing folder exits 1 naming it, before anything listens."""
    env = {"WXSEGMENT_APPID": APPID, "WXSEGMENT_TOKEN": TOKEN}
    store = f"sqlite:///{tmp_path}/no/such/followers.db"
    result = runner.invoke(cli, ["callback", "serve", "--store", store], env=env)
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_port_in_use_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A port another socket listens on: exit 1 naming host and port."""
    import socket

    env = {"WXSEGMENT_APPID": APPID, "WXSEGMENT_TOKEN": TOKEN}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        store = f"sqlite:///{tmp_path / 'followers.sqlite3'}"
        args = ["callback", "serve", "--port", str(port), "--store", store]
        result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
