"""Supervisor: a manager delegating to workers (as tools), spawning sub-agents, depth limits,
failed workers as tool errors, and replay after a crash mid-delegation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Agent, Context, Runtime, SQLiteStore, workflow
from podium.errors import NonDeterminismError, SpecError
from podium.events import Event, ToolCallCompleted
from podium.messages import ModelRequest, SystemMessage, ToolMessage, UserMessage
from podium.patterns import Supervisor
from podium.testing import ScriptedModel, call
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

SPANS: dict[str, list[float]] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    SPANS.clear()


class _Crash(BaseException):
    """Simulates the process dying mid-run (nothing is recorded for it)."""


async def journal(runtime: Runtime, run_id: str) -> list[Event]:
    return [s.event for s in await runtime.store.read(run_id)]


async def step_keys(runtime: Runtime, run_id: str) -> list[str]:
    return [k for e in await journal(runtime, run_id) if (k := getattr(e, "key", None))]


def tool_results(request: ModelRequest) -> list[ToolMessage]:
    return [m for m in request.messages if isinstance(m, ToolMessage)]


def manager(*script: Any) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(script)
    return Agent(name="manager", model=model, instructions="Lead the team."), model


async def test_manager_delegates_and_gets_worker_outputs_as_tool_results() -> None:
    research_model = ScriptedModel(["3 suppliers", "prices up 4%"])
    research = Agent(name="research", model=research_model, instructions="Find facts.\nCite.")
    boss, boss_model = manager(
        call("research", task="find suppliers"), call("research", task="check prices"), "plan"
    )
    runtime = Runtime()
    result = await runtime.run(Supervisor("sup", boss, [research]), "buy steel")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "plan"

    (definition,) = boss_model.requests[0].tools
    assert definition.name == "research"
    assert definition.description.endswith("Find facts.")
    assert definition.parameters["required"] == ["task"]
    assert [m.content for m in research_model.requests[0].messages] == [
        "Find facts.\nCite.",
        "find suppliers",
    ]
    assert [(m.content, m.is_error) for m in tool_results(boss_model.requests[1])] == [
        ("3 suppliers", False)
    ]
    assert [m.content for m in tool_results(boss_model.requests[2])] == [
        "3 suppliers",
        "prices up 4%",
    ]
    assert await step_keys(runtime, result.run_id) == [
        "sup/manager/model#1",
        "sup/manager/research[1]/model#1",
        "sup/manager/tool:research#2",
        "sup/manager/model#3",
        "sup/manager/research[2]/model#1",
        "sup/manager/tool:research#4",
        "sup/manager/model#5",
    ]


def timed_worker(name: str, value: Any) -> Any:
    async def worker(task: str) -> Any:
        SPANS[name] = [time.monotonic()]
        await anyio.sleep(0.05)
        SPANS[name].append(time.monotonic())
        return {"task": task, "answer": value}

    worker.__name__ = name
    return worker


async def test_several_delegations_in_one_turn_run_concurrently() -> None:
    boss, boss_model = manager(
        [call("research", task="suppliers"), call("pricing", task="steel")], "done"
    )
    sup = Supervisor("sup", boss, [timed_worker("research", 3), timed_worker("pricing", 9.5)])
    runtime = Runtime()
    result = await runtime.run(sup, "buy steel")
    assert result.output == "done"
    assert max(SPANS["research"][0], SPANS["pricing"][0]) < min(
        SPANS["research"][1], SPANS["pricing"][1]
    )
    results = tool_results(boss_model.requests[1])
    assert [(m.name, m.content) for m in results] == [
        ("research", '{"task": "suppliers", "answer": 3}'),
        ("pricing", '{"task": "steel", "answer": 9.5}'),
    ]
    keys = await step_keys(runtime, result.run_id)
    assert "sup/manager/research[1]/call#1" in keys
    assert "sup/manager/pricing[1]/call#1" in keys


async def test_a_failing_worker_is_a_tool_error_and_the_manager_goes_on() -> None:
    async def flaky(ctx: Context, task: str) -> Any:
        raise RuntimeError("no data")

    boss, boss_model = manager(call("flaky", task="look"), "did it myself")
    result = await Runtime().run(Supervisor("sup", boss, [flaky]), "go")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "did it myself"
    (error,) = tool_results(boss_model.requests[1])
    assert error.is_error
    assert error.content == "sup/manager/flaky[1] failed: RuntimeError: no data"


async def test_a_missing_task_argument_is_a_tool_error() -> None:
    boss, boss_model = manager(call("helper", task="  "), "ok")

    def helper(task: str) -> str:
        return task

    result = await Runtime().run(Supervisor("sup", boss, [helper]), "go")
    assert result.output == "ok"
    (error,) = tool_results(boss_model.requests[1])
    assert error.is_error
    assert "'task' argument is required" in error.content


async def test_spawned_agents_follow_the_template_up_to_max_spawn() -> None:
    helper_model = ScriptedModel(["clause 4 is risky"])
    template = Agent(name="helper", model=helper_model, instructions="Generic helper.")
    boss, boss_model = manager(
        call("spawn_agent", name="legal eagle", instructions="You are a lawyer.", task="clause 4"),
        call("spawn_agent", name="tax", instructions="You do tax.", task="VAT?"),
        "summary",
    )
    sup = Supervisor("sup", boss, template=template, max_spawn=1)
    runtime = Runtime()
    result = await runtime.run(sup, "review the contract")
    assert result.output == "summary"
    assert [t.name for t in boss_model.requests[0].tools] == ["spawn_agent"]
    (request,) = helper_model.requests  # the second spawn never ran
    assert request.messages == (
        SystemMessage(content="You are a lawyer."),
        UserMessage(content="clause 4"),
    )
    first, second = tool_results(boss_model.requests[2])
    assert (first.content, first.is_error) == ("clause 4 is risky", False)
    assert second.is_error
    assert "spawn limit reached: at most 1" in second.content
    assert "sup/manager/spawned.legal_eagle[1]/model#1" in await step_keys(runtime, result.run_id)


@pytest.mark.parametrize("inner_depth", [1, 2])
async def test_delegation_depth_is_capped(inner_depth: int) -> None:
    filed: list[str] = []

    def clerk(task: str) -> str:
        filed.append(task)
        return "filed"

    lead_model = ScriptedModel([call("clerk", task="file it"), "lead finished"])
    inner = Supervisor(
        "inner", Agent(name="lead", model=lead_model), [clerk], max_depth=inner_depth
    )
    boss, boss_model = manager(call("inner", task="handle filing"), "boss finished")
    runtime = Runtime()
    result = await runtime.run(Supervisor("outer", boss, [inner]), "go")
    assert result.output == "boss finished"
    assert tool_results(boss_model.requests[1])[0].content == "lead finished"
    (answer,) = tool_results(lead_model.requests[1])
    if inner_depth == 1:  # the lead already runs one delegation deep
        assert answer.is_error
        assert "depth limit" in answer.content
        assert filed == []
    else:
        assert (answer.content, answer.is_error) == ("filed", False)
        assert filed == ["file it"]
        keys = await step_keys(runtime, result.run_id)
        assert "outer/manager/inner[1]/lead/clerk[1]/call#1" in keys


def test_supervisor_refuses_bad_definitions() -> None:
    boss, _ = manager("x")
    with pytest.raises(SpecError, match="needs workers or a template"):
        Supervisor("sup", boss)
    with pytest.raises(SpecError, match="manager must be an Agent"):
        Supervisor("sup", lambda x: x, [lambda x: x])  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="two workers"):
        Supervisor("sup", boss, [Agent(name="w", model="openai:x"), lambda x: x, lambda x: x])
    with pytest.raises(SpecError, match="max_spawn"):
        Supervisor("sup", boss, template=boss, max_spawn=-1)


async def test_crash_mid_delegation_does_not_call_the_finished_worker_again(
    tmp_path: Path,
) -> None:
    a_model = ScriptedModel(["A out"])
    b_model = ScriptedModel([_Crash(), "B out"])  # the process dies inside b's first call
    boss, boss_model = manager(call("a", task="x"), call("b", task="y"), "done")
    sup = Supervisor("sup", boss, [Agent(name="a", model=a_model), Agent(name="b", model=b_model)])
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(sup, "go")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, sup)
    assert (len(boss_model.requests), len(a_model.requests), len(b_model.requests)) == (2, 1, 1)

    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, sup)
    assert result.status is RunStatus.COMPLETED
    assert result.output == "done"
    assert (len(boss_model.requests), len(a_model.requests), len(b_model.requests)) == (3, 1, 2)
    assert [m.content for m in tool_results(boss_model.requests[-1])] == ["A out", "B out"]


STEP = {"name": "first"}


@workflow(name="clerk")
async def suspending_clerk(ctx: Context, task: str) -> str:
    await ctx.step(STEP["name"], lambda: 1)
    await ctx.wait_for("go")
    return "filed"


async def test_a_divergence_inside_a_nested_worker_fails_closed() -> None:
    STEP["name"] = "first"
    lead = Agent(name="lead", model=ScriptedModel([call("clerk", task="x"), "lead done"]))
    inner = Supervisor("inner", lead, [suspending_clerk])
    boss, _ = manager(call("inner", task="y"), "boss done")
    outer = Supervisor("outer", boss, [inner])
    runtime = Runtime()
    first = await runtime.run(outer, "go")
    assert first.status is RunStatus.SUSPENDED
    STEP["name"] = "renamed"  # the code changed while the run waited
    await runtime.signal(first.run_id, "go")
    with pytest.raises(NonDeterminismError, match="renamed#1"):
        await runtime.resume(first.run_id, outer)


async def test_a_refused_delegation_is_journaled_once() -> None:
    template = Agent(name="helper", model=ScriptedModel(["a", "b"]))
    boss, _ = manager(
        call("spawn_agent", name="a", instructions="i", task="t"),
        call("spawn_agent", name="b", instructions="i", task="t"),  # over max_spawn
        call("wait", task="t"),
        "done",
    )

    @workflow(name="wait")
    async def wait(ctx: Context, task: str) -> str:
        await ctx.wait_for("go")
        return "ok"

    sup = Supervisor("sup", boss, [wait], template=template, max_spawn=1)
    runtime = Runtime()
    first = await runtime.run(sup, "x")
    assert (first.status, first.tool_calls) == (RunStatus.SUSPENDED, 2)
    await runtime.signal(first.run_id, "go")
    done = await runtime.resume(first.run_id, sup)  # replays the refusal
    keys = [e.key for e in await journal(runtime, first.run_id) if isinstance(e, ToolCallCompleted)]
    assert keys == [
        "sup/manager/tool:spawn_agent#2",
        "sup/manager/tool:spawn_agent#4",
        "sup/manager/tool:wait#6",
    ]
    assert done.tool_calls == 3
