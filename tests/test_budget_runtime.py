"""Budgets enforced in runs: tokens, dollars, steps, fan-out, depth, wall time, per agent.

The ledger's arithmetic is tested in test_budget.py; here the runtime is: what a refused run
journals, what a resume rebuilds, and how much a burst of parallel branches can spend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Agent, Context, Effect, ModelSettings, Runtime, SQLiteStore, tool, workflow
from podium.budget import Budget, estimate_tokens
from podium.events import (
    Event,
    ModelCallCompleted,
    NodeFinished,
    NodeStarted,
    RunFailed,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.messages import ModelRequest, ModelResponse, ToolCall, ToolMessage, Usage
from podium.patterns import Map, Supervisor
from podium.prices import DEFAULT_PRICES, ModelPrice
from podium.store import Store
from podium.testing import FakeClock, FunctionModel, ScriptedModel, call
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

LEDGER: list[str] = []
"""Tools that really ran, in order."""

CRASH: dict[str, bool] = {}
"""Crash points that still have to fire (once each)."""


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    LEDGER.clear()
    CRASH.clear()
    yield
    LEDGER.clear()
    CRASH.clear()


class _Crash(BaseException):
    """Simulates the process dying mid-run (nothing is recorded for it)."""


def crash_once(point: str) -> None:
    if CRASH.pop(point, False):
        raise _Crash(point)


async def journal(store: Store, run_id: str) -> list[Event]:
    return [stored.event for stored in await store.read(run_id)]


def only(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def tokens_journaled(events: list[Event]) -> int:
    return sum(e.response.usage.total_tokens for e in only(events, ModelCallCompleted))


IN, OUT = 100, 50
CALL = IN + OUT  # what every call of a fixed() model really uses
SETTINGS = ModelSettings(max_tokens=OUT)  # so the reservation bounds the output


def fixed(text: str, name: str = "function:fixed") -> FunctionModel:
    """A model that answers ``text`` and reports IN + OUT tokens, whatever it is asked."""

    def answer(request: ModelRequest) -> ModelResponse:
        return ModelResponse(text=text, usage=Usage(input_tokens=IN, output_tokens=OUT))

    return FunctionModel(answer, name=name)


def requests_of(agent: Agent) -> list[ModelRequest]:
    assert isinstance(agent.model, FunctionModel | ScriptedModel)
    return agent.model.requests


def reservation(request: ModelRequest) -> int:
    """What the runtime reserves for ``request`` (its estimate plus max_tokens)."""
    return estimate_tokens(request) + (request.settings.max_tokens or 0)


@tool(threaded=False)
def noop() -> str:
    """Do nothing."""
    LEDGER.append("noop")
    return "ok"


@tool(threaded=False)
def crashy() -> str:
    """Do nothing, but the process dies the first time."""
    LEDGER.append("crashy")
    crash_once("tool")
    return "ok"


def agents(*names: str) -> dict[str, Agent]:
    return {n: Agent(name=n, model=fixed(f"{n} done"), settings=SETTINGS) for n in names}


# -- tokens ----------------------------------------------------------------------------------


def pipeline(team: dict[str, Agent], crash_after: str | None = None) -> Any:
    @workflow(name="pipeline")
    async def flow(ctx: Context, input: Any) -> Any:
        outputs = []
        for name, agent in team.items():
            outputs.append(await ctx.run(agent, input))
            if name == crash_after:
                crash_once("pipeline")
        return outputs

    return flow


async def test_a_token_budget_fails_the_run_and_keeps_what_was_done() -> None:
    team = agents("first", "second", "third")
    flow = pipeline(team)
    runtime = Runtime()
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=2 * CALL + 20))
    result = await runtime.resume(run_id, flow)

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("BudgetExceeded: budget of 'run' exceeded: tokens limit is 320")
    assert "spent 300 tokens" in result.error
    assert [len(requests_of(team[n])) for n in team] == [1, 1, 0]
    events = await journal(runtime.store, run_id)
    assert tokens_journaled(events) == 2 * CALL
    finished = {e.path: e for e in only(events, NodeFinished)}
    assert finished["pipeline/first"].output == "first done"
    assert finished["pipeline/second"].output == "second done"
    assert finished["pipeline/third"].error is not None
    assert finished["pipeline/third"].error.type == "BudgetExceeded"
    [failed] = only(events, RunFailed)
    assert failed.error.type == "BudgetExceeded"
    assert isinstance(events[-1], RunFailed)
    assert (await runtime.store.get_run(run_id)).status is RunStatus.FAILED


async def test_the_same_budget_lets_a_smaller_run_finish() -> None:
    team = agents("first", "second")
    flow = pipeline(team)
    runtime = Runtime()
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=2 * CALL + 20))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.COMPLETED
    assert result.output == ["first done", "second done"]
    assert result.usage.total_tokens == 2 * CALL


async def test_a_resume_after_a_crash_does_not_reset_the_spend(tmp_path: Path) -> None:
    db = tmp_path / "podium.db"
    team = agents("first", "second", "third")
    flow = pipeline(team, crash_after="second")
    CRASH["pipeline"] = True
    runtime = Runtime(SQLiteStore(db))
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=2 * CALL + 20))
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    assert tokens_journaled(await journal(runtime.store, run_id)) == 2 * CALL

    # another process, with no budget of its own: the run's budget is in its journal, and so
    # is what it spent, so the third agent is refused at once (a fresh ledger would grant it)
    resumed = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert resumed.status is RunStatus.FAILED
    assert resumed.error is not None
    assert "BudgetExceeded" in resumed.error
    assert "spent 300 tokens" in resumed.error
    assert [len(requests_of(team[n])) for n in team] == [1, 1, 0]
    events = await journal(SQLiteStore(db), run_id)
    assert tokens_journaled(events) == 2 * CALL
    assert {e.path for e in only(events, NodeFinished) if e.error is None} >= {"pipeline/first"}


async def test_the_runtimes_budget_and_the_runs_merge_to_the_stricter() -> None:
    team = agents("first", "second")
    flow = pipeline(team)
    runtime = Runtime(budget=Budget(tokens=CALL + 20))
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=10 * CALL, steps=100))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "tokens limit is 170" in result.error


# -- money -----------------------------------------------------------------------------------

PRICED = DEFAULT_PRICES.with_overrides(
    {
        "scripted:priced": ModelPrice(
            input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5
        )
    }
)


def priced_model(name: str = "scripted:priced") -> ScriptedModel:
    first = ModelResponse(
        tool_calls=(ToolCall(id="c1", name="noop", arguments="{}"),),
        usage=Usage(input_tokens=1000, output_tokens=200, cached_tokens=400),
        finish_reason="tool_calls",
    )
    second = ModelResponse(text="done", usage=Usage(input_tokens=500, output_tokens=100))
    return ScriptedModel([first, second], name=name)


@pytest.mark.parametrize("budget", [None, Budget(cost_usd=1.0)])
async def test_the_cost_of_each_call_is_journaled_from_the_price_table(
    budget: Budget | None,
) -> None:
    runtime = Runtime(prices=PRICED)
    agent = Agent(name="buyer", model=priced_model(), tools=[noop], settings=SETTINGS)
    run_id = await runtime.start(agent, "go", budget=budget)
    result = await runtime.resume(run_id, agent)
    assert result.status is RunStatus.COMPLETED
    calls = only(await journal(runtime.store, run_id), ModelCallCompleted)
    # (600 uncached x $2 + 400 cached x $0.5 + 200 out x $8) / 1M; (500 x $2 + 100 x $8) / 1M
    assert [c.cost_usd for c in calls] == [pytest.approx(0.003), pytest.approx(0.0018)]
    assert [c.model for c in calls] == ["scripted:priced", "scripted:priced"]


async def test_models_of_the_default_table_and_unknown_models() -> None:
    runtime = Runtime(prices=PRICED)
    free = Agent(name="a", model=ScriptedModel(["hi"]))
    unknown = Agent(name="b", model=ScriptedModel(["hi"], name="acme:large"))
    first = await runtime.run(free, "go")
    second = await runtime.run(unknown, "go")
    [free_call] = only(await journal(runtime.store, first.run_id), ModelCallCompleted)
    [unknown_call] = only(await journal(runtime.store, second.run_id), ModelCallCompleted)
    assert free_call.cost_usd == 0.0
    assert unknown_call.cost_usd is None  # no price: not a made-up zero


async def test_a_cost_budget_refuses_the_call_that_would_cross_it() -> None:
    runtime = Runtime(prices=PRICED)
    model = priced_model()
    agent = Agent(name="buyer", model=model, tools=[noop], settings=SETTINGS)
    run_id = await runtime.start(agent, "go", budget=Budget(cost_usd=0.0033))
    result = await runtime.resume(run_id, agent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "cost_usd limit is $0.0033" in result.error
    assert len(model.requests) == 1
    assert LEDGER == ["noop"]


async def test_an_unknown_model_is_never_free_against_a_money_limit() -> None:
    model = ScriptedModel(["hi"], name="acme:large")
    agent = Agent(name="a", model=model)
    runtime = Runtime()
    run_id = await runtime.start(agent, "go", budget=Budget(cost_usd=100.0))
    result = await runtime.resume(run_id, agent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "acme:large" in result.error
    assert model.requests == []


# -- 50 parallel branches --------------------------------------------------------------------


@pytest.mark.parametrize("max_concurrency", [None, 1, 7])
async def test_fifty_parallel_branches_overshoot_by_at_most_one_call(
    max_concurrency: int | None,
) -> None:
    out = 20

    def answer(request: ModelRequest) -> ModelResponse:
        # exactly what was reserved: the estimate is an upper bound (a fixed usage per call,
        # since every branch's request has the same size)
        usage = Usage(input_tokens=estimate_tokens(request), output_tokens=out)
        return ModelResponse(text="done", usage=usage)

    async def slow_answer(request: ModelRequest) -> ModelResponse:
        await anyio.sleep(0.01)  # calls overlap: reservations are held while in flight
        return answer(request)

    model = FunctionModel(slow_answer, name="function:worker")
    worker = Agent(
        name="worker",
        instructions="Summarise the item in one line.",
        model=model,
        settings=ModelSettings(max_tokens=out),
    )
    fan = Map("fan", worker, max_concurrency=max_concurrency)
    items = [f"item-{i:02d}" for i in range(50)]

    probe = FunctionModel(answer, name="function:probe")  # measure one call, unbudgeted
    twin = Agent(
        name="worker", instructions=worker.instructions, model=probe, settings=worker.settings
    )
    measured = await Runtime().run(twin, items[0])
    one_call = measured.usage.total_tokens
    assert one_call == reservation(probe.requests[0])
    limit = int(10.5 * one_call)

    runtime = Runtime()
    run_id = await runtime.start(fan, items, budget=Budget(tokens=limit))
    result = await runtime.resume(run_id, fan)

    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("BudgetExceeded")
    assert "tokens limit" in result.error
    events = await journal(runtime.store, run_id)
    spent = tokens_journaled(events)
    assert spent <= limit + one_call  # the promise
    assert spent <= limit  # and, with estimates that bound the usage, no overshoot at all
    assert len(model.requests) <= 10  # no more calls went out than the budget can pay for
    refused = [
        e.path
        for e in only(events, NodeFinished)
        if e.error and e.error.type == "BudgetExceeded" and e.path.startswith("fan[")
    ]
    assert refused  # at least one branch was refused...
    assert isinstance(events[-1], RunFailed)  # ...and the run failed cleanly
    assert (await runtime.store.get_run(run_id)).status is RunStatus.FAILED
    if max_concurrency == 1:  # one at a time: exactly ten calls fit
        assert len(model.requests) == 10
        assert spent == 10 * one_call


async def test_a_refused_branch_is_never_collected_as_a_branch_failure() -> None:
    worker = Agent(name="w", model=fixed("done"), settings=SETTINGS)
    fan = Map("fan", worker, policy="collect", max_concurrency=1)
    runtime = Runtime()
    run_id = await runtime.start(fan, ["a", "b", "c"], budget=Budget(tokens=CALL + 20))
    result = await runtime.resume(run_id, fan)
    assert result.status is RunStatus.FAILED  # not completed with BranchFailure entries
    assert result.error is not None
    assert result.error.startswith("BudgetExceeded")
    assert len(requests_of(worker)) == 1


async def test_a_workers_refusal_stops_the_run_instead_of_going_back_to_the_manager() -> None:
    worker = looping_agent("worker", Budget(tokens=CALL + 20), calls=3)
    manager_model = ScriptedModel([call("worker", task="dig"), "the worker failed, sorry"])
    desk = Supervisor("desk", Agent(name="boss", model=manager_model), [worker])
    runtime = Runtime()
    run_id = await runtime.start(desk, "go", budget=Budget(tokens=100 * CALL))
    result = await runtime.resume(run_id, desk)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget of 'desk/boss/worker[1]' exceeded" in result.error
    assert len(manager_model.requests) == 1  # the manager was not asked to carry on


# -- steps, fan-out, depth, wall time --------------------------------------------------------


async def test_a_steps_budget_counts_model_and_tool_steps() -> None:
    model = ScriptedModel([call("noop"), call("noop"), "done"])
    agent = Agent(name="a", model=model, tools=[noop])
    runtime = Runtime()
    run_id = await runtime.start(agent, "go", budget=Budget(steps=3))
    result = await runtime.resume(run_id, agent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "steps limit is 3 steps" in result.error
    assert LEDGER == ["noop"]  # model, tool, model: the second tool call was refused
    assert len(model.requests) == 2

    short = Agent(name="a", model=ScriptedModel([call("noop"), "done"]), tools=[noop])
    ok = await Runtime().run(short, "go", budget=Budget(steps=3))
    assert ok.status is RunStatus.COMPLETED


async def test_a_fan_out_wider_than_the_limit_is_refused_before_any_branch_runs() -> None:
    model = ScriptedModel(["done"] * 5)
    fan = Map("fan", Agent(name="w", model=model))
    runtime = Runtime()
    run_id = await runtime.start(fan, list(range(5)), budget=Budget(fan_out=3))
    result = await runtime.resume(run_id, fan)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "fan_out limit is 3 branches; this fan-out asks for 5 branches" in result.error
    assert model.requests == []
    events = await journal(runtime.store, run_id)
    assert [e.path for e in only(events, NodeStarted)] == ["fan"]

    narrow = await Runtime().run(fan, [1, 2, 3], budget=Budget(fan_out=3))
    assert narrow.status is RunStatus.COMPLETED


def nested_supervisors(leaf_model: ScriptedModel) -> Supervisor:
    leaf = Agent(name="leaf", model=leaf_model)
    middle = Supervisor(
        "middle",
        Agent(name="mid_manager", model=ScriptedModel([call("leaf", task="x"), "mid done"])),
        [leaf],
    )
    return Supervisor(
        "top",
        Agent(name="boss", model=ScriptedModel([call("middle", task="y"), "top done"])),
        [middle],
        max_depth=5,
    )


async def test_delegation_deeper_than_the_budget_is_refused() -> None:
    leaf_model = ScriptedModel(["leaf done"])
    top = nested_supervisors(leaf_model)
    runtime = Runtime()
    run_id = await runtime.start(top, "go", budget=Budget(depth=1))
    result = await runtime.resume(run_id, top)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "depth limit is depth 1; this node asks for depth 2" in result.error
    assert leaf_model.requests == []

    deep_enough = nested_supervisors(ScriptedModel(["leaf done"]))
    ok = await Runtime().run(deep_enough, "go", budget=Budget(depth=2))
    assert ok.status is RunStatus.COMPLETED, ok.error


async def test_wall_time_counts_from_the_runs_start_across_a_suspension() -> None:
    clock = FakeClock()
    first, second = agents("first", "second").values()

    @workflow(name="slow")
    async def flow(ctx: Context, input: Any) -> Any:
        a = await ctx.run(first, input)
        await ctx.sleep(120)
        return [a, await ctx.run(second, input)]

    runtime = Runtime(clock=clock)
    run_id = await runtime.start(flow, "go", budget=Budget(wall_seconds=60))
    assert (await runtime.resume(run_id, flow)).status is RunStatus.SUSPENDED
    clock.advance(120)
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "wall_seconds limit is 60.0s; 120.0s have elapsed" in result.error
    assert len(requests_of(second)) == 0

    roomy = Runtime(clock=clock)
    run_id = await roomy.start(flow, "go", budget=Budget(wall_seconds=600))
    await roomy.resume(run_id, flow)
    clock.advance(120)
    assert (await roomy.resume(run_id, flow)).status is RunStatus.COMPLETED


# -- per-agent budgets -----------------------------------------------------------------------


def looping_agent(name: str, budget: Budget | None, calls: int = 2) -> Agent:
    """An agent making ``calls`` model calls (a tool call between each), IN + OUT tokens each."""
    script: list[Any] = [call("noop")] * (calls - 1) + [f"{name} done"]
    model = FunctionModel(lambda r: _scripted(script, r), name="function:looping")
    return Agent(name=name, model=model, tools=[noop], settings=SETTINGS, budget=budget)


def _scripted(script: list[Any], request: ModelRequest) -> ModelResponse:
    """The script item for this turn (by the tool results so far), with a fixed usage."""
    turn = sum(1 for m in request.messages if isinstance(m, ToolMessage))
    item = script[turn]
    usage = Usage(input_tokens=IN, output_tokens=OUT)
    if isinstance(item, str):
        return ModelResponse(text=item, usage=usage)
    tool_call = ToolCall(id=f"c{turn}", name=item.name, arguments="{}")
    return ModelResponse(tool_calls=(tool_call,), usage=usage, finish_reason="tool_calls")


async def test_an_agents_budget_refuses_within_the_agent_while_the_run_has_room() -> None:
    capped = looping_agent("capped", Budget(tokens=CALL + 20), calls=2)

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        return await ctx.run(capped, input)

    runtime = Runtime()
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=100 * CALL))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget of 'flow/capped' exceeded: tokens limit is 170" in result.error
    assert len(requests_of(capped)) == 1
    assert LEDGER == ["noop"]


async def test_an_agents_spend_counts_toward_the_runs() -> None:
    capped = looping_agent("capped", Budget(tokens=10 * CALL), calls=2)
    other = looping_agent("other", None, calls=1)

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        return [await ctx.run(capped, input), await ctx.run(other, input)]

    runtime = Runtime()
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=2 * CALL + 20))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget of 'run' exceeded" in result.error
    assert "spent 300 tokens" in result.error  # the capped agent's two calls
    assert len(requests_of(capped)) == 2
    assert len(requests_of(other)) == 0


async def test_an_agents_spend_is_rebuilt_from_the_journal_after_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "podium.db"
    script: list[Any] = [call("crashy"), call("noop"), "done"]
    model = FunctionModel(lambda r: _scripted(script, r), name="function:looping")
    agent = Agent(
        name="capped",
        model=model,
        tools=[crashy, noop],
        settings=SETTINGS,
        budget=Budget(tokens=2 * CALL + 20),  # two calls, not three
    )

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        return await ctx.run(agent, input)

    CRASH["tool"] = True
    runtime = Runtime(SQLiteStore(db))
    run_id = await runtime.start(flow, "go", budget=Budget(tokens=100 * CALL))
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    assert len(model.requests) == 1

    result = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget of 'flow/capped' exceeded" in result.error
    assert "spent 300 tokens" in result.error
    assert len(model.requests) == 2  # the first call was not asked again, the third refused
    assert LEDGER == ["crashy", "crashy", "noop"]


async def test_an_agents_budget_holds_without_a_run_budget() -> None:
    capped = looping_agent("capped", Budget(tokens=CALL + 20), calls=3)
    result = await Runtime().run(capped, "go")
    assert result.status is RunStatus.FAILED
    assert LEDGER == ["noop"]


async def test_an_agents_wall_time_counts_from_when_the_agent_started() -> None:
    clock = FakeClock()
    agent = Agent(
        name="quick",
        model=fixed("quick done"),
        settings=SETTINGS,
        budget=Budget(wall_seconds=60),
    )

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        await ctx.sleep(3600)  # the run waits an hour, then the agent starts
        return await ctx.run(agent, input)

    runtime = Runtime(clock=clock)
    run_id = await runtime.start(flow, "go", budget=Budget(wall_seconds=86_400))
    await runtime.resume(run_id, flow)
    clock.advance(3600)
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.COMPLETED, result.error


async def test_steps_rebuilt_after_a_crash_match_the_steps_charged_live(tmp_path: Path) -> None:
    db = tmp_path / "podium.db"
    asker = Agent(name="asker", model=ScriptedModel([call("ghost"), "no such tool"]))
    closer = Agent(name="closer", model=ScriptedModel(["closed"]))

    @workflow(name="flow")
    async def flow(ctx: Context, input: Any) -> Any:
        first = await ctx.run(asker, input)
        crash_once("between")
        return [first, await ctx.run(closer, input)]

    # without a crash: 3 model calls + 1 tool step (a refused/unknown tool is a step too)
    plain = Runtime()
    straight = await plain.run(flow, "go", budget=Budget(steps=4))
    assert straight.status is RunStatus.COMPLETED, straight.error
    refused = [e for e in only(await journal(plain.store, straight.run_id), ToolCallCompleted)]
    assert refused[0].is_error

    # the same run with a crash between the agents must not be refused on resume
    asker = Agent(name="asker", model=ScriptedModel([call("ghost"), "no such tool"]))
    closer = Agent(name="closer", model=ScriptedModel(["closed"]))
    CRASH["between"] = True
    runtime = Runtime(SQLiteStore(db))
    run_id = await runtime.start(flow, "go", budget=Budget(steps=4))
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    resumed = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert resumed.status is RunStatus.COMPLETED, resumed.error


@tool(effect=Effect.AT_MOST_ONCE, threaded=False)
def wire(amount: int) -> str:
    """Send money (at most once)."""
    LEDGER.append("wire")
    return f"wired {amount}"


async def test_a_tool_refused_by_the_budget_leaves_no_intent_behind() -> None:
    agent = Agent(name="payer", model=ScriptedModel([call("wire", amount=1), "ok"]), tools=[wire])
    runtime = Runtime()
    run_id = await runtime.start(agent, "go", budget=Budget(steps=1))
    result = await runtime.resume(run_id, agent)
    assert result.status is RunStatus.FAILED
    assert LEDGER == []
    # the journal must not claim the wire may have been sent
    assert only(await journal(runtime.store, run_id), ToolCallIntent) == []
