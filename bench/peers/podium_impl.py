"""Podium's side of the peer benchmarks (issue 7): workloads W1-W7 on Podium's public API.

Runs in Podium's own virtual environment (``/work/main/.venv``), not in the peers' one:

    .venv/bin/python bench/peers/podium_impl.py --workload W1 [--smoke] [--workdir DIR]

The custom model is a :class:`podium.Model` subclass (Podium's extension point for a model):
it answers by the agent's turn, sleeps ``latency`` with ``asyncio.sleep`` when asked to, and
keeps nothing (``podium.testing.ScriptedModel`` would keep every request it saw, which would
count against Podium's memory in W4/W6). Every agent step goes through the real agent loop
(``ctx.run(agent, ...)``: the request is built, the model called, the answer journaled).

Store: W1-W4 run on a ``MemoryStore`` (what ``Runtime()`` uses when given no store; it keeps
every journal in memory); W5-W7 on a ``SQLiteStore`` (WAL, ``synchronous=NORMAL``, the default)
in ``--workdir``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402

import podium  # noqa: E402
from podium import (  # noqa: E402
    Agent,
    Context,
    MemoryStore,
    Model,
    ModelRequest,
    ModelResponse,
    Runtime,
    SQLiteStore,
    ToolCall,
    Usage,
    tool,
    workflow,
)
from podium.messages import AssistantMessage  # noqa: E402
from podium.patterns import Approval, Parallel  # noqa: E402
from podium.policy import Principal  # noqa: E402
from podium.types import RunStatus  # noqa: E402

FRAMEWORK = "podium"
VERSION = podium.__version__
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."
SELF = str(Path(__file__).resolve())


class BenchModel(Model):
    """Answers by turn (the number of assistant messages in the request): ``script[turn]``.

    A script item is a string (final text) or a ``(tool_name, arguments_json)`` tuple (one tool
    call). ``latency`` seconds of ``asyncio.sleep`` per call. Stateless, so any process (a
    recovery worker) answers the same on replay.
    """

    def __init__(self, script: list[Any], *, latency: float = 0.0, name: str = "bench") -> None:
        self.script = script
        self.latency = latency
        self._name = f"bench:{name}"
        self._usage = Usage(input_tokens=10, output_tokens=10)

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        turn = sum(isinstance(m, AssistantMessage) for m in request.messages)
        item = self.script[min(turn, len(self.script) - 1)]
        if isinstance(item, str):
            return ModelResponse(text=item, usage=self._usage, model_name=self._name)
        name, arguments = item
        call = ToolCall(id=f"call_{turn}", name=name, arguments=arguments)
        return ModelResponse(
            tool_calls=(call,), usage=self._usage, finish_reason="tool_calls", model_name=self._name
        )


def chain_agents(length: int, latency: float = 0.0, prefix: str = "agent") -> list[Agent]:
    return [
        Agent(name=f"{prefix}{i}", model=BenchModel([ANSWER], latency=latency, name=f"{prefix}{i}"))
        for i in range(length)
    ]


def make_chain(agents: list[Agent], name: str = "chain") -> podium.Workflow:
    """A workflow running ``agents`` in sequence, each fed the previous one's output."""

    async def chain(ctx: Context, message: Any) -> Any:
        for agent in agents:
            message = await ctx.run(agent, message)
        return message

    return podium.Workflow(chain, name)


async def _run_chain(runtime: Runtime, flow: Any) -> None:
    result = await runtime.run(flow, CHAIN_INPUT)
    if result.status is not RunStatus.COMPLETED:
        raise RuntimeError(f"run {result.run_id} is {result.status.value}: {result.error}")


async def _warm_up(runtime: Runtime, flow: Any, runs: int) -> None:
    for _ in range(runs):
        await _run_chain(runtime, flow)


# -- W1 / W5: a chain of 10 agents, 0 ms model -------------------------------------------------


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    runtime = Runtime(MemoryStore())
    flow = make_chain(chain_agents(common.CHAIN))
    await _warm_up(runtime, flow, sizes["w1_warmup"])
    runs, wall = await common.atimed_runs(
        lambda: _run_chain(runtime, flow), **common.box("W1", smoke)
    )
    common.emit(
        FRAMEWORK,
        VERSION,
        "W1",
        {"us_per_step": wall / (runs * common.CHAIN) * 1e6, "runs": runs},
        notes="workflow function calling ctx.run(agent_i, message) 10 times; custom Model "
        "subclass; MemoryStore (Runtime's default): the journal is kept in memory",
    )


