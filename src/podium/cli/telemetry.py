"""OpenTelemetry from the command line: ``podium run``, ``resume`` and ``worker`` export the
traces and metrics of what they execute when the standard ``OTEL_*`` variables ask for it (see
:func:`podium.observability.otel.configure_from_env`), and ``podium trace RUN_ID`` exports a
run's trace from its journal after the fact. Nothing is installed, and nothing leaves the
process, without an endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from podium.cli.common import BAD_INPUT, NamespaceOption, err, fail, run_with_store, runtime_in
from podium.observability.metrics import JournalMetrics
from podium.observability.otel import configure_from_env
from podium.observability.tracing import JournalTracer, trace_run
from podium.runtime.journal import Listener
from podium.store import Store


@contextmanager
def exporting() -> Iterator[tuple[Listener, ...]]:
    """The listeners that trace and measure the runs a command executes (none without an OTLP
    endpoint); on the way out, what they recorded is flushed to the receiver."""
    telemetry = configure_from_env()
    if telemetry is None:
        yield ()
        return
    try:
        yield (JournalTracer(), JournalMetrics())
    finally:
        telemetry.shutdown()


def trace(
    run_id: str,
    namespace: NamespaceOption = "default",
    capture_content: Annotated[
        bool,
        typer.Option("--capture-content", help="Add inputs, outputs and tool arguments (redacted)"),
    ] = False,
) -> None:
    """Export a run's trace from its journal to the OTLP endpoint of OTEL_* (after the fact).

    Example: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 podium trace run_5f50..."""
    telemetry = configure_from_env()
    if telemetry is None:
        fail(
            "no trace exporter: set OTEL_EXPORTER_OTLP_ENDPOINT (or "
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and install the otel extra "
            "(pip install -e '.[otel]' in a clone)",
            BAD_INPUT,
        )

    async def go(store: Store) -> None:
        await runtime_in(store, namespace).get_run(run_id)  # another namespace's: not found
        await trace_run(store, run_id, capture_content=capture_content)

    try:
        run_with_store(go, read_only=True)
    finally:
        telemetry.shutdown()
    err.print(f"trace of run {run_id} exported", markup=False, highlight=False)


def register_telemetry_commands(app: typer.Typer) -> None:
    app.command()(trace)


__all__ = ["exporting", "register_telemetry_commands", "trace"]
