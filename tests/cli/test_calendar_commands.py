"""`wxsegment calendar plan|run FILE`: the TOML format, the plan, a dry run, and a real send."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from wxsegment._clock import SHANGHAI
from wxsegment.cli import cli
from wxsegment.followers import SQLiteFollowerStore
from wxsegment.quota import SQLiteLedger
from wxsegment.testing import FakeWeChat

APPID = "wxclicalendar0001"
SECRET = "cli-calendar-secret"
AT = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)

CALENDAR = """
[[campaign]]
id = "nov-sale"
send_at = 2026-11-02T09:00:00+08:00
segment = 'subscribed == true and tag:vip'
text = "双十一预售开始"
content_key = "sale-2026"
priority = 10

[[campaign]]
id = "nov-news"
send_at = "2026-11-20T20:00:00+08:00"
segment = "subscribed == true"
mpnews = "MEDIA_ID_1"
"""


@pytest.fixture
def runner() -> CliRunner:
    """A runner without WXSEGMENT_* variables from the environment."""
    names = ("APPID", "SECRET", "TOKEN", "AES_KEY", "LEDGER", "STORE", "CONFIG", "BASE_URL")
    return CliRunner(env={f"WXSEGMENT_{n}": None for n in names})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, Path]:
    """Store: oA..oD subscribed (oA, oB, oC vip); ledger: oC holds the sale's content key,
    oD has used all four November slots. Returns store URL, ledger URL, calendar file."""
    store_path = tmp_path / "followers.sqlite3"
    store = SQLiteFollowerStore(store_path)
    joined = AT - timedelta(days=90)
    store.import_rows(
        [
            {"openid": "oA", "subscribe_time": joined, "subscribed": True, "tags": ["vip"]},
            {"openid": "oB", "subscribe_time": joined, "subscribed": True, "tags": ["vip"]},
            {"openid": "oC", "subscribe_time": joined, "subscribed": True, "tags": ["vip"]},
            {"openid": "oD", "subscribe_time": joined, "subscribed": True},
        ]
    )
    store.close()
    ledger_path = tmp_path / "ledger.sqlite3"
    ledger = SQLiteLedger(ledger_path, account=APPID)
    try:
        ledger.reserve("oct-sale", ["oC"], at=AT - timedelta(days=30), content_key="sale-2026")
        ledger.commit("oct-sale")
        for n in range(4):
            ledger.reserve(f"nov-early-{n}", ["oD"], at=AT)
            ledger.commit(f"nov-early-{n}")
    finally:
        ledger.close()
    path = tmp_path / "calendar.toml"
    path.write_text(CALENDAR, "utf-8")
    return f"sqlite:///{store_path}", f"sqlite:///{ledger_path}", path


def _args(setup: tuple[str, str, Path], command: str) -> list[str]:
    store, ledger, path = setup
    return ["calendar", command, str(path), "--store", store, "--ledger", ledger]


def test_plan_prints_the_calendar_plan(runner: CliRunner, setup: tuple[str, str, Path]) -> None:
    """The sale skips oC (had it); the news skips oD (no slot); JSON has the same counts."""
    args = [*_args(setup, "plan"), "--account", APPID, "--at", AT.isoformat()]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "nov-sale" in result.output
    assert "2026-11 pushes per follower" in result.output
    as_json = runner.invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    plans = {p["campaign"]: p for p in json.loads(as_json.output)["campaigns"]}
    assert (plans["nov-sale"]["matched"], plans["nov-sale"]["planned"]) == (3, 2)
    assert plans["nov-sale"]["dropped_duplicate"] == 1
    assert (plans["nov-news"]["matched"], plans["nov-news"]["planned"]) == (4, 3)
    assert plans["nov-news"]["dropped_quota"] == 1
    chart = setup[2].parent / "plan.svg"
    drawn = runner.invoke(cli, [*args, "--chart", str(chart)])
    assert drawn.exit_code == 0, drawn.output
    assert "nov-sale: 2 of 3" in chart.read_text("utf-8")


def test_run_without_yes_is_a_dry_run(runner: CliRunner, setup: tuple[str, str, Path]) -> None:
    """Only the sale is due on 2 November; the dry run counts it and reserves nothing."""
    at = "2026-11-02T12:00:00+08:00"
    result = runner.invoke(cli, [*_args(setup, "run"), "--account", APPID, "--at", at])
    assert result.exit_code == 0, result.output
    assert "due nov-sale: would go to 2 of 3 matched" in result.output
    assert "nov-news" not in result.output
    assert "nothing sent" in result.output
    ledger = SQLiteLedger(Path(setup[1].removeprefix("sqlite:///")), account=APPID)
    try:
        assert list(ledger.pending()) == []
        assert ledger.usage("oA", at=AT).committed == 0
    finally:
        ledger.close()
    early = runner.invoke(cli, [*_args(setup, "run"), "--at", "2026-11-01T12:00:00+08:00"])
    assert early.exit_code == 0, early.output
    assert "nothing due" in early.output


def test_dry_run_reports_a_campaign_whose_month_ended(
    runner: CliRunner, setup: tuple[str, str, Path]
) -> None:
    """Due by the 12 hours but sent in October: reported missed on 1 November, not planned."""
    setup[2].write_text(
        CALENDAR.replace("2026-11-02T09:00:00+08:00", "2026-10-31T23:00:00+08:00"), "utf-8"
    )
    at = "2026-11-01T01:00:00+08:00"
    result = runner.invoke(cli, [*_args(setup, "run"), "--account", APPID, "--at", at])
    assert result.exit_code == 0, result.output
    assert "missed nov-sale: its month ended" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[campaign]\nid = 1", "not valid TOML"),
        (CALENDAR.replace("tag:vip'", "tag:vip and (city'"), "'nov-sale', segment"),
        (CALENDAR.replace("+08:00\nsegment = 'sub", "\nsegment = 'sub"), "'nov-sale', send_at"),
        (CALENDAR.replace('"2026-11-20T20:00:00+08:00"', '"2026-11-20T20:00"'), "no UTC offset"),
        (CALENDAR.replace('mpnews = "MEDIA_ID_1"', ""), "'nov-news', text"),
        (CALENDAR.replace("priority = 10", "prio = 10"), "'nov-sale', prio: unknown field"),
        (CALENDAR.replace('"nov-news"', '"nov-sale"'), "appears twice"),
        (CALENDAR.replace('id = "nov-news"', ""), "campaign #2, id"),
    ],
)
def test_bad_calendar_files_are_usage_errors(
    runner: CliRunner, setup: tuple[str, str, Path], text: str, expected: str
) -> None:
    """Bad TOML, DSL, send_at or fields exit 2 naming the campaign and the field."""
    setup[2].write_text(text, "utf-8")
    for command in ("plan", "run"):
        result = runner.invoke(cli, _args(setup, command))
        assert result.exit_code == 2, result.output
        assert expected in result.output


def test_bad_dsl_shows_the_caret_line(runner: CliRunner, setup: tuple[str, str, Path]) -> None:
    """The parse error of a campaign's segment is shown with its caret line."""
    setup[2].write_text(CALENDAR.replace("tag:vip'", "tag:vip and'"), "utf-8")
    result = runner.invoke(cli, _args(setup, "plan"))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    shown = next(n for n, line in enumerate(lines) if "subscribed == true and tag:vip and" in line)
    assert lines[shown + 1].strip() == "^"


