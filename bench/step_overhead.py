"""Orchestration overhead per step, with a model that answers in 0 ms.

Two benchmarks, each on a :class:`MemoryStore`, a :class:`SQLiteStore` with the default
durability (WAL, ``synchronous=NORMAL``: survives ``kill -9``) and one with
``durability="full"`` (an fsync per commit):

- ``agent_step``: a workflow runs a chain of 10 agents one after the other
  (``await ctx.run(agent_i, previous_output)``); each agent has a :class:`ScriptedModel` that
  answers a short text at once. Figure: wall time of N runs / (N x 10), in µs per agent step.
  It includes the per-run costs (start, journal read, execution claim, completion) spread
  over the 10 steps.
- ``agent_step_structured`` (memory only, an extra): the same chain with
  ``output_type=Reply`` (a pydantic model); the scripted answer is the JSON of a ``Reply``.
  It shows what structured output adds per agent step (schema and validator building).
- ``durable_step``: a workflow makes 1,000 ``await ctx.step("s", fn, i)`` calls. Figure: wall
  time of the run / 1,000, in µs per durable function step.

Besides time: commits per step (``store.commits``), journal events and bytes per step (the
encoded ``body`` of the run's events; for SQLite ``length(body)`` from the ``events`` table),
the growth of the SQLite file per run (measured after a WAL checkpoint), and the WAL bytes
written per step (frames x (page size + 24) over a small untimed batch).

Every case gets its own store and a warm-up; then the timed trials are interleaved
round-robin over the cases (trial 1 of every case, then trial 2, ...), so slow drift in the
machine's load hits all cases alike. Figures are the median and min/max over the trials.

Run alone with ``python bench/step_overhead.py [--quick]``; ``bench/run.py`` runs it too.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import anyio
from harness import Summary, checkpoint, file_size, journal_bytes, page_size, wal_frames
from pydantic import BaseModel

from podium import Agent, Context, MemoryStore, Runtime, SQLiteStore, Workflow
from podium.events import encode
from podium.testing.models import ScriptedModel
from podium.types import RunStatus

StoreKind = Literal["memory", "sqlite", "sqlite-full"]
BenchName = Literal["agent_step", "agent_step_structured", "durable_step"]
STORE_KINDS: tuple[StoreKind, ...] = ("memory", "sqlite", "sqlite-full")

CHAIN_LENGTH = 10
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."

# µs per step from the foundation issue; keyed by (benchmark, store).
TARGETS: dict[tuple[BenchName, StoreKind], float] = {
    ("agent_step", "memory"): 40.0,
    ("durable_step", "sqlite"): 400.0,
}
# LangGraph on this machine, measured for the issue (not installed here): µs per step.
REFERENCES = {"langgraph_step_us": 760.0, "langgraph_sqlite_checkpointer_step_us": 2400.0}


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to run. ``runs``: agent-chain runs per trial; one durable run per trial."""

    name: str
    trials: int
    agent_runs: dict[StoreKind, int]
    agent_warmup_runs: int
    durable_steps: int
    durable_warmup_steps: int
    wal_agent_runs: int  # small untimed batches: the WAL must stay under its
    wal_durable_steps: int  # autocheckpoint size (1,000 pages) to count every frame


FULL = Plan(
    name="full",
    trials=7,
    agent_runs={"memory": 200, "sqlite": 40, "sqlite-full": 30},
    agent_warmup_runs=20,
    durable_steps=1000,
    durable_warmup_steps=1000,
    wal_agent_runs=3,
    wal_durable_steps=100,
)
QUICK = Plan(
    name="quick",
    trials=2,
    agent_runs={"memory": 10, "sqlite": 3, "sqlite-full": 3},
    agent_warmup_runs=2,
    durable_steps=100,
    durable_warmup_steps=50,
    wal_agent_runs=1,
    wal_durable_steps=20,
)


