"""``podium worker``: claim runnable runs from the store and execute them, until SIGTERM.

Start as many workers as you like against one store; ``podium run TARGET --detach`` queues a
run for them. SIGTERM or Ctrl-C stops claiming and hands the runs in flight back at once; a
second one abandons the drain. See docs/workers.md.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from podium.cli.common import (
    NamespaceBudgetOption,
    Options,
    err,
    namespace_budget,
    namespace_filter,
    run_with_store,
)
from podium.cli.telemetry import exporting
from podium.errors import UserError
from podium.models.limits import parse_rate_limit
from podium.runtime.tenancy import EVERY
from podium.store import Store
from podium.worker import Worker, WorkerStats


def worker(
    db: Annotated[
        str | None, typer.Option("--db", help="The store (default: the global --db)")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Runs executed at once")
    ] = 4,
    lease: Annotated[
        float, typer.Option("--lease", min=0.1, help="Lease length in seconds (renewed as it runs)")
    ] = 30.0,
    poll: Annotated[
        float, typer.Option("--poll", min=0.01, help="Seconds between looks for runnable runs")
    ] = 1.0,
    max_attempts: Annotated[
        int,
        typer.Option(
            "--max-attempts",
            min=1,
            help="Claims without a clean finish before a run is dead-lettered",
        ),
    ] = 5,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            envvar="PODIUM_NAMESPACE",
            show_envvar=False,
            help="Only runs of this namespace (env PODIUM_NAMESPACE; default: every namespace, "
            "a worker executes runs for no tenant in particular; '*' says so explicitly)",
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Name in leases and journals (default host:pid:…)")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when nothing is runnable or in flight")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings only")] = False,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option(
            "--rate-limit",
            help="KEY=Nrpm[,Mtpm], e.g. openai=500rpm,200000tpm (shared by all workers; repeat)",
        ),
    ] = None,
    ns_budget: NamespaceBudgetOption = None,
) -> None:
    """Claim runnable runs (of --namespace only, if given) and execute them until SIGTERM or
    Ctrl-C."""
    limit = namespace_budget(ns_budget)

    if db is not None:
        Options.db = db
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )

    try:
        limits = dict(parse_rate_limit(text) for text in rate_limit or ())
    except UserError as error:
        err.print(f"error: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None

    async def go(store: Store) -> WorkerStats:
        only = namespace_filter(namespace or EVERY)  # None: every namespace
        runner = Worker(
            store, owner=owner, concurrency=concurrency, lease_seconds=lease,
            poll_interval=poll, max_attempts=max_attempts, namespace=only,
            rate_limits=limits or None, namespace_budget=limit, listeners=traced,
        )  # fmt: skip
        await store.now()  # the store answers (or this is one error line, at once)
        err.print(
            f"worker {runner.owner} · concurrency {concurrency} · lease {lease:g} s",
            markup=False,
            highlight=False,
        )
        await runner.run(handle_signals=True, until_idle=until_idle)
        return runner.stats

    with exporting() as traced:  # OTEL_*: the spans and metrics of every run it executes
        stats = run_with_store(go)
    err.print(
        f"worker stopped · claimed {stats.claimed} · finished {stats.completed} · "
        f"suspended {stats.suspended} · handed over {stats.handed_over} · "
        f"dead-lettered {stats.dead_lettered} · errors {stats.errors}",
        markup=False,
        highlight=False,
    )


def register_worker_commands(app: typer.Typer) -> None:
    app.command()(worker)
