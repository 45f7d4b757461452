"""Contract review: an extractor and an evaluator in a Loop, until the evaluator finds no open
flags (or three attempts).

    extractor[1] -> checker[1] (2 open flags) -> extractor[2] (reads the schedules)
    -> checker[2] (no open flags: passed)

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/contract_review.py``, ``podium run
examples/contract_review.py:workflow -i "..."``, or its YAML twin: ``podium run
examples/contract_review.yaml -i "..."``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _scenarios import demo_model, run_example
from pydantic import BaseModel

from podium import Agent, Effect, Model, tool
from podium.patterns import Loop
from podium.testing import call

INPUT = (
    "MASTER SERVICES AGREEMENT between Podium Bank S.A. (Client) and CloudNest BV (Supplier).\n"
    "1. Term. Twelve months from 1 February 2026, renewing for further twelve-month periods.\n"
    "4. Fees. 38,400 EUR per year, invoiced quarterly in advance.\n"
    "9. Liability. Each party's aggregate liability is limited as set out in Schedule 3.\n"
    "12. Termination. Either party may terminate for convenience on the notice in Schedule 5.\n"
)
SCHEDULES = {
    3: "Schedule 3. Liability cap: two times (2x) the fees paid in the preceding 12 months.",
    5: "Schedule 5. Notice: 60 days, in writing, before the end of the current term.",
}


class ContractTerms(BaseModel):
    parties: list[str]
    term: str
    fees: str
    liability_cap: str | None
    termination_notice: str | None
    open_flags: list[str]


@tool(effect=Effect.READ, threaded=False)
def read_schedule(number: int) -> str:
    """Read a schedule of the contract (the main text refers to them by number).

    Args:
        number: The schedule number, e.g. 3.
    """
    return SCHEDULES.get(number, f"there is no schedule {number}")


PARTIES = ["Podium Bank S.A.", "CloudNest BV"]
FIRST_DRAFT = {
    "parties": PARTIES, "term": "12 months from 2026-02-01, renews yearly",
    "fees": "38,400 EUR/year, quarterly in advance", "liability_cap": None,
    "termination_notice": None,
    "open_flags": ["liability cap is in Schedule 3 (not read)",
                   "termination notice is in Schedule 5 (not read)"],
}  # fmt: skip
SECOND_DRAFT = {
    **FIRST_DRAFT, "liability_cap": "2x the fees of the preceding 12 months",
    "termination_notice": "60 days in writing before the end of the term", "open_flags": [],
}  # fmt: skip


def extractor_model() -> Model:
    return demo_model(
        "extractor",
        [json.dumps(FIRST_DRAFT)],
        when={  # the second attempt's input carries the checker's feedback
            '"feedback":': [
                [call("read_schedule", number=3), call("read_schedule", number=5)],
                json.dumps(SECOND_DRAFT),
            ]
        },
    )


def checker_model() -> Model:
    first = {"passed": False, "score": 0.6,
             "feedback": "Open flags: the liability cap and the termination notice are missing; "
                         "read Schedules 3 and 5."}  # fmt: skip
    second = {"passed": True, "score": 0.95, "feedback": "No open flags."}
    return demo_model("checker", [json.dumps(first)], when={'"iteration": 2': [json.dumps(second)]})


def build_workflow() -> Loop:
    """Extractor and checker, with fresh models (the YAML twin builds the same)."""
    extractor = Agent(
        name="extractor",
        instructions="Extract the key terms of the contract. Read any schedule the text refers "
        "to. List what you could not settle as open_flags. Reply with JSON.",
        model=extractor_model(),
        tools=[read_schedule],
        output_type=ContractTerms,
    )
    checker = Agent(  # a Loop gives an evaluator without an output_type the Verdict type
        name="checker",
        instructions="Check the extracted terms against the contract. Pass them only if nothing "
        "is missing and there are no open flags; otherwise say what to fix.",
        model=checker_model(),
    )
    return Loop("contract_review", extractor, checker, max_iterations=3)


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    for i in range(1, output["iterations"] + 1):
        verdict = outputs[f"contract_review/checker[{i}]"]
        print(f"  attempt {i}: passed={verdict['passed']} score={verdict['score']}: "
              f"{verdict['feedback']}")  # fmt: skip
    terms = output["output"]
    print(f"result: {output['status']} after {output['iterations']} iterations")
    print(f"  liability cap: {terms['liability_cap']}")
    print(f"  termination notice: {terms['termination_notice']}")
    print(f"  open flags: {len(terms['open_flags'])}")


if __name__ == "__main__":
    sys.exit(run_example("contract review", workflow, INPUT, show))
