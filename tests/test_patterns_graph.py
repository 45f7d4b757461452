"""Graph: typed state with reducers, supersteps, static edges, routers, limits and replay."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import pydantic
import pytest

from podium.agents import Agent
from podium.errors import SpecError
from podium.events import NodeStarted, StepCompleted
from podium.messages import ModelRequest, UserMessage
from podium.patterns.graph import END, Graph
from podium.runtime import Context, Runtime
from podium.runtime.nodes import FunctionNode, function
from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing import FunctionModel, ScriptedModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

CALLS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


class _Crash(BaseException):
    """The process dies (nothing is journaled for the step it was in)."""


class Research(pydantic.BaseModel):
    question: str = ""
    notes: Annotated[list[str], operator.add] = []
    draft: str = ""
    rounds: int = 0


def bump(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


def node(name: str, update: Callable[[Any], Any], *, crash_on: int | None = None) -> FunctionNode:
    def run(state: Any) -> Any:
        assert isinstance(state, pydantic.BaseModel)
        if bump(name) == crash_on:
            raise _Crash()
        return update(state)

    return function(run, name=name)  # type: ignore[no-any-return]


def note(text: str) -> FunctionNode:
    return node(text, lambda s: {"notes": [text]})


async def run(graph: Any, input: Any = None, store: Store | None = None) -> Any:
    runtime = Runtime(store or MemoryStore())
    result = await runtime.run(graph, input)
    events = [s.event for s in await runtime.store.read(result.run_id)]
    return result, events


def paths(events: list[Any]) -> list[str]:
    return [e.path for e in events if isinstance(e, NodeStarted)]


def decisions(events: list[Any]) -> dict[str, Any]:
    return {
        e.key: e.result for e in events if isinstance(e, StepCompleted) and e.kind == "decision"
    }


def graph(nodes: dict[str, Any] | str, start: str = "", **options: Any) -> Graph:
    """A graph ``g`` over :class:`Research`; nodes given as ``"a b"`` each add their name."""
    found = {n: note(n) for n in nodes.split()} if isinstance(nodes, str) else nodes
    options.setdefault("state", Research)
    return Graph("g", nodes=found, start=start or next(iter(found), ""), **options)


def write(crash_on: int | None = None) -> FunctionNode:
    return node("write", lambda s: {"rounds": s.rounds + 1}, crash_on=crash_on)


async def test_a_chain_passes_the_state_along_and_returns_it() -> None:
    draft = node("draft", lambda s: {"draft": ", ".join(s.notes)})
    chain = graph(
        {"search": note("found"), "draft": draft}, edges=[("search", "draft"), ("draft", END)]
    )
    result, events = await run(chain, {"question": "why?"})
    assert result.status is RunStatus.COMPLETED
    assert result.output == {"question": "why?", "notes": ["found"], "draft": "found", "rounds": 0}
    assert paths(events) == ["g", "g/search[1]", "g/draft[2]"]


async def test_a_superstep_runs_in_parallel_and_applies_updates_in_declaration_order() -> None:
    async def slow(state: Research) -> Any:
        await anyio.sleep(0.02)
        return {"notes": ["a"], "draft": "from a"}

    fast = node("b", lambda s: {"notes": ["b"], "draft": "from b"})
    nodes = {"plan": note("plan"), "a": function(slow, name="a"), "b": fast, "merge": note("merge")}
    edges = [("plan", "a"), ("plan", "b"), ("a", "merge"), ("b", "merge")]
    result, events = await run(graph(nodes, edges=edges))
    assert result.output["notes"] == ["plan", "a", "b", "merge"]  # the reducer appends
    assert result.output["draft"] == "from b"  # no reducer: the later node in order wins
    # merge is reached twice for superstep 3 and runs once
    assert paths(events) == ["g", "g/plan[1]", "g/a[2]", "g/b[2]", "g/merge[3]"]


async def test_a_node_without_a_way_out_ends_its_branch() -> None:
    edges = [("start", "dead"), ("start", "on"), ("on", "last")]
    result, _ = await run(graph("start dead on last", edges=edges))
    assert result.output["notes"] == ["start", "dead", "on", "last"]


async def test_a_function_router_loops_and_its_decisions_are_journaled() -> None:
    def review(state: Research) -> str:
        bump("route")
        return END if state.rounds >= 2 else "write"

    nodes = {"write": write(), "review": note("ok")}
    loop = graph(nodes, edges=[("write", "review")], routes={"review": review})
    result, events = await run(loop)
    assert (result.output["rounds"], result.output["notes"]) == (2, ["ok", "ok"])
    assert decisions(events) == {"g/route:review#1": "write", "g/route:review#2": END}
    assert "g/review[4]" in paths(events)
    assert CALLS["route"] == 2


async def test_a_router_may_fan_out_to_several_nodes() -> None:
    result, events = await run(graph("pick x y z", routes={"pick": lambda s: ["y", "x", END]}))
    assert result.output["notes"] == ["pick", "x", "y"]
    assert decisions(events) == {"g/route:pick#1": ["y", "x", END]}


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (
            "wirte",
            "the router of 'pick' chose 'wirte', which is not a node (did you mean 'write'?)",
        ),
        (3, "the router of 'pick' returned 3; a router returns a node name, END or a list of them"),
    ],
)
async def test_a_router_choosing_no_node_fails_clearly(choice: Any, message: str) -> None:
    result, _ = await run(graph("pick write", routes={"pick": lambda s: choice}))
    assert result.status is RunStatus.FAILED
    assert result.error == f"PatternError: graph 'g' at g: {message}"


async def test_an_agent_router_chooses_among_the_nodes_and_end() -> None:
    model = ScriptedModel(['"write"', f'"{END}"'])
    editor = Agent(name="editor", model=model, instructions="Is the draft good enough?")
    result, events = await run(graph({"write": write()}, routes={"write": editor}))
    assert result.output["rounds"] == 2
    assert paths(events) == [
        "g",
        "g/write[1]",
        "g/route:write[1]",
        "g/write[2]",
        "g/route:write[2]",
    ]
    schema = model.requests[0].output_schema
    assert schema is not None
    assert schema["enum"] == ["write", END]
    assert json.loads(_user_text(model.requests[1]))["rounds"] == 2  # it reads the state


async def test_an_agent_node_reads_the_state_as_json_and_writes_one_field() -> None:
    seen: list[dict[str, Any]] = []

    def writer_model(request: ModelRequest) -> str:
        seen.append(json.loads(_user_text(request)))
        return "A short draft."

    writer = Agent(name="writer", model=FunctionModel(writer_model))
    result, _ = await run(graph({"w": writer}, writes={"w": "draft"}), Research(question="q"))
    assert seen == [{"question": "q", "notes": [], "draft": "", "rounds": 0}]
    assert result.output["draft"] == "A short draft."


async def test_a_model_update_applies_only_the_fields_it_set() -> None:
    class Review(pydantic.BaseModel):
        notes: list[str] = []
        rounds: int = 0

    model = ScriptedModel(['{"notes": ["tighten"]}'])
    reviewer = Agent(name="reviewer", model=model, output_type=Review)
    result, _ = await run(graph({"review": reviewer}), {"notes": ["draft"], "rounds": 5})
    assert (result.output["notes"], result.output["rounds"]) == (["draft", "tighten"], 5)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("text", "node 'n' returned str, not a dict of state fields; return a dict, or store"),
        ({"note": ["x"]}, "node 'n' updated no field 'note' (did you mean 'notes'?)"),
        ({"rounds": "x"}, "node 'n' set 'rounds' to an invalid value: Input should be a valid int"),
    ],
)
async def test_an_update_that_does_not_fit_the_state_names_the_node(
    output: Any, message: str
) -> None:
    result, _ = await run(graph({"n": node("n", lambda s: output)}))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith(f"PatternError: graph 'g': {message}")


async def test_an_update_breaking_a_state_rule_names_the_node() -> None:
    class Counted(pydantic.BaseModel):
        n: Annotated[int, pydantic.Field(le=1)] = 0

    result, _ = await run(graph({"n": node("n", lambda s: {"n": 2})}, state=Counted))
    assert result.error is not None
    assert "the update of node 'n' makes the state invalid: n: Input should be less" in result.error


async def test_none_means_no_change_and_the_input_may_be_omitted() -> None:
    nothing = graph({"n": node("n", lambda s: None)})
    result, _ = await run(nothing)
    assert result.output == Research().model_dump()
    bad, _ = await run(nothing, {"rounds": "x"})
    assert bad.error is not None
    assert bad.error.startswith(
        "PatternError: graph 'g': the input is not a valid Research: rounds:"
    )


async def test_exceeding_max_steps_names_the_graph_and_the_frontier() -> None:
    ping_pong = graph("ping pong", edges=[("ping", "pong"), ("pong", "ping")], max_steps=3)
    result, _ = await run(ping_pong)
    assert result.error == (
        "StepLimitExceeded: graph 'g' at g: still running after 3 supersteps (max_steps); "
        "the next frontier was ['pong']"
    )


async def test_inside_a_workflow_the_output_is_the_state_model() -> None:
    got: list[Any] = []

    async def flow(ctx: Context, input: Any) -> Any:
        got.append(await ctx.run(graph("n"), Research(question="q")))

    await run(flow)
    assert got == [Research(question="q", notes=["n"])]


async def test_replay_after_a_crash_does_not_redo_finished_supersteps(tmp_path: Path) -> None:
    def route(state: Research) -> str:
        bump("route")
        return "write" if state.rounds < 2 else END

    nodes = {"search": note("search"), "write": write(crash_on=2)}
    flow = graph(nodes, edges=[("search", "write")], routes={"write": route})
    db = tmp_path / "db.sqlite"
    run_id = await Runtime(SQLiteStore(db)).start(flow, {"question": "q"})
    with pytest.raises(_Crash):
        await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert CALLS == {"search": 1, "write": 2, "route": 1}
    done: Any = (await Runtime(SQLiteStore(db)).resume(run_id, flow)).output  # another process
    assert (done["rounds"], done["notes"]) == (2, ["search"])
    assert CALLS == {"search": 1, "write": 3, "route": 2}  # only the crashed node ran again


async def test_a_node_waiting_for_a_person_suspends_the_graph(tmp_path: Path) -> None:
    async def approve(ctx: Context, state: Research) -> Any:
        return {"draft": f"{state.draft} ({await ctx.wait_for('approval')})"}

    nodes = {"draft": node("draft", lambda s: {"draft": "v1"}), "approve": approve}
    flow = graph(nodes, edges=[("draft", "approve")])
    db = tmp_path / "db.sqlite"
    first = await Runtime(SQLiteStore(db)).run(flow)
    assert first.status is RunStatus.SUSPENDED
    await Runtime(SQLiteStore(db)).signal(first.run_id, "approval", "ok")
    done: Any = (await Runtime(SQLiteStore(db)).resume(first.run_id, flow)).output
    assert done["draft"] == "v1 (ok)"
    assert CALLS == {"draft": 1}


def _twice(old: Any, new: Any) -> Any:
    return new


class TwoReducers(pydantic.BaseModel):
    items: Annotated[list[str], operator.add, _twice] = []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"state": dict}, "state must be a pydantic BaseModel class"),
        ({"nodes": {}}, "needs at least one node"),
        ({"nodes": {END: "N"}, "start": END}, "node name '__end__' is reserved"),
        ({"nodes": {"route:a": "N"}, "start": "route:a"}, "node name 'route:a' is reserved"),
        ({"nodes": {"a b": "N"}, "start": "a b"}, "node name 'a b' must be"),
        ({"nodes": {"a": 42}}, "node 'a': 42 is not a node"),
        ({"start": "serch"}, r"start: node 'serch' is unknown \(did you mean 'search'\?\)"),
        ({"edges": [("search", "wrte")]}, "edge target: node 'wrte' is unknown"),
        ({"edges": [(END, "write")]}, "edge source: node '__end__' is unknown"),
        ({"edges": [("search",)]}, "an edge is a .source, target. pair"),
        ({"routes": {"serch": len}}, "routes: node 'serch' is unknown"),
        ({"routes": {"search": "write"}}, "the route of 'search' must be a function or an Agent"),
        ({"writes": {"wite": "draft"}}, "writes: node 'wite' is unknown"),
        (
            {"writes": {"write": "drft"}},
            r"writes field 'drft' is unknown \(did you mean 'draft'\?\)",
        ),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"state": TwoReducers}, "state field 'items' has more than one reducer"),
    ],
)
def test_invalid_definitions_are_refused(kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"nodes": "search write", **kwargs}
    if isinstance(options["nodes"], dict):
        options["nodes"] = {k: note(k) if v == "N" else v for k, v in options["nodes"].items()}
    with pytest.raises(SpecError, match=message):
        graph(**options)


def _user_text(request: ModelRequest) -> str:
    return next(m.content for m in request.messages if isinstance(m, UserMessage))
