"""Vendor procurement: a manager agent (Supervisor) delegates to three worker agents it sees as
tools, one call at a time, and reports back.

    manager -> sourcing -> contract_review -> vendor_onboarding -> manager's summary

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/procurement.py``, ``podium run
examples/procurement.py:workflow -i '{...}'``, or its YAML twin: ``podium run
examples/procurement.yaml -i '{...}'``.
"""

from __future__ import annotations

import sys
from typing import Any

from _scenarios import demo_model, run_example

from podium import Agent, Effect, Model, ToolContext, tool
from podium.patterns import Supervisor
from podium.testing import call

INPUT: dict[str, Any] = {
    "request": "Managed PostgreSQL hosting for the payments team",
    "budget_eur_per_year": 40000,
    "requirements": ["EU data residency", "99.95% SLA", "SOC 2 Type II"],
}
VENDORS = [
    {"vendor": "CloudNest BV", "eur_per_year": 38400, "region": "EU (Amsterdam)", "sla": 99.95,
     "soc2": True},
    {"vendor": "DataHarbor Inc", "eur_per_year": 31000, "region": "US (Virginia)", "sla": 99.9,
     "soc2": True},
    {"vendor": "Nordbase AB", "eur_per_year": 46500, "region": "EU (Stockholm)", "sla": 99.99,
     "soc2": True},
]  # fmt: skip
REGISTERED: dict[str, str] = {}  # idempotency key -> vendor id: a retry registers nothing twice


@tool(effect=Effect.READ, threaded=False)
def search_vendors(category: str, max_eur_per_year: int) -> list[dict[str, Any]]:
    """Search the approved-vendor catalogue.

    Args:
        category: What to buy, e.g. "managed postgresql".
        max_eur_per_year: The most the team can pay per year.
    """
    return [v for v in VENDORS if v["eur_per_year"] <= max_eur_per_year * 1.2]


@tool(effect=Effect.READ, threaded=False)
def fetch_contract(vendor: str) -> dict[str, Any]:
    """Fetch the vendor's master services agreement, clause by clause.

    Args:
        vendor: The vendor's name.
    """
    return {
        "vendor": vendor,
        "clauses": {
            "term": "12 months, renews yearly unless cancelled with 60 days' notice",
            "liability": "capped at 1x the annual fees",
            "data": "processed in the EU only; DPA attached",
            "sla": "99.95% monthly; service credits up to 25%",
        },
    }


@tool(effect=Effect.IDEMPOTENT, threaded=False)
def register_vendor(
    vendor: str, vat_id: str, payment_terms: str, ctx: ToolContext
) -> dict[str, Any]:
    """Create the vendor in the ERP. Idempotent: a retry with the same key creates nothing new.

    Args:
        vendor: The vendor's legal name.
        vat_id: The vendor's VAT number.
        payment_terms: e.g. "net 30".
    """
    vendor_id = REGISTERED.setdefault(ctx.idempotency_key, "V-20931")
    return {"vendor_id": vendor_id, "vendor": vendor, "payment_terms": payment_terms}


def manager_model() -> Model:
    return demo_model("manager", [
        call("sourcing", task="Find managed PostgreSQL hosting under 40,000 EUR/year with EU "
                              "data residency, a 99.95% SLA and SOC 2 Type II."),
        call("contract_review", task="Review CloudNest BV's master services agreement against "
                                     "our playbook and list what must change."),
        call("vendor_onboarding", task="Register CloudNest BV (VAT NL859203114B01) with "
                                       "payment terms net 30."),
        "Procurement complete: CloudNest BV selected at 38,400 EUR/year; contract approved once "
        "the liability cap is raised to 2x annual fees; registered as vendor V-20931 (net 30).",
    ])  # fmt: skip


def sourcing_model() -> Model:
    return demo_model("sourcing", [
        call("search_vendors", category="managed postgresql", max_eur_per_year=40000),
        "CloudNest BV: 38,400 EUR/year, EU (Amsterdam), 99.95% SLA, SOC 2. DataHarbor is "
        "cheaper but US-hosted; Nordbase is over budget.",
    ])  # fmt: skip


def contract_model() -> Model:
    return demo_model("contract_review", [
        call("fetch_contract", vendor="CloudNest BV"),
        "Acceptable with one change: the liability cap (1x annual fees) must be raised to 2x, "
        "per our playbook. Renewal needs 60 days' notice: diarise it.",
    ])  # fmt: skip


def onboarding_model() -> Model:
    return demo_model("vendor_onboarding", [
        call("register_vendor", vendor="CloudNest BV", vat_id="NL859203114B01",
             payment_terms="net 30"),
        "Registered CloudNest BV as vendor V-20931 with payment terms net 30.",
    ])  # fmt: skip


def build_workflow() -> Supervisor:
    """The manager and its three workers, with fresh models."""
    manager = Agent(
        name="manager",
        instructions="You run vendor procurement. Delegate to sourcing, then contract_review, "
        "then vendor_onboarding, one at a time; then summarise the outcome in one paragraph.",
        model=manager_model(),
    )
    sourcing = Agent(
        name="sourcing",
        instructions="Find vendors that meet the requirements and recommend one.",
        model=sourcing_model(),
        tools=[search_vendors],
    )
    contract_review = Agent(
        name="contract_review",
        instructions="Review a vendor contract against the playbook and list required changes.",
        model=contract_model(),
        tools=[fetch_contract],
    )
    vendor_onboarding = Agent(
        name="vendor_onboarding",
        instructions="Register an approved vendor in the ERP.",
        model=onboarding_model(),
        tools=[register_vendor],
    )
    return Supervisor("procurement", manager, [sourcing, contract_review, vendor_onboarding])


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    for path, answer in outputs.items():
        if path.startswith("procurement/manager/"):
            print(f"  {path.rsplit('/', 1)[1]:<21} {answer}")
    print(f"manager: {output}")


if __name__ == "__main__":
    sys.exit(run_example("vendor procurement", workflow, INPUT, show))
