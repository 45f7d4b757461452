"""The ``podium`` command line. Errors are one line with a documented exit code.

Exit codes: 0 completed · 1 run failed · 2 bad usage or definition · 3 run not found ·
4 run suspended or needs attention · 5 run cancelled · 6 store error (corrupt journal, lock) ·
7 non-deterministic replay · 8 permission denied (a decision the principal may not take) ·
9 run leased by another live execution (``podium resume`` of a run a worker or ``podium run``
executes).
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from podium.cli.audit_cmds import register_audit_commands
from podium.cli.common import (
    BAD_INPUT,
    DEFAULT_DB,
    EXIT,
    AsOption,
    DbOption,
    NamespaceBudgetOption,
    NamespaceOption,
    Options,
    as_bad_input,
    err,
    fail,
    guarded,
    namespace_budget,
    out,
    parse_input,
    quiet_libraries,
    run_with_store,
    runtime_in,
    server_client,
    who,
)
from podium.cli.env_cmds import register_env_commands
from podium.cli.foreground import LeaseOption, StartedLine, execute, handed_back
from podium.cli.governance_cmds import register_governance_commands
from podium.cli.inspect_cmds import SinceOption, UntilOption, parse_when, register_inspect_commands
from podium.cli.json_out import JsonOption, emit, record_json, result_json, show_json
from podium.cli.mcp_cmds import register_mcp_commands
from podium.cli.render import (
    print_json,
    progress_line,
    run_failure,
    run_tree,
    runs_table,
    short_name,
    unknown_steps,
    waiting_reasons,
)
from podium.cli.server_cmds import register_server_commands
from podium.cli.spec_cmds import refuse_unready, register_spec_commands
from podium.cli.telemetry import exporting, register_telemetry_commands
from podium.cli.worker_cmds import register_worker_commands
from podium.events import RunStarted
from podium.runtime import RunResult, Workflow, load_target
from podium.runtime.engine import KEEP
from podium.runtime.forking import effects_after
from podium.store import RunFilter, Store, StoredEvent
from podium.types import Resolution, RunStatus

app = typer.Typer(
    name="podium",
    help="Podium: durable runs of agent workflows, with every decision in a journal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"podium {package_version('podium')}")
        raise typer.Exit()


@app.callback()
def main_options(
    db: DbOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version"),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Act through a `podium serve` URL (env PODIUM_SERVER; key in PODIUM_API_KEY)",
        ),
    ] = None,
) -> None:
    Options.db = db or os.environ.get("PODIUM_DB") or DEFAULT_DB
    Options.debug = debug
    if not debug:
        quiet_libraries()
    Options.server = server or os.environ.get("PODIUM_SERVER") or None


def _live(stored: StoredEvent) -> None:
    line = progress_line(stored)
    if line:
        err.print(line, highlight=False)


def _finish(result: RunResult, as_json: bool = False) -> None:
    code = EXIT.get(result.status, 1)
    usage = result.usage
    err.print(
        f"run [bold]{result.run_id}[/] {result.status.value} · {result.model_calls} model calls "
        f"({usage.input_tokens}+{usage.output_tokens} tokens) · {result.tool_calls} tool calls",
        highlight=False,
    )
    if as_json:
        emit(result_json(result))
    if result.status is RunStatus.COMPLETED:
        if as_json:
            pass
        elif isinstance(result.output, str):
            out.print(result.output, highlight=False, markup=False)
        else:
            print_json(out, result.output)
    elif result.error:
        err.print(f"[red]error:[/] {escape(str(result.error))}", highlight=False)
        if Options.debug:  # where it was raised, as the journal kept it
            events = run_with_store(lambda store: store.read(result.run_id), read_only=True)
            failure = run_failure(events)
            for line in failure.traceback() if failure else ():
                err.print(line, markup=False, highlight=False)
    elif result.waiting_for:
        err.print(
            f"waiting for: {escape(result.waiting_for)}  (see `podium show {result.run_id}`)",
            highlight=False,
        )
    raise typer.Exit(code)


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="module:object or path/to/file.py[:object]")],
    input: Annotated[str | None, typer.Option("--input", "-i", help="JSON, text, or @file")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag the run")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Only start it (pending) for `podium worker`")
    ] = False,
    namespace: NamespaceOption = "default",
    ns_budget: NamespaceBudgetOption = None,
    lease: LeaseOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Start a run of TARGET and follow it until it finishes or suspends (with --detach, print
    its id and leave it to a worker). The run is leased by this process while it executes it:
    no worker takes it unless this process dies or stalls past the lease."""
    limit = namespace_budget(ns_budget)

    value = parse_input(input)
    workflow = guarded(lambda: load_target(target))
    refuse_unready(target)
    if input is None and not isinstance(workflow, Workflow):
        fail(
            f"--input is missing: the agents of {target} read the run's input; pass -i JSON, "
            "text or @file (-i null to start it with none)",
            BAD_INPUT,
        )
    started = StartedLine()

    async def go(store: Store) -> RunResult | str:
        ref = _ref(target)
        if detach:
            runtime = runtime_in(store, namespace, namespace_budget=limit)
            return await as_bad_input(runtime.start(workflow, value, tags=tag or (), ref=ref))
        live = () if quiet else (_live,)
        runtime = runtime_in(
            store, namespace, listeners=(started, *live, *traced), namespace_budget=limit,
            lease_seconds=lease,
        )  # fmt: skip

        async def first() -> RunResult:
            return await as_bad_input(runtime.run(workflow, value, tags=tag or (), ref=ref))

        return await execute(store, runtime, lambda: started.run_id, first, live)

    with exporting() as traced:  # OTEL_*: the run's spans and metrics, flushed at the end
        try:
            result = run_with_store(go)
        except KeyboardInterrupt:
            if not started.run_id:
                raise
            handed_back(started.run_id)
            raise typer.Exit(130) from None
    if isinstance(result, str):
        if as_json:
            emit({"run_id": result, "status": RunStatus.PENDING.value})
        else:
            out.print(result, markup=False, highlight=False)
        err.print(f"run {result} pending: a `podium worker` will execute it", highlight=False)
        return
    _finish(result, as_json)


