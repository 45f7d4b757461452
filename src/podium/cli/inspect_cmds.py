"""``podium cost`` and ``podium logs``, and the time options of ``podium runs``.

``cost`` sums the journaled model calls (:mod:`podium.observability.cost`) by day, run, agent,
model or namespace. ``logs`` prints a run's events one per line and, with ``--follow``, polls
the store for new ones until the run finishes or suspends. Times are a date (``2026-11-03``, UTC
unless it has an offset) or a duration back from now (``90s``, ``30m``, ``2h``, ``3d``, ``1w``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import anyio
import typer
from rich.markup import escape
from rich.table import Table

from podium.cli.common import (
    EXIT,
    NamespaceOption,
    err,
    namespace_filter,
    out,
    run_with_store,
    runtime_in,
)
from podium.cli.json_out import event_line_json
from podium.cli.render import _short, error_of, progress_line, usd, when
from podium.events import (
    ExecutionStarted,
    NodeFinished,
    NodeStarted,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunSuspended,
    SignalReceived,
    ToolAttemptFailed,
)
from podium.observability.cost import CostReport, cost_report
from podium.prices import PriceTable
from podium.runtime import Runtime
from podium.store import RunRecord, Store, StoredEvent
from podium.types import RunStatus

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_STOPS = {RunStatus.SUSPENDED, RunStatus.NEEDS_ATTENTION}


def parse_when(text: str | None, option: str, *, now: float | None = None) -> float | None:
    """``2026-11-03``, ``2026-11-03T09:30+01:00`` (UTC without an offset) or ``2h`` ago."""
    if text is None:
        return None
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        back = float(relative[1]) * _UNITS[relative[2]]
        return (time.time() if now is None else now) - back
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a date (2026-11-03, 2026-11-03T09:30, 2026-11-03T09:30+01:00) "
            "nor a time back from now (90s, 30m, 2h, 3d, 1w)",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


SinceOption = Annotated[
    str | None, typer.Option("--since", help="From this time: 2026-11-03, 2026-11-03T09:30, 2h, 3d")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Before this time (exclusive): a date or 2h, 3d")
]


class By(StrEnum):
    day = "day"
    run = "run"
    agent = "agent"
    model = "model"
    namespace = "namespace"


def cost(
    by: Annotated[By, typer.Option("--by", "-b", help="One row per day, run, agent...")] = By.day,
    namespace: NamespaceOption = "default",
    since: SinceOption = None,
    until: UntilOption = None,
    prices: Annotated[
        str | None, typer.Option("--prices", help="Reprice with this table (.json/.toml): what-if")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rollup as JSON")] = False,
) -> None:
    """What model calls cost, summed by day, run, agent, model or namespace, with the total."""

    start, end = parse_when(since, "--since"), parse_when(until, "--until")

    async def go(store: Store) -> CostReport:
        table = PriceTable.from_file(prices) if prices else None
        return await cost_report(
            store,
            namespace=namespace_filter(namespace),
            since=start,
            until=end,
            by=(by.value,),
            prices=table,
        )

    report = run_with_store(go, read_only=True)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return
    if not report.total.calls:
        err.print("no model calls", highlight=False)
        return
    out.print(cost_table(report, by))
    if report.total.unpriced:
        count = report.total.unpriced
        err.print(
            f"{count} call{'s' if count > 1 else ''} without a price (a model missing from the "
            "price table): tokens counted, cost not",
            highlight=False,
            markup=False,
        )


def cost_table(report: CostReport, by: By) -> Table:
    table = Table(show_edge=False, header_style="bold")
    table.add_column(by.value, overflow="fold")
    for column in ("calls", "input", "cached", "output", "cost", "unpriced"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = report.rows(by.value)
    for index, row in enumerate((*rows, report.total)):
        cells = (row.calls, row.input_tokens, row.cached_tokens, row.output_tokens)
        key = f"[bold]{row.key}[/]" if index == len(rows) else escape(row.key)
        spent = usd(row.cost_usd) if row.unpriced < row.calls else "-"  # no call had a price
        table.add_row(
            key, *(f"{n:,}" for n in cells), spent, str(row.unpriced or ""),
            end_section=index == len(rows) - 1,
        )  # fmt: skip
    return table


def logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print new events until the run stops")
    ] = False,
    from_seq: Annotated[int, typer.Option("--from-seq", help="Start at this event", min=1)] = 1,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between polls with --follow", min=0.01)
    ] = 0.2,
    namespace: NamespaceOption = "default",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per event (JSON lines), for scripts")
    ] = False,
) -> None:
    """Print a run's events, one line each; with --follow, until it finishes or suspends."""
    show = _json_event if as_json else _text_event

    try:
        record = run_with_store(
            lambda store: _print_events(
                runtime_in(store, namespace), run_id, from_seq - 1, follow, interval, show
            ),
            read_only=True,
        )
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    wakes = record.status is RunStatus.SUSPENDED and record.wake_at is not None
    suffix = f", wakes at {when(record.wake_at or 0)}" if wakes else ""
    err.print(f"run {run_id} {record.status.value}{suffix}", markup=False, highlight=False)
    if follow:
        raise typer.Exit(EXIT.get(record.status, 1))


