"""Commit discipline: at most one transaction per step, parallel branches group-committed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import podium
from podium.agents import Agent
from podium.messages import TextDelta
from podium.runtime import Context, Runtime, workflow
from podium.store import MemoryStore, SQLiteStore
from podium.testing import ScriptedModel, call
from podium.tools import tool

pytestmark = pytest.mark.anyio


async def test_chain_of_agents_costs_one_commit_per_step(tmp_path: Path) -> None:
    agents = [Agent(name=f"a{i}", model=ScriptedModel([f"out {i}"])) for i in range(10)]

    @workflow(name="chain")
    async def chain(ctx: Context, input: Any) -> Any:
        for agent in agents:
            input = await ctx.run(agent, input)
        return input

    store = SQLiteStore(tmp_path / "db.sqlite")
    result = await Runtime(store).run(chain, "start")
    assert result.output == "out 9"
    # 1 create + 1 claim + 10 model steps + 1 finish; node events ride along with steps
    assert store.commits == 13
    await store.close()


async def test_parallel_tool_results_are_group_committed() -> None:
    gate = anyio.Event()
    arrived = 0

    @tool
    async def slow(n: int) -> int:
        """Wait for all siblings, then return together."""
        nonlocal arrived
        arrived += 1
        if arrived == 8:
            gate.set()
        await gate.wait()
        return n

    calls = [call("slow", n=i) for i in range(8)]
    store = MemoryStore()
    agent = Agent(name="fan", model=ScriptedModel([calls, "done"]), tools=[slow])
    before = store.commits
    result = await Runtime(store).run(agent, "go")
    assert result.tool_calls == 8
    tool_commits = store.commits - before - 5  # create, claim, 2 model steps, finish
    assert tool_commits < 8  # eight results, fewer transactions


async def test_streaming_deltas_reach_the_sink_and_journal_keeps_the_whole_response() -> None:
    deltas: list[tuple[str, str]] = []
    agent = Agent(name="talker", model=ScriptedModel(["hello there world"]))
    runtime = Runtime(on_delta=lambda key, d: deltas.append((key, d.text)))
    result = await runtime.run(agent, "hi")
    assert result.output == "hello there world"
    assert [k for k, _ in deltas] == ["talker/model#1"] * 3
    assert "".join(t for _, t in deltas).strip() == "hello there world"
    assert all(isinstance(TextDelta(text=t), TextDelta) for _, t in deltas)


def test_public_surface_is_deliberate() -> None:
    assert set(podium.__all__) == {
        "Agent", "Context", "ContextOverflow", "ContextPolicy", "Effect", "FallbackModel",
        "MemoryStore", "Model", "ModelError", "ModelRequest", "ModelResponse", "ModelSettings",
        "NonDeterminismError", "PodiumError", "RateLimit", "Resolution", "RetryModel",
        "RetryPolicy", "Router", "Rule", "RunFilter", "RunNotFound", "RunResult", "RunStatus",
        "Runtime", "SQLiteStore", "StepFailedError", "Store", "Tool", "ToolCall", "ToolContext",
        "ToolError", "Usage", "UserError", "Workflow", "__version__", "infer_model", "load_spec",
        "run_sync", "tool", "workflow",
    }  # fmt: skip
    for name in podium.__all__:
        assert hasattr(podium, name), name


def test_import_podium_does_not_import_vendor_sdks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, podium, podium.cli; "
        "vendors = ('openai', 'anthropic', 'httpx2', 'podium.testing', 'genai_prices', "
        "'tiktoken'); "
        "bad = [m for m in vendors if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sync_wrapper() -> None:
    result = podium.run_sync(Agent(name="a", model=ScriptedModel(["sync ok"])), "hi")
    assert result.output == "sync ok"


async def test_model_strings_resolve_and_name_missing_pieces() -> None:
    from podium.errors import SpecError
    from podium.models import infer_model

    with pytest.raises(SpecError, match="unknown model provider 'nope'"):
        infer_model("nope:model")
    with pytest.raises(SpecError, match="provider:model"):
        infer_model("gpt-4")
    with pytest.raises(SpecError):
        Agent(name="bad name!", model="openai:x")


@pytest.mark.anyio
async def test_a_run_of_instant_steps_still_lets_other_tasks_run() -> None:
    """Appends to a MemoryStore (and inline SQLite commits) never wait, but a long run of them
    yields to the loop now and then: here the run polls for a flag another task sets."""
    flag: list[bool] = []

    def check(i: int) -> bool:
        return bool(flag)

    @podium.workflow(name="poller")
    async def poller(ctx: podium.Context, input: Any) -> Any:
        for i in range(10_000):
            if await ctx.step("check", check, i):
                return i
        return None

    async def setter() -> None:
        flag.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(setter)  # scheduled, not yet run
        result = await podium.Runtime().run(poller, None)
    assert result.status is podium.RunStatus.COMPLETED
    assert result.output is not None
    assert result.output < 100
