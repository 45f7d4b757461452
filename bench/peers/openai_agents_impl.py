# requires: openai-agents==0.24.0 openai==3.54.0
"""OpenAI Agents SDK's side of the peer benchmarks (issue 7): workloads W1-W7.

Runs in the peers' virtual environment (``bench/.peers-venv``):

    python bench/peers/openai_agents_impl.py --workload W1 [--smoke] [--workdir DIR]

The custom model implements ``agents.models.interface.Model`` (the SDK's documented
extension point for a non-OpenAI model) and is passed as ``Agent(model=...)``:
``get_response`` sleeps ``latency`` with ``asyncio.sleep`` and answers from a script indexed
by the number of ``function_call`` items already in its input (so a resumed run gets the
right answer); tool calls are ``ResponseFunctionToolCall`` output items. Tracing is off
(``set_tracing_disabled(True)``), so nothing is exported.

Chains (W1/W4/W5) are the SDK's "orchestrating via code" pattern: ``Runner.run`` of agent
i with agent i-1's ``final_output`` as input. (Handoffs would also chain agents, but a
handoff is itself a model tool call, so each agent would need two model turns, not one.)
"""

from __future__ import annotations

import asyncio
import gc
import json
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

os.environ.setdefault("OPENAI_API_KEY", "sk-fake-not-used")
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from importlib.metadata import version as _pkg_version  # noqa: E402

