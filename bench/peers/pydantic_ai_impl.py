# requires: pydantic-ai-slim==2.68.0 dbos==3.4.0
"""Pydantic AI's side of the peer benchmarks (issue 7). Runs in the peers' venv.

    <peers-venv>/bin/python bench/peers/pydantic_ai_impl.py --workload W1 [--smoke] [--workdir DIR]

Custom model: ``pydantic_ai.models.function.FunctionModel`` with an ``async`` function (Pydantic
AI's documented extension point for a model answered by local code; a sync function would be run
in a worker thread). It returns a ``ModelResponse`` with a ``TextPart`` or a ``ToolCallPart`` and
sleeps ``latency`` with ``asyncio.sleep`` when asked to. Every agent step is a real
``Agent.run`` (the agent graph: request built, model called, tools executed, output validated).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402

os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("OPENAI_API_KEY", "sk-fake")

from pydantic_ai import (  # noqa: E402
    Agent,
    DeferredToolRequests,
    DeferredToolResults,
    __version__,
)
from pydantic_ai.messages import (  # noqa: E402
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

FRAMEWORK = "pydantic-ai"
VERSION = __version__
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."
SELF = str(Path(__file__).resolve())


def _tool_returns(messages: list[ModelMessage]) -> int:
    return sum(isinstance(p, ToolReturnPart) for m in messages for p in m.parts)


def text_model(latency: float = 0.0) -> FunctionModel:
    """A model that always answers ``ANSWER`` after ``latency`` seconds."""

    async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if latency:
            await asyncio.sleep(latency)
        return ModelResponse(parts=[TextPart(ANSWER)])

    return FunctionModel(answer, model_name="bench-text")


def tool_model(tool: str, calls: int, args: dict[str, Any], final: str) -> FunctionModel:
    """A model that calls ``tool`` on turns 1..calls and answers ``final`` after that."""

    async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = _tool_returns(messages)
        if done < calls:
            return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id=f"call_{done}")])
        return ModelResponse(parts=[TextPart(final)])

    return FunctionModel(answer, model_name="bench-tools")


def chain_agents(
    length: int, latency: float = 0.0, prefix: str = "agent"
) -> list[Agent[None, str]]:
    return [Agent(text_model(latency), name=f"{prefix}{i}") for i in range(length)]


async def run_chain(agents: list[Agent[None, str]], message: str) -> str:
    for agent in agents:
        message = (await agent.run(message)).output
    return message


# -- W1: a chain of 10 agents, 0 ms model ------------------------------------------------------


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agents = chain_agents(common.CHAIN)
    for _ in range(sizes["w1_warmup"]):
        await run_chain(agents, CHAIN_INPUT)

    async def once() -> None:
        if await run_chain(agents, CHAIN_INPUT) != ANSWER:
            raise RuntimeError("unexpected chain output")

    runs, wall = await common.atimed_runs(once, **common.box("W1", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W1",
        {"us_per_step": wall / (runs * common.CHAIN) * 1e6, "runs": runs},
        notes="10 Agents, each with a FunctionModel (async function); chain = "
        "await agent_i.run(previous output) in a loop (Pydantic AI has no workflow object "
        "for a plain sequence; its docs chain agents in application code); nothing persisted",
    )


# -- W2: 100 agents in parallel, 50 ms model ---------------------------------------------------


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agents = chain_agents(sizes["w2_agents"], latency=common.LATENCY_S, prefix="a")

    async def fan() -> None:
        results = await asyncio.gather(*(a.run("go") for a in agents))
        if any(r.output != ANSWER for r in results):
            raise RuntimeError("unexpected output")

    await fan()  # warm-up
    walls = await common.atimed_reps(fan, **common.box("W2", smoke))
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
        notes="asyncio.gather of 100 Agent.run calls (Pydantic AI's own docs fan out with "
        "asyncio.gather; it has no parallel construct of its own for independent agents)",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


def tool_agent() -> Agent[None, str]:
    agent = Agent(
        tool_model("lookup", common.TOOL_CALLS, {"n": 1}, "Looked up everything."),
        name="clerk",
    )

    @agent.tool_plain
    async def lookup(n: int) -> str:
        """Look something up.

        Args:
            n: Which item.
        """
        return f"item {n}"

    return agent


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agent = tool_agent()

    async def once() -> None:
        result = await agent.run("look up five things")
        if _tool_returns(result.all_messages()) != common.TOOL_CALLS:
            raise RuntimeError("the tool did not run 5 times")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="one Agent with an async @agent.tool_plain; the FunctionModel returns a "
        "ToolCallPart on turns 1-5 and text on turn 6; the whole run divided by 5",
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
    outputs = await asyncio.gather(*(run_chain(agents, CHAIN_INPUT) for _ in range(n)))
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    if any(o != ANSWER for o in outputs):
        raise RuntimeError("unexpected chain output")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="asyncio.gather of N chains (3 x await agent.run), 50 ms FunctionModel each"
        + fit_note,
    )


# -- W6: runs suspended on a human approval (deferred tools) ------------------------------------


def approval_agent() -> Agent[None, str | DeferredToolRequests]:
    agent: Agent[None, str | DeferredToolRequests] = Agent(
        tool_model("refund", 1, {"order_id": "A-100", "amount": 1250}, "Refunded A-100."),
        name="clerk",
        output_type=[str, DeferredToolRequests],
    )

    @agent.tool_plain(requires_approval=True)
    def refund(order_id: str, amount: int) -> str:
        """Refund an order.

        Args:
            order_id: The order number.
            amount: Amount in cents.
        """
        return f"refunded {amount} on {order_id}"

    return agent


async def w6(smoke: bool, workdir: str) -> None:
    batch = 500
    agent = approval_agent()
    suspended: list[bytes] = []

    async def one() -> bytes:
        result = await agent.run("refund order A-100")
        if not isinstance(result.output, DeferredToolRequests):
            raise RuntimeError(f"run did not suspend: {result.output!r}")
        return result.all_messages_json()

    meter = common.W6Meter(smoke)
    while size := meter.next_batch(batch):
        suspended.extend(await asyncio.gather(*(one() for _ in range(size))))
        meter.created(size)
    figures = meter.metrics(stored_mb=sum(map(len, suspended)) / 1e6)
    # prove they resume: approve the first one and continue it from its stored history
    history = ModelMessagesTypeAdapter.validate_json(suspended[0])
    pending = [p for p in history[-1].parts if isinstance(p, ToolCallPart)]
    approvals = DeferredToolResults(approvals={p.tool_call_id: True for p in pending})
    resumed = await agent.run(message_history=history, deferred_tool_results=approvals)
    if resumed.output != "Refunded A-100." or _tool_returns(resumed.all_messages()) != 1:
        raise RuntimeError(f"resumed run ended with {resumed.output!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W6",
        figures,
        notes="deferred tools: @agent.tool_plain(requires_approval=True) with output_type="
        "[str, DeferredToolRequests]; a run ends with DeferredToolRequests and is resumed by a "
        "new agent.run(message_history=..., deferred_tool_results=...). Pydantic AI ships no "
        "durable store for this, so each suspended run is kept as its serialized message "
        f"history (all_messages_json bytes) in process memory (NOT durable); {batch} runs at a "
        "time via asyncio.gather; one approved and resumed to completion" + meter.note(),
    )


# -- W5 / W7: durable execution with DBOS on SQLite ---------------------------------------------
#
# Pydantic AI has no checkpointer of its own; its documented durable execution is an integration
# with an engine (Temporal, DBOS, Prefect). DBOS is a library whose system database defaults to
# SQLite (no server), so W5/W7 use it: DBOSDurability() on each agent makes every model request a
# DBOS step journaled in the SQLite file, and the chain is a @DBOS.workflow.

W7_ROLE_ENV = "BENCH_PYDANTIC_AI_W7_ROLE"  # "child" (blocks in step 2) or "recover"
DBOS_NOTE = (
    "durable execution through Pydantic AI's DBOS integration (DBOSDurability capability on "
    "each agent, the chain a @DBOS.workflow; dbos's default SQLite system database, no server): "
    "every model request is a DBOS step recorded in SQLite before the next one"
)


def _dbos_app(db_path: str, chain: int, latency: float) -> tuple[Any, Any]:
    """Configure DBOS on ``db_path`` and register the chain workflow; returns (DBOS, workflow)."""
    from dbos import DBOS
    from pydantic_ai.durable_exec.dbos import DBOSDurability

    DBOS(
        config={
            "name": "bench-pydantic-ai",
            "system_database_url": f"sqlite:///{db_path}",
            "log_level": "WARNING",
        }
    )
    agents = [
        Agent(text_model(latency), name=f"step{i}", capabilities=[DBOSDurability()])
        for i in range(chain)
    ]

    @DBOS.step(name="bench_hold")
    async def hold(message: str) -> str:
        if os.environ.get(W7_ROLE_ENV) == "child":
            common.mark(os.path.join(os.environ["BENCH_W7_DIR"], "started"), "started")
            await asyncio.sleep(3600)
        return message

    @DBOS.workflow(name="bench_chain")
    async def run(message: str) -> str:
        if chain == common.CHAIN:  # W5: the 10-agent chain of W1
            for agent in agents:
                message = (await agent.run(message)).output
            return message
        # W7: agent, a step that blocks in the killed process, agent
        message = (await agents[0].run(message)).output
        message = await hold(message)
        message = (await agents[1].run(message)).output
        if os.environ.get(W7_ROLE_ENV) == "recover":
            common.mark(os.path.join(os.environ["BENCH_W7_DIR"], "done"), "done")
        return message

    return DBOS, run


def _checkpoint(path: str) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


async def w5(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    path = os.path.join(workdir, "pydantic-ai-w5.sqlite")
    dbos, chain = _dbos_app(path, common.CHAIN, 0.0)
    dbos.launch()
    try:
        for _ in range(sizes["w1_warmup"]):
            await chain(CHAIN_INPUT)
        _checkpoint(path)
        before = common.db_bytes(path)

        async def once() -> None:
            if await chain(CHAIN_INPUT) != ANSWER:
                raise RuntimeError("unexpected chain output")

        runs, wall = await common.atimed_runs(once, **common.box("W5", smoke))
        _checkpoint(path)
        after = common.db_bytes(path)
    finally:
        dbos.destroy()
    common.emit(
        FRAMEWORK,
        VERSION,
        "W5",
        {
            "us_per_step": wall / (runs * common.CHAIN) * 1e6,
            "bytes_per_run": (after - before) / runs,
            "runs": runs,
        },
        notes=DBOS_NOTE + "; bytes = SQLite file growth (DBOS uses a rollback journal on SQLite)",
    )


async def _w7_role(role: str, n: int, workdir: str) -> None:
    path = os.path.join(workdir, "pydantic-ai-w7.sqlite")
    dbos, chain = _dbos_app(path, 2, common.LATENCY_S)
    dbos.launch()  # in the recovery process this recovers the pending workflows
    if role == "child":
        for i in range(n):
            await dbos.start_workflow_async(chain, f"job {i}")
        await asyncio.sleep(3600)  # killed long before
    await asyncio.to_thread(_wait_lines, os.path.join(workdir, "done"), n)
    dbos.destroy()


def _wait_lines(path: str, n: int) -> None:
    while common.count_lines(path) < n:
        time.sleep(0.05)


async def w7(smoke: bool, workdir: str) -> None:
    n = common.sizes(smoke)["w7_runs"]
    role = os.environ.get(W7_ROLE_ENV)
    if role:
        await _w7_role(role, n, workdir)
        return
    cmd = [sys.executable, SELF, "--workload", "W7", "--workdir", workdir]
    if smoke:
        cmd.append("--smoke")
    result = await asyncio.to_thread(
        common.kill9_harness,
        ["env", f"{W7_ROLE_ENV}=child", *cmd],  # env(1) execs: the pid killed is python's
        ["env", f"{W7_ROLE_ENV}=recover", *cmd],
        n,
        os.path.join(workdir, "started"),
        done_marker=os.path.join(workdir, "done"),
        env={"BENCH_W7_DIR": workdir},
    )
    common.emit(
        FRAMEWORK,
        VERSION,
        "W7",
        result,
        notes=DBOS_NOTE + "; the child starts N workflows with DBOS.start_workflow_async "
        "(agent, blocking step, agent), is killed -9 once all N have recorded step 1; the "
        "recovery process's DBOS.launch() recovers the pending workflows (step 1 replays from "
        "SQLite) and runs them to completion",
    )


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}


def main() -> None:
    workload, smoke, workdir = common.parse_args()
    asyncio.run(WORKLOADS[workload](smoke, workdir))


if __name__ == "__main__":
    main()
