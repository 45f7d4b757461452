"""Bank customer onboarding: a Sequential pipeline with a Parallel step inside it.

    verify documents -> credit and fraud checks (in parallel) -> decide -> draft agreement
    -> welcome email

Offline by default (scripted models); set PODIUM_DEMO_MODEL=openai:gpt-4.1-mini to use a real
model. Run it with ``python examples/onboarding.py``, ``podium run examples/onboarding.py:workflow
-i '{...}'``, or its YAML twin: ``podium run examples/onboarding.yaml -i '{...}'``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from _scenarios import demo_model, run_example
from pydantic import BaseModel

from podium import Agent, Effect, Model, tool
from podium.patterns import Parallel, Sequential
from podium.testing import call

INPUT: dict[str, Any] = {
    "customer": "Ana Silva",
    "email": "ana@silvadesign.pt",
    "company": "Silva Design Lda",
    "product": "business current account with an overdraft",
    "documents": ["passport", "proof_of_address", "company_registration"],
}
DOCUMENTS = {
    "passport": {"valid": True, "expires": "2031-04-30"},
    "proof_of_address": {"valid": True, "issued": "2025-01-12"},
    "company_registration": {"valid": True, "registry": "PT-515 220 113"},
}

# -- typed outputs -----------------------------------------------------------------------------


class Verification(BaseModel):
    customer: str
    email: str
    verified: bool
    documents: list[str]
    notes: str = ""


class CreditCheck(BaseModel):
    customer: str
    score: int
    recommended_limit_eur: float


class FraudCheck(BaseModel):
    customer: str
    email: str
    risk: Literal["low", "medium", "high"]
    flags: list[str]


class Agreement(BaseModel):
    customer: str
    email: str
    account: str
    overdraft_limit_eur: float
    terms: list[str]


# -- tools and plain functions -----------------------------------------------------------------


@tool(effect=Effect.READ, threaded=False)
def check_document(customer: str, document: str) -> dict[str, Any]:
    """Check one identity or company document against the issuing registry.

    Args:
        customer: The customer's full name.
        document: passport, proof_of_address or company_registration.
    """
    found = DOCUMENTS.get(document)
    return {"document": document, **found} if found else {"document": document, "valid": False}


@tool(effect=Effect.READ, threaded=False)
def credit_bureau(customer: str) -> dict[str, Any]:
    """Get the customer's credit bureau report.

    Args:
        customer: The customer's full name.
    """
    return {"customer": customer, "score": 742, "defaults": 0, "existing_debt_eur": 12000}


@tool(effect=Effect.READ, threaded=False)
def fraud_screen(customer: str, email: str) -> dict[str, Any]:
    """Screen the customer against sanctions, PEP lists and device/email risk signals.

    Args:
        customer: The customer's full name.
        email: The customer's email address.
    """
    return {"sanctions_hit": False, "pep": False, "email_age_days": 2900, "device_risk": "low"}


@tool(effect=Effect.AT_MOST_ONCE, threaded=False)
def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
    """Send an email to a customer. Runs at most once, even across crashes.

    Args:
        to: The recipient's address.
        subject: The subject line.
        body: The text of the email.
    """
    return {"message_id": f"msg-{to.split('@')[0]}-welcome", "to": to, "status": "sent"}


def decide(checks: dict[str, Any]) -> dict[str, Any]:
    """The bank's rule (plain code, journaled as one step): approve on a good score, low risk."""
    credit = CreditCheck.model_validate(checks["credit"])
    fraud = FraudCheck.model_validate(checks["fraud"])
    approved = credit.score >= 650 and fraud.risk == "low"
    return {
        "customer": credit.customer,
        "email": fraud.email,
        "approved": approved,
        "credit_score": credit.score,
        "fraud_risk": fraud.risk,
        "overdraft_limit_eur": credit.recommended_limit_eur if approved else 0.0,
    }


# -- models: one scripted model per agent (a factory, so every run gets a fresh one) -----------


def verifier_model() -> Model:
    return demo_model("verifier", [
        [call("check_document", customer="Ana Silva", document=d) for d in INPUT["documents"]],
        json.dumps({"customer": "Ana Silva", "email": "ana@silvadesign.pt", "verified": True,
                    "documents": INPUT["documents"],
                    "notes": "All three documents are valid; passport expires 2031."}),
    ])  # fmt: skip


def credit_model() -> Model:
    return demo_model("credit", [
        call("credit_bureau", customer="Ana Silva"),
        json.dumps({"customer": "Ana Silva", "score": 742, "recommended_limit_eur": 15000}),
    ])  # fmt: skip


def fraud_model() -> Model:
    return demo_model("fraud", [
        call("fraud_screen", customer="Ana Silva", email="ana@silvadesign.pt"),
        json.dumps({"customer": "Ana Silva", "email": "ana@silvadesign.pt", "risk": "low",
                    "flags": []}),
    ])  # fmt: skip


def drafter_model() -> Model:
    return demo_model("drafter", [
        json.dumps({"customer": "Ana Silva", "email": "ana@silvadesign.pt",
                    "account": "business current account", "overdraft_limit_eur": 15000,
                    "terms": ["no monthly fee for the first 12 months",
                              "overdraft at 7.9% APR, reviewed yearly",
                              "30 days' notice to close the account"]}),
    ])  # fmt: skip


def welcome_model() -> Model:
    return demo_model("welcome", [
        call("send_email", to="ana@silvadesign.pt", subject="Welcome to Podium Bank",
             body="Dear Ana, your business current account is open, with an overdraft of "
                  "up to 15,000 EUR. Your agreement is attached. Welcome aboard!"),
        "Welcome email sent to ana@silvadesign.pt (msg-ana-welcome): business current account "
        "open, overdraft 15,000 EUR.",
    ])  # fmt: skip


# -- the workflow ------------------------------------------------------------------------------


def build_workflow() -> Sequential:
    """The onboarding pipeline, with fresh models (the YAML twin builds the same tree)."""
    verifier = Agent(
        name="verifier",
        instructions="Verify the applicant's documents with check_document. Reply with JSON.",
        model=verifier_model(),
        tools=[check_document],
        output_type=Verification,
    )
    credit = Agent(
        name="credit",
        instructions="Assess creditworthiness from the credit bureau report. Reply with JSON.",
        model=credit_model(),
        tools=[credit_bureau],
        output_type=CreditCheck,
    )
    fraud = Agent(
        name="fraud",
        instructions="Screen the applicant for fraud and sanctions. Reply with JSON.",
        model=fraud_model(),
        tools=[fraud_screen],
        output_type=FraudCheck,
    )
    drafter = Agent(
        name="drafter",
        instructions="Draft the account agreement from the approved decision. Reply with JSON.",
        model=drafter_model(),
        output_type=Agreement,
    )
    welcome = Agent(
        name="welcome",
        instructions="Send the customer a short welcome email about their new account.",
        model=welcome_model(),
        tools=[send_email],
    )
    checks = Parallel("checks", {"credit": credit, "fraud": fraud})
    return Sequential("onboarding", [verifier, checks, decide, drafter, welcome])


workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    decision = outputs["onboarding/decide"]
    verdict = "approved" if decision["approved"] else "declined"
    print(
        f"decision: {verdict} (credit score {decision['credit_score']}, fraud risk "
        f"{decision['fraud_risk']}), overdraft {decision['overdraft_limit_eur']:,.0f} EUR"
    )
    print(f"result: {output}")


if __name__ == "__main__":
    sys.exit(run_example("bank customer onboarding", workflow, INPUT, show))
