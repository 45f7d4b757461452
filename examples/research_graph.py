"""A research workflow on a Graph: typed state, parallel searches merged by reducers, a writer
and a reviewer, and a conditional edge that loops back for another round (at most three).

    plan -> web + papers (same superstep) -> write -> review --approved or round 3--> END
                  ^                                     |
                  +------------- not yet ---------------+

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/research_graph.py``, ``podium run
examples/research_graph.py:workflow -i '{"question": "..."}'``, or its YAML twin: ``podium run
examples/research_graph.yaml -i '{"question": "..."}'``.
"""

from __future__ import annotations

import json
import operator
import sys
from typing import Annotated, Any

from _scenarios import demo_model, run_example
from pydantic import BaseModel

from podium import Agent, Model
from podium.patterns import END, Graph

INPUT: dict[str, Any] = {
    "question": "How much does a heat pump cut a household's heating emissions in Northern Europe?"
}
MAX_ROUNDS = 3

# -- the typed state: each field is replaced by an update, or merged by its reducer ----------


class Research(BaseModel):
    question: str = ""
    queries: list[str] = []
    notes: Annotated[list[str], operator.add] = []  # both searches append, in node order
    round: Annotated[int, max] = 0  # both searches report the same round: keep the highest
    draft: str = ""
    approved: bool = False
    feedback: str = ""


class Plan(BaseModel):
    queries: list[str]


class Draft(BaseModel):
    draft: str


class Review(BaseModel):
    approved: bool
    feedback: str
    queries: list[str]


# -- plain-code nodes and the router (deterministic: they run as journaled steps) -------------

WEB = {
    "heat pump emissions Europe": ["web: EEA 2023: heat pumps cut heating CO2 by 50-70% vs gas"],
    "heat pump COP cold climate": ["web: seasonal COP 2.5-3.2 in Nordic conditions (IEA)"],
    "heat pump field trial Sweden": ["web: Swedish Energy Agency: COP 2.8 measured at -15 °C"],
}
PAPERS = {
    "heat pump emissions Europe": ["paper: Energy Policy 2022: -62% lifecycle CO2, EU-27 grid"],
    "heat pump COP cold climate": ["paper: Applied Energy 2021: COP falls ~0.05 per °C below 0"],
    "heat pump field trial Sweden": ["paper: 120 Swedish homes, 2019-22: -71% vs oil boilers"],
}


def search_web(state: Research) -> dict[str, Any]:
    """Look every query up in the (simulated) web index."""
    notes = [n for q in state.queries for n in WEB.get(q, [f"web: nothing for {q!r}"])]
    return {"notes": notes, "round": state.round + 1}


def search_papers(state: Research) -> dict[str, Any]:
    """Look every query up in the (simulated) paper index."""
    notes = [n for q in state.queries for n in PAPERS.get(q, [f"paper: nothing for {q!r}"])]
    return {"notes": notes, "round": state.round + 1}


def after_review(state: Research) -> str | list[str]:
    """The conditional edge out of review: done, or search again (at most MAX_ROUNDS rounds)."""
    if state.approved or state.round >= MAX_ROUNDS:
        return END
    return ["web", "papers"]


# -- models ------------------------------------------------------------------------------------


def planner_model() -> Model:
    plan = {"queries": ["heat pump emissions Europe", "heat pump COP cold climate"]}
    return demo_model("planner", [json.dumps(plan)])


def writer_model() -> Model:
    first = ("A heat pump cuts a household's heating emissions by about 50-70% compared with "
             "gas (EEA 2023; -62% lifecycle in the EU-27).")  # fmt: skip
    second = first + (" It holds in the cold: Swedish field trials measured a COP of 2.8 at "
                      "-15 °C and -71% against oil boilers.")  # fmt: skip
    return demo_model(
        "writer",
        [json.dumps({"draft": first})],
        when={'"round": 2': [json.dumps({"draft": second})]},  # the second visit
    )


def reviewer_model() -> Model:
    first = {"approved": False, "queries": ["heat pump field trial Sweden"],
             "feedback": "Nothing yet on very cold winters; find Nordic field trials."}  # fmt: skip
    second = {"approved": True, "queries": [], "feedback": "Sourced and covers cold climates."}
    return demo_model("reviewer", [json.dumps(first)], when={'"round": 2': [json.dumps(second)]})


# -- the graph ---------------------------------------------------------------------------------


def build_workflow() -> Graph:
    """The research graph, with fresh models (the YAML twin builds the same)."""
    planner = Agent(
        name="planner",
        instructions="Plan two or three search queries for the question. Reply with JSON.",
        model=planner_model(),
        output_type=Plan,
    )
    writer = Agent(
        name="writer",
        instructions="Answer the question in two sentences from the notes, citing them. "
        "Reply with JSON.",
        model=writer_model(),
        output_type=Draft,
    )
    reviewer = Agent(
        name="reviewer",
        instructions="Review the draft against the notes. Approve it, or give feedback and new "
        "queries for another search round. Reply with JSON.",
        model=reviewer_model(),
        output_type=Review,
    )
    return Graph(
        "research",
        state=Research,
        nodes={
            "plan": planner,
            "web": search_web,
            "papers": search_papers,
            "write": writer,
            "review": reviewer,
        },
        start="plan",
        edges=[
            ("plan", "web"),
            ("plan", "papers"),
            ("web", "write"),
            ("papers", "write"),
            ("write", "review"),
        ],
        routes={"review": after_review},
        max_steps=3 * MAX_ROUNDS + 3,
    )


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    supersteps: dict[str, list[str]] = {}  # "3" -> ["write"]: the nodes of each superstep
    for path in outputs:
        if path.count("/") == 1:
            node, _, step = path.split("/")[1].rstrip("]").partition("[")
            supersteps.setdefault(step, []).append(node)
    print(f"path: {' -> '.join('+'.join(nodes) for nodes in supersteps.values())} -> END")
    print(f"rounds: {output['round']}, notes: {len(output['notes'])}, "
          f"approved: {output['approved']}")  # fmt: skip
    print(f"answer: {output['draft']}")


if __name__ == "__main__":
    sys.exit(run_example("research graph", workflow, INPUT, show))
