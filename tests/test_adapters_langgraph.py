"""The LangGraph adapter against the real framework: a compiled graph as a Podium node whose
LangChain chat model calls are Podium model steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("langgraph")

from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from podium import Runtime, SQLiteStore
from podium.adapters import langgraph_node
from podium.adapters.langchain import PodiumChatModel
from podium.budget import Budget
from podium.errors import UserError
from podium.events import Event, ModelCallCompleted, NodeStarted
from podium.messages import ModelRequest, ModelResponse, ToolCall, Usage
from podium.observability.tracing import JournalTracer
from podium.patterns import Parallel, Sequential
from podium.spec import SpecValidationError, loads_spec
from podium.testing import FunctionModel
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

SENT: list[str] = []
CRASH: dict[str, bool] = {}


class _Crash(BaseException):
    """The process dying mid-graph (nothing is recorded for it)."""


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    SENT.clear()
    CRASH.clear()
    yield
    SENT.clear()
    CRASH.clear()


def _answer(request: ModelRequest) -> ModelResponse:
    last = str(request.messages[-1].content)
    SENT.append(last)
    usage = Usage(input_tokens=100, output_tokens=50)
    if request.tools:
        call = ToolCall(id="c1", name=request.tools[0].name, arguments='{"city": "Oslo"}')
        return ModelResponse(tool_calls=(call,), usage=usage, finish_reason="tool_calls")
    return ModelResponse(text=f"re:{last}", usage=usage)


LLM = PodiumChatModel(model=FunctionModel(_answer, name="function:echo"), max_tokens=50)


async def draft(state: MessagesState) -> dict[str, object]:
    return {"messages": [await LLM.ainvoke(state["messages"])]}


async def review(state: MessagesState) -> dict[str, object]:
    if CRASH.pop("review", False):
        raise _Crash("review")
    return {"messages": [await LLM.ainvoke(state["messages"])]}


def _graph(name: str = "writer") -> object:
    builder = StateGraph(MessagesState)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", END)
    return builder.compile(name=name)


GRAPH = _graph()
WRITER = langgraph_node(GRAPH)
NOT_A_GRAPH = 42


def to_graph(text: str) -> dict[str, object]:
    return {"messages": [HumanMessage(content=text)]}


def last_text(output: dict[str, list[dict[str, object]]]) -> object:
    return output["messages"][-1]["content"]


async def journal(runtime: Runtime, run_id: str) -> list[Event]:
    return [stored.event for stored in await runtime.store.read(run_id)]


def model_keys(events: list[Event]) -> list[str]:
    return [e.key for e in events if isinstance(e, ModelCallCompleted)]


async def test_a_graph_in_sequential_makes_journaled_model_steps() -> None:
    runtime = Runtime()
    result = await runtime.run(Sequential("pipe", [to_graph, WRITER]), "hello")
    assert result.status is RunStatus.COMPLETED, result.error
    assert isinstance(result.output, dict)
    assert last_text(result.output) == "re:re:hello"
    assert SENT == ["hello", "re:hello"]
    events = await journal(runtime, result.run_id)
    assert model_keys(events) == ["pipe/writer/model#2", "pipe/writer/model#3"]
    kinds = {e.path: e.kind for e in events if isinstance(e, NodeStarted)}
    assert kinds["pipe/writer"] == "langgraph"
    assert result.model_calls == 2


async def test_two_graphs_run_in_parallel_each_under_its_own_path() -> None:
    runtime = Runtime()
    flow = Sequential(
        "pipe", [to_graph, Parallel("fan", [WRITER, langgraph_node(_graph(), name="other")])]
    )
    result = await runtime.run(flow, "p")
    assert result.status is RunStatus.COMPLETED, result.error
    assert isinstance(result.output, dict)
    assert {k: last_text(v) for k, v in result.output.items()} == {
        "writer": "re:re:p",
        "other": "re:re:p",
    }
    keys = sorted(model_keys(await journal(runtime, result.run_id)))
    assert keys == [
        "pipe/fan[other]/model#2",
        "pipe/fan[other]/model#3",
        "pipe/fan[writer]/model#2",
        "pipe/fan[writer]/model#3",
    ]


async def test_a_crash_mid_graph_resumes_without_repeating_a_model_call(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    flow = Sequential("pipe", [to_graph, WRITER])
    run_id = await Runtime(SQLiteStore(db)).start(flow, "c")
    CRASH["review"] = True
    with pytest.raises(_Crash):
        await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert SENT == ["c"]

    done = await Runtime(SQLiteStore(db)).resume(run_id, flow)
    assert done.status is RunStatus.COMPLETED, done.error
    assert isinstance(done.output, dict)
    assert last_text(done.output) == "re:re:c"
    assert SENT == ["c", "re:c"]  # the draft's journaled call was replayed, not sent again


async def test_a_budget_stops_the_graph_before_the_call_that_would_exceed_it() -> None:
    runtime = Runtime()
    flow = Sequential("pipe", [to_graph, WRITER])
    run_id = await runtime.start(flow, "b", budget=Budget(tokens=150 + 40))
    result = await runtime.resume(run_id, flow)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "budget" in result.error.lower()
    assert SENT == ["b"]


async def test_bound_tools_reach_the_model_and_tool_calls_come_back() -> None:
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    tooled = LLM.bind_tools([weather])

    async def ask(state: MessagesState) -> dict[str, object]:
        return {"messages": [await tooled.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    node = langgraph_node(builder.compile(), name="asker")
    runtime = Runtime()
    result = await runtime.run(Sequential("pipe", [to_graph, node]), "weather?")
    assert result.status is RunStatus.COMPLETED, result.error
    assert isinstance(result.output, dict)
    calls = result.output["messages"][-1]["tool_calls"]
    assert [(c["name"], c["args"]) for c in calls] == [("weather", {"city": "Oslo"})]
    events = await journal(runtime, result.run_id)
    done = [e for e in events if isinstance(e, ModelCallCompleted)]
    assert done[0].response.tool_calls[0].name == "weather"


async def test_the_chat_model_outside_a_node_refuses_and_sends_nothing() -> None:
    with pytest.raises(UserError, match="outside a Podium node"):
        await LLM.ainvoke([HumanMessage(content="x")])
    assert SENT == []


def test_langgraph_node_refuses_what_is_not_a_graph() -> None:
    with pytest.raises(UserError, match="not a LangGraph graph"):
        langgraph_node(object())


SPEC = """
version: 1
workflow:
  sequential:
    name: pipe
    steps:
      - function: "test_adapters_langgraph:to_graph"
      - langgraph: "test_adapters_langgraph:GRAPH"
