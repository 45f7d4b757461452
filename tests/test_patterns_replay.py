"""Replay edge cases found in review: decisions a pattern already made stay made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest

from podium import Agent, Context, Runtime, SQLiteStore, workflow
from podium.errors import ModelHTTPError
from podium.patterns import BranchFailure, Graph, Parallel, Quorum, Sequential
from podium.testing import ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio


class _Crash(BaseException):
    """The process dying (nothing is recorded for it)."""


def _crash_once() -> Any:
    state = {"crashed": False}

    def after(value: Any) -> Any:
        if not state["crashed"]:
            state["crashed"] = True
            raise _Crash()
        return value

    return after


@pytest.mark.parametrize("policy", ["collect", Quorum(1)])
async def test_a_collected_branch_failure_is_not_retried_on_resume(
    tmp_path: Path, policy: Any
) -> None:
    flaky = ScriptedModel([ModelHTTPError(400, "content filter"), "a late answer"])
    fan = Parallel(
        "p",
        {"ok": Agent(name="ok", model=ScriptedModel(["A"], by_turn=True)),
         "flaky": Agent(name="flaky", model=flaky)},
        policy=policy,
    )  # fmt: skip
    flow = Sequential("flow", [fan, _crash_once()])
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(flow, "Q?")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, flow)
    assert result.status is RunStatus.COMPLETED, result.error
    assert len(flaky.requests) == 1  # the failure was journaled; the model is not asked again
    if policy == "collect":
        failure = result.output["flaky"]
        assert failure["error_type"] == "ModelHTTPError"
        assert BranchFailure(**failure).branch == "flaky"


async def test_one_signal_wakes_one_of_two_parallel_waiters() -> None:
    @workflow
    async def waiter(ctx: Context, input: Any) -> Any:
        return await ctx.wait_for("go")

    runtime = Runtime()
    flow = Parallel("p", {"l": waiter, "r": waiter})
    first = await runtime.run(flow, None)
    assert first.status is RunStatus.SUSPENDED
    await runtime.signal(first.run_id, "go", "only-one")
    second = await runtime.resume(first.run_id, flow)
    assert second.status is RunStatus.SUSPENDED  # one waiter took it; the other still waits
    await runtime.signal(first.run_id, "go", "another")
    done = await runtime.resume(first.run_id, flow)
    assert sorted(done.output.values()) == ["another", "only-one"]


def _add(a: list[str], b: list[str]) -> list[str]:
    return a + b


class Notes(pydantic.BaseModel):
    notes: Annotated[list[str], _add] = []
    count: int = 0


def _counter(state: Notes) -> dict[str, Any]:
    return {"count": 5}


def _writer(state: Notes) -> Notes:
    return Notes(notes=["hello"])  # sets only `notes`


async def test_a_graph_function_returning_a_model_updates_only_the_fields_it_set() -> None:
    graph = Graph(
        "g", state=Notes, nodes={"counter": _counter, "writer": _writer}, start="counter",
        edges=[("counter", "writer")],
    )  # fmt: skip
    result = await Runtime().run(graph, {})
    assert result.output == {"notes": ["hello"], "count": 5}


async def test_a_failed_agent_branch_is_named_in_the_run_error() -> None:
    broken = Agent(name="fraud", model=ScriptedModel([ModelHTTPError(400, "bad request")]))
    ok = Agent(name="credit", model=ScriptedModel(["fine"]))
    result = await Runtime().run(Parallel("checks", {"credit": ok, "fraud": broken}), "x")
    assert result.status is RunStatus.FAILED
    assert result.error == "ModelHTTPError: HTTP 400: bad request (at checks[fraud])"