def test_calendar_bad_options_and_stores(
    runner: CliRunner, setup: tuple[str, str, Path], tmp_path: Path
) -> None:
    """Unknown option exits 2 naming it; missing ledger folder exits 1; --yes needs a secret."""
    unknown = runner.invoke(cli, [*_args(setup, "run"), "--yess"])
    assert unknown.exit_code == 2
    assert "--yess" in unknown.output
    store, _, path = setup
    gone = f"sqlite:///{tmp_path}/no/ledger.db"
    missing = runner.invoke(
        cli, ["calendar", "plan", str(path), "--store", store, "--ledger", gone]
    )
    assert missing.exit_code == 1
    assert "does not exist" in missing.output
    secretless = runner.invoke(cli, [*_args(setup, "run"), "--yes"], env={"WXSEGMENT_APPID": APPID})
    assert secretless.exit_code == 2
    assert "WXSEGMENT_SECRET" in secretless.output


@pytest.fixture
def served() -> Iterator[tuple[FakeWeChat, str]]:
    """FakeWeChat with 30 followers under uvicorn on a free loopback port."""
    fake = FakeWeChat(appid=APPID, secret=SECRET)
    fake.add_followers([f"o{i:04d}" for i in range(30)])
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


def test_run_yes_sends_the_due_campaign_once(
    served: tuple[FakeWeChat, str], runner: CliRunner, tmp_path: Path
) -> None:
    """run --yes sends the due campaign through the served fake; a second run sends nothing."""
    fake, base = served
    store = f"sqlite:///{tmp_path / 'followers.sqlite3'}"
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {
        "WXSEGMENT_APPID": APPID,
        "WXSEGMENT_SECRET": SECRET,
        "WXSEGMENT_BASE_URL": base,
        "WXSEGMENT_STORE": store,
        "WXSEGMENT_LEDGER": ledger,
    }
    synced = runner.invoke(cli, ["sync"], env=env)
    assert synced.exit_code == 0, synced.output
    now = datetime.now(SHANGHAI)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    send_at = max(now - timedelta(minutes=1), month_start)
    path = tmp_path / "calendar.toml"
    path.write_text(
        f'[[campaign]]\nid = "now-all"\nsend_at = "{send_at.isoformat()}"\n'
        f'segment = "subscribed == true"\ntext = "hello"\n'
        f'[[campaign]]\nid = "later"\nsend_at = "{(now + timedelta(days=40)).isoformat()}"\n'
        f'segment = "subscribed == true"\ntext = "later"\n',
        "utf-8",
    )
    sent = runner.invoke(cli, ["calendar", "run", str(path), "--yes"], env=env)
    assert sent.exit_code == 0, sent.output
    assert "now-all: sent 30, delivered 30, pending 0" in sent.output
    assert "later" not in sent.output
    assert SECRET not in sent.output
    assert all(fake.mass_received(f"o{i:04d}") == 1 for i in range(30))
    dry = runner.invoke(cli, ["calendar", "run", str(path)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "done now-all: already run, nothing to send" in dry.output
    again = runner.invoke(cli, ["calendar", "run", str(path), "--yes"], env=env)
    assert again.exit_code == 0, again.output
    assert "nothing to send" in again.output
    assert all(fake.mass_received(f"o{i:04d}") == 1 for i in range(30))
    usage = runner.invoke(cli, ["quota", "usage", "--json"], env=env)
    assert usage.exit_code == 0, usage.output
    assert json.loads(usage.output)["pushes"] == [0, 30, 0, 0, 0]


def test_run_yes_with_unknown_outcomes_exits_1_then_resumes(
    served: tuple[FakeWeChat, str], runner: CliRunner, tmp_path: Path
) -> None:
    """Sends that took effect but answered 500 stay pending (exit 1); the next run settles them."""
    fake, base = served
    env = {
        "WXSEGMENT_APPID": APPID,
        "WXSEGMENT_SECRET": SECRET,
        "WXSEGMENT_BASE_URL": base,
        "WXSEGMENT_STORE": f"sqlite:///{tmp_path / 'followers.sqlite3'}",
        "WXSEGMENT_LEDGER": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
    }
    assert runner.invoke(cli, ["sync"], env=env).exit_code == 0
    now = datetime.now(SHANGHAI)
    send_at = max(now - timedelta(minutes=1), now.replace(day=1, hour=0, minute=0, second=0))
    path = tmp_path / "calendar.toml"
    path.write_text(
        f'[[campaign]]\nid = "flaky"\nsend_at = "{send_at.isoformat()}"\n'
        'segment = "subscribed == true"\ntext = "hello"\n',
        "utf-8",
    )
    fake.inject(
        "http_500",
        times=None,
        probability=1.0,
        path="/cgi-bin/message/mass/send",
        after_processing=True,
    )
    lost = runner.invoke(cli, ["calendar", "run", str(path), "--yes"], env=env)
    assert lost.exit_code == 1, lost.output
    assert "flaky: sent 0, delivered 0, pending 30" in lost.output
    assert "unknown outcome" in lost.output
    fake.clear_faults()
    resumed = runner.invoke(cli, ["calendar", "run", str(path), "--yes"], env=env)
    assert resumed.exit_code == 0, resumed.output
    assert "flaky:" in resumed.output
    assert "delivered 30, pending 0" in resumed.output
    assert all(fake.mass_received(f"o{i:04d}") == 1 for i in range(30))