@dataclass(slots=True)
class CaseResult:
    bench: BenchName
    store: StoreKind
    trials: int
    steps_per_trial: int
    us_per_step: Summary
    commits_per_step: float
    events_per_step: float
    journal_bytes_per_step: float
    file_growth_bytes_per_run: float | None = None
    wal_bytes_per_step: float | None = None
    wal_pages_per_commit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> float | None:
        return TARGETS.get((self.bench, self.store))

    def as_dict(self) -> dict[str, Any]:
        target = self.target
        return {
            "bench": self.bench,
            "store": self.store,
            "trials": self.trials,
            "steps_per_trial": self.steps_per_trial,
            "us_per_step": self.us_per_step.as_dict(),
            "commits_per_step": round(self.commits_per_step, 4),
            "events_per_step": round(self.events_per_step, 4),
            "journal_bytes_per_step": round(self.journal_bytes_per_step, 1),
            "file_growth_bytes_per_run": _round(self.file_growth_bytes_per_run),
            "wal_bytes_per_step": _round(self.wal_bytes_per_step),
            "wal_pages_per_commit": _round(self.wal_pages_per_commit, 2),
            "target_us_per_step": target,
            "meets_target": None if target is None else self.us_per_step.median <= target,
            **self.extra,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# -- the workloads ----------------------------------------------------------------------------


class Reply(BaseModel):
    """The structured output of the ``agent_step_structured`` chain."""

    text: str
    confidence: float = 1.0


REPLY = Reply(text=ANSWER)
REPLY_JSON = REPLY.model_dump_json()


def make_chain(length: int = CHAIN_LENGTH, *, structured: bool = False) -> Workflow:
    """A workflow running ``length`` agents in sequence, each fed the previous one's output.

    Every agent has its own ``ScriptedModel(by_turn=True)``: the answer is picked by the number
    of assistant messages in the request (always 0 here), so the script never runs out.
    """
    answer = REPLY_JSON if structured else ANSWER
    agents = [
        Agent(
            name=f"agent{i}",
            model=ScriptedModel([answer], by_turn=True, name=f"scripted:agent{i}"),
            output_type=Reply if structured else None,
        )
        for i in range(length)
    ]

    async def chain(ctx: Context, message: Any) -> Any:
        for agent in agents:
            message = await ctx.run(agent, message)
        return message

    return Workflow(chain, "chain")


def _value(i: int) -> int:
    return i


async def _durable_steps(ctx: Context, n: int) -> int:
    for i in range(n):
        await ctx.step("s", _value, i)
    return n


DURABLE_STEPS = Workflow(_durable_steps, "durable_steps")


# -- measuring --------------------------------------------------------------------------------

BenchStore = MemoryStore | SQLiteStore


def open_store(kind: StoreKind, workdir: Path, label: str) -> tuple[BenchStore, Path | None]:
    if kind == "memory":
        return MemoryStore(), None
    path = workdir / f"{label}-{kind}.db"
    durability: Literal["normal", "full"] = "full" if kind == "sqlite-full" else "normal"
    return SQLiteStore(path, durability=durability), path


async def _timed_runs(
    runtime: Runtime, workflow: Workflow, input: Any, runs: int, expected: Any
) -> tuple[float, list[str]]:
    """Wall time of ``runs`` sequential runs, and their ids. Every run must complete."""
    ids: list[str] = []
    gc.collect()
    started = time.perf_counter()
    for _ in range(runs):
        result = await runtime.run(workflow, input)
        if result.status is not RunStatus.COMPLETED or result.output != expected:
            raise RuntimeError(f"benchmark run did not complete as expected: {result}")
        ids.append(result.run_id)
    return time.perf_counter() - started, ids


async def _journal_size(store: BenchStore, path: Path | None, ids: list[str]) -> tuple[int, int]:
    """(events, encoded bytes) of the runs' journals."""
    if path is not None:
        return journal_bytes(path, ids)
    events = size = 0
    for run_id in ids:
        for stored in await store.read(run_id):
            events += 1
            size += len(encode(stored.event).encode())
    return events, size


@dataclass(frozen=True, slots=True)
class _Workload:
    bench: BenchName
    make: Callable[[], Workflow]  # a fresh workflow per trial (fresh models: small logs)
    input: Any
    expected: Any
    steps_per_run: int


class _Case:
    """One (benchmark, store) pair: set up and warmed once, then timed one trial at a time
    (``run_all`` interleaves the cases' trials), then inspected."""

    def __init__(
        self,
        kind: StoreKind,
        workdir: Path,
        workload: _Workload,
        *,
        runs_per_trial: int,
        warmup: tuple[_Workload, int],
        wal_probe: tuple[_Workload, int],
    ) -> None:
        self.kind = kind
        self.workload = workload
        self.runs_per_trial = runs_per_trial
        self.warmup = warmup
        self.wal_probe = wal_probe
        self.store, self.path = open_store(kind, workdir, workload.bench)
        self.runtime = Runtime(self.store)
        self.samples: list[float] = []
        self.ids: list[str] = []
        self._size_before = 0
        self._commits_before = 0

    async def _runs(self, workload: _Workload, runs: int) -> tuple[float, list[str]]:
        return await _timed_runs(
            self.runtime, workload.make(), workload.input, runs, workload.expected
        )

    async def setup(self) -> None:
        await self._runs(*self.warmup)
        if self.path is not None:
            checkpoint(self.path)
            self._size_before = file_size(self.path)
        self._commits_before = self.store.commits

    async def trial(self) -> float:
        elapsed, ids = await self._runs(self.workload, self.runs_per_trial)
        sample = elapsed / (self.runs_per_trial * self.workload.steps_per_run) * 1e6
        self.samples.append(sample)
        self.ids.extend(ids)
        return sample

    async def finish(self) -> CaseResult:
        try:
            return await self._inspect()
        finally:
            await self.store.close()

    async def _inspect(self) -> CaseResult:
        steps = len(self.ids) * self.workload.steps_per_run
        commits = self.store.commits - self._commits_before
        events, size = await _journal_size(self.store, self.path, self.ids)
        result = CaseResult(
            bench=self.workload.bench,
            store=self.kind,
            trials=len(self.samples),
            steps_per_trial=self.runs_per_trial * self.workload.steps_per_run,
            us_per_step=Summary.of(self.samples),
            commits_per_step=commits / steps,
            events_per_step=events / steps,
            journal_bytes_per_step=size / steps,
            extra={
                "runs_per_trial": self.runs_per_trial,
                "steps_per_run": self.workload.steps_per_run,
            },
        )
        if self.path is not None:
            checkpoint(self.path)
            growth = file_size(self.path) - self._size_before
            result.file_growth_bytes_per_run = growth / len(self.ids)
            probe, probe_runs = self.wal_probe
            checkpoint(self.path)
            commits_before = self.store.commits
            await self._runs(probe, probe_runs)
            frames = wal_frames(self.path)
            frame_bytes = page_size(self.path) + 24
            result.wal_bytes_per_step = frames * frame_bytes / (probe_runs * probe.steps_per_run)
            result.wal_pages_per_commit = frames / (self.store.commits - commits_before)
        return result


def agent_case(kind: StoreKind, plan: Plan, workdir: Path, *, structured: bool = False) -> _Case:
    def chain() -> Workflow:
        return make_chain(structured=structured)

    bench: BenchName = "agent_step_structured" if structured else "agent_step"
    expected = REPLY.model_dump(mode="json") if structured else ANSWER
    workload = _Workload(bench, chain, CHAIN_INPUT, expected, CHAIN_LENGTH)
    return _Case(
        kind,
        workdir,
        workload,
        runs_per_trial=plan.agent_runs[kind],
        warmup=(workload, plan.agent_warmup_runs),
        wal_probe=(workload, plan.wal_agent_runs),
    )


def durable_case(kind: StoreKind, plan: Plan, workdir: Path) -> _Case:
    def workload(n: int) -> _Workload:
        return _Workload("durable_step", lambda: DURABLE_STEPS, n, n, n)

    return _Case(
        kind,
        workdir,
        workload(plan.durable_steps),
        runs_per_trial=1,
        warmup=(workload(plan.durable_warmup_steps), 1),
        wal_probe=(workload(plan.wal_durable_steps), 1),
    )


async def run_all(
    plan: Plan,
    kinds: tuple[StoreKind, ...] = STORE_KINDS,
    *,
    structured: bool = True,
    log: bool = True,
) -> list[CaseResult]:
    """Every case, trials interleaved round-robin so load drift hits all cases alike."""
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp:
        workdir = Path(tmp)
        cases = [agent_case(kind, plan, workdir) for kind in kinds]
        if structured and "memory" in kinds:
            cases.append(agent_case("memory", plan, workdir, structured=True))
        cases += [durable_case(kind, plan, workdir) for kind in kinds]
        try:
            for case in cases:
                await case.setup()
            for trial in range(plan.trials):
                started = time.perf_counter()
                samples = [await case.trial() for case in cases]
                if log:
                    took = time.perf_counter() - started
                    figures = " ".join(f"{s:.0f}" for s in samples)
                    print(f"  trial {trial + 1}/{plan.trials} ({took:.1f}s): {figures}", flush=True)
            return [await case.finish() for case in cases]
        finally:
            for case in cases:
                await case.store.close()


# -- reporting --------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown_table(results: list[CaseResult]) -> str:
    head = (
        "| benchmark | store | µs/step median | min | max | trials × steps | commits/step "
        "| events/step | journal B/step | file growth B/run | WAL B/step | WAL pages/commit "
        "| target |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n"
    )
    rows = []
    for r in results:
        target = r.target
        verdict = (
            ""
            if target is None
            else f"≤ {target:g} " + ("✅" if r.us_per_step.median <= target else "❌")
        )
        rows.append(
            f"| {r.bench} | {r.store} | {r.us_per_step.median:,.1f} | {r.us_per_step.min:,.1f} "
            f"| {r.us_per_step.max:,.1f} | {r.trials} × {r.steps_per_trial} "
            f"| {r.commits_per_step:.3f} | {r.events_per_step:.2f} "
            f"| {_fmt(r.journal_bytes_per_step)} | {_fmt(r.file_growth_bytes_per_run)} "
            f"| {_fmt(r.wal_bytes_per_step)} | {_fmt(r.wal_pages_per_commit, 2)} | {verdict} |"
        )
    return head + "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (a few seconds)")
    parser.add_argument("--trials", type=int, help="override the number of timed trials")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.trials:
        plan = replace(plan, trials=args.trials)
    results = anyio.run(run_all, plan)
    print()
    print(markdown_table(results))


if __name__ == "__main__":
    main()
