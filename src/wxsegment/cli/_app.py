"""The ``wxsegment`` command: click for parsing, rich for tables.

Conventions: a usage error (unknown option, bad value, bad DSL) exits 2 naming the offending
option; a configuration or connection problem exits 1 with a one-line message; nothing that
writes to a ledger or sends runs without ``--yes``. Secrets are never printed.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from wxsegment.cli._config import ConfigError, Settings, load_settings
from wxsegment.cli._ledgers import open_ledger
from wxsegment.cli._stores import open_client, open_store
from wxsegment.followers import FollowerStore, ImportRejectedError
from wxsegment.quota import QuotaLedger
from wxsegment.segment import (
    Dialect,
    Segment,
    SegmentSyntaxError,
    parse,
    render,
    to_json,
    to_sql,
)

if TYPE_CHECKING:
    from wxsegment.delivery import Calendar

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _console() -> Console:
    # Rich decides colour and width from the real terminal; click's runner captures plain text.
    return Console(highlight=False, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    if settings is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("no settings loaded")
    return settings


def _ledger(ctx: click.Context, url: str | None, account: str | None) -> QuotaLedger:
    settings = _settings(ctx)
    target = url or settings.ledger
    if target is None:
        raise click.UsageError(
            "no ledger given: pass --ledger URL or set WXSEGMENT_LEDGER", ctx=ctx
        )
    try:
        return open_ledger(target, account=account or settings.appid)
    except ConfigError as error:
        _fail(str(error))


def _store(ctx: click.Context, url: str | None) -> FollowerStore:
    target = url or _settings(ctx).store
    if target is None:
        raise click.UsageError("no store given: pass --store URL or set WXSEGMENT_STORE", ctx=ctx)
    try:
        return open_store(target)
    except ConfigError as error:
        _fail(str(error))


_STORE_OPTION = click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="sqlite:///FILE or postgresql://... (default: WXSEGMENT_STORE).",
)


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 instant with a UTC offset (``2026-11-02T10:00:00+08:00``), or None."""
    if value is None:
        return None
    try:
        # Python 3.10's parser does not read a trailing "Z".
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset (add +08:00 or Z)")
    return parsed


_AT_OPTION = click.option(
    "--at",
    "at",
    metavar="ISO",
    callback=_instant,
    help="Instant, ISO 8601 with an offset (default: now).",
)


def _parse_segment(text: str, param_hint: str = "'DSL'") -> Segment:
    try:
        return parse(text)
    except SegmentSyntaxError as error:
        raise click.BadParameter(f"\n{error}", param_hint=param_hint) from None


