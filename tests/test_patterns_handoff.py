"""Handoff: triage passes control to specialists; history filters, routes, bounded cycles,
parallel handoff, reducers, and definition errors."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Agent, Runtime, SQLiteStore
from podium.errors import SpecError
from podium.events import Event, NodeFinished, NodeStarted
from podium.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from podium.patterns import Handoff
from podium.testing import FunctionModel, ScriptedModel, call
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


def roles(request: ModelRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in request.messages]


def desk(
    triage_script: list[Any], billing_script: list[Any], **options: Any
) -> tuple[Handoff, ScriptedModel, ScriptedModel]:
    triage_model, billing_model = ScriptedModel(triage_script), ScriptedModel(billing_script)
    triage = Agent(name="triage", model=triage_model, instructions="Route the customer.")
    billing = Agent(name="billing", model=billing_model, instructions="Handle billing.")
    refunds = Agent(name="refunds", model=ScriptedModel([]), instructions="Handle refunds.")
    return Handoff("desk", triage, [billing, refunds], **options), triage_model, billing_model


TRANSFER = ToolCall(id="t1", name="transfer_to_billing", arguments="{}")
TALK_AND_TRANSFER = ModelResponse(text="One moment.", tool_calls=(TRANSFER,))


async def test_triage_hands_off_and_billing_sees_the_full_history() -> None:
    handoff, triage_model, billing_model = desk([call("transfer_to_billing")], ["refund issued"])
    runtime = Runtime()
    result = await runtime.run(handoff, "I was charged twice")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "refund issued"
    tools = [t.name for t in triage_model.requests[0].tools]
    assert tools == ["transfer_to_billing", "transfer_to_refunds"]
    assert billing_model.requests[0].tools == ()  # specialists finish by default
    seen = billing_model.requests[0].messages
    assert seen[0] == SystemMessage(content="Handle billing.")
    assert seen[1] == UserMessage(content="I was charged twice")
    assert isinstance(seen[2], AssistantMessage)
    assert [c.name for c in seen[2].tool_calls] == ["transfer_to_billing"]
    assert isinstance(seen[3], ToolMessage)
    assert seen[3].content == "Transferred to billing."
    assert "Route the customer." not in [m.content for m in seen]
    assert len(seen) == 4
    assert await step_keys(runtime, result.run_id) == [
        "desk/triage[1]/model#1",
        "desk/triage[1]/tool:transfer_to_billing#2",
        "desk/billing[2]/model#1",
    ]
    finished = {
        e.path: e.output
        for e in await journal(runtime, result.run_id)
        if isinstance(e, NodeFinished)
    }
    assert finished["desk/triage[1]"] == {"handoff": ["billing"]}
    assert finished["desk"] == "refund issued"


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (
            "full",
            [
                ("system", "Handle billing."),
                ("user", "charged twice"),
                ("assistant", "One moment."),
                ("tool", "Transferred to billing."),
            ],
        ),
        (
            "conversation",
            [
                ("system", "Handle billing."),
                ("user", "charged twice"),
                ("assistant", "One moment."),
            ],
        ),
        ("input", [("system", "Handle billing."), ("user", "charged twice")]),
    ],
)
async def test_history_filters_what_the_specialist_sees(
    history: str, expected: list[tuple[str, str]]
) -> None:
    handoff, _, billing_model = desk([TALK_AND_TRANSFER], ["ok"], history=history)
    result = await Runtime().run(handoff, "charged twice")
    assert result.output == "ok"
    assert roles(billing_model.requests[0]) == expected


async def test_history_function_decides_what_is_passed() -> None:
    given: list[list[Message]] = []

    def summary(messages: list[Message]) -> list[Message]:
        given.append(messages)
        return [UserMessage(content=f"summary of {len(messages)} messages")]

    handoff, _, billing_model = desk([TALK_AND_TRANSFER], ["ok"], history=summary)
    await Runtime().run(handoff, "charged twice")
    assert roles(billing_model.requests[0]) == [
        ("system", "Handle billing."),
        ("user", f"summary of {len(given[0])} messages"),
    ]
    contents = [m.content for m in given[0]]
    assert "charged twice" in contents
    assert "Transferred to billing." in contents


async def test_conversation_history_leaves_no_unanswered_tool_calls() -> None:
    handoff, _, billing_model = desk([TALK_AND_TRANSFER], ["ok"], history="conversation")
    await Runtime().run(handoff, "charged twice")
    seen = billing_model.requests[0].messages
    answered = {m.tool_call_id for m in seen if isinstance(m, ToolMessage)}
    asked = {c.id for m in seen if isinstance(m, AssistantMessage) for c in m.tool_calls}
    assert asked <= answered


async def test_routes_let_a_specialist_hand_back_to_triage() -> None:
    handoff, triage_model, billing_model = desk(
        [call("transfer_to_billing"), "all sorted"],
        [call("transfer_to_triage")],
        routes={"billing": ["triage"]},
    )
    runtime = Runtime()
    result = await runtime.run(handoff, "hello")
    assert result.output == "all sorted"
    assert [t.name for t in billing_model.requests[0].tools] == ["transfer_to_triage"]
    back = triage_model.requests[1]
    assert back.messages[0] == SystemMessage(content="Route the customer.")
    assert "Handle billing." not in [m.content for m in back.messages]
    assert [m.content for m in back.messages if isinstance(m, ToolMessage)] == [
        "Transferred to billing.",
        "Transferred to triage.",
    ]
    turns = [e.path for e in await journal(runtime, result.run_id) if isinstance(e, NodeStarted)]
    assert turns == ["desk", "desk/triage[1]", "desk/billing[2]", "desk/triage[3]"]


@pytest.mark.parametrize("limit", [0, 3])
async def test_a_handoff_cycle_stops_at_max_handoffs(limit: int) -> None:
    triage_model = FunctionModel(lambda request: call("transfer_to_billing"))
    billing_model = FunctionModel(lambda request: call("transfer_to_triage"))
    handoff = Handoff(
        "desk",
        Agent(name="triage", model=triage_model),
        [Agent(name="billing", model=billing_model)],
        routes={"billing": ["triage"]},
        max_handoffs=limit,
    )
    result = await Runtime().run(handoff, "loop forever")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith(
        f"HandoffLimitExceeded: handoff 'desk' at desk: more than {limit}"
    )
    assert len(triage_model.requests) + len(billing_model.requests) == limit + 1


def timed(name: str) -> FunctionModel:
    async def answer(request: ModelRequest) -> str:
        SPANS[name] = [time.monotonic()]
        await anyio.sleep(0.05)
        SPANS[name].append(time.monotonic())
        return f"{name} done"

    return FunctionModel(answer)


def parallel_desk(**options: Any) -> tuple[Handoff, FunctionModel, FunctionModel]:
    triage_model = ScriptedModel([[call("transfer_to_billing"), call("transfer_to_refunds")]])
    billing_model, refunds_model = timed("billing"), timed("refunds")
    handoff = Handoff(
        "desk",
        Agent(name="triage", model=triage_model),
        [Agent(name="billing", model=billing_model), Agent(name="refunds", model=refunds_model)],
        **options,
    )
    return handoff, billing_model, refunds_model


async def test_parallel_handoff_runs_both_targets_concurrently() -> None:
    handoff, billing_model, refunds_model = parallel_desk()
    runtime = Runtime()
    result = await runtime.run(handoff, "double charge and a refund")
    assert result.output == {"billing": "billing done", "refunds": "refunds done"}
    assert max(SPANS["billing"][0], SPANS["refunds"][0]) < min(
        SPANS["billing"][1], SPANS["refunds"][1]
    )
    keys = await step_keys(runtime, result.run_id)
    assert "desk[billing]/billing[2]/model#1" in keys
    assert "desk[refunds]/refunds[2]/model#1" in keys
    for model in (billing_model, refunds_model):  # each continues its own copy of the talk
        tools = [m.content for m in model.requests[0].messages if isinstance(m, ToolMessage)]
        assert tools == ["Transferred to billing.", "Transferred to refunds."]


async def test_parallel_handoff_goes_through_the_reducer() -> None:
    handoff, _, _ = parallel_desk(reducer=lambda answers: " + ".join(sorted(answers.values())))
    runtime = Runtime()
    result = await runtime.run(handoff, "both")
    assert result.output == "billing done + refunds done"
    assert (await step_keys(runtime, result.run_id))[-1] == "desk/reduce[1]/call#1"


async def test_a_single_handoff_is_not_reduced() -> None:
    handoff, _, _ = desk([call("transfer_to_billing")], ["plain"], reducer=lambda a: "reduced")
    assert (await Runtime().run(handoff, "hi")).output == "plain"


async def test_crash_in_the_specialist_does_not_ask_triage_again(tmp_path: Path) -> None:
    handoff, triage_model, billing_model = desk([call("transfer_to_billing")], [_Crash(), "ok"])
    runtime = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    run_id = await runtime.start(handoff, "hi")
    with pytest.raises(_Crash):
        await runtime.resume(run_id, handoff)
    result = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).resume(run_id, handoff)
    assert result.output == "ok"
    assert (len(triage_model.requests), len(billing_model.requests)) == (1, 2)


def agent(name: str) -> Agent:
    return Agent(name=name, model=ScriptedModel([]))


@pytest.mark.parametrize(
    ("specialists", "options", "message"),
    [
        (["billing"], {"routes": {"nobody": ["triage"]}}, "unknown agent 'nobody'"),
        (["billing"], {"routes": {"billing": ["ghost"]}}, "unknown agent 'ghost'"),
        (["billing"], {"routes": {"billing": ["billing"]}}, "cannot hand off to itself"),
        ([], {}, "at least one specialist"),
        (["billing", "billing"], {}, "unique"),
        (["billing"], {"history": "everything"}, "history must be"),
        (["billing"], {"max_handoffs": -1}, "max_handoffs"),
    ],
)
def test_handoff_refuses_bad_definitions(
    specialists: list[str], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        Handoff("desk", agent("triage"), [agent(n) for n in specialists], **options)


def test_transfer_tool_names_are_valid_provider_tool_names() -> None:
    specialists = [agent("billing.eu"), agent("r" * 60)]
    handoff = Handoff("desk", agent("triage"), specialists)
    names = [t.name for t in handoff.tools["triage"]]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names), names