@app.command()
def fork(
    run_id: str,
    at: Annotated[
        str, typer.Option("--at", help="Step key, node path or seq to fork at (`podium logs`)")
    ],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="New input: JSON, text, or @file")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Changed code: module:object or path/to/file.py[:object]"),
    ] = None,
    namespace: NamespaceOption = "default",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Only record it (pending) for `podium worker`")
    ] = False,
) -> None:
    """Time travel: start a new run from RUN_ID's journal before step AT and follow it. The steps
    before AT replay (nothing they did happens again); AT and the rest run anew, with the
    original's input and code or with --input and --target."""

    value = KEEP if input is None else parse_input(input)
    workflow = guarded(lambda: load_target(target)) if target else None

    async def go(store: Store) -> RunResult | str:
        runtime = runtime_in(store, namespace, listeners=() if quiet or detach else (_live,))
        ref = _ref(target) if target else None
        forked = runtime.fork(run_id, at=at, input=value, workflow=workflow, ref=ref)
        fork_id = await as_bad_input(forked)
        again = effects_after(run_id, await runtime.read(run_id), at)
        if again:
            err.print(
                f"note: the original began at_most_once steps after {escape(at)}; the fork "
                f"runs them again if its code calls them: {escape(', '.join(again))}",
                highlight=False,
            )
        if detach:
            return fork_id
        err.print(f"run [bold]{fork_id}[/] forked from {run_id} at {escape(at)}", highlight=False)
        return await runtime.resume(fork_id, workflow)

    result = run_with_store(go)
    if isinstance(result, str):
        out.print(result, markup=False, highlight=False)
        err.print(f"run {result} pending: a `podium worker` will execute it", highlight=False)
        return
    _finish(result)


def _ref(target: str) -> str:
    path, sep, attr = target.partition(":")
    if path.endswith((".py", ".yaml", ".yml")):
        return f"{Path(path).resolve()}{sep}{attr}"
    return target


