"""Supplier sourcing: five analysts assess the same shortlist in Parallel; an agent reduces their
assessments to one recommendation.

    pricing | delivery | esg | financial health | references  ->  recommender

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/sourcing.py``, ``podium run examples/sourcing.py:workflow
-i '{...}'``, or its YAML twin: ``podium run examples/sourcing.yaml -i '{...}'``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _scenarios import demo_model, run_example
from pydantic import BaseModel

from podium import Agent, Effect, Model, tool
from podium.patterns import Parallel
from podium.testing import call

SUPPLIERS = ["Alu-Tec GmbH", "Metalurgia Norte", "Shenzhen Precision"]
INPUT: dict[str, Any] = {
    "part": "die-cast aluminium housing AH-220",
    "quantity": 20000,
    "needed_by": "2026-03-01",
    "suppliers": SUPPLIERS,
}
# What the (simulated) data sources know about each supplier.
DATA: dict[str, dict[str, Any]] = {
    "quotes": {"Alu-Tec GmbH": 4.10, "Metalurgia Norte": 3.65, "Shenzhen Precision": 2.95},
    "lead_time_weeks": {"Alu-Tec GmbH": 6, "Metalurgia Norte": 7, "Shenzhen Precision": 14},
    "on_time_rate": {"Alu-Tec GmbH": 0.97, "Metalurgia Norte": 0.93, "Shenzhen Precision": 0.81},
    "esg": {"Alu-Tec GmbH": "A", "Metalurgia Norte": "A-", "Shenzhen Precision": "C"},
    "altman_z": {"Alu-Tec GmbH": 3.4, "Metalurgia Norte": 2.9, "Shenzhen Precision": 1.7},
    "references": {"Alu-Tec GmbH": 4.6, "Metalurgia Norte": 4.4, "Shenzhen Precision": 3.9},
}


class Assessment(BaseModel):
    """One analyst's view of the shortlist."""

    criterion: str
    ranking: list[str]
    note: str


class Recommendation(BaseModel):
    supplier: str
    unit_price_eur: float
    rationale: str
    risks: list[str]


def _per_supplier(table: str, suppliers: list[str]) -> dict[str, Any]:
    return {s: DATA[table].get(s) for s in suppliers}


@tool(effect=Effect.READ, threaded=False)
def price_quotes(part: str, quantity: int, suppliers: list[str]) -> dict[str, Any]:
    """Unit price quotes in EUR from each supplier.

    Args:
        part: The part to quote for.
        quantity: How many units.
        suppliers: The suppliers to ask.
    """
    return {"part": part, "quantity": quantity, "eur_per_unit": _per_supplier("quotes", suppliers)}


@tool(effect=Effect.READ, threaded=False)
def delivery_record(suppliers: list[str]) -> dict[str, Any]:
    """Quoted lead times and the on-time delivery rate of the last 24 months.

    Args:
        suppliers: The suppliers to look up.
    """
    return {
        "lead_time_weeks": _per_supplier("lead_time_weeks", suppliers),
        "on_time_rate": _per_supplier("on_time_rate", suppliers),
    }


@tool(effect=Effect.READ, threaded=False)
def esg_ratings(suppliers: list[str]) -> dict[str, Any]:
    """ESG ratings (A best, E worst) from the ratings provider.

    Args:
        suppliers: The suppliers to look up.
    """
    return _per_supplier("esg", suppliers)


@tool(effect=Effect.READ, threaded=False)
def credit_reports(suppliers: list[str]) -> dict[str, Any]:
    """Altman Z-scores from the suppliers' last filed accounts (above 3 safe, below 1.8 risky).

    Args:
        suppliers: The suppliers to look up.
    """
    return _per_supplier("altman_z", suppliers)


@tool(effect=Effect.READ, threaded=False)
def reference_checks(suppliers: list[str]) -> dict[str, Any]:
    """Average rating (out of 5) given by the suppliers' reference customers.

    Args:
        suppliers: The suppliers to look up.
    """
    return _per_supplier("references", suppliers)


def _analyst_script(tool_call: Any, criterion: str, ranking: list[str], note: str) -> list[Any]:
    answer = {"criterion": criterion, "ranking": ranking, "note": note}
    return [tool_call, json.dumps(answer)]


