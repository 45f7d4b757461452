"""Sequential, Parallel, Map and Loop: outputs, paths, failure policies, limits and replay.

Parallelism is shown by intervals the branches record themselves (``time.monotonic()``), never
by how long a test takes. ``_Crash`` (a BaseException) simulates the process dying; a fresh
``Runtime`` over the same SQLite file then resumes the run, as another process would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pydantic
import pytest

from podium import Agent, Context, MemoryStore, Runtime, SQLiteStore, workflow
from podium.errors import NonDeterminismError, SpecError
from podium.events import Event, NodeStarted, StepCompleted
from podium.messages import UserMessage
from podium.patterns import BranchFailure, Loop, Map, Parallel, Quorum, Sequential, Verdict
from podium.runtime import Workflow, as_node
from podium.runtime.nodes import FunctionNode
from podium.testing import ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

COUNTS: dict[str, int] = {}
SPANS: dict[str, list[float]] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    COUNTS.clear()
    SPANS.clear()


class _Crash(BaseException):
    """Simulates the process dying mid-run (nothing is recorded for it)."""


def bump(name: str) -> int:
    COUNTS[name] = COUNTS.get(name, 0) + 1
    return COUNTS[name]


def sleeper(name: str, seconds: float, value: Any) -> Any:
    """An async function branch that records its own [start, end] interval."""

    async def branch(input: Any) -> Any:
        bump(name)
        SPANS[name] = [time.monotonic()]
        await anyio.sleep(seconds)
        SPANS[name].append(time.monotonic())
        return value

    branch.__name__ = name
    return branch


def overlap(*names: str) -> bool:
    """Every interval was open at one common instant."""
    return max(SPANS[n][0] for n in names) < min(SPANS[n][1] for n in names)


async def journal(runtime: Runtime, run_id: str) -> list[Event]:
    return [s.event for s in await runtime.store.read(run_id)]


async def step_keys(runtime: Runtime, run_id: str) -> list[str]:
    return [k for e in await journal(runtime, run_id) if (k := getattr(e, "key", None))]


def inside(node: Any, name: str = "flow") -> Workflow:
    """A workflow running ``node`` as its child, so paths read ``flow/<node>``."""

    async def body(ctx: Context, input: Any) -> Any:
        return await ctx.run(node, input)

    return Workflow(body, name)


# -- as_node -----------------------------------------------------------------------------------


async def test_as_node_tells_functions_from_workflows_and_names_lambdas() -> None:
    async def fetch(input: Any) -> Any:
        return input

    async def flow(ctx: Context, input: Any) -> Any:
        return input

    fn, wf, anonymous = as_node(fetch), as_node(flow), as_node(lambda x: x)
    assert isinstance(fn, FunctionNode)
    assert (fn.name, fn.kind) == ("fetch", "function")
    assert isinstance(wf, Workflow)
    assert (wf.name, wf.kind) == ("flow", "workflow")
    assert isinstance(anonymous, FunctionNode)
    assert anonymous.name == "lambda"


# -- Sequential --------------------------------------------------------------------------------


async def test_sequential_chains_outputs_and_journals_a_mapping_function() -> None:
    drafter, polisher = ScriptedModel(["a draft"]), ScriptedModel(["POLISHED"])
    seq = Sequential(
        "flow",
        [
            Agent(name="draft", model=drafter),
            lambda text: text.upper() + "!",
            Agent(name="polish", model=polisher),
        ],
    )
    runtime = Runtime()
    result = await runtime.run(seq, "topic")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "POLISHED"
    assert drafter.requests[0].messages[-1] == UserMessage(content="topic")
    assert polisher.requests[0].messages[-1] == UserMessage(content="A DRAFT!")
    assert await step_keys(runtime, result.run_id) == [
        "flow/draft/model#1",
        "flow/lambda/call#1",
        "flow/polish/model#1",
    ]
    mapped = [e for e in await journal(runtime, result.run_id) if isinstance(e, StepCompleted)]
    assert [(e.kind, e.result) for e in mapped] == [("function", "A DRAFT!")]


class Score(pydantic.BaseModel):
    value: int


async def test_sequential_output_type_validates_the_final_output() -> None:
    ok = await Runtime().run(Sequential("flow", [lambda x: {"value": x * 2}], output_type=Score), 4)
    assert ok.output == {"value": 8}
    bad = Sequential("flow", [lambda x: {"value": "many"}], output_type=Score)
    result = await Runtime().run(bad, 4)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("OutputValidationError: sequential 'flow'")


async def test_sequential_gives_repeated_steps_their_own_paths() -> None:
    def inc(x: int) -> int:
        return x + 1

    runtime = Runtime()
    result = await runtime.run(Sequential("flow", [inc, inc, inc]), 0)
    assert result.output == 3
    assert await step_keys(runtime, result.run_id) == [
        "flow/inc/call#1",
        "flow/inc[2]/call#1",
        "flow/inc[3]/call#1",
    ]


async def test_sequential_resumes_after_a_crash_without_rerunning_step_one(
    tmp_path: Path,
) -> None:
    def first(x: str) -> str:
        bump("first")
        return x + "-1"

    def second(x: str) -> str:
        if bump("second") == 1:
            raise _Crash()
        return x + "-2"

    seq = Sequential("flow", [first, second])
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(seq, "in")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, seq)
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, seq)
    assert result.output == "in-1-2"
    assert COUNTS == {"first": 1, "second": 2}


# -- Parallel ----------------------------------------------------------------------------------


async def test_parallel_returns_a_dict_and_gives_each_branch_its_path() -> None:
    fraud_model = ScriptedModel(["low risk"])
    checks = Parallel(
        "checks",
        {"credit": lambda who: f"{who}: 700", "fraud": Agent(name="fraud", model=fraud_model)},
    )
    runtime = Runtime()
    result = await runtime.run(inside(checks), "ana")
    assert result.output == {"credit": "ana: 700", "fraud": "low risk"}
    assert sorted(await step_keys(runtime, result.run_id)) == [
        "flow/checks[credit]/call#1",
        "flow/checks[fraud]/model#1",
    ]
    started = {
        e.path: e.kind for e in await journal(runtime, result.run_id) if isinstance(e, NodeStarted)
    }
    assert started["flow/checks"] == "parallel"
    assert started["flow/checks[fraud]"] == "agent"


async def test_parallel_branches_run_concurrently() -> None:
    checks = Parallel(
        "checks", [sleeper("a", 0.05, 1), sleeper("b", 0.05, 2), sleeper("c", 0.05, 3)]
    )
    result = await Runtime().run(checks, None)
    assert result.output == {"a": 1, "b": 2, "c": 3}
    assert overlap("a", "b", "c")


async def test_fail_fast_cancels_siblings_and_fails_with_the_original_error() -> None:
    async def bad(ctx: Context, input: Any) -> Any:
        await anyio.sleep(0.01)
        raise ValueError("credit bureau down")

    checks = Parallel("checks", {"bad": bad, "slow": sleeper("slow", 30, "late")})
    result = await Runtime().run(checks, None)
    assert result.status is RunStatus.FAILED
    assert result.error == "ValueError: credit bureau down (at checks[bad])"
    assert COUNTS["slow"] == 1  # it started...
    assert len(SPANS["slow"]) == 1  # ...and never finished


async def test_collect_yields_a_branch_failure_in_place() -> None:
    seen: list[Any] = []

    async def bad(ctx: Context, input: Any) -> Any:
        raise ValueError("no score")

    def reducer(outcomes: dict[str, Any]) -> Any:
        seen.append(outcomes["bad"])
        return outcomes

    checks = Parallel("checks", {"ok": lambda x: 1, "bad": bad}, policy="collect", reducer=reducer)
    result = await Runtime().run(checks, None)
    assert result.status is RunStatus.COMPLETED
    assert result.output == {
        "ok": 1,
        "bad": {"branch": "bad", "error_type": "ValueError", "message": "no score"},
    }
    assert seen == [BranchFailure("bad", "ValueError", "no score")]


async def test_quorum_returns_the_first_k_and_journals_the_decision() -> None:
    votes = Parallel(
        "votes",
        {
            "a": sleeper("a", 0, "yes"),
            "b": sleeper("b", 0.01, "no"),
            "slow": sleeper("slow", 30, "?"),
        },
        policy=Quorum(2),
    )
    runtime = Runtime()
    result = await runtime.run(inside(votes), None)
    assert result.output == {"a": "yes", "b": "no"}
    assert len(SPANS["slow"]) == 1  # cancelled before it finished
    decisions = [
        (e.key, e.result)
        for e in await journal(runtime, result.run_id)
        if isinstance(e, StepCompleted) and e.kind == "decision"
    ]
    assert decisions == [("flow/votes/quorum#1", ["a", "b"])]


async def test_quorum_replay_runs_exactly_the_journaled_winners(tmp_path: Path) -> None:
    votes = Parallel(
        "votes",
        {"a": sleeper("a", 0, "yes"), "slow": sleeper("slow", 30, "?"), "b": sleeper("b", 0, "no")},
        policy=Quorum(2),
    )

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        tally = await ctx.run(votes, input)
        if bump("crash") == 1:
            raise _Crash()
        return tally

    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(flow, None)
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    assert COUNTS == {"a": 1, "b": 1, "slow": 1, "crash": 1}
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, flow)
    assert result.output == {"a": "yes", "b": "no"}
    assert COUNTS == {"a": 1, "b": 1, "slow": 1, "crash": 2}  # nothing ran again
    decisions = [e for e in await journal(runtime, run_id) if getattr(e, "kind", "") == "decision"]
    assert len(decisions) == 1


async def test_quorum_not_reached_when_too_many_branches_fail() -> None:
    async def down(ctx: Context, input: Any) -> Any:
        raise ConnectionError(f"{ctx.path} down")

    votes = Parallel(
        "votes", {"a": down, "b": down, "slow": sleeper("slow", 30, "?")}, policy=Quorum(2)
    )
    result = await Runtime().run(votes, None)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("QuorumNotReached: votes: 0 of 2 needed")
    assert "a: ConnectionError: votes[a] down" in result.error
    assert len(SPANS["slow"]) == 1  # cancelled once the quorum was out of reach


def counted(gauge: dict[str, int]) -> Any:
    async def branch(input: Any) -> Any:
        gauge["now"] += 1
        gauge["peak"] = max(gauge["peak"], gauge["now"])
        await anyio.sleep(0.01)
        gauge["now"] -= 1
        return input

    return branch


async def test_max_concurrency_caps_branches_running_at_once() -> None:
    gauge = {"now": 0, "peak": 0}
    checks = Parallel("checks", {f"b{i}": counted(gauge) for i in range(6)}, max_concurrency=2)
    result = await Runtime().run(checks, "x")
    assert result.output == {f"b{i}": "x" for i in range(6)}
    assert gauge["peak"] == 2  # at most the limit, and the limit was used

    gauge = {"now": 0, "peak": 0}
    mapped = await Runtime().run(Map("m", counted(gauge), max_concurrency=3), list(range(7)))
    assert mapped.output == list(range(7))
    assert gauge["peak"] == 3


async def test_reducer_function_is_a_journaled_step() -> None:
    checks = Parallel(
        "checks", {"a": lambda x: x + 1, "b": lambda x: x * 10}, reducer=lambda r: r["a"] + r["b"]
    )
    runtime = Runtime()
    result = await runtime.run(inside(checks), 2)
    assert result.output == 23
    assert (await step_keys(runtime, result.run_id))[-1] == "flow/checks/reduce/call#1"


async def test_reducer_agent_reads_the_branch_outputs() -> None:
    judge = ScriptedModel(["approve"])
    checks = Parallel(
        "checks",
        {"credit": lambda x: 700, "fraud": lambda x: "low"},
        reducer=Agent(name="judge", model=judge, instructions="Decide."),
    )
    runtime = Runtime()
    result = await runtime.run(inside(checks), None)
    assert result.output == "approve"
    assert json.loads(judge.requests[0].messages[-1].content) == {"credit": 700, "fraud": "low"}
    assert (await step_keys(runtime, result.run_id))[-1] == "flow/checks/reduce/model#1"


async def test_crash_in_a_fan_out_of_8_reruns_only_the_3_unfinished(tmp_path: Path) -> None:
    done = anyio.Event()
    crashing = {"on": True}

    def work(i: int) -> str:
        bump(f"work{i}")
        return f"result {i}"

    @workflow(name="branch")
    async def branch(ctx: Context, i: int) -> Any:
        if crashing["on"] and i >= 5:
            await done.wait()  # the five others are journaled
            raise _Crash()
        value = await ctx.step("work", work, i)
        if bump("committed") == 5:
            done.set()
        return value

    fan = Map("m", branch)
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(fan, list(range(8)))
    with pytest.raises(_Crash):
        await runtime.resume(run_id, fan)
    assert sorted(COUNTS) == ["committed", "work0", "work1", "work2", "work3", "work4"]

    crashing["on"] = False
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, fan)
    assert result.output == [f"result {i}" for i in range(8)]
    assert all(COUNTS[f"work{i}"] == 1 for i in range(8))  # only work5-7 ran this time


@pytest.mark.parametrize("policy", ["fail_fast", Quorum(1)])
async def test_a_divergence_inside_a_nested_fan_out_fails_closed(policy: Any) -> None:
    step = {"name": "first"}

    async def voter(ctx: Context, x: Any) -> Any:
        await ctx.step(step["name"], lambda: 1)
        return await ctx.wait_for("go")

    votes = Parallel("votes", {"a": voter}, policy=policy)
    outer = Parallel("outer", {"votes": votes, "x": lambda v: 1}, policy="collect")
    runtime = Runtime()
    first = await runtime.run(outer, None)
    assert first.status is RunStatus.SUSPENDED
    step["name"] = "renamed"  # the code changed while the run waited
    await runtime.signal(first.run_id, "go")
    with pytest.raises(NonDeterminismError, match="renamed#1"):
        await runtime.resume(first.run_id, outer)


# -- Map ---------------------------------------------------------------------------------------


async def test_map_keeps_item_order_and_paths() -> None:
    async def slow_first(n: int) -> int:
        await anyio.sleep(0.01 * (3 - n))  # later items finish first
        SPANS.setdefault("order", []).append(n)
        return n * n

    runtime = Runtime()
    result = await runtime.run(Map("m", slow_first), [0, 1, 2, 3])
    assert result.output == [0, 1, 4, 9]
    assert SPANS["order"] == [3, 2, 1, 0]
    assert sorted(await step_keys(runtime, result.run_id)) == [f"m[{i}]/call#1" for i in range(4)]


async def test_map_items_function_picks_the_list() -> None:
    result = await Runtime().run(
        Map("m", lambda s: s.upper(), items=lambda d: d["names"]), {"names": ["ana", "bo"]}
    )
    assert result.output == ["ANA", "BO"]


@pytest.mark.parametrize("value", ["abc", {"a": 1}, 7])
async def test_map_refuses_input_that_is_not_a_list(value: Any) -> None:
    result = await Runtime().run(inside(Map("m", lambda x: x)), value)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("UserError: map 'm' at flow/m: expected a list")


async def test_map_with_a_quorum_keeps_the_winners_in_item_order() -> None:
    async def answer(seconds: float) -> float:
        bump("started")
        await anyio.sleep(seconds)
        bump("finished")
        return seconds

    result = await Runtime().run(Map("m", answer, policy=Quorum(2)), [0.01, 30, 0])
    assert result.output == [0.01, 0]
    assert COUNTS == {"started": 3, "finished": 2}


# -- Loop --------------------------------------------------------------------------------------


async def test_loop_passes_on_iteration_two_with_feedback_in_the_input() -> None:
    inputs: list[Any] = []

    def write(task: Any) -> str:
        inputs.append(task)
        return f"draft {len(inputs)}"

    def review(v: dict[str, Any]) -> dict[str, Any]:
        passed = v["iteration"] == 2
        return {"passed": passed, "score": v["iteration"] / 2, "feedback": "cite sources"}

    runtime = Runtime()
    result = await runtime.run(Loop("loop", write, review), "essay")
    assert result.output == {
        "output": "draft 2", "passed": True, "status": "passed", "iterations": 2,
        "score": 1.0, "feedback": "cite sources",
    }  # fmt: skip
    assert inputs == ["essay", {"task": "essay", "previous": "draft 1", "feedback": "cite sources"}]
    assert await step_keys(runtime, result.run_id) == [
        "loop/write[1]/call#1",
        "loop/review[1]/call#1",
        "loop/write[2]/call#1",
        "loop/review[2]/call#1",
    ]


async def test_loop_that_never_passes_returns_the_best_attempt() -> None:
    scores = {1: 0.2, 2: 0.9, 3: 0.5}
    seen: list[dict[str, Any]] = []

    def write(task: Any) -> str:
        return f"draft {len(seen) + 1}"

    def review(v: dict[str, Any]) -> Verdict:
        seen.append(v)
        return Verdict(passed=False, score=scores[v["iteration"]], feedback=f"no {v['iteration']}")

    result = await Runtime().run(Loop("loop", write, review, max_iterations=3), "essay")
    assert result.output == {
        "output": "draft 2", "passed": False, "status": "max_iterations", "iterations": 3,
        "score": 0.9, "feedback": "no 2",
    }  # fmt: skip
    assert [v["iteration"] for v in seen] == [1, 2, 3]
    assert seen[0] == {"task": "essay", "output": "draft 1", "iteration": 1}


async def test_loop_evaluator_agent_returns_scripted_verdicts() -> None:
    writer = ScriptedModel(["v1", "v2"])
    critic = ScriptedModel(
        ['{"passed": false, "score": 0.4, "feedback": "shorter"}', '{"passed": true, "score": 0.8}']
    )
    loop = Loop("loop", Agent(name="writer", model=writer), Agent(name="critic", model=critic))
    result = await Runtime().run(loop, "tagline")
    assert result.output["status"] == "passed"  # type: ignore[index]
    assert result.output["iterations"] == 2  # type: ignore[index]
    assert result.output["output"] == "v2"  # type: ignore[index]
    schema = critic.requests[0].output_schema
    assert schema is not None
    assert "passed" in schema["properties"]  # type: ignore[operator]
    assert json.loads(critic.requests[0].messages[-1].content) == {
        "task": "tagline", "output": "v1", "iteration": 1,
    }  # fmt: skip
    second = json.loads(writer.requests[1].messages[-1].content)
    assert second == {"task": "tagline", "previous": "v1", "feedback": "shorter"}


async def test_loop_rejects_an_evaluator_output_that_is_not_a_verdict() -> None:
    def judge(v: Any) -> str:
        return "looks fine"

    result = await Runtime().run(Loop("loop", lambda t: t, judge), "x")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("OutputValidationError: loop 'loop': the evaluator must")


async def test_loop_resumes_mid_way_without_resetting_the_count(tmp_path: Path) -> None:
    drafts: list[int] = []
    reviews: list[int] = []

    def draft(task: Any) -> int:
        n = task["previous"] + 1 if isinstance(task, dict) else 1
        drafts.append(n)
        if n == 3 and drafts.count(3) == 1:
            raise _Crash()
        return n

    def review(v: dict[str, Any]) -> dict[str, Any]:
        reviews.append(v["iteration"])
        return {"passed": v["output"] == 4, "score": v["output"]}

    loop = Loop("loop", draft, review, max_iterations=5)
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(loop, "task")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, loop)
    assert (drafts, reviews) == ([1, 2, 3], [1, 2])
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, loop)
    assert (drafts, reviews) == ([1, 2, 3, 3, 4], [1, 2, 3, 4])  # 1 and 2 not re-run
    assert result.output["iterations"] == 4  # type: ignore[index]
    assert result.output["status"] == "passed"  # type: ignore[index]


async def test_patterns_nest_in_each_other() -> None:
    inner = Parallel("pair", {"x": lambda v: v + 1, "y": lambda v: v + 2})
    outer = Sequential(
        "flow", [inner, lambda r: r["x"] * r["y"], Map("m", lambda v: -v, items=lambda n: [n, n])]
    )
    runtime = Runtime(MemoryStore())
    result = await runtime.run(outer, 1)
    assert result.output == [-6, -6]
    keys = await step_keys(runtime, result.run_id)
    assert "flow/pair[x]/call#1" in keys
    assert "flow/m[1]/call#1" in keys


def same(x: Any) -> Any:
    return x


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sequential("flow", []),
        lambda: Sequential("flow", [42]),
        lambda: Parallel("p", {}),
        lambda: Parallel("p", {"a": same, "b": same}, policy=Quorum(3)),
        lambda: Parallel("p", {"a": same, "b": same}, policy="first"),
        lambda: Parallel("p", {"a": same}, max_concurrency=0),
        lambda: Map("m", same, max_concurrency=1.5),
        lambda: Quorum(0),
        lambda: Loop("loop", same, same),  # worker and evaluator would share paths
        lambda: Loop("loop", lambda x: x, same, max_iterations=0),
    ],
)
def test_bad_definitions_are_spec_errors(make: Any) -> None:
    with pytest.raises(SpecError):
        make()
