# requires: autogen-agentchat==0.7.5 autogen-core==0.7.5
"""AutoGen (AgentChat) side of the peer benchmarks (issue 7). Runs in the peers' venv.

    <peers-venv>/bin/python bench/peers/autogen_impl.py --workload W1 [--smoke] [--workdir DIR]

Custom model: a ``autogen_core.models.ChatCompletionClient`` subclass (AutoGen's extension
point for a model client; ``ReplayChatCompletionClient`` replays a fixed list and has no
latency). ``create`` sleeps ``latency`` with ``asyncio.sleep`` and returns a ``CreateResult``
with text or a list of ``FunctionCall``. Every agent step is a real ``AssistantAgent.run``
(model context, model call, tool execution, response messages).

An ``AssistantAgent`` keeps its conversation in its model context across runs, so every run
starts from ``on_reset`` (the documented way to start over); concurrent runs (W2, W4) use
their own agents.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import common  # noqa: E402

os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("AUTOGEN_DISABLE_RUNTIME_TRACING", "true")

from autogen_agentchat.agents import AssistantAgent  # noqa: E402
from autogen_agentchat.messages import TextMessage  # noqa: E402
from autogen_core import CancellationToken, FunctionCall  # noqa: E402
from autogen_core.models import (  # noqa: E402
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    UserMessage,
)
from autogen_core.tools import FunctionTool, Tool, ToolSchema  # noqa: E402

FRAMEWORK = "autogen"
VERSION = version("autogen-agentchat")
ANSWER = "Noted. Passing this on to the next agent."
CHAIN_INPUT = "A customer asks where order A-1042 is."
USAGE = RequestUsage(prompt_tokens=10, completion_tokens=10)
INFO: ModelInfo = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": ModelFamily.UNKNOWN,
    "structured_output": False,
}


class BenchClient(ChatCompletionClient):
    """Scripted model: ``tool_calls`` calls of ``tool`` (counted since the last user message),
    then ``ANSWER``; ``latency`` seconds of ``asyncio.sleep`` per call."""

    def __init__(self, latency: float = 0.0, tool: str = "lookup", tool_calls: int = 0) -> None:
        self.latency = latency
        self.tool = tool
        self.tool_calls = tool_calls

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        done = 0
        for message in reversed(messages):
            if isinstance(message, UserMessage):
                break
            if isinstance(message, FunctionExecutionResultMessage):
                done += 1
        if tools and done < self.tool_calls:
            call = FunctionCall(
                id=f"call_{done}", name=self.tool, arguments=json.dumps({"n": done})
            )
            return CreateResult(
                finish_reason="function_calls", content=[call], usage=USAGE, cached=False
            )
        return CreateResult(finish_reason="stop", content=ANSWER, usage=USAGE, cached=False)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, tools=tools)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return USAGE

    def total_usage(self) -> RequestUsage:
        return USAGE

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Any = ()) -> int:
        return 10 * len(messages)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Any = ()) -> int:
        return 100_000

    @property
    def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
        return INFO  # type: ignore[return-value]

    @property
    def model_info(self) -> ModelInfo:
        return INFO


def make_agents(length: int, latency: float = 0.0, prefix: str = "agent") -> list[AssistantAgent]:
    return [
        AssistantAgent(f"{prefix}{i}", model_client=BenchClient(latency)) for i in range(length)
    ]


def _text(result: Any) -> str:
    last = result.messages[-1]
    if not isinstance(last, TextMessage):
        raise RuntimeError(f"unexpected last message {type(last).__name__}")
    return last.content


async def run_chain(agents: list[AssistantAgent], message: str, reset: bool = True) -> str:
    token = CancellationToken()
    for agent in agents:
        if reset:
            await agent.on_reset(token)
        message = _text(await agent.run(task=message))
    return message


# -- W1: a chain of 10 agents, 0 ms model ------------------------------------------------------


async def w1(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agents = make_agents(common.CHAIN)
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
        notes="10 AssistantAgents chained in application code (await agent_i.run(task="
        "previous output), each after on_reset); ChatCompletionClient subclass; a "
        "RoundRobinGroupChat team would add the agent runtime's message routing per turn",
    )


# -- W2: 100 agents in parallel, 50 ms model ---------------------------------------------------


async def w2(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    agents = make_agents(sizes["w2_agents"], latency=common.LATENCY_S, prefix="a")

    async def fan() -> None:
        outputs = await asyncio.gather(*(run_chain([a], "go") for a in agents))
        if any(o != ANSWER for o in outputs):
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
        notes="asyncio.gather of 100 AssistantAgent.run calls (AgentChat has no fan-out "
        "construct for independent agents; teams take turns)",
    )


# -- W3: one agent, 5 tool calls ---------------------------------------------------------------


async def w3(smoke: bool, workdir: str) -> None:
    sizes = common.sizes(smoke)
    calls = [0]

    async def lookup(n: int) -> str:
        """Look something up by number."""
        calls[0] += 1
        return f"item {n}"

    agent = AssistantAgent(
        "clerk",
        model_client=BenchClient(tool_calls=common.TOOL_CALLS),
        tools=[FunctionTool(lookup, description="Look something up by number.")],
        max_tool_iterations=common.TOOL_CALLS + 1,
        reflect_on_tool_use=False,
    )
    token = CancellationToken()

    async def once() -> None:
        before = calls[0]
        await agent.on_reset(token)
        if _text(await agent.run(task="Look up five things.")) != ANSWER:
            raise RuntimeError("unexpected output")
        if calls[0] - before != common.TOOL_CALLS:
            raise RuntimeError(f"the tool ran {calls[0] - before} times, not 5")

    for _ in range(sizes["w3_warmup"]):
        await once()
    count, wall = await common.atimed_runs(once, **common.box("W3", smoke))
    common.emit(
        FRAMEWORK,
        VERSION,
        "W3",
        {"us_per_tool_call": wall / (count * common.TOOL_CALLS) * 1e6, "runs": count},
        notes="one AssistantAgent with an async FunctionTool, max_tool_iterations=6 (the "
        "default 1 stops after the first tool call), reflect_on_tool_use=False: the model's "
        "own turn-6 text ends the run (6 model calls, 5 tool calls); the whole run divided by 5",
    )


# -- W4: 1,000 concurrent runs of a 3-agent chain, 50 ms model --------------------------------


async def w4(smoke: bool, workdir: str) -> None:

    async def one() -> str:
        return await run_chain(make_agents(3, latency=common.LATENCY_S), CHAIN_INPUT, reset=False)

    async def batch(k: int) -> None:  # the probe, which is also the warm-up
        if any(o != ANSWER for o in await asyncio.gather(*(one() for _ in range(k)))):
            raise RuntimeError("unexpected chain output")

    n, fit_note = await common.w4_fit(batch, smoke)
    gc.collect()
    rss_before = common.rss_bytes()
    common.reset_peak_rss()

    started = time.perf_counter()
    outputs = await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - started
    peak = common.peak_rss_bytes()
    if any(o != ANSWER for o in outputs):
        raise RuntimeError("unexpected chain output")
    common.emit(
        FRAMEWORK,
        VERSION,
        "W4",
        {"runs_per_s": n / wall, "kib_per_run": max(0, peak - rss_before) / n / 1024, "runs": n},
        notes="asyncio.gather of N chains, each building its own 3 AssistantAgents (an "
        "agent holds its conversation, so concurrent runs cannot share one); 50 ms model"
        + fit_note,
    )


# -- W5 / W6 / W7 ------------------------------------------------------------------------------


async def w5(smoke: bool, workdir: str) -> None:
    common.unsupported(
        FRAMEWORK,
        VERSION,
        "W5",
        "AutoGen has no durable store: agents and teams only export their state as a dict "
        "(save_state/load_state) for the application to persist itself",
    )


async def w6(smoke: bool, workdir: str) -> None:
    common.unsupported(
        FRAMEWORK,
        VERSION,
        "W6",
        "AssistantAgent has no approval gate on a tool call that suspends the run; "
        "human-in-the-loop means ending the team run (e.g. HandoffTermination) and re-running "
        "it later from state the application saved itself",
    )


async def w7(smoke: bool, workdir: str) -> None:
    common.unsupported(
        FRAMEWORK,
        VERSION,
        "W7",
        "AutoGen has no durable execution: nothing is journaled, so a killed process loses "
        "its in-flight runs",
    )


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}


def main() -> None:
    workload, smoke, workdir = common.parse_args()
    asyncio.run(WORKLOADS[workload](smoke, workdir))


if __name__ == "__main__":
    main()