@app.command()
def resume(
    run_id: str,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    namespace: NamespaceOption = "default",
    ns_budget: NamespaceBudgetOption = None,
    lease: LeaseOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Continue a run from its journal: finished steps replay, the rest runs. A journal whose
    hash chain breaks is refused (exit 6) before anything executes; a run another live process
    (a worker, a `podium run`) executes is refused (exit 9)."""
    limit = namespace_budget(ns_budget)

    async def go(store: Store) -> RunResult:
        live = () if quiet else (_live,)
        runtime = runtime_in(
            store, namespace, listeners=(*live, *traced), namespace_budget=limit,
            lease_seconds=lease,
        )  # fmt: skip
        return await execute(store, runtime, lambda: run_id, lambda: runtime.resume(run_id), live)

    with exporting() as traced:
        try:
            result = run_with_store(go)
        except KeyboardInterrupt:
            handed_back(run_id)
            raise typer.Exit(130) from None
    _finish(result, as_json)


@app.command()
def runs(
    status: Annotated[list[RunStatus] | None, typer.Option("--status", "-s")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w")] = None,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
    since: SinceOption = None,
    until: UntilOption = None,
    namespace: NamespaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """List the runs of the namespace, newest first. `-w` takes the workflow's reference or the
    name the table shows."""
    by_name = workflow is not None and not any(mark in workflow for mark in "/:")
    query = RunFilter(
        statuses=tuple(status or ()), workflow=None if by_name else workflow, tag=tag,
        limit=_NAME_SCAN if by_name else limit,
        created_after=parse_when(since, "--since"), created_before=parse_when(until, "--until"),
    )  # fmt: skip
    records = run_with_store(
        lambda store: runtime_in(store, namespace).list_runs(query), read_only=True
    )
    if by_name:
        records = [r for r in records if workflow in (r.workflow, short_name(r.workflow))][:limit]
    if as_json:
        emit([record_json(record) for record in records])
    elif not records:
        err.print("no runs")
    else:
        out.print(runs_table(records), soft_wrap=False)


_NAME_SCAN = 100_000  # runs looked at to filter by a workflow's short name


@app.command()
def show(run_id: str, namespace: NamespaceOption = "default", as_json: JsonOption = False) -> None:
    """Draw a run as a tree of nodes and steps, with tokens, errors and unknown steps."""

    async def go(store: Store) -> None:
        runtime = runtime_in(store, namespace)
        record = await runtime.get_run(run_id)
        events = await runtime.read(run_id)
        if as_json:
            emit(show_json(record, events, unknown_steps(events), run_failure(events)))
            return
        out.print(run_tree(record, events))
        for line in await _fork_links(store, record.namespace, run_id, events):
            out.print(line, highlight=False, markup=False)
        for approval, reason in waiting_reasons(events):
            out.print(f"waiting for {approval}: {reason}", highlight=False, markup=False)
        unknown = unknown_steps(events)
        if unknown:
            out.print("[bold red]unknown steps[/] (an at_most_once call may or may not have run):")
            for key in unknown:
                line = f"  {key}   -> podium resolve {run_id} '{key}' --action retry|skip|fail"
                out.print(line, highlight=False, markup=False)
        if record.error:
            out.print(f"[red]error:[/] {escape(record.error)}", highlight=False)
            failure = run_failure(events)
            for line in failure.traceback() if failure else ():
                out.print(line, markup=False, highlight=False)

    run_with_store(go, read_only=True)


async def _fork_links(
    store: Store, namespace: str, run_id: str, events: list[StoredEvent]
) -> list[str]:
    """``forked from RUN at STEP`` for a fork, ``fork: RUN at STEP`` for each of its forks."""
    lines = []
    started = events[0].event if events else None
    if isinstance(started, RunStarted) and started.forked_from:
        lines.append(
            f"forked from {started.forked_from} at {started.fork_point} "
            f"({started.carried} events carried)"
        )
    query = RunFilter(tag=f"forked-from:{run_id}", namespace=namespace, limit=50)
    for record in reversed(await store.list_runs(query)):
        first = (await store.read(record.run_id))[0].event
        point = first.fork_point if isinstance(first, RunStarted) else "?"
        lines.append(f"fork: {record.run_id} at {point} ({record.status.value})")
    return lines


@app.command()
def cancel(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason")] = "cancelled from the CLI",
    namespace: NamespaceOption = "default",
    as_name: AsOption = None,
) -> None:
    """Cancel a run (its journal is closed; in-flight results are discarded)."""
    if Options.server:
        run_with_store(lambda _: server_client().cancel(run_id, reason))
    else:
        run_with_store(
            lambda store: runtime_in(store, namespace).cancel(
                run_id, reason=reason, by=who(as_name)
            )
        )
    err.print(f"run {run_id} cancelled", markup=False, highlight=False)


@app.command()
def resolve(
    run_id: str,
    step: Annotated[str, typer.Argument(help="Key of the unknown step (see `podium show`)")],
    action: Annotated[Resolution, typer.Option("--action", "-a")],
    result: Annotated[str | None, typer.Option("--result", help="JSON result for skip")] = None,
    comment: Annotated[str, typer.Option("--comment")] = "",
    namespace: NamespaceOption = "default",
    as_name: AsOption = None,
) -> None:
    """Decide an unknown at_most_once step: retry it, skip it (with a result), or fail it."""

    value = parse_input(result, "--result")

    async def go(store: Store) -> None:
        await runtime_in(store, namespace).resolve(
            run_id, step, action, result=value, by=who(as_name), comment=comment
        )

    run_with_store(go)
    err.print(
        f"step {step} resolved: {action.value}; run it with `podium resume {run_id}`",
        markup=False,
        highlight=False,
    )


@app.command()
def signal(
    run_id: str,
    name: str,
    payload: Annotated[str | None, typer.Option("--payload", help="JSON or text")] = None,
    namespace: NamespaceOption = "default",
    as_name: AsOption = None,
) -> None:
    """Send a named signal to a run that waits for it."""
    value = parse_input(payload, "--payload")
    if Options.server:
        run_with_store(lambda _: server_client().signal(run_id, name, value))
    else:
        run_with_store(
            lambda store: runtime_in(store, namespace).signal(run_id, name, value, by=who(as_name))
        )
    err.print(f"signal {name!r} delivered to {run_id}", markup=False, highlight=False)


register_spec_commands(app)
register_governance_commands(app)
register_audit_commands(app)
register_inspect_commands(app)
register_worker_commands(app)
register_mcp_commands(app)
register_telemetry_commands(app)
register_server_commands(app)
register_env_commands(app)


def main() -> None:
    try:
        app(prog_name="podium")  # also as `python -m podium`: usage and completion
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
