"""`wxsegment sync`, `import` and `segment count|explain` against a real store and a served fake."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from wxsegment.cli import cli
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.testing import FakeConfig, FakeWeChat

APPID = "wxclisync00000001"
SECRET = "cli-sync-secret"


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """FakeWeChat with 120 followers (pages of 50) under uvicorn on a free loopback port."""
    fake = FakeWeChat(appid=APPID, secret=SECRET, config=FakeConfig(user_page_size=50))
    fake.add_followers([f"o{i:04d}" for i in range(120)])
    server = uvicorn.Server(
        uvicorn.Config(fake.asgi, host="127.0.0.1", port=0, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def runner() -> CliRunner:
    """A runner without WXSEGMENT_* variables from the environment."""
    names = ("APPID", "SECRET", "TOKEN", "AES_KEY", "LEDGER", "STORE", "CONFIG", "BASE_URL")
    return CliRunner(env={f"WXSEGMENT_{n}": None for n in names})


def test_sync_then_count_and_explain(
    served: tuple[FakeWeChat, str], runner: CliRunner, tmp_path: Path
) -> None:
    """sync fills the store; count and explain answer from it; secrets never printed."""
    _, base = served
    store = f"sqlite:///{tmp_path / 'followers.sqlite3'}"
    env = {"WXSEGMENT_APPID": APPID, "WXSEGMENT_SECRET": SECRET, "WXSEGMENT_BASE_URL": base}
    result = runner.invoke(cli, ["sync", "--store", store], env=env)
    assert result.exit_code == 0, result.output
    assert "pulled 120 followers in 3 pages" in result.output
    assert SECRET not in result.output

    count = runner.invoke(cli, ["segment", "count", "subscribed == true", "--store", store])
    assert count.exit_code == 0, count.output
    assert count.output.strip() == "120"

    explained = runner.invoke(
        cli,
        [
            "segment",
            "explain",
            'subscribed == true and subscribe_scene == "ADD_SCENE_QR_CODE"',
            "--store",
            store,
        ],
    )
    assert explained.exit_code == 0, explained.output
    assert "funnel" in explained.output
    assert "everyone" in explained.output


def test_sync_without_a_secret_names_the_variable(runner: CliRunner, tmp_path: Path) -> None:
    """No secret configured: exit 2 naming WXSEGMENT_SECRET; the store is left alone."""
    store = f"sqlite:///{tmp_path / 'followers.sqlite3'}"
    result = runner.invoke(cli, ["sync", "--store", store], env={"WXSEGMENT_APPID": APPID})
    assert result.exit_code == 2
    assert "WXSEGMENT_SECRET" in result.output


def test_import_reports_counts_and_refuses_a_bad_file(runner: CliRunner, tmp_path: Path) -> None:
    """A good CSV reports inserted rows; a bad row rejects the file with its row number."""
    path = tmp_path / "followers.sqlite3"
    SQLiteFollowerStore(path, attributes={"spend": "float"}).close()
    good = tmp_path / "crm.csv"
    good.write_text(
        "openid,subscribe_time,spend\noA,2026-01-01T00:00:00+08:00,12.5\n"
        "oB,2026-02-01T00:00:00+08:00,99\n",
        "utf-8",
    )
    store = f"sqlite:///{path}"
    result = runner.invoke(cli, ["import", str(good), "--store", store])
    assert result.exit_code == 0, result.output
    assert "2 inserted, 0 updated" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("openid,spend\noA,lots\n", "utf-8")
    refused = runner.invoke(cli, ["import", str(bad), "--store", store])
    assert refused.exit_code == 1
    assert "nothing imported" in refused.output
    assert "row 2" in refused.output


def test_count_with_a_kind_error_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    """spend >= "100" on a numeric spend exits 2 naming the attribute."""
    path = tmp_path / "followers.sqlite3"
    SQLiteFollowerStore(path, attributes={"spend": "float"}).close()
    result = runner.invoke(
        cli, ["segment", "count", 'spend >= "100"', "--store", f"sqlite:///{path}"]
    )
    assert result.exit_code == 2
    assert "spend" in result.output


def test_unreachable_store_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A store in a folder that does not exist: exit 1 with the folder named."""
    result = runner.invoke(
        cli, ["segment", "count", "tag:a", "--store", f"sqlite:///{tmp_path}/no/such/x.db"]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output
