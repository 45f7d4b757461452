# requires: crewai==1.15.30
"""CrewAI's side of the peer benchmarks (issue 7). Runs in the peers' venv.

    <peers-venv>/bin/python bench/peers/crewai_impl.py --workload W1 [--smoke] [--workdir DIR]

Custom model: a ``crewai.BaseLLM`` subclass (CrewAI's documented extension point for a custom
LLM) with ``call`` and a native ``acall`` (``asyncio.sleep(latency)``). It declares
``supports_function_calling() -> True``, so CrewAI's agent executor uses its native
tool-calling path (the one its built-in OpenAI/Anthropic providers use): the model answers a
list of OpenAI-style tool calls, the executor runs the tool and calls the model again. It
overrides ``get_input_tokens_count`` (same 4-characters-per-token estimate, minus the warning
CrewAI logs on every call for a model without a native count).

Telemetry, tracing and the version check are switched off by environment variables before
``crewai`` is imported; CrewAI's app-data directory (its always-on task-output SQLite DB used
by ``crewai replay``, and flow state) is redirected into ``--workdir`` with ``XDG_DATA_HOME``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402

for _key, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "OPENAI_API_KEY": "sk-fake",
}.items():
    os.environ[_key] = _value

WORKLOAD, SMOKE, WORKDIR = common.parse_args()
os.environ["XDG_DATA_HOME"] = os.path.join(WORKDIR, "crewai-data")

from crewai import Agent, Crew, Process, Task  # noqa: E402
from crewai import __version__ as VERSION  # noqa: E402
from crewai.llms.base_llm import BaseLLM  # noqa: E402
from crewai.tools import BaseTool  # noqa: E402

FRAMEWORK = "crewai"
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."

logging.getLogger("crewai").setLevel(logging.ERROR)


class BenchLLM(BaseLLM):
    """Scripted model: ``tool_calls`` calls of ``tool`` (if tools are offered), then ANSWER."""

    latency: float = 0.0
    tool: str = "lookup"
    tool_calls: int = 0

    def supports_function_calling(self) -> bool:
        return True

    def get_input_tokens_count(
        self, messages: Any, tools: Any = None, response_model: Any = None
    ) -> int:
        if isinstance(messages, str):
            return (len(messages) + 3) // 4
        return sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1

    def _answer(self, messages: Any, tools: Any) -> Any:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        done = sum(1 for m in messages if m.get("role") == "tool")
        if tools and done < self.tool_calls:
            args = json.dumps({"n": done})  # distinct arguments: CrewAI caches repeated calls
            return [
                {
                    "id": f"call_{done}",
                    "type": "function",
                    "function": {"name": self.tool, "arguments": args},
                }
            ]
        return ANSWER

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> Any:
        if self.latency:
            time.sleep(self.latency)
        return self._answer(messages, tools)

    async def acall(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> Any:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._answer(messages, tools)


def make_agent(role: str, latency: float = 0.0, **kw: Any) -> Agent:
    return Agent(
        role=role,
        goal="Pass the note on",
        backstory="A relay in a chain of agents.",
        llm=BenchLLM(model="bench", latency=latency, **kw.pop("llm_kw", {})),
        verbose=False,
        **kw,
    )


def chain_crew(length: int, latency: float = 0.0) -> Crew:
    agents = [make_agent(f"agent{i}", latency) for i in range(length)]
    tasks = [
        Task(
            description="Handle this: {msg}" if i == 0 else "Handle the previous agent's note.",
            expected_output="A short note.",
            agent=agent,
        )
        for i, agent in enumerate(agents)
    ]
    return Crew(agents=agents, tasks=tasks, process=Process.sequential, verbose=False)


def _check(output: Any, tasks: int) -> None:
    if output.raw != ANSWER or len(output.tasks_output) != tasks:
        raise RuntimeError(f"unexpected crew output: {output.raw!r}")


# -- W1: a Crew of 10 agents/tasks, sequential, 0 ms model -------------------------------------


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    crew = chain_crew(common.CHAIN)
    inputs = {"msg": CHAIN_INPUT}

    async def once() -> None:
        _check(await crew.akickoff(inputs=inputs), common.CHAIN)

    for _ in range(sizes["w1_warmup"]):
        await once()
    runs, wall = await common.atimed_runs(once, **common.box("W1", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W1",
        {"us_per_step": wall / (runs * common.CHAIN) * 1e6, "runs": runs},
        notes="one Crew of 10 Agents/Tasks, Process.sequential (each task gets the previous "
        "output as context), run with the native-async crew.akickoff(); BaseLLM subclass; "
        "includes CrewAI's always-on per-task write to its replay SQLite DB",
    )


# -- W2: 100 agents in parallel, 50 ms model ---------------------------------------------------


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    crews = []
    for i in range(sizes["w2_agents"]):
        agent = make_agent(f"a{i}", common.LATENCY_S)
        task = Task(description="Handle this: {msg}", expected_output="A note.", agent=agent)
        crews.append(Crew(agents=[agent], tasks=[task], verbose=False))
    inputs = {"msg": "go"}

    async def fan() -> None:
        outputs = await asyncio.gather(*(c.akickoff(inputs=inputs) for c in crews))
        for output in outputs:
            _check(output, 1)

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
        notes="asyncio.gather of crew.akickoff() over 100 one-agent Crews (a single Crew "
        "cannot run all its tasks at once: async_execution tasks must be followed by a sync "
        "one, so 100 tasks in one Crew take two rounds)",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


class Lookup(BaseTool):
    name: str = "lookup"
    description: str = "Look something up by number."
    calls: int = 0

    def _run(self, n: int) -> str:
        self.calls += 1
        return f"item {n}"


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    tool = Lookup()
    agent = make_agent("clerk", tools=[tool], llm_kw={"tool_calls": common.TOOL_CALLS})
    task = Task(description="Look up five things.", expected_output="A note.", agent=agent)
    crew = Crew(agents=[agent], tasks=[task], verbose=False)

    async def once() -> None:
        before = tool.calls
        _check(await crew.akickoff(), 1)
        if tool.calls - before != common.TOOL_CALLS:
            raise RuntimeError(f"the tool ran {tool.calls - before} times, not 5")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="one Agent with a BaseTool in a one-task Crew (crew.akickoff()); native tool "
        "calling (the model returns OpenAI-style tool calls; 5 distinct argument sets so "
        "CrewAI's tool cache does not short-circuit them); the whole run divided by 5",
    )


# -- W4: concurrent kickoffs of a 3-agent crew, 50 ms model -----------------------------------


async def w4(smoke: bool, workdir: str) -> None:
    crew = chain_crew(3, latency=common.LATENCY_S)
    inputs = {"msg": CHAIN_INPUT}

    async def batch(k: int) -> None:  # the probe, which is also the warm-up
        outputs = await crew.akickoff_for_each([dict(inputs) for _ in range(k)])
        assert isinstance(outputs, list)
        for output in outputs:
            _check(output, 3)

    n, fit_note = await common.w4_fit(batch, smoke)
    gc.collect()
    rss_before = common.rss_bytes()
    common.reset_peak_rss()
    started = time.perf_counter()
    outputs = await crew.akickoff_for_each([dict(inputs) for _ in range(n)])
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    assert isinstance(outputs, list)
    for output in outputs:
        _check(output, 3)
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="crew.akickoff_for_each(N inputs): CrewAI copies the 3-agent sequential Crew "
        "per input and runs the copies concurrently (native async); 50 ms acall" + fit_note,
    )


# -- W5: W1's chain as a Flow persisted with @persist(SQLiteFlowPersistence) -------------------


def chain_flow(persistence: Any, agents: list[Agent]) -> type:
    """A Flow with one method per agent (step0 @start, step_i @listen(step_{i-1})), each
    running its agent on the previous output; @persist saves the state after every method."""
    from crewai.flow import Flow, listen, persist, start
    from crewai.flow.flow import FlowState

    class ChainState(FlowState):
        msg: str = ""

    def make_step(agent: Agent) -> Any:
        async def step(self: Any) -> str:
            self.state.msg = (await agent.kickoff_async(self.state.msg)).raw
            return self.state.msg

        return step

    namespace: dict[str, Any] = {}
    for i, agent in enumerate(agents):
        step = make_step(agent)
        step.__name__ = step.__qualname__ = f"step{i}"
        namespace[step.__name__] = start()(step) if i == 0 else listen(f"step{i - 1}")(step)
    flow_cls = type("ChainFlow", (Flow[ChainState],), namespace)
    return persist(persistence)(flow_cls)


async def w5(smoke: bool, workdir: str) -> None:
    from crewai.flow.persistence import SQLiteFlowPersistence

    sizes = common.sizes(smoke)
    path = os.path.join(workdir, "crewai-w5.db")
    flow_cls = chain_flow(
        SQLiteFlowPersistence(path), [make_agent(f"agent{i}") for i in range(common.CHAIN)]
    )

    async def one() -> None:
        flow = flow_cls()
        result = await flow.kickoff_async(inputs={"msg": CHAIN_INPUT})
        if result != ANSWER:
            raise RuntimeError(f"unexpected flow output {result!r}")

    for _ in range(sizes["w1_warmup"]):
        await one()
    _checkpoint(path)
    before = common.db_bytes(path)
    runs, wall = await common.atimed_runs(one, **common.box("W5", smoke))
    _checkpoint(path)
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
        notes="a Flow with 10 chained methods (@start/@listen), each running one Agent "
        "(agent.kickoff_async); class-level @persist(SQLiteFlowPersistence) saves the flow "
        "state to SQLite after every method. (Crew-level CheckpointConfig(SqliteProvider) "
        "needs SQLite >= 3.45 for jsonb(); this Python links an older SQLite)",
    )


def _checkpoint(path: str) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


# -- W6: flows paused on human feedback ---------------------------------------------------------


def approval_flow(persistence: Any, agent: Agent) -> type:
    from crewai.flow import Flow, human_feedback, persist, start
    from crewai.flow.async_feedback import HumanFeedbackPending
    from crewai.flow.flow import FlowState

    class DeferredProvider:
        """An async-feedback provider (the documented pattern): raise HumanFeedbackPending so
        the flow pauses and its state and pending context are persisted."""

        def request_feedback(self, context: Any, flow: Any) -> str:
            raise HumanFeedbackPending(context=context)

    class RefundState(FlowState):
        proposal: str = ""

    @persist(persistence)
    class RefundFlow(Flow[RefundState]):
        @start()
        @human_feedback(message="Approve this refund?", provider=DeferredProvider())
        async def propose(self) -> str:
            self.state.proposal = (await agent.kickoff_async("Refund order A-100")).raw
            return self.state.proposal

    return RefundFlow


async def w6(smoke: bool, workdir: str) -> None:
    from crewai.flow.async_feedback import HumanFeedbackPending
    from crewai.flow.persistence import SQLiteFlowPersistence

    batch = 100
    path = os.path.join(workdir, "crewai-w6.db")
    persistence = SQLiteFlowPersistence(path)
    flow_cls = approval_flow(persistence, make_agent("clerk"))

    async def one() -> str:
        result = await flow_cls().kickoff_async()
        if not isinstance(result, HumanFeedbackPending):
            raise RuntimeError(f"flow did not pause: {result!r}")
        return str(result.context.flow_id)

    ids: list[str] = []
    meter = common.W6Meter(smoke)
    while size := meter.next_batch(batch):
        ids.extend(await asyncio.gather(*(one() for _ in range(size))))
        meter.created(size)
    figures = meter.metrics(db_mb=common.db_bytes(path) / 1e6)
    # prove they resume: a fresh instance from the persisted pending context, then resume
    resumed_flow = flow_cls.from_pending(ids[0], persistence)
    resumed = await resumed_flow.resume_async("approved")
    if resumed_flow.state.proposal != ANSWER:
        raise RuntimeError(f"resumed flow ended with {resumed!r}")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W6",
        figures,
        notes="a Flow whose @start method runs an Agent and is decorated with "
        "@human_feedback(provider=...) whose provider raises HumanFeedbackPending (CrewAI's "
        "async human-feedback pattern): the flow pauses, its state and pending context are "
        "saved by @persist(SQLiteFlowPersistence); one is resumed with Flow.from_pending(id)"
        f".resume_async(). {batch} flows at a time via asyncio.gather" + meter.note(),
    )


# -- W7 ----------------------------------------------------------------------------------------


async def w7(smoke: bool, workdir: str) -> None:
    common.unsupported(
        FRAMEWORK,
        VERSION,
        "W7",
        "no durable resume of in-flight runs that fits: @persist reloads a flow's state but "
        "re-runs it from its @start method, and CheckpointConfig resume restores one "
        "checkpoint path at a time into the process-wide runtime state (its SQLite provider "
        "also needs SQLite >= 3.45 for jsonb(); this Python links 3.40)",
    )


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}


def main() -> None:
    asyncio.run(WORKLOADS[WORKLOAD](SMOKE, WORKDIR))


if __name__ == "__main__":
    main()