def pricing_model() -> Model:
    return demo_model("pricing", _analyst_script(
        call("price_quotes", part=INPUT["part"], quantity=20000, suppliers=SUPPLIERS),
        "pricing", ["Shenzhen Precision", "Metalurgia Norte", "Alu-Tec GmbH"],
        "Shenzhen is 0.70 EUR/unit cheaper than Metalurgia Norte (3.65 EUR).",
    ))  # fmt: skip


def delivery_model() -> Model:
    return demo_model("delivery", _analyst_script(
        call("delivery_record", suppliers=SUPPLIERS),
        "delivery", ["Alu-Tec GmbH", "Metalurgia Norte", "Shenzhen Precision"],
        "Shenzhen's 14-week lead time misses the March deadline; the others make it.",
    ))  # fmt: skip


def esg_model() -> Model:
    return demo_model("esg", _analyst_script(
        call("esg_ratings", suppliers=SUPPLIERS),
        "esg", ["Alu-Tec GmbH", "Metalurgia Norte", "Shenzhen Precision"],
        "Shenzhen Precision's C rating is below our A-/B minimum.",
    ))  # fmt: skip


def financial_model() -> Model:
    return demo_model("financial_health", _analyst_script(
        call("credit_reports", suppliers=SUPPLIERS),
        "financial_health", ["Alu-Tec GmbH", "Metalurgia Norte", "Shenzhen Precision"],
        "Alu-Tec and Metalurgia Norte are sound; Shenzhen's Z-score of 1.7 is a warning.",
    ))  # fmt: skip


def references_model() -> Model:
    return demo_model("references", _analyst_script(
        call("reference_checks", suppliers=SUPPLIERS),
        "references", ["Alu-Tec GmbH", "Metalurgia Norte", "Shenzhen Precision"],
        "All references positive; Alu-Tec 4.6/5, Metalurgia Norte 4.4/5.",
    ))  # fmt: skip


def recommender_model() -> Model:
    return demo_model("recommender", [
        json.dumps({"supplier": "Metalurgia Norte", "unit_price_eur": 3.65,
                    "rationale": "Meets the deadline, ESG A-, sound finances and good references, "
                                 "at 0.45 EUR/unit (9,000 EUR) less than Alu-Tec.",
                    "risks": ["7-week lead time leaves 2 weeks of slack",
                              "on-time rate 93%: agree late-delivery penalties"]}),
    ])  # fmt: skip


ANALYSTS = {  # branch label -> (instructions, tool, model factory)
    "pricing": ("Compare the suppliers' unit prices.", price_quotes, pricing_model),
    "delivery": ("Assess lead times and delivery reliability.", delivery_record, delivery_model),
    "esg": ("Assess environmental, social and governance ratings.", esg_ratings, esg_model),
    "financial_health": ("Assess each supplier's financial health.", credit_reports,
                         financial_model),
    "references": ("Summarise what reference customers say.", reference_checks,
                   references_model),
}  # fmt: skip
JSON_REPLY = " Rank the suppliers, best first, and reply with JSON."


def build_workflow() -> Parallel:
    """Five analysts in parallel, one recommender as the reducer (fresh models every time)."""
    analysts = {
        label: Agent(
            name=label,
            instructions=instructions + JSON_REPLY,
            model=factory(),
            tools=[lookup],
            output_type=Assessment,
        )
        for label, (instructions, lookup, factory) in ANALYSTS.items()
    }
    recommender = Agent(
        name="recommender",
        instructions="Weigh the five assessments and recommend one supplier. Reply with JSON.",
        model=recommender_model(),
        output_type=Recommendation,
    )
    return Parallel("sourcing", analysts, reducer=recommender)


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    for label in ANALYSTS:
        assessment = outputs[f"sourcing[{label}]"]
        print(f"  {label:<17} best: {assessment['ranking'][0]:<19} {assessment['note']}")
    print(f"recommendation: {output['supplier']} at {output['unit_price_eur']:.2f} EUR/unit")
    print(f"  why: {output['rationale']}")
    for risk in output["risks"]:
        print(f"  risk: {risk}")


if __name__ == "__main__":
    sys.exit(run_example("supplier sourcing", workflow, INPUT, show))