@click.group(context_settings=_CONTEXT)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="WXSEGMENT_CONFIG",
    help="TOML file with appid, secret, token, aes_key, ledger, store (env WXSEGMENT_CONFIG).",
)
@click.version_option(package_name="wxsegment", prog_name="wxsegment")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Segmentation and quota-aware delivery for WeChat service accounts.

    Settings come from --config FILE, then from WXSEGMENT_APPID, WXSEGMENT_SECRET,
    WXSEGMENT_TOKEN, WXSEGMENT_AES_KEY, WXSEGMENT_LEDGER and WXSEGMENT_STORE.
    Start with `wxsegment demo`.
    """
    try:
        ctx.obj = load_settings(config_path)
    except ConfigError as error:
        _fail(str(error))


# -- demo ---------------------------------------------------------------------------------------


@cli.command(context_settings=_CONTEXT)
@click.option(
    "--followers",
    type=click.IntRange(100, 2_000_000),
    default=20_000,
    show_default=True,
    help="How many synthetic followers to generate.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic data.")
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite ledger file to keep (default: a temporary file).",
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite follower store file to keep (default: a temporary file).",
)
def demo(followers: int, seed: int, ledger_path: Path | None, store_path: Path | None) -> None:
    """Run one month of campaigns end to end against the built-in fake WeChat.

    Nothing leaves this machine: the real API client talks to FakeWeChat in process, the
    followers are pulled into a SQLite follower store and the quota ledger is a SQLite file.
    The demo exits 1 if any follower received a fifth push or the ledger and WeChat disagree.
    """
    from wxsegment._demo import main as run_demo

    argv = ["--followers", str(followers), "--seed", str(seed)]
    if ledger_path is not None:
        argv += ["--ledger", str(ledger_path)]
    if store_path is not None:
        argv += ["--store", str(store_path)]
    code = run_demo(argv)
    if code:
        raise SystemExit(code)


# -- segment ------------------------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT)
def segment() -> None:
    """Check, render and compile segment expressions written in the DSL."""


@segment.command("check", context_settings=_CONTEXT)
@click.argument("dsl")
@click.option("--json", "as_json", is_flag=True, help="Print the segment's JSON form too.")
def segment_check(dsl: str, as_json: bool) -> None:
    """Parse DSL and print its canonical form (exit 2 with a caret line if it does not parse)."""
    parsed = _parse_segment(dsl)
    click.echo(render(parsed))
    if as_json:
        click.echo(json.dumps(to_json(parsed), ensure_ascii=False, indent=2))


@segment.command("sql", context_settings=_CONTEXT)
@click.argument("dsl")
@click.option(
    "--dialect",
    type=click.Choice([d.value for d in Dialect]),
    default="sqlite",
    show_default=True,
    help="SQL dialect to compile for.",
)
@click.option(
    "--now",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
    help="Instant for relative time (default: now, UTC).",
)
def segment_sql(dsl: str, dialect: str, now: datetime | None) -> None:
    """Compile DSL into a parameterized SQL query over the documented follower layout."""
    parsed = _parse_segment(dsl)
    at = _aware(now)
    sql, params = to_sql(parsed, dialect=dialect, now=at)
    click.echo(sql)
    click.echo("-- params: " + json.dumps([_jsonable(p) for p in params], ensure_ascii=False))


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


@segment.command("count", context_settings=_CONTEXT)
@click.argument("dsl")
@_STORE_OPTION
@click.pass_context
def segment_count(ctx: click.Context, dsl: str, store_url: str | None) -> None:
    """Count the store's followers matching DSL (checked against the attribute schema)."""
    parsed = _parse_segment(dsl)
    store = _store(ctx, store_url)
    try:
        click.echo(str(store.count(parsed, now=datetime.now(timezone.utc))))
    except (TypeError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="'DSL'") from None
    finally:
        store.close()


@segment.command("explain", context_settings=_CONTEXT)
@click.argument("dsl")
@_STORE_OPTION
@click.pass_context
def segment_explain(ctx: click.Context, dsl: str, store_url: str | None) -> None:
    """Each sub-expression's count over everyone, then the funnel as the conjunction narrows."""
    parsed = _parse_segment(dsl)
    store = _store(ctx, store_url)
    now = datetime.now(timezone.utc)
    try:
        explanation = store.explain(parsed, now=now)
        steps = _store_funnel(store, parsed, now)
    except (TypeError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="'DSL'") from None
    finally:
        store.close()
    console = _console()
    table = Table("matched", "share", "sub-expression", title="each sub-expression, over everyone")
    for depth, node in _walk(explanation):
        table.add_row(f"{node.matched:,}", f"{node.share:.1%}", "  " * depth + render(node.segment))
    console.print(table)
    funnel_table = Table(
        "left", "dropped", "condition", title="funnel: adding one condition at a time"
    )
    funnel_table.add_row(f"{explanation.total:,}", "", "everyone")
    left = explanation.total
    for part, count in steps:
        funnel_table.add_row(f"{count:,}", f"-{left - count:,}", "and " + render(part))
        left = count
    console.print(funnel_table)


def _walk(node: Any, depth: int = 0) -> Any:
    yield depth, node
    for child in node.children:
        yield from _walk(child, depth + 1)


def _store_funnel(
    store: FollowerStore, segment: Segment, now: datetime
) -> list[tuple[Segment, int]]:
    """The narrowest-first funnel with one COUNT per candidate and step, run in the store."""
    from wxsegment.segment import And, and_

    parts = sorted(segment.children, key=render) if isinstance(segment, And) else [segment]
    chosen: list[Segment] = []
    steps: list[tuple[Segment, int]] = []
    while parts:
        counts = [(store.count(and_(*chosen, part), now=now), part) for part in parts]
        count, pick = min(counts, key=lambda pair: pair[0])
        parts.remove(pick)
        chosen.append(pick)
        steps.append((pick, count))
    return steps


# -- store --------------------------------------------------------------------------------------


