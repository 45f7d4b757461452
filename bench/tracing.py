"""Tracing overhead (issue 5): the agent chain of ``step_overhead.py`` with tracing on vs off.

The workload is ``agent_step`` from :mod:`step_overhead`: a workflow running 10 agents in
sequence, each answering a short text at once (a ``ScriptedModel``). Figure: wall time of N
runs / (N x 10), in µs per agent step. Every agent step journals a ``node_started``, a
``model_call_completed`` and a ``node_finished`` event, so with tracing on it makes two spans
(``invoke_agent``, ``chat``), plus one ``invoke_workflow`` per run.

Cases, each on a ``MemoryStore`` and a ``SQLiteStore`` (default durability):

- ``off``: no listener;
- ``batch``: :class:`~podium.observability.tracing.JournalTracer` on an SDK
  ``TracerProvider`` with Podium's id generator and a ``BatchSpanProcessor`` feeding an
  exporter that drops the spans (what ``configure_from_env`` installs, minus the network);
- ``simple``: the same with a ``SimpleSpanProcessor`` (the export runs inline, in the
  listener);
- ``batch+metrics``: ``batch`` plus :class:`~podium.observability.metrics.JournalMetrics` on
  an SDK ``MeterProvider`` with an in-memory reader;
- ``unconfigured``: ``JournalTracer()`` with no SDK configured (the global provider is the
  API's proxy): what a listener left attached costs when nothing would record its spans.

Every case gets its own store and runtime and a warm-up; the timed trials are interleaved
round-robin over the cases so load drift hits them alike. Figures: median and min/max over the
trials, and the ratio of each case's median to ``off`` on the same store (target: ≤ 1.20).

    .venv/bin/python bench/tracing.py            # ~1 min
    .venv/bin/python bench/tracing.py --quick    # smoke, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from harness import RESULTS_DIR, Summary, environment
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from step_overhead import ANSWER, CHAIN_INPUT, CHAIN_LENGTH, make_chain

from podium import MemoryStore, Runtime, SQLiteStore
from podium.observability.metrics import JournalMetrics
from podium.observability.tracing import JournalTracer, id_generator
from podium.store import StoredEvent
from podium.types import RunStatus

TARGET_RATIO = 1.20
MODES = ("off", "batch", "simple", "batch+metrics", "unconfigured")
STORES = ("memory", "sqlite")


class DropExporter(SpanExporter):
    """Counts spans and drops them (no network, no memory growth)."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


@dataclass(slots=True)
class Case:
    store_kind: str
    mode: str
    runtime: Runtime
    close: Callable[[], None] = lambda: None
    exporter: DropExporter | None = None
    samples: list[float] = field(default_factory=list)


def listeners_for(mode: str) -> tuple[list[Callable[[StoredEvent], None]], Any]:
    """The listeners of a mode, the exporter (to count spans) and a shutdown function."""
    if mode == "off":
        return [], (None, lambda: None)
    if mode == "unconfigured":
        return [JournalTracer()], (None, lambda: None)
    exporter = DropExporter()
    provider = TracerProvider(id_generator=id_generator())
    processor = SimpleSpanProcessor(exporter) if mode == "simple" else BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    listeners: list[Callable[[StoredEvent], None]] = [JournalTracer(provider.get_tracer("bench"))]
    shutdowns = [provider.shutdown]
    if mode == "batch+metrics":
        meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
        listeners.append(JournalMetrics(meters.get_meter("bench")))
        shutdowns.append(meters.shutdown)
    return listeners, (exporter, lambda: [stop() for stop in shutdowns])


def open_case(store_kind: str, mode: str, workdir: Path) -> Case:
    store: MemoryStore | SQLiteStore
    store = MemoryStore() if store_kind == "memory" else SQLiteStore(workdir / f"{mode}.db")
    listeners, (exporter, close) = listeners_for(mode)
    return Case(store_kind, mode, Runtime(store, listeners=listeners), close, exporter)


async def timed(case: Case, runs: int) -> float:
    """µs per agent step over ``runs`` runs of a fresh chain."""
    chain = make_chain()
    gc.collect()
    started = time.perf_counter()
    for _ in range(runs):
        result = await case.runtime.run(chain, CHAIN_INPUT)
        if result.status is not RunStatus.COMPLETED or result.output != ANSWER:
            raise RuntimeError(f"benchmark run did not complete: {result}")
    return (time.perf_counter() - started) / (runs * CHAIN_LENGTH) * 1e6


async def run_all(trials: int, runs: dict[str, int], warmup: int) -> list[Case]:
    with tempfile.TemporaryDirectory(prefix="podium-bench-tracing-") as tmp:
        cases = [open_case(s, m, Path(tmp)) for s in STORES for m in MODES]
        try:
            for case in cases:
                await timed(case, warmup)
            for trial in range(trials):
                for case in cases:
                    case.samples.append(await timed(case, runs[case.store_kind]))
                figures = " ".join(f"{c.samples[-1]:.0f}" for c in cases)
                print(f"  trial {trial + 1}/{trials}: {figures}", flush=True)
        finally:
            for case in cases:
                case.close()
                await case.runtime.store.close()
    return cases


def report(cases: list[Case]) -> tuple[str, list[dict[str, Any]]]:
    baseline = {c.store_kind: Summary.of(c.samples).median for c in cases if c.mode == "off"}
    rows = [
        "| store | tracing | µs/step median | min | max | extra µs/step | ratio to off |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    data = []
    for case in cases:
        summary = Summary.of(case.samples)
        base = baseline[case.store_kind]
        ratio = summary.median / base
        verdict = "" if case.mode == "off" else (" ✅" if ratio <= TARGET_RATIO else " ❌")
        rows.append(
            f"| {case.store_kind} | {case.mode} | {summary.median:,.1f} | {summary.min:,.1f} "
            f"| {summary.max:,.1f} | {summary.median - base:+,.1f} | {ratio:.2f}{verdict} |"
        )
        data.append(
            {
                "store": case.store_kind,
                "mode": case.mode,
                "us_per_step": summary.as_dict(),
                "ratio_to_off": round(ratio, 3),
                "spans_exported": case.exporter.spans if case.exporter else None,
            }
        )
    return "\n".join(rows), data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--trials", type=int, help="timed trials per case")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results")
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 9)
    runs = {"memory": 10, "sqlite": 3} if args.quick else {"memory": 100, "sqlite": 25}
    warmup = 2 if args.quick else 20
    cases = anyio.run(run_all, trials, runs, warmup)
    table, data = report(cases)
    print()
    print(table)
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = RESULTS_DIR / f"{stamp}-tracing-{'quick' if args.quick else 'full'}.json"
        payload = {"environment": environment(), "runs_per_trial": runs, "cases": data}
        path.write_text(json.dumps(payload, indent=2))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