from agents import (  # noqa: E402
    Agent,
    ModelResponse,
    ModelSettings,
    Runner,
    RunState,
    SQLiteSession,
    ToolCallOutputItem,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from agents.models.interface import Model, ModelTracing  # noqa: E402
from openai.types.responses import (  # noqa: E402
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

set_tracing_disabled(True)

FRAMEWORK = "openai-agents"
VERSION = _pkg_version("openai-agents")
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."


def _item_type(item: Any) -> Any:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


class BenchModel(Model):
    """Answers ``script[turn]``, turn = ``function_call`` items in the input.

    A script item is a string (final text) or ``(tool_name, arguments_json)`` (one tool call).
    Keeps nothing between calls.
    """

    def __init__(self, script: list[Any], *, latency: float = 0.0) -> None:
        self.script = script
        self.latency = latency

    async def get_response(
        self,
        system_instructions: str | None,
        input: Any,
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        turn = 0
        if not isinstance(input, str):
            turn = sum(_item_type(it) == "function_call" for it in input)
        item = self.script[min(turn, len(self.script) - 1)]
        output: list[Any]
        if isinstance(item, str):
            text = ResponseOutputText(type="output_text", text=item, annotations=[])
            output = [
                ResponseOutputMessage(
                    id=f"msg_{turn}",
                    type="message",
                    role="assistant",
                    status="completed",
                    content=[text],
                )
            ]
        else:
            name, arguments = item
            output = [
                ResponseFunctionToolCall(
                    type="function_call",
                    id=f"fc_{turn}",
                    call_id=f"call_{turn}",
                    name=name,
                    arguments=arguments,
                )
            ]
        usage = Usage(requests=1, input_tokens=10, output_tokens=10, total_tokens=20)
        return ModelResponse(output=output, usage=usage, response_id=None)

    async def stream_response(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError("the benchmark does not stream")
        yield  # an async generator, as the interface asks


def chain_agents(length: int, latency: float = 0.0, prefix: str = "agent") -> list[Agent[Any]]:
    return [
        Agent(
            name=f"{prefix}{i}",
            instructions="Pass the message on.",
            model=BenchModel([ANSWER], latency=latency),
        )
        for i in range(length)
    ]


async def run_chain(agents: list[Agent[Any]], text: str, session: Any = None) -> str:
    for agent in agents:
        result = await Runner.run(agent, text, session=session)
        text = str(result.final_output)
    return text


# -- W1 / W5: a chain of 10 agents, 0 ms model -------------------------------------------------


def _chain_runner(agents: list[Agent[Any]], session_factory: Any = None) -> Any:
    """A coroutine function running the chain once (with a new session each time, if any)."""
    count = [0]

    async def once() -> None:
        count[0] += 1
        session = session_factory(count[0]) if session_factory else None
        out = await run_chain(agents, CHAIN_INPUT, session)
        if session is not None:
            session.close()
        if out != ANSWER:
            raise RuntimeError(f"chain ended with {out!r}")

    return once


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agents = chain_agents(common.CHAIN)
    once = _chain_runner(agents)
    for _ in range(sizes["w1_warmup"]):
        await once()
    runs, wall = await common.atimed_runs(once, **common.box("W1", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W1",
        {"us_per_step": wall / (runs * common.CHAIN) * 1e6, "runs": runs},
        notes="10 Agents, each with a custom Model; Runner.run(agent_i, previous final_output) "
        "in sequence (the SDK's chaining-in-code pattern); no session; tracing disabled",
    )


class NormalSyncSQLiteSession(SQLiteSession):
    """SQLiteSession whose connections use ``synchronous=NORMAL`` (Podium's setting).

    The SDK opens WAL connections with SQLite's default ``synchronous=FULL``, which fsyncs
    every commit (about 3 ms each on this machine's disk); NORMAL in WAL mode survives a
    process crash like FULL does, only not a power loss.
    """

    def _get_connection(self) -> sqlite3.Connection:
        conn = super()._get_connection()
        if getattr(self._local, "normal_sync", None) is not conn:
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.normal_sync = conn
        return conn


def _checkpoint_wal(path: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


def _fresh(*paths: str) -> None:
    for p in paths:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(p + suffix):
                os.remove(p + suffix)


async def w5(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    path = os.path.join(workdir, "openai-agents-w5.db")
    _fresh(path)
    agents = chain_agents(common.CHAIN)

    def warm(r: int) -> SQLiteSession:
        return NormalSyncSQLiteSession(f"warm-{r}", path)

    def session(r: int) -> SQLiteSession:
        return NormalSyncSQLiteSession(f"run-{r}", path)

    warm_once = _chain_runner(agents, warm)
    for _ in range(sizes["w1_warmup"]):
        await warm_once()
    _checkpoint_wal(path)
    before = common.db_bytes(path)
    runs, wall = await common.atimed_runs(_chain_runner(agents, session), **common.box("W5", smoke))
    _checkpoint_wal(path)
    after = common.db_bytes(path)
    common.emit(
        FRAMEWORK,
        VERSION,
        "W5",
        {
            "us_per_step": wall / (runs * common.CHAIN) * 1e6,
            "bytes_per_run": (after - before) / runs,
            "runs": runs,
        },
        notes="W1's chain with one SQLiteSession (file db in --workdir) per run, shared by its "
        "10 Runner.run calls (so each agent also reads the run's history so far, as a "
        "session does); connections set to synchronous=NORMAL through a subclass "
        "(Podium's setting; the SDK's default FULL fsyncs every commit); bytes after "
        "wal_checkpoint(TRUNCATE)",
    )


# -- W2: 100 agents in parallel, 50 ms model ---------------------------------------------------


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    n = sizes["w2_agents"]
    agents = chain_agents(n, latency=common.LATENCY_S, prefix="a")

    async def once() -> None:
        results = await asyncio.gather(*(Runner.run(a, f"task {a.name}") for a in agents))
        if any(r.final_output != ANSWER for r in results):
            raise RuntimeError("a parallel agent answered wrong")

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
        notes="asyncio.gather of 100 Runner.run (the SDK's documented way to run agents in "
        "parallel), each agent with its own 50 ms model",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


@function_tool
async def lookup(n: int) -> str:
    """Look something up.

    Args:
        n: Which item.
    """
    return f"item {n}"


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    script: list[Any] = [("lookup", json.dumps({"n": i})) for i in range(common.TOOL_CALLS)]
    script.append("Looked up everything.")
    agent = Agent(
        name="clerk",
        instructions="Look things up.",
        model=BenchModel(script),
        tools=[lookup],
    )

    async def once() -> None:
        result = await Runner.run(agent, "look up five things")
        calls = sum(isinstance(i, ToolCallOutputItem) for i in result.new_items)
        if calls != common.TOOL_CALLS or result.final_output != "Looked up everything.":
            raise RuntimeError(f"run made {calls} tool calls: {result.final_output!r}")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="one Agent with an async @function_tool; Runner.run (6 model turns, 5 tool "
        "calls) divided by 5",
    )


# -- W4: 1,000 concurrent runs of a 3-agent chain, 50 ms model --------------------------------


async def w4(smoke: bool, workdir: str) -> None:
    agents = chain_agents(3, latency=common.LATENCY_S)

    async def batch(k: int) -> None:  # the probe, which is also the warm-up
        await asyncio.gather(*(run_chain(agents, CHAIN_INPUT) for _ in range(k)))

    n, fit_note = await common.w4_fit(batch, smoke)
    gc.collect()
    rss_before = common.rss_bytes()
    common.reset_peak_rss()
    started = time.perf_counter()
    outs = await asyncio.gather(*(run_chain(agents, CHAIN_INPUT) for _ in range(n)))
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    bad = [o for o in outs if o != ANSWER]
    if bad:
        raise RuntimeError(f"{len(bad)} runs ended wrong: {bad[0]!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="asyncio.gather of N chains, each 3 Runner.run in sequence (50 ms model each) "
        "on 3 Agents shared by all runs (define once, run many: the documented usage); no "
        "session. openai-agents 0.24.0 checks concurrent runs of one Agent object against "
        "each other (quadratic in concurrent runs, run_internal/agent_tool_configuration.py): "
        "Agent.clone() per run was ~3x faster at N=1000 here (0.20.0 had no such check)" + fit_note,
    )


# -- W6: runs suspended on an approval ---------------------------------------------------------


@function_tool(needs_approval=True)
def refund(order_id: str, amount: int) -> str:
    """Refund an order.

    Args:
        order_id: The order number.
        amount: Amount in cents.
    """
    return f"refunded {amount} on {order_id}"


def make_clerk() -> Agent[Any]:
    script = [("refund", '{"order_id": "A-100", "amount": 1250}'), "Refunded A-100."]
    return Agent(
        name="clerk",
        instructions="Refund what is asked.",
        model=BenchModel(script),
        tools=[refund],
    )


# 50 at a time: 0.24.0 checks the concurrent runs of one shared Agent against each other
# (quadratic, agents/run_internal/agent_tool_configuration.py), so 500 at a time was ~1.7x
# slower per run; 50 at a time is as fast as one after another.
W6_BATCH = 50


async def w6(smoke: bool, workdir: str) -> None:
    path = os.path.join(workdir, "openai-agents-w6.db")
    _fresh(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE suspended (run_id TEXT PRIMARY KEY, state TEXT NOT NULL)")
    clerk = make_clerk()

    async def one(i: int) -> None:
        result = await Runner.run(clerk, "refund order A-100")
        if len(result.interruptions) != 1:
            raise RuntimeError(f"run {i} did not stop for approval: {result.final_output!r}")
        state = json.dumps(result.to_state().to_json(), separators=(",", ":"))
        db.execute("INSERT INTO suspended VALUES (?, ?)", (f"run-{i}", state))

    meter = common.W6Meter(smoke)
    while size := meter.next_batch(W6_BATCH):
        await asyncio.gather(*(one(i) for i in range(meter.runs, meter.runs + size)))
        meter.created(size)
    n = meter.runs
    db.close()
    figures = meter.metrics(db_mb=common.db_bytes(path) / 1e6)
    # prove they resume: load one state from a new connection, approve, run to completion
    with closing(sqlite3.connect(path)) as db2:
        (count,) = db2.execute("SELECT count(*) FROM suspended").fetchone()
        (saved,) = db2.execute("SELECT state FROM suspended WHERE run_id = 'run-0'").fetchone()
    if count != n:
        raise RuntimeError(f"{count}/{n} suspended runs on disk")
    clerk = make_clerk()
    state = await RunState.from_string(clerk, saved)
    for item in state.get_interruptions():
        state.approve(item)
    result = await Runner.run(clerk, state)
    outputs = [i.output for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    if result.final_output != "Refunded A-100." or outputs != ["refunded 1250 on A-100"]:
        raise RuntimeError(f"resumed run ended with {result.final_output!r} {outputs!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W6",
        figures,
        notes=f"an Agent whose model calls a @function_tool(needs_approval=True): Runner.run "
        "returns with result.interruptions; result.to_state().to_json() is stored (compact "
        "JSON) in an SQLite table we create (the SDK serializes RunState but has no store "
        "for it), one commit per run (WAL, synchronous=NORMAL); runs created "
        f"{W6_BATCH} at a time concurrently; peak RSS (VmHWM); then one state loaded "
        "with RunState.from_string, approved and resumed to completion with Runner.run"
        + meter.note(),
    )


# -- W7 ----------------------------------------------------------------------------------------

W7_REASON = (
    "the Agents SDK has no durable execution of its own: a RunState exists only once "
    "Runner.run has returned (finished or paused on a tool approval) and sessions store "
    "conversation items, not a run's position, so runs in flight at kill -9 cannot be "
    "resumed (durable execution is delegated to external engines such as Temporal)"
)


# -- main --------------------------------------------------------------------------------------

WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def main() -> None:
    workload, smoke, workdir = common.parse_args()
    if workload == "W7":
        common.unsupported(FRAMEWORK, VERSION, "W7", W7_REASON)
        return
    asyncio.run(WORKLOADS[workload](smoke, workdir))


if __name__ == "__main__":
    main()
