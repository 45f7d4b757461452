"""What the spec fixtures import: tools, scripted models, functions, a workflow, a state model.

Each model is a factory, so every load of a spec gets a fresh script. ``support_python`` is the
Python definition of ``support.yaml``: both must produce the same journal.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pydantic

from podium import Agent, Context, Effect, ModelSettings, RetryPolicy, tool, workflow
from podium.patterns import Parallel, Sequential
from podium.testing import ScriptedModel, call


class Ticket(pydantic.BaseModel):
    topic: str
    order_id: str


@tool(effect=Effect.READ)
def lookup_order(order_id: str) -> str:
    """Look up where an order is."""
    return f"{order_id} shipped yesterday"


def not_a_tool(order_id: str) -> str:
    return order_id


NOT_A_MODEL = 42


def triage_model() -> ScriptedModel:
    return ScriptedModel(['{"topic": "shipping", "order_id": "A-1"}'])


def clerk_model() -> ScriptedModel:
    return ScriptedModel([call("lookup_order", order_id="A-1"), "A-1 shipped yesterday."])


def writer_model() -> ScriptedModel:
    return ScriptedModel(["Dear customer, A-1 shipped yesterday."])


def echo_model() -> ScriptedModel:
    return ScriptedModel(["ok"] * 20)


def broken_model() -> ScriptedModel:
    raise RuntimeError("no script today")


def shout(text: Any) -> str:
    return str(text).upper()


def merge(outputs: dict[str, Any]) -> str:
    return " | ".join(f"{k}={v}" for k, v in sorted(outputs.items()))


def words(text: str) -> list[str]:
    return text.split()


def first_answer(answer: Any) -> str:
    return str(answer)[:1]


@workflow
async def wait_for_ok(ctx: Context, text: Any) -> dict[str, Any]:
    decision = await ctx.wait_for("ok")
    return {"text": text, "decision": decision}


class Notes(pydantic.BaseModel):
    notes: Annotated[list[str], operator.add] = []
    done: bool = False


def take_note(state: Notes) -> dict[str, Any]:
    return {"notes": [f"note {len(state.notes) + 1}"]}


def finish(state: Notes) -> dict[str, Any]:
    return {"done": True}


def route_notes(state: Notes) -> str:
    return "finish" if len(state.notes) >= 2 else "take_note"


def support_python() -> Sequential:
    """The Python twin of support.yaml."""
    triage = Agent(
        name="triage",
        model=triage_model(),
        instructions="Classify the request.",
        output_type=Ticket,
        settings=ModelSettings(temperature=0.0),
    )
    clerk = Agent(
        name="clerk",
        model=clerk_model(),
        instructions="Answer questions about orders.",
        tools=[lookup_order],
        max_turns=4,
        model_retry=RetryPolicy(max_attempts=2, jitter=False),
    )
    writer = Agent(name="writer", model=writer_model(), instructions="Write the reply.")
    answers = Parallel("answers", {"clerk": clerk, "writer": writer}, reducer=merge)
    return Sequential("support", [triage, answers, shout])