def _checkpoint(path: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


async def w5(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    path = os.path.join(workdir, "podium-w5.db")
    store = SQLiteStore(path)
    runtime = Runtime(store)
    flow = make_chain(chain_agents(common.CHAIN))
    await _warm_up(runtime, flow, sizes["w1_warmup"])
    _checkpoint(path)
    before = common.db_bytes(path)
    runs, wall = await common.atimed_runs(
        lambda: _run_chain(runtime, flow), **common.box("W5", smoke)
    )
    _checkpoint(path)
    after = common.db_bytes(path)
    await store.close()
    common.emit(
        FRAMEWORK,
        VERSION,
        "W5",
        {
            "us_per_step": wall / (runs * common.CHAIN) * 1e6,
            "bytes_per_run": (after - before) / runs,
            "runs": runs,
        },
        notes="W1's chain on SQLiteStore (WAL, synchronous=NORMAL: survives kill -9; the "
        "default); every model call journaled before the next step; bytes after "
        "wal_checkpoint(TRUNCATE)",
    )


# -- W2: 100 agents in parallel, 50 ms model ---------------------------------------------------


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    n = sizes["w2_agents"]
    agents = chain_agents(n, latency=common.LATENCY_S, prefix="a")
    flow = Parallel("fan", {a.name: a for a in agents})
    runtime = Runtime(MemoryStore())

    async def once() -> None:
        result = await runtime.run(flow, "go")
        if result.status is not RunStatus.COMPLETED:
            raise RuntimeError(f"parallel run is {result.status.value}: {result.error}")

    await once()  # warm-up
    walls = await common.atimed_reps(once, **common.box("W2", smoke))
    median_ms = common.median(walls) * 1000
    common.emit(
        FRAMEWORK,
        VERSION,
        "W2",
        {
            "wall_ms": median_ms,
            "x_ideal": median_ms / (common.LATENCY_S * 1000),
            "runs": len(walls),
        },
        notes="podium.patterns.Parallel of 100 agents (one run); MemoryStore",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


@tool
async def lookup(n: int) -> str:
    """Look something up.

    Args:
        n: Which item.
    """
    return f"item {n}"


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    script: list[Any] = [("lookup", f'{{"n": {i}}}') for i in range(common.TOOL_CALLS)]
    script.append("Looked up everything.")
    agent = Agent(name="clerk", model=BenchModel(script, name="clerk"), tools=[lookup])
    runtime = Runtime(MemoryStore())

    async def once() -> None:
        result = await runtime.run(agent, "look up five things")
        if result.status is not RunStatus.COMPLETED or result.tool_calls != common.TOOL_CALLS:
            raise RuntimeError(f"run {result.run_id}: {result.status.value} {result.error}")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="one Agent with an async @tool (Effect.READ, the default; a sync tool would "
        "run in a worker thread); the whole run (6 model turns, 5 tool calls) divided by 5; "
        "MemoryStore",
    )


# -- W4: 1,000 concurrent runs of a 3-agent chain, 50 ms model --------------------------------


async def w4(smoke: bool, workdir: str) -> None:
    flow = make_chain(chain_agents(3, latency=common.LATENCY_S))
    runtime = Runtime(MemoryStore())

    async def batch(k: int) -> None:  # the probe, which is also the warm-up
        async with asyncio.TaskGroup() as tg:
            for _ in range(k):
                tg.create_task(runtime.run(flow, CHAIN_INPUT))

    n, fit_note = await common.w4_fit(batch, smoke)
    gc.collect()
    rss_before = common.rss_bytes()
    common.reset_peak_rss()
    results: list[Any] = [None] * n

    async def one(i: int) -> None:
        results[i] = await runtime.run(flow, CHAIN_INPUT)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(one(i))
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    bad = [r for r in results if r.status is not RunStatus.COMPLETED]
    if bad:
        raise RuntimeError(f"{len(bad)} runs did not complete: {bad[0]}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="Runtime.run x N in one asyncio TaskGroup; MemoryStore (the finished runs' "
        "journals stay in memory and count in the peak)" + fit_note,
    )


# -- W6: runs suspended on an approval ---------------------------------------------------------

APPROVER = Principal("fin-lead", frozenset({"finance"}))
W6_BATCH = 1000

# module-level so that any process can resume a run from its recorded reference
refund_approval = Approval("refund", prompt="Refund 12.50 on order A-100?", role="finance")


async def w6(smoke: bool, workdir: str) -> None:
    path = os.path.join(workdir, "podium-w6.db")
    store = SQLiteStore(path)
    runtime = Runtime(store)
    ref = f"{SELF}:refund_approval"

    async def one() -> None:
        result = await runtime.run(refund_approval, {"order": "A-100", "amount": 1250}, ref=ref)
        if result.status is not RunStatus.SUSPENDED:
            raise RuntimeError(f"run {result.run_id} is {result.status.value}: {result.error}")

    meter = common.W6Meter(smoke)
    while size := meter.next_batch(W6_BATCH):
        async with asyncio.TaskGroup() as tg:
            for _ in range(size):
                tg.create_task(one())
        meter.created(size)
    figures = meter.metrics(db_mb=common.db_bytes(path) / 1e6)
    # prove they resume: approve the oldest and resume it (what `podium approve` + resume do)
    (item,) = await runtime.approvals(limit=1)
    await runtime.decide(item.approval_id, "approve", by=APPROVER, digest=item.request.digest)
    resumed = await runtime.resume(item.run_id)
    output: Any = resumed.output
    if resumed.status is not RunStatus.COMPLETED or not output["approved"]:
        raise RuntimeError(f"resumed run is {resumed.status.value}: {resumed.error}")
    await store.close()
    common.emit(
        FRAMEWORK,
        VERSION,
        "W6",
        figures,
        notes="each run is an Approval node (podium.patterns.Approval, role 'finance'): it "
        "journals approval_requested and suspends, holding no task or memory; runs created "
        f"{W6_BATCH} at a time concurrently (Runtime.run) in one process on SQLiteStore; "
        "peak RSS (VmHWM) of that process; then the oldest approved (Runtime.decide) and "
        "resumed to completion" + meter.note(),
    )


# -- W7: kill -9 with runs in flight, then resume them all ----------------------------------

# set in the killed child only: an environment variable, because resuming loads this file
# again (as another module) from the workflow reference recorded in each run
BLOCK_ENV = "PODIUM_BENCH_W7_BLOCK"


async def _w7_hold(message: str) -> str:
    marker = os.environ.get(BLOCK_ENV)
    if marker:
        common.mark(marker, "started")  # step 1 (the first agent's model call) is journaled
        await asyncio.sleep(3600)
    return message


w7_agents = chain_agents(2, latency=common.LATENCY_S, prefix="w7")


@workflow(name="w7")
async def w7_flow(ctx: Context, message: Any) -> Any:
    """Step 1: an agent (50 ms model); step 2: blocks in the crashing process; step 3: an agent."""
    first = await ctx.run(w7_agents[0], message)
    held = await ctx.step("hold", _w7_hold, first)
    return await ctx.run(w7_agents[1], held)


async def w7_child(n: int, path: str, marker: str) -> None:
    """The process that is killed: N runs at once, each blocked in its step 2."""
    os.environ[BLOCK_ENV] = marker
    runtime = Runtime(SQLiteStore(path))
    ref = f"{SELF}:w7_flow"
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(runtime.run(w7_flow, f"job {i}", ref=ref))


async def w7_recover(path: str) -> None:
    """The restart: resume every unfinished run from its journal, all at once."""
    from podium.store import RunFilter

    store = SQLiteStore(path)
    runtime = Runtime(store)
    unfinished = (RunStatus.RUNNING, RunStatus.PENDING)
    records = await store.list_runs(RunFilter(statuses=unfinished, limit=10**9))
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(runtime.resume(r.run_id)) for r in records]
    bad = [t.result() for t in tasks if t.result().status is not RunStatus.COMPLETED]
    await store.close()
    if bad:
        raise RuntimeError(f"{len(bad)} resumed runs did not complete: {bad[0]}")
    print(f"resumed {len(records)} runs", file=sys.stderr)


def _completed(path: str) -> int:
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()
    return int(count)


def w7(smoke: bool, workdir: str) -> None:
    n = common.sizes(smoke)["w7_runs"]
    path = os.path.join(workdir, "podium-w7.db")
    marker = os.path.join(workdir, "podium-w7.started")
    for leftover in (path, path + "-wal", path + "-shm", marker):
        if os.path.exists(leftover):
            os.remove(leftover)
    child = [sys.executable, SELF, "--w7-child", str(n), path, marker]
    recovery = [sys.executable, SELF, "--w7-recover", path]
    figures = common.kill9_harness(child, recovery, n, marker)  # done: recovery exits 0
    completed = _completed(path)
    if completed != n:
        raise RuntimeError(f"only {completed}/{n} runs completed after the recovery")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W7",
        {"resume_s": figures["resume_s"], "runs": n},
        notes="child: N concurrent Runtime.run on SQLiteStore, each blocked in step 2 after "
        "step 1 (a 50 ms agent call) was journaled; after kill -9 a new process lists the "
        "unfinished runs (Store.list_runs) and Runtime.resume()s them all concurrently (what "
        "`podium resume RUN_ID` does, in one process); step 1 replays from the journal, steps "
        "2-3 run; time from launching it (start-up and imports included) to its exit with "
        "all N completed. (A `podium worker` would resume them too, but only once their "
        "lease expired: --lease seconds.)",
    )


# -- main --------------------------------------------------------------------------------------

ASYNC_WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--w7-child":
        asyncio.run(w7_child(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--w7-recover":
        asyncio.run(w7_recover(sys.argv[2]))
        return
    os.environ.setdefault("PODIUM_ALLOW_MODEL_REQUESTS", "0")
    workload, smoke, workdir = common.parse_args()
    if workload == "W7":
        w7(smoke, workdir)
    else:
        asyncio.run(ASYNC_WORKLOADS[workload](smoke, workdir))


if __name__ == "__main__":
    main()
