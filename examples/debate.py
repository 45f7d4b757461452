"""Debate: three agents argue the same question concurrently (Consensus); a judge agent weighs
their positions and rules.

    advocate | skeptic | regulator  ->  judge

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/debate.py``, ``podium run examples/debate.py:workflow
-i "..."``, or its YAML twin: ``podium run examples/debate.yaml -i "..."``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from _scenarios import demo_model, run_example
from pydantic import BaseModel

from podium import Agent, Model
from podium.patterns import Consensus

INPUT = (
    "Should the bank let an AI agent approve small-business loans under 50,000 EUR without a "
    "person reviewing each one?"
)
Stance = Literal["for", "against", "for_with_conditions"]


class Position(BaseModel):
    stance: Stance
    argument: str


class Ruling(BaseModel):
    stance: Stance
    decision: str
    conditions: list[str]


def _position(stance: str, argument: str) -> str:
    return json.dumps({"stance": stance, "argument": argument})


def advocate_model() -> Model:
    return demo_model("advocate", [_position(
        "for",
        "Decisions drop from 5 days to minutes; the model's default rate on the 2024 back-test "
        "(1.8%) matched the human underwriters' (1.9%).",
    )])  # fmt: skip


def skeptic_model() -> Model:
    return demo_model("skeptic", [_position(
        "against",
        "A model drifts silently; one bad quarter could approve hundreds of loans before anyone "
        "notices, and rejected applicants are owed an explanation.",
    )])  # fmt: skip


def regulator_model() -> Model:
    return demo_model("regulator", [_position(
        "for_with_conditions",
        "Credit scoring is high-risk under the EU AI Act: allowed with human oversight, "
        "logging and a right to contest the decision.",
    )])  # fmt: skip


def judge_model() -> Model:
    return demo_model("judge", [json.dumps({
        "stance": "for_with_conditions",
        "decision": "Approve the pilot: the agent decides, people oversee.",
        "conditions": [
            "a person reviews every rejection and a 5% sample of approvals",
            "monthly drift report against the human baseline",
            "every decision journaled with its reasons; applicants can contest",
        ],
    })])  # fmt: skip


def build_workflow() -> Consensus:
    """Three debaters and a judge, with fresh models (the YAML twin builds the same)."""
    debaters = [
        Agent(name=name, instructions=instructions + " Reply with JSON.", model=factory(),
              output_type=Position)
        for name, instructions, factory in (
            ("advocate", "Argue for the proposal, with evidence.", advocate_model),
            ("skeptic", "Argue against the proposal: find the risks.", skeptic_model),
            ("regulator", "Assess the proposal as a banking regulator would.", regulator_model),
        )
    ]  # fmt: skip
    judge = Agent(
        name="judge",
        instructions="Weigh the debaters' positions and rule on the question, with the "
        "conditions that must hold. Reply with JSON.",
        model=judge_model(),
        output_type=Ruling,
    )
    return Consensus("debate", debaters, judge=judge)


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    for candidate in output["candidates"]:
        answer = candidate["answer"]
        print(f"  {candidate['solver']:<9} {answer['stance']:<20} {answer['argument']}")
    ruling = output["answer"]
    print(f"ruling ({output['method']}): {ruling['stance']}: {ruling['decision']}")
    for condition in ruling["conditions"]:
        print(f"  - {condition}")


if __name__ == "__main__":
    sys.exit(run_example("debate", workflow, INPUT, show))
