# requires: langgraph==1.2.22 langgraph-checkpoint==4.3.2 langgraph-checkpoint-sqlite==3.1.2
# requires: langgraph-prebuilt==1.1.2 langchain==1.4.7 langchain-core==1.7.2 aiosqlite==0.22.1
"""LangGraph's side of the peer benchmarks (issue 7): workloads W1-W7.

Runs in the peers' virtual environment (``bench/.peers-venv``):

    python bench/peers/langgraph_impl.py --workload W1 [--smoke] [--workdir DIR]

The custom model is a ``langchain_core.language_models.BaseChatModel`` subclass (the
extension point LangChain/LangGraph document for a custom chat model): ``_generate`` and
``_agenerate`` answer from a script indexed by the number of ``AIMessage``s in the request
(so any process answers the same on replay), ``asyncio.sleep(latency)`` in the async path,
tool calls as ``AIMessage(tool_calls=...)``; ``bind_tools`` returns the model itself.

Graphs: W1/W4/W5/W7 are a ``StateGraph`` with one node per agent (each node invokes its own
model with the previous node's output); W2 fans out with ``Send``; W3 is
``langchain.agents.create_agent`` (the successor of the deprecated
``langgraph.prebuilt.create_react_agent``) with an async ``@tool``; W5 and W7 use
``AsyncSqliteSaver``, W6 ``interrupt()`` on ``SqliteSaver``, on a file in --workdir.
Async nodes and ``ainvoke`` throughout, except W6 (the sync path was cheaper there) and the
extra ``sync_invoke_us_per_step`` figure of W1.
SQLite connections are opened by us with WAL and ``synchronous=NORMAL`` -- the same
setting as Podium's store (durable across a process crash, not a power loss); with the
library's default connection (``synchronous=FULL``) every commit fsyncs.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import os
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any, TypedDict

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from importlib.metadata import version as _pkg_version  # noqa: E402

import aiosqlite  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.graph.message import add_messages  # noqa: E402
from langgraph.types import Command, Send, interrupt  # noqa: E402
from pydantic import Field  # noqa: E402

FRAMEWORK = "langgraph"
VERSION = _pkg_version("langgraph")
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."
SELF = str(Path(__file__).resolve())
USAGE = {"input_tokens": 10, "output_tokens": 10, "total_tokens": 20}


class BenchChatModel(BaseChatModel):
    """Scripted chat model: answers ``script[turn]`` where turn = AIMessages in the request.

    A script item is a string (final text) or ``(tool_name, args_dict)`` (one tool call).
    """

    script: list[Any] = Field(default_factory=lambda: [ANSWER])
    latency: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "bench-scripted"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        item = self.script[min(turn, len(self.script) - 1)]
        if isinstance(item, str):
            msg = AIMessage(content=item, usage_metadata=USAGE)  # type: ignore[arg-type]
        else:
            name, args = item
            call = {"name": name, "args": args, "id": f"call_{turn}", "type": "tool_call"}
            msg = AIMessage(content="", tool_calls=[call], usage_metadata=USAGE)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return self._answer(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._answer(messages)


# -- the agent chain (W1, W4, W5) ----------------------------------------------------------------


class ChainState(TypedDict):
    text: str


def _agent_node(model: BenchChatModel) -> Any:
    async def agent(state: ChainState) -> dict[str, str]:
        msg = await model.ainvoke([HumanMessage(state["text"])])
        return {"text": str(msg.content)}

    return agent


def _sync_agent_node(model: BenchChatModel) -> Any:
    def agent(state: ChainState) -> dict[str, str]:
        msg = model.invoke([HumanMessage(state["text"])])
        return {"text": str(msg.content)}

    return agent


def chain_graph(
    length: int, latency: float = 0.0, checkpointer: Any = None, sync: bool = False
) -> Any:
    """A StateGraph of ``length`` agent nodes in sequence, each with its own model."""
    builder = StateGraph(ChainState)
    prev = START
    make_node = _sync_agent_node if sync else _agent_node
    for i in range(length):
        name = f"agent{i}"
        builder.add_node(name, make_node(BenchChatModel(script=[ANSWER], latency=latency)))
        builder.add_edge(prev, name)
        prev = name
    builder.add_edge(prev, END)
    return builder.compile(checkpointer=checkpointer)


def _chain_runner(graph: Any, thread_prefix: str | None = None) -> Any:
    """A coroutine function running the chain once (a new thread each time if checkpointed)."""
    count = [0]

    async def once() -> None:
        count[0] += 1
        config = None
        if thread_prefix:
            config = {"configurable": {"thread_id": f"{thread_prefix}{count[0]}"}}
        out = await graph.ainvoke({"text": CHAIN_INPUT}, config)
        if out["text"] != ANSWER:
            raise RuntimeError(f"chain ended with {out!r}")

    return once


def _sync_once(graph: Any) -> None:
    out = graph.invoke({"text": CHAIN_INPUT})
    if out["text"] != ANSWER:
        raise RuntimeError(f"chain ended with {out!r}")


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    graph = chain_graph(common.CHAIN)
    once = _chain_runner(graph)
    for _ in range(sizes["w1_warmup"]):
        await once()
    runs, wall = await common.atimed_runs(once, **common.box("W1", smoke))
    # for the reader: the same chain with sync nodes and graph.invoke (not the headline)
    sync_graph = chain_graph(common.CHAIN, sync=True)
    for _ in range(sizes["w1_warmup"]):
        _sync_once(sync_graph)
    sync_runs, sync_wall = common.timed_runs(
        lambda: _sync_once(sync_graph), **common.box("W1", smoke)
    )
    common.emit(
        FRAMEWORK,
        VERSION,
        "W1",
        {
            "us_per_step": wall / (runs * common.CHAIN) * 1e6,
            "sync_invoke_us_per_step": sync_wall / (sync_runs * common.CHAIN) * 1e6,
            "runs": runs,
        },
        notes="StateGraph of 10 async nodes in sequence, each awaiting its own BaseChatModel "
        "subclass (ainvoke) on the previous node's text; graph.ainvoke per run; no "
        "checkpointer. sync_invoke_us_per_step: the same chain with sync nodes and "
        "graph.invoke (LangGraph's sync path is cheaper per step; not usable for the "
        "concurrent workloads)",
    )


async def _open_aiosqlite(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _open_sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
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
    path = os.path.join(workdir, "langgraph-w5.db")
    _fresh(path)
    conn = await _open_aiosqlite(path)
    saver = AsyncSqliteSaver(conn)
    graph = chain_graph(common.CHAIN, checkpointer=saver)
    warm = _chain_runner(graph, thread_prefix="warm-")
    for _ in range(sizes["w1_warmup"]):
        await warm()
    await conn.commit()
    _checkpoint_wal(path)
    before = common.db_bytes(path)
    runs, wall = await common.atimed_runs(
        _chain_runner(graph, thread_prefix="run-"), **common.box("W5", smoke)
    )
    await conn.commit()
    _checkpoint_wal(path)
    after = common.db_bytes(path)
    await conn.close()
    common.emit(
        FRAMEWORK,
        VERSION,
        "W5",
        {
            "us_per_step": wall / (runs * common.CHAIN) * 1e6,
            "bytes_per_run": (after - before) / runs,
            "runs": runs,
        },
        notes="W1's graph compiled with AsyncSqliteSaver (a thread per run, default "
        "durability='async': a step's checkpoint is written while the next step runs); "
        "aiosqlite connection opened by us with WAL + synchronous=NORMAL (Podium's setting; "
        "the library default FULL fsyncs every commit); bytes after wal_checkpoint(TRUNCATE)",
    )


# -- W2: 100 agents in parallel (Send) ----------------------------------------------------------


class FanState(TypedDict):
    answers: Annotated[list[str], operator.add]


class TaskState(TypedDict):
    i: int


def fan_graph(n: int) -> Any:
    models = [BenchChatModel(script=[f"done {i}"], latency=common.LATENCY_S) for i in range(n)]

    async def agent(state: TaskState) -> dict[str, list[str]]:
        msg = await models[state["i"]].ainvoke([HumanMessage(f"task {state['i']}")])
        return {"answers": [str(msg.content)]}

    def fan_out(state: FanState) -> list[Send]:
        return [Send("agent", {"i": i}) for i in range(n)]

    builder = StateGraph(FanState)
    builder.add_node("agent", agent)
    builder.add_conditional_edges(START, fan_out, ["agent"])
    builder.add_edge("agent", END)
    return builder.compile()


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    n = sizes["w2_agents"]
    graph = fan_graph(n)

    async def once() -> None:
        out = await graph.ainvoke({"answers": []})
        if len(out["answers"]) != n:
            raise RuntimeError(f"{len(out['answers'])}/{n} answers")

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
        notes="one graph run: a conditional edge from START returns 100 Send('agent', ...) "
        "(LangGraph's map-reduce fan-out, one superstep), each task awaiting its own "
        "50 ms model; answers reduced with operator.add; no checkpointer",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


@tool
async def lookup(n: int) -> str:
    """Look something up.

    Args:
        n: Which item.
    """
    return f"item {n}"


FINAL = "Looked up everything."


def react_agent() -> Any:
    from langchain.agents import create_agent

    script: list[Any] = [("lookup", {"n": i}) for i in range(common.TOOL_CALLS)]
    script.append(FINAL)
    return create_agent(model=BenchChatModel(script=script), tools=[lookup])


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agent = react_agent()

    async def once() -> None:
        out = await agent.ainvoke({"messages": [HumanMessage("look up five things")]})
        tools = sum(isinstance(m, ToolMessage) for m in out["messages"])
        if tools != common.TOOL_CALLS or out["messages"][-1].content != FINAL:
            raise RuntimeError(f"run made {tools} tool calls: {out['messages'][-1]!r}")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="langchain.agents.create_agent (the documented successor of "
        "langgraph.prebuilt.create_react_agent, which is deprecated in langgraph 1.x) with an "
        "async @tool; the whole run (6 model turns, 5 tool calls) divided by 5; ainvoke; no "
        "checkpointer",
    )


# -- W4: 1,000 concurrent runs of a 3-agent chain -----------------------------------------------


async def w4(smoke: bool, workdir: str) -> None:
    graph = chain_graph(3, latency=common.LATENCY_S)

    async def batch(k: int) -> None:  # the probe, which is also the warm-up
        await asyncio.gather(*(graph.ainvoke({"text": CHAIN_INPUT}) for _ in range(k)))

    n, fit_note = await common.w4_fit(batch, smoke)
    gc.collect()
    rss_before = common.rss_bytes()
    common.reset_peak_rss()
    started = time.perf_counter()
    outs = await asyncio.gather(*(graph.ainvoke({"text": CHAIN_INPUT}) for _ in range(n)))
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    bad = [o for o in outs if o["text"] != ANSWER]
    if bad:
        raise RuntimeError(f"{len(bad)} runs ended wrong: {bad[0]!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="asyncio.gather of N graph.ainvoke on one compiled 3-node StateGraph (50 ms "
        "model per node); no checkpointer (nothing is kept after a run)" + fit_note,
    )


# -- W6: runs suspended on an approval ----------------------------------------------------------


class ReviewState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def refund(order_id: str, amount: int) -> str:
    return f"refunded {amount} on {order_id}"


def review_graph(checkpointer: Any) -> Any:
    """agent -> (tool call) review: interrupt() for approval, run the tool -> agent -> END."""
    model = BenchChatModel(
        script=[("refund", {"order_id": "A-100", "amount": 1250}), "Refunded A-100."]
    )

    def agent(state: ReviewState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: ReviewState) -> str:
        last = state["messages"][-1]
        return "review" if isinstance(last, AIMessage) and last.tool_calls else END

    def review(state: ReviewState) -> dict[str, Any]:
        call = state["messages"][-1].tool_calls[0]  # type: ignore[union-attr]
        decision = interrupt({"tool": call["name"], "args": call["args"], "role": "finance"})
        out = refund(**call["args"]) if decision == "approve" else "rejected by reviewer"
        return {"messages": [ToolMessage(out, tool_call_id=call["id"])]}

    builder = StateGraph(ReviewState)
    builder.add_node("agent", agent)
    builder.add_node("review", review)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["review", END])
    builder.add_edge("review", "agent")
    return builder.compile(checkpointer=checkpointer)


def _suspended_threads(path: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute("SELECT count(DISTINCT thread_id) FROM checkpoints").fetchone()
    return int(count)


W6_BATCH = 100  # runs between two RSS samples / cap checks (the runs are sequential)


def w6(smoke: bool, workdir: str) -> None:
    path = os.path.join(workdir, "langgraph-w6.db")
    _fresh(path)
    conn = _open_sqlite(path)
    graph = review_graph(SqliteSaver(conn))
    meter = common.W6Meter(smoke)
    while size := meter.next_batch(W6_BATCH):
        for i in range(meter.runs, meter.runs + size):
            config = {"configurable": {"thread_id": f"t{i}"}}
            request = {"messages": [HumanMessage("refund order A-100")]}
            out = graph.invoke(request, config, durability="exit")
            if "__interrupt__" not in out:
                raise RuntimeError(f"thread t{i} did not suspend: {out!r}")
        meter.created(size)
    n = meter.runs
    figures = meter.metrics(db_mb=common.db_bytes(path) / 1e6)
    conn.close()
    suspended = _suspended_threads(path)
    if suspended != n:
        raise RuntimeError(f"{suspended}/{n} threads are on disk")
    # prove they resume: a new saver and connection (as a later process would), approve t0
    conn = _open_sqlite(path)
    graph = review_graph(SqliteSaver(conn))
    config = {"configurable": {"thread_id": "t0"}}
    if graph.get_state(config).next != ("review",):
        raise RuntimeError("thread t0 is not suspended in review")
    out = graph.invoke(Command(resume="approve"), config)
    conn.close()
    last = out["messages"][-1]
    if last.content != "Refunded A-100." or not any(
        isinstance(m, ToolMessage) and str(m.content).startswith("refunded")
        for m in out["messages"]
    ):
        raise RuntimeError(f"resumed thread ended with {last!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W6",
        figures,
        notes="StateGraph agent -> review node calling interrupt() -> agent, a thread per run "
        "on SqliteSaver (WAL + synchronous=NORMAL); sync graph.invoke one run after another "
        "with durability='exit' (the state is written when the run suspends, before invoke "
        "returns): the fastest honest way we found -- it used ~25% less CPU per run than "
        "ainvoke on AsyncSqliteSaver, sequential or 20/500 at a time; all N verified on "
        "disk; peak RSS (VmHWM) of the process; then thread t0 resumed with "
        "Command(resume='approve') from a new connection" + meter.note(),
    )


# -- W7: kill -9 with runs in flight, then resume them all ----------------------------------

BLOCK_ENV = "LANGGRAPH_BENCH_W7_BLOCK"
DONE_TEXT = "chain done"


def w7_graph(checkpointer: Any) -> Any:
    """step1: agent (50 ms model) -> hold: blocks in the killed process -> step3: agent."""
    first = BenchChatModel(script=["step 1 done"], latency=common.LATENCY_S)
    last = BenchChatModel(script=[DONE_TEXT], latency=common.LATENCY_S)

    async def step1(state: ChainState) -> dict[str, str]:
        msg = await first.ainvoke([HumanMessage(state["text"])])
        return {"text": str(msg.content)}

    async def hold(state: ChainState) -> dict[str, str]:
        marker = os.environ.get(BLOCK_ENV)
        if marker:
            common.mark(marker, "started")  # step 1's checkpoint is committed (durability=sync)
            await asyncio.sleep(3600)
        return {"text": state["text"]}

    async def step3(state: ChainState) -> dict[str, str]:
        msg = await last.ainvoke([HumanMessage(state["text"])])
        return {"text": str(msg.content)}

    builder = StateGraph(ChainState)
    builder.add_node("step1", step1)
    builder.add_node("hold", hold)
    builder.add_node("step3", step3)
    builder.add_edge(START, "step1")
    builder.add_edge("step1", "hold")
    builder.add_edge("hold", "step3")
    builder.add_edge("step3", END)
    return builder.compile(checkpointer=checkpointer)


async def w7_child(n: int, path: str, marker: str) -> None:
    """The process that is killed: N threads at once, each blocked in its step 2."""
    os.environ[BLOCK_ENV] = marker
    conn = await _open_aiosqlite(path)
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    graph = w7_graph(saver)
    await asyncio.gather(
        *(
            graph.ainvoke(
                {"text": f"job {i}"},
                {"configurable": {"thread_id": f"job-{i}"}},
                durability="sync",
            )
            for i in range(n)
        )
    )


async def w7_recover(path: str) -> None:
    """The restart: find every thread in the checkpointer, resume the unfinished ones."""
    conn = await _open_aiosqlite(path)
    saver = AsyncSqliteSaver(conn)
    graph = w7_graph(saver)
    threads: dict[str, None] = {}
    async for tup in saver.alist(None):
        threads.setdefault(tup.config["configurable"]["thread_id"], None)
    configs = [{"configurable": {"thread_id": t}} for t in threads]
    states = await asyncio.gather(*(graph.aget_state(c) for c in configs))
    pending = [c for c, s in zip(configs, states, strict=True) if s.next]
    # invoking with None resumes a thread from its last checkpoint (step 1 is not re-run)
    outs = await asyncio.gather(*(graph.ainvoke(None, c, durability="sync") for c in pending))
    await conn.close()
    bad = [o for o in outs if o["text"] != DONE_TEXT]
    if bad:
        raise RuntimeError(f"{len(bad)} resumed threads ended wrong: {bad[0]!r}")
    print(f"resumed {len(pending)} of {len(configs)} threads", file=sys.stderr)


def _w7_completed(path: str) -> int:
    conn = _open_sqlite(path)
    graph = w7_graph(SqliteSaver(conn))
    threads: dict[str, None] = {}
    for tup in graph.checkpointer.list(None):
        threads.setdefault(tup.config["configurable"]["thread_id"], None)
    done = 0
    for t in threads:
        snap = graph.get_state({"configurable": {"thread_id": t}})
        if not snap.next and snap.values.get("text") == DONE_TEXT:
            done += 1
    conn.close()
    return done


def w7(smoke: bool, workdir: str) -> None:
    n = common.sizes(smoke)["w7_runs"]
    path = os.path.join(workdir, "langgraph-w7.db")
    marker = os.path.join(workdir, "langgraph-w7.started")
    _fresh(path, marker)
    child = [sys.executable, SELF, "--w7-child", str(n), path, marker]
    recovery = [sys.executable, SELF, "--w7-recover", path]
    figures = common.kill9_harness(child, recovery, n, marker)  # done: recovery exits 0
    completed = _w7_completed(path)
    if completed != n:
        raise RuntimeError(f"only {completed}/{n} threads completed after the recovery")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W7",
        {"resume_s": figures["resume_s"], "runs": n},
        notes="child: N concurrent ainvoke (a thread each, durability='sync') of a 3-node "
        "graph on AsyncSqliteSaver, each blocked in node 2 after node 1 (50 ms model) was "
        "checkpointed; after kill -9 a new process lists the threads (checkpointer.alist), "
        "keeps those whose state has a next node, and ainvoke(None, thread) resumes each "
        "from its last checkpoint, all concurrently; time from launching it (start-up and "
        "imports included) to its exit with all N completed",
    )


# -- main --------------------------------------------------------------------------------------

ASYNC_WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--w7-child":
        asyncio.run(w7_child(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--w7-recover":
        asyncio.run(w7_recover(sys.argv[2]))
        return
    workload, smoke, workdir = common.parse_args()
    if workload == "W6":
        w6(smoke, workdir)
    elif workload == "W7":
        w7(smoke, workdir)
    else:
        asyncio.run(ASYNC_WORKLOADS[workload](smoke, workdir))


if __name__ == "__main__":
    main()