def _text_event(stored: StoredEvent) -> None:
    out.print(event_line(stored), highlight=False)
    failure = error_of(stored.event)
    for line in failure.traceback() if failure else ():
        out.print(f"     {line}", markup=False, highlight=False, style="dim")


def _json_event(stored: StoredEvent) -> None:
    typer.echo(event_line_json(stored))


async def _print_events(
    runtime: Runtime,
    run_id: str,
    after: int,
    follow: bool,
    interval: float,
    show: Callable[[StoredEvent], None],
) -> RunRecord:

    while True:
        record = await runtime.get_run(run_id)  # before reading: its events are all in the read
        for stored in await runtime.read(run_id, after_seq=after):
            show(stored)
            after = stored.seq
        if not follow or record.status.terminal or record.status in _STOPS:
            return record
        await _pause(interval)


async def _pause(seconds: float) -> None:
    await anyio.sleep(seconds)


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3]


def event_line(stored: StoredEvent) -> str:
    """One line (console markup) for any event: ``podium logs``."""
    event = stored.event
    text = _run_line(stored) or _node_line(stored) or progress_line(stored)
    return f"[dim]{stored.seq:>4} {_clock(stored.ts)}[/] " + (text or f"[dim]{event.type}[/]")


def _run_line(stored: StoredEvent) -> str | None:
    match stored.event:
        case RunStarted(workflow=workflow, namespace=ns, tags=tags):
            tagged = f"  tags {escape(', '.join(tags))}" if tags else ""
            return f"[bold]run started[/] {escape(workflow)}  namespace {escape(ns)}{tagged}"
        case ExecutionStarted(owner=owner, resumed=resumed):
            return f"[dim]execution {'resumed' if resumed else 'started'} by {escape(owner)}[/]"
        case RunSuspended(reason=reason, waiting_for=waiting, wake_at=wake_at):
            detail = f"  waiting for {waiting}" if waiting else ""
            detail += f"  until {when(wake_at)}" if wake_at is not None else ""
            return f"[magenta]suspended[/] {escape(reason)}[dim]{escape(detail)}[/]"
        case RunCompleted(output=output):
            return f"[green]run completed[/]  [dim]{escape(_short(output))}[/]"
        case RunFailed(error=error):
            return f"[red]run failed[/]  {escape(error.describe())}"
        case RunCancelled(reason=reason, by=by):
            return f"[dim]run cancelled by {escape(by or '?')}: {escape(reason)}[/]"
    return None


def _node_line(stored: StoredEvent) -> str | None:
    match stored.event:
        case NodeStarted(path=path, kind=kind):
            return f"[cyan]start[/] {escape(path)} ({escape(kind)})"
        case NodeFinished(path=path, error=None):
            return f"[green]done[/] {escape(path)}"
        case NodeFinished(path=path, error=error) if error is not None:
            return f"[red]failed[/] {escape(path)}  [dim]{escape(error.describe())}[/]"
        case SignalReceived(name=name, payload=payload, by=by):
            shown = escape(_short(payload))
            return f"[yellow]signal[/] {escape(name)} by {escape(by or '?')}  [dim]{shown}[/]"
        case ToolAttemptFailed(key=key, attempt=n, error=error):
            return f"[yellow]attempt failed[/] {escape(key)}  [dim]#{n} {escape(error.message)}[/]"
    return None


def register_inspect_commands(app: typer.Typer) -> None:
    """Add ``cost`` and ``logs`` to the ``podium`` command."""
    app.command()(cost)
    app.command()(logs)


__all__ = ["event_line", "parse_when", "register_inspect_commands"]