"""


async def test_yaml_runs_a_graph_named_by_import_path() -> None:
    runtime = Runtime()
    result = await runtime.run(loads_spec(SPEC), "yaml")
    assert result.status is RunStatus.COMPLETED, result.error
    assert isinstance(result.output, dict)
    assert last_text(result.output) == "re:re:yaml"
    events = await journal(runtime, result.run_id)
    assert model_keys(events) == ["pipe/GRAPH/model#2", "pipe/GRAPH/model#3"]


def test_yaml_refuses_an_import_path_that_is_not_a_graph() -> None:
    spec = SPEC.replace(":GRAPH", ":NOT_A_GRAPH")
    with pytest.raises(SpecValidationError, match="not a LangGraph graph"):
        loads_spec(spec)


async def test_the_graphs_model_spans_sit_under_the_graph_nodes_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = JournalTracer(provider.get_tracer("test"))
    runtime = Runtime(listeners=[tracing])
    result = await runtime.run(Sequential("pipe", [to_graph, WRITER]), "traced")
    assert result.status is RunStatus.COMPLETED, result.error
    spans = list(exporter.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    graph = [s for s in spans if s.name.endswith(" writer")]
    assert len(graph) == 1, [s.name for s in spans]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2
    for chat in chats:
        assert chat.parent is not None
        assert by_id[chat.parent.span_id] is graph[0]
