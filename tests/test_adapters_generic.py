"""The generic adapter: any async callable as a node whose model calls are Podium steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium import ModelSettings, Runtime, SQLiteStore
from podium.adapters import PodiumModel, foreign
from podium.budget import Budget
from podium.errors import UserError
from podium.events import Event, ModelCallCompleted, NodeStarted, StepCompleted
from podium.messages import ModelRequest, ModelResponse, Usage, UserMessage
from podium.patterns import Parallel, Sequential
from podium.testing import FunctionModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

SENT: list[str] = []
"""What really reached the model, in order."""
CRASH: dict[str, bool] = {}


class _Crash(BaseException):
    """The process dying mid-run (nothing is recorded for it)."""


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    SENT.clear()
    CRASH.clear()
    yield
    SENT.clear()
    CRASH.clear()


def _answer(request: ModelRequest) -> ModelResponse:
    text = request.messages[-1].content
    SENT.append(str(text))
    return ModelResponse(text=f"re:{text}", usage=Usage(input_tokens=100, output_tokens=50))


LLM = PodiumModel(FunctionModel(_answer, name="function:echo"))
SETTINGS = ModelSettings(max_tokens=50)


async def ask(text: str) -> str:
    request = ModelRequest(messages=(UserMessage(content=text),), settings=SETTINGS)
    return (await LLM.request(request)).text


async def summarize(found: dict[str, str]) -> str:
    return await ask(found["second"])


@foreign(name="twice")
async def twice(topic: str) -> dict[str, str]:
    """A home-grown agent: two model calls, a crash point between them."""
    first = await ask(f"{topic}-1")
    if CRASH.pop("between", False):
        raise _Crash("between")
    second = await ask(f"{topic}-2")
    return {"first": first, "second": second}


async def journal(runtime: Runtime, run_id: str) -> list[Event]:
    return [stored.event for stored in await runtime.store.read(run_id)]


def model_keys(events: list[Event]) -> list[str]:
    return [e.key for e in events if isinstance(e, ModelCallCompleted)]


async def test_a_foreign_callable_runs_in_sequential_with_its_model_calls_journaled() -> None:
    runtime = Runtime()
    flow = Sequential("pipe", [twice, foreign(summarize, name="summary")])
    result = await runtime.run(flow, "t")
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.model_calls == 3
    events = await journal(runtime, result.run_id)
    assert model_keys(events) == [
        "pipe/twice/model#2",
        "pipe/twice/model#3",
        "pipe/summary/model#2",
    ]
    assert {e.path: e.kind for e in events if isinstance(e, NodeStarted)}["pipe/twice"] == "foreign"
    assert SENT == ["t-1", "t-2", "re:t-2"]
    assert result.output == "re:re:t-2"


async def test_foreign_callables_run_in_parallel_each_under_its_own_path() -> None:
    runtime = Runtime()
    result = await runtime.run(Parallel("fan", [twice, foreign(ask, name="one")]), "p")
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.output == {"twice": {"first": "re:p-1", "second": "re:p-2"}, "one": "re:p"}
    keys = model_keys(await journal(runtime, result.run_id))
    assert sorted(keys) == ["fan[one]/model#2", "fan[twice]/model#2", "fan[twice]/model#3"]


async def test_a_crash_inside_the_callable_resumes_without_repeating_a_model_call(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    flow = Sequential("pipe", [twice])
    runtime = Runtime(SQLiteStore(db))
    run_id = await runtime.start(flow, "c")
    CRASH["between"] = True
    with pytest.raises(_Crash):
        await runtime.resume(run_id, flow)
    assert SENT == ["c-1"]

    done = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert done.status is RunStatus.COMPLETED, done.error
    assert done.output == {"first": "re:c-1", "second": "re:c-2"}
    assert SENT == ["c-1", "c-2"]  # the journaled first call was replayed, not sent again

    again = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert again.output == done.output
    assert SENT == ["c-1", "c-2"]
    events = await journal(runtime, run_id)
    assert [e.key for e in events if isinstance(e, StepCompleted) and e.kind == "foreign"] == [
        "pipe/twice/run#1"
    ]


async def test_a_budget_stops_the_callable_before_the_call_that_would_exceed_it() -> None:
    runtime = Runtime()
    flow = Sequential("pipe", [twice])
    run_id = await runtime.start(flow, "b", budget=Budget(tokens=150 + 40))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget" in result.error.lower()
    assert SENT == ["b-1"]  # the second call was refused before it was sent
    assert len(model_keys(await journal(runtime, run_id))) == 1


async def test_a_podium_model_outside_a_node_refuses_and_sends_nothing() -> None:
    with pytest.raises(UserError, match="outside a Podium node"):
        await ask("x")
    assert SENT == []


def test_foreign_refuses_a_sync_function() -> None:
    with pytest.raises(UserError, match="must be an async callable"):
        foreign(lambda x: x)