@cli.command("import", context_settings=_CONTEXT)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_STORE_OPTION
@click.pass_context
def import_csv(ctx: click.Context, path: Path, store_url: str | None) -> None:
    """Merge the CRM rows of a CSV file into the store, all or nothing.

    The file has a header row with an `openid` column; other columns are attributes declared
    in the store's schema (or `tags`, `subscribe_time`, `unionid`, `last_interaction_at`).
    """
    store = _store(ctx, store_url)
    try:
        report = store.import_csv(path)
    except ImportRejectedError as error:
        _fail(f"nothing imported from {path.name}: {error}")
    except (TypeError, ValueError) as error:
        _fail(f"nothing imported from {path.name}: {error}")
    finally:
        store.close()
    click.echo(f"imported {path.name}: {report.inserted} inserted, {report.updated} updated")


@cli.command("sync", context_settings=_CONTEXT)
@_STORE_OPTION
@click.pass_context
def sync(ctx: click.Context, store_url: str | None) -> None:
    """Pull every follower and tag from WeChat into the store; resumes an interrupted pull."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from wxsegment.tagging import SyncProgress, sync_followers

    settings = _settings(ctx)
    try:
        client = open_client(settings)
    except ConfigError as error:
        raise click.UsageError(str(error), ctx=ctx) from None
    store = _store(ctx, store_url)
    try:
        with Progress(
            TextColumn("followers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("pull", total=None)

            def show(progress: SyncProgress) -> None:
                bar.update(task, completed=progress.done, total=progress.total)

            report = sync_followers(client, store, on_progress=show)
    except Exception as error:
        from wxsegment.api import WeChatError

        if isinstance(error, WeChatError):
            _fail(f"WeChat refused the pull: {error} (run `wxsegment sync` again to resume)")
        raise
    finally:
        store.close()
        client.close()
    resumed = f", resumed at {report.resumed_from}" if report.resumed_from else ""
    click.echo(
        f"pulled {report.pulled:,} followers in {report.pages} pages{resumed}; "
        f"{report.unsubscribed:,} marked unsubscribed; {report.tags} tags"
    )


# -- quota --------------------------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT)
def quota() -> None:
    """Look at the quota ledger and settle reservations by hand."""


_LEDGER_OPTION = click.option(
    "--ledger",
    "ledger_url",
    metavar="URL",
    help="sqlite:///FILE, postgresql://..., redis://... (default: WXSEGMENT_LEDGER).",
)
_ACCOUNT_OPTION = click.option(
    "--account", metavar="APPID", help="Account the ledger counts for (default: the appid)."
)


@quota.command("pending", context_settings=_CONTEXT)
@_LEDGER_OPTION
@_ACCOUNT_OPTION
@click.option("--campaign", help="Only this campaign's reservations.")
@click.option("--openids", "show_openids", is_flag=True, help="List every pending openid.")
@click.pass_context
def quota_pending(
    ctx: click.Context,
    ledger_url: str | None,
    account: str | None,
    campaign: str | None,
    show_openids: bool,
) -> None:
    """Reservations whose send outcome is unknown, per campaign and month.

    Check each campaign's mass job with `mass/get` (or WeChat's console) before settling it
    with `wxsegment quota settle`.
    """
    ledger = _ledger(ctx, ledger_url, account)
    try:
        entries = list(ledger.pending(campaign))
    finally:
        ledger.close()
    console = _console()
    if not entries:
        console.print("no pending reservations" + (f" for {campaign!r}" if campaign else ""))
        return
    groups: Counter[tuple[str, str]] = Counter((e.campaign, e.month) for e in entries)
    oldest: dict[tuple[str, str], datetime] = {}
    for entry in entries:
        key = (entry.campaign, entry.month)
        oldest[key] = min(oldest.get(key, entry.reserved_at), entry.reserved_at)
    table = Table("campaign", "month", "pending", "oldest reservation (UTC)")
    for (name, month), count in sorted(groups.items()):
        stamp = oldest[(name, month)].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(name, month, str(count), stamp)
    console.print(table)
    if show_openids:
        for entry in sorted(entries, key=lambda e: (e.campaign, e.openid)):
            click.echo(f"{entry.campaign}\t{entry.openid}")


@quota.command("usage", context_settings=_CONTEXT)
@_AT_OPTION
@_STORE_OPTION
@_LEDGER_OPTION
@_ACCOUNT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def quota_usage(
    ctx: click.Context,
    at: datetime | None,
    store_url: str | None,
    ledger_url: str | None,
    account: str | None,
    as_json: bool,
) -> None:
    """How many subscribed followers have used 0, 1, ... 4 pushes in the month of --at.

    A push counts once reserved (committed or pending), as the ledger counts it; the month
    is the natural month in Asia/Shanghai.
    """
    from wxsegment._clock import month_key

    instant = _aware(at)
    store = _store(ctx, store_url)
    try:
        openids = store.select(parse("subscribed == true"), now=instant)
    finally:
        store.close()
    ledger = _ledger(ctx, ledger_url, account)
    try:
        limit = ledger.limit
        usage = ledger.usage_many(openids, at=instant)
    finally:
        ledger.close()
    counts = Counter(min(u.committed + u.pending, limit) for u in usage.values())
    slots = [counts.get(n, 0) for n in range(limit + 1)]
    month = month_key(instant)
    if as_json:
        report = {"month": month, "followers": len(openids), "limit": limit, "pushes": slots}
        click.echo(json.dumps(report))
        return
    total = max(len(openids), 1)
    widest = max(slots) or 1
    title = f"{month}: {len(openids):,} subscribed followers"
    table = Table("pushes", "followers", "share", "bar", title=title)
    for pushes, count in enumerate(slots):
        bar = "#" * round(30 * count / widest)
        table.add_row(str(pushes), f"{count:,}", f"{count / total:.1%}", bar)
    _console().print(table)


@quota.command("settle", context_settings=_CONTEXT)
@click.argument("campaign")
@click.option("--commit", "action", flag_value="commit", help="WeChat delivered the job: count it.")
@click.option(
    "--release", "action", flag_value="release", help="WeChat has no job for it: free the slots."
)
@click.option("--openid", "openids", multiple=True, help="Only these followers (repeatable).")
@click.option("--yes", is_flag=True, help="Really write to the ledger.")
@_LEDGER_OPTION
@_ACCOUNT_OPTION
@click.pass_context
def quota_settle(
    ctx: click.Context,
    campaign: str,
    action: str | None,
    openids: Sequence[str],
    yes: bool,
    ledger_url: str | None,
    account: str | None,
) -> None:
    """Commit or release CAMPAIGN's pending reservations after checking `mass/get`.

    Release only with proof that WeChat holds no job for the send: releasing a delivered
    push lets a follower receive a fifth one later.
    """
    if action is None:
        raise click.UsageError("choose --commit or --release", ctx=ctx)
    ledger = _ledger(ctx, ledger_url, account)
    try:
        pending = list(ledger.pending(campaign))
        targets = list(openids) if openids else None
        count = len(targets) if targets is not None else len(pending)
        if not yes:
            click.echo(f"would {action} {count} reservation(s) of {campaign!r}; add --yes to do it")
            return
        if action == "commit":
            result = ledger.commit(campaign, targets)
        else:
            result = ledger.release(campaign, targets)
    except (TypeError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="CAMPAIGN/--openid") from None
    finally:
        ledger.close()
    verb = "committed" if action == "commit" else "released"
    click.echo(
        f"{verb} {len(result.done)}; already {len(result.already)}; "
        f"not pending {len(result.missing)}; refused {len(result.refused)}"
    )


# -- calendar -----------------------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT)
def calendar() -> None:
    """Plan and run a TOML calendar of dated campaigns (see docs/cli.md for the format)."""


_CALENDAR_FILE = click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


def _calendar(ctx: click.Context, path: Path) -> Calendar:
    from wxsegment.cli._calendar_file import CalendarFileError, load_calendar

    try:
        return load_calendar(path)
    except CalendarFileError as error:
        raise click.BadParameter(str(error), ctx=ctx, param_hint="FILE") from None


def _audiences(
    ctx: click.Context, store: FollowerStore, calendar: Calendar, now: datetime
) -> dict[str, list[str]]:
    """Each campaign's openids in the store, its segment checked against the store's schema."""
    audiences: dict[str, list[str]] = {}
    for campaign in calendar.campaigns:
        try:
            audiences[campaign.id] = store.select(campaign.segment, now=now)
        except (TypeError, ValueError) as error:
            raise click.BadParameter(
                f"campaign {campaign.id!r}, segment: {error}", ctx=ctx, param_hint="FILE"
            ) from None
    return audiences


@calendar.command("plan", context_settings=_CONTEXT)
@_CALENDAR_FILE
@_AT_OPTION
@_STORE_OPTION
@_LEDGER_OPTION
@_ACCOUNT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the plan's counts as JSON.")
@click.option(
    "--chart",
    "chart",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the plan as an SVG chart to this file.",
)
@click.pass_context
def calendar_plan(
    ctx: click.Context,
    path: Path,
    at: datetime | None,
    store_url: str | None,
    ledger_url: str | None,
    account: str | None,
    as_json: bool,
    chart: Path | None,
) -> None:
    """Who would get which campaign of FILE, month by month; nothing is written or sent.

    Audiences are the store's followers matching each segment at --at (default now); the
    ledger's pushes and content keys already held are counted.
    """
    from wxsegment.delivery import plan_calendar

    parsed = _calendar(ctx, path)
    now = _aware(at)
    store = _store(ctx, store_url)
    try:
        audiences = _audiences(ctx, store, parsed, now)
    finally:
        store.close()
    ledger = _ledger(ctx, ledger_url, account)
    try:
        plan = plan_calendar(parsed, audiences, ledger)
    finally:
        ledger.close()
    if chart is not None:
        chart.write_text(plan.svg(), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(plan.to_dict(), ensure_ascii=False))
    else:
        click.echo(plan.table())


def _dry_run(
    calendar: Calendar, audiences: dict[str, list[str]], ledger: QuotaLedger, now: datetime
) -> None:
    """Print what `run_due` would do at ``now``, in counts; only reads."""
    from wxsegment._clock import month_key
    from wxsegment.delivery import BatchState, journal_for, plan_calendar

    due = calendar.due(now)
    if not due:
        click.echo(f"nothing due at {now.isoformat()}")
        return
    journal = journal_for(ledger)
    plan = plan_calendar(calendar, audiences, ledger, journal=journal)
    live = {BatchState.FORMED, BatchState.ATTEMPTING, BatchState.ACCEPTED}
    for campaign in due:
        planned = plan.campaigns[campaign.id]
        records = journal.batches(campaign.id)
        pending = sum(1 for _ in ledger.pending(campaign.id))
        if month_key(planned.send_at) != month_key(now):
            click.echo(f"missed {campaign.id}: its month ended before it was sent")
        elif pending or any(r.state in live for r in records):
            click.echo(
                f"due {campaign.id}: resumes its stored audience of {planned.planned:,} "
                f"({pending:,} pending)"
            )
        elif records:
            click.echo(f"done {campaign.id}: already run, nothing to send")
        else:
            click.echo(
                f"due {campaign.id}: would go to {planned.planned:,} of {planned.matched:,} matched"
            )
    click.echo("dry run: nothing sent; add --yes to send")


@calendar.command("run", context_settings=_CONTEXT)
@_CALENDAR_FILE
@click.option("--yes", is_flag=True, help="Really send (default: say what is due and to whom).")
@_AT_OPTION
@_STORE_OPTION
@_LEDGER_OPTION
@_ACCOUNT_OPTION
@click.pass_context
def calendar_run(
    ctx: click.Context,
    path: Path,
    yes: bool,
    at: datetime | None,
    store_url: str | None,
    ledger_url: str | None,
    account: str | None,
) -> None:
    """Send the campaigns of FILE that are due at --at (default now), once; safe to repeat.

    Without --yes it prints each due campaign and how many followers it would go to.
    A campaign is due from its send_at for 12 hours, within its own Shanghai month.
    """
    from wxsegment.delivery import run_due

    parsed = _calendar(ctx, path)
    now = _aware(at)
    client = None
    if yes:
        try:
            client = open_client(_settings(ctx))
        except ConfigError as error:
            raise click.UsageError(str(error), ctx=ctx) from None
    try:
        store = _store(ctx, store_url)
        try:
            audiences = _audiences(ctx, store, parsed, now)
        finally:
            store.close()
        ledger = _ledger(ctx, ledger_url, account)
        try:
            if client is None:
                _dry_run(parsed, audiences, ledger, now)
                return
            reports = run_due(client, ledger, parsed, audiences, now=now)
        finally:
            ledger.close()
    finally:
        if client is not None:
            client.close()
    if not reports:
        click.echo(f"nothing to send at {now.isoformat()}")
    for report in reports:
        click.echo(
            f"{report.campaign}: sent {report.sent:,}, delivered {report.delivered:,}, "
            f"pending {len(report.pending):,}, released {report.released:,}, "
            f"deferred {report.deferred:,}, no slot {report.refused_quota:,}, "
            f"had it {report.refused_duplicate:,}"
        )
    unknown = sum(len(r.pending) for r in reports)
    if unknown:
        _fail(
            f"{unknown} send(s) have an unknown outcome and stay pending; "
            "run again to resume, or see `wxsegment quota pending`"
        )


# -- callback -----------------------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT)
def callback() -> None:
    """The endpoint WeChat pushes events and messages to."""


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, so the announced port is the real one even for 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        _fail(f"cannot listen on {host}:{port}: {error.strerror}")
    return listener


def _mounted(app: Any, path: str) -> Any:
    """``app`` answering at ``path`` only; any other path gets 404."""

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") != path.rstrip("/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return mounted


def _check_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith("/") or "?" in value or "#" in value:
        raise click.BadParameter(f"{value!r} is not a URL path such as /wechat")
    return value


@callback.command("serve", context_settings=_CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8700,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--path",
    default="/wechat",
    show_default=True,
    callback=_check_path,
    help="URL path of the endpoint (the callback URL set in WeChat's console).",
)
@_STORE_OPTION
@click.pass_context
def callback_serve(
    ctx: click.Context, host: str, port: int, path: str, store_url: str | None
) -> None:
    """Serve the callback endpoint under uvicorn until interrupted.

    Needs `token` and `appid` (and `aes_key` for encrypted pushes). With a store, follows,
    unfollows and interactions are written to it as they arrive.
    """
    try:
        import uvicorn
    except ImportError:
        _fail("`wxsegment callback serve` needs uvicorn: pip install 'wxsegment[server]'")
    from wxsegment.api.callback import CallbackHandler, asgi_app

    settings = _settings(ctx)
    try:
        token = settings.require("token")
        appid = settings.require("appid")
    except ConfigError as error:
        raise click.UsageError(str(error), ctx=ctx) from None
    aes_key = settings.aes_key.reveal() if settings.aes_key is not None else None
    try:
        handler = CallbackHandler(token=token, appid=appid, encoding_aes_key=aes_key)
    except ValueError as error:
        # The handler's messages never contain the token or the key.
        raise click.UsageError(f"unusable callback settings: {error}", ctx=ctx) from None
    store = None
    listener = None
    try:
        store = _store(ctx, store_url) if (store_url or settings.store) else None
        listener = _listen(host, port)
        if store is not None:
            from wxsegment.events import EventHandlers, StoreUpdates
            from wxsegment.quota import ServiceWindow

            EventHandlers(updates=StoreUpdates(store), window=ServiceWindow()).install(handler)
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        config = uvicorn.Config(_mounted(asgi_app(handler), path), log_level="warning")
        click.echo(f"callback endpoint for {appid} on http://{shown}:{bound}{path}")
        click.echo(
            "events go to the follower store" if store is not None else "no store: events dropped",
            err=True,
        )
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        if listener is not None:
            listener.close()
        handler.close()
        if store is not None:
            store.close()


# -- fake ---------------------------------------------------------------------------------------


@cli.group(context_settings=_CONTEXT)
def fake() -> None:
    """The built-in fake WeChat, for other programs' tests."""


