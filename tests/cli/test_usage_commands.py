"""`wxsegment quota usage` over a real store and ledger, and Redis ledgers opened by URL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._services import REDIS_URL, unreachable
from wxsegment.cli import cli
from wxsegment.cli._config import ConfigError
from wxsegment.cli._ledgers import open_ledger
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.quota import SQLiteLedger

APPID = "wxcliusage0000001"
AT = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def runner() -> CliRunner:
    """A runner without WXSEGMENT_* variables from the environment."""
    names = ("APPID", "SECRET", "TOKEN", "AES_KEY", "LEDGER", "STORE", "CONFIG", "BASE_URL")
    return CliRunner(env={f"WXSEGMENT_{n}": None for n in names})


@pytest.fixture
def urls(tmp_path: Path) -> tuple[str, str]:
    """A store of six followers (oF unsubscribed) and a ledger of their November pushes."""
    store_path = tmp_path / "followers.sqlite3"
    store = SQLiteFollowerStore(store_path)
    joined = AT - timedelta(days=90)
    store.import_rows(
        [
            {"openid": o, "subscribe_time": joined, "subscribed": True}
            for o in ["oA", "oB", "oC", "oD", "oE"]
        ]
        + [{"openid": "oF", "subscribe_time": joined, "subscribed": False}]
    )
    store.close()
    ledger_path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(ledger_path, account=APPID)
    try:
        ledger.reserve("nov-1", ["oA", "oB", "oC", "oF"], at=AT)
        ledger.commit("nov-1")
        ledger.reserve("nov-2", ["oB", "oC"], at=AT)  # left pending: it still counts
        ledger.reserve("nov-3", ["oC"], at=AT)
        ledger.reserve("nov-4", ["oC"], at=AT)
        ledger.reserve("oct-1", ["oD"], at=AT - timedelta(days=20))
    finally:
        ledger.close()
    return f"sqlite:///{store_path}", f"sqlite:///{ledger_path}"


def test_usage_counts_subscribed_followers_per_push_count(
    runner: CliRunner, urls: tuple[str, str]
) -> None:
    """--json counts oD (October only) and oE at 0, oA at 1, oB at 2, oC at 4; oF is left out."""
    store, ledger = urls
    args = ["quota", "usage", "--store", store, "--ledger", ledger, "--account", APPID]
    result = runner.invoke(cli, [*args, "--at", "2026-11-20T12:00:00+08:00", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "month": "2026-11",
        "followers": 5,
        "limit": 4,
        "pushes": [2, 1, 1, 0, 1],
    }
    table = runner.invoke(cli, [*args, "--at", "2026-11-20T12:00:00+08:00"])
    assert table.exit_code == 0, table.output
    assert "2026-11: 5 subscribed followers" in table.output
    assert "40.0%" in table.output
    assert "#" * 30 in table.output


def test_usage_reads_the_shanghai_month_of_at(runner: CliRunner, urls: tuple[str, str]) -> None:
    """2026-10-31T16:00Z is already November in Shanghai; 15:59:59Z is still October."""
    store, ledger = urls
    args = ["quota", "usage", "--store", store, "--ledger", ledger, "--account", APPID, "--json"]
    november = runner.invoke(cli, [*args, "--at", "2026-10-31T16:00:00Z"])
    october = runner.invoke(cli, [*args, "--at", "2026-10-31T15:59:59Z"])
    assert json.loads(november.output)["pushes"] == [2, 1, 1, 0, 1]
    assert json.loads(october.output) == {
        "month": "2026-10",
        "followers": 5,
        "limit": 4,
        "pushes": [4, 1, 0, 0, 0],
    }


def test_usage_bad_input(runner: CliRunner, urls: tuple[str, str], tmp_path: Path) -> None:
    """A naive --at or unknown option exits 2 naming it; an unreachable ledger exits 1."""
    store, ledger = urls
    naive = runner.invoke(
        cli, ["quota", "usage", "--store", store, "--ledger", ledger, "--at", "2026-11-02T10:00"]
    )
    assert naive.exit_code == 2
    assert "--at" in naive.output
    assert "no UTC offset" in naive.output
    unknown = runner.invoke(cli, ["quota", "usage", "--stor", store])
    assert unknown.exit_code == 2
    assert "--stor" in unknown.output
    missing = runner.invoke(
        cli, ["quota", "usage", "--store", store, "--ledger", f"sqlite:///{tmp_path}/no/l.db"]
    )
    assert missing.exit_code == 1
    assert "does not exist" in missing.output
    no_ledger = runner.invoke(cli, ["quota", "usage", "--store", store])
    assert no_ledger.exit_code == 2
    assert "WXSEGMENT_LEDGER" in no_ledger.output


def _redis_durable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return client.config_get("appendonly").get("appendonly") == "yes"
    finally:
        client.close()


def _delete_account_keys(account: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"*{account}*", count=500):
            client.delete(key)
    finally:
        client.close()


def test_redis_without_persistence_needs_durable_0() -> None:
    """The shared Redis has no persistence: refused with a hint, accepted with ?durable=0."""
    reason = unreachable(REDIS_URL)
    if reason is not None:
        pytest.skip(f"Redis: {reason}")
    if _redis_durable():
        pytest.skip("the test Redis persists its writes, so it cannot show the refusal")
    account = f"wxclidurable{uuid.uuid4().hex[:10]}"
    with pytest.raises(ConfigError) as refused:
        open_ledger(REDIS_URL, account=account)
    message = str(refused.value)
    assert "?durable=0" in message
    assert "\n" not in message
    separator = "&" if "?" in REDIS_URL else "?"
    try:
        ledger = open_ledger(f"{REDIS_URL}{separator}durable=0", account=account)
        try:
            ledger.reserve("c1", ["oA"], at=AT)
            assert ledger.usage("oA", at=AT).pending == 1
        finally:
            ledger.close()
    finally:
        _delete_account_keys(account)


def test_cli_reports_the_durable_hint_in_one_line(runner: CliRunner) -> None:
    """`quota pending` on the shared Redis exits 1 with the hint; with ?durable=0 it runs."""
    reason = unreachable(REDIS_URL)
    if reason is not None:
        pytest.skip(f"Redis: {reason}")
    if _redis_durable():
        pytest.skip("the test Redis persists its writes, so it cannot show the refusal")
    account = f"wxclidurable{uuid.uuid4().hex[:10]}"
    args = ["quota", "pending", "--account", account, "--ledger"]
    refused = runner.invoke(cli, [*args, REDIS_URL])
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: the Redis server at")
    assert "?durable=0" in refused.output
    assert refused.output.count("\n") == 1
    separator = "&" if "?" in REDIS_URL else "?"
    try:
        accepted = runner.invoke(cli, [*args, f"{REDIS_URL}{separator}durable=0"])
        assert accepted.exit_code == 0, accepted.output
        assert "no pending reservations" in accepted.output
    finally:
        _delete_account_keys(account)


def test_redis_durable_flag_must_be_0_or_1() -> None:
    """durable=maybe is refused before any connection is made."""
    with pytest.raises(ConfigError, match="durable"):
        open_ledger("redis://127.0.0.1:1/0?durable=maybe")