@fake.command("serve", context_settings=_CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8600,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--followers",
    type=click.IntRange(0, 1_000_000),
    default=100,
    show_default=True,
    help="Followers to seed, openids o0000000, o0000001, ...",
)
@click.option("--appid", default="wxfake0000000001", show_default=True)
@click.option(
    "--secret",
    envvar="WXSEGMENT_FAKE_SECRET",
    default="fake-secret",
    help="The appsecret clients must present (env WXSEGMENT_FAKE_SECRET).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the fake's randomness."
)
def fake_serve(host: str, port: int, followers: int, appid: str, secret: str, seed: int) -> None:
    """Serve FakeWeChat over HTTP until interrupted (point a client's base URL at it)."""
    try:
        import uvicorn
    except ImportError:
        _fail("`wxsegment fake serve` needs uvicorn: pip install 'wxsegment[server]'")
    from wxsegment.testing import FakeConfig, FakeWeChat

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving the fake on {host}, not loopback", err=True)
    server_fake = FakeWeChat(appid=appid, secret=secret, config=FakeConfig(seed=seed))
    server_fake.add_followers([f"o{index:07d}" for index in range(followers)])
    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    config = uvicorn.Config(server_fake.asgi, log_level="warning")
    click.echo(f"FakeWeChat for {appid} with {followers} followers on http://{host}:{bound}")
    click.echo("stop with Ctrl-C", err=True)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="wxsegment",
            standalone_mode=True,
        )
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    return 0
