"""Podium's quickstart demo: a support desk where a triage agent hands the customer off (Handoff)
to the right specialist, who owns the rest of the conversation.

    triage -> billing | technical | refunds   (billing and technical may pass on to refunds)

Offline by default: every agent uses a scripted model, so it needs no key and no network.
Set PODIUM_DEMO_MODEL (e.g. ``openai:gpt-4.1-mini`` or ``anthropic:claude-sonnet-4-5``) to run
the same workflow against a real provider. Run it with ``python examples/support_desk.py``,
``podium run examples/support_desk.py:support_desk --input "..."``, or its YAML twin:
``podium run examples/support_desk.yaml --input "..."``.

A second case, a 1,499 EUR laptop refund, is left waiting for a supervisor's approval (refunds
over 500 EUR need one). The demo prints a login link for the web console (``podium serve`` on
the same store), where the reader approves it and watches the run finish.
"""

from __future__ import annotations

import sys
from typing import Any

from _scenarios import demo_model, leave_waiting, run_example

from podium import Agent, Effect, Model, tool
from podium.patterns import Handoff
from podium.policy import ApprovalRule
from podium.testing import call

INPUT = "My headphones (order A-1001) arrived broken. I want my money back."
LARGE = "My laptop (order A-2002) arrived with a cracked screen. Please refund it."
ORDERS = {
    "A-1001": {"item": "noise-cancelling headphones", "amount": 129.0, "status": "damaged"},
    "A-2002": {"item": "14-inch laptop", "amount": 1499.0, "status": "damaged"},
}
SUPERVISED = ApprovalRule(
    when=lambda args: float(args["amount"]) > 500,
    role="approver",
    reason="refunds over 500 EUR need a supervisor",
)


# The order database is ours: its results are trusted content. Without trusted_output=True a
# refund proposed after reading it would wait for a person's approval (the rule of two).
@tool(effect=Effect.READ, threaded=False, trusted_output=True)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id.

    Args:
        order_id: The order id, e.g. "A-1001".
    """
    return ORDERS.get(order_id, {"error": f"no order {order_id}"})


@tool(effect=Effect.READ, threaded=False)
def search_help_center(query: str) -> list[str]:
    """Search the help-center articles.

    Args:
        query: What the customer needs help with.
    """
    return ["Pairing headphones with a new phone", "Resetting noise cancellation"]


@tool(effect=Effect.AT_MOST_ONCE, threaded=False, approval=SUPERVISED)
def issue_refund(order_id: str, amount: float) -> dict[str, Any]:
    """Refund an order. Moves money: runs at most once, even across crashes.

    Args:
        order_id: The order to refund.
        amount: The amount in EUR.
    """
    return {"refund_id": f"rf-{order_id}", "order_id": order_id, "amount": amount}


def triage_model() -> Model:
    return demo_model("triage", [call("transfer_to_refunds")])


def billing_model() -> Model:  # not reached by the scripted conversation
    return demo_model("billing", ["I have checked your invoice; the charge is correct."])


def technical_model() -> Model:  # not reached by the scripted conversation
    return demo_model("technical", ["Try resetting the headphones: hold the power button 10 s."])


def refunds_model() -> Model:
    large = [
        call("lookup_order", order_id="A-2002"),
        call("issue_refund", order_id="A-2002", amount=1499.0),
        "Hello! A supervisor approved your refund: 1,499.00 EUR is on its way to your card "
        "(refund rf-A-2002).",
    ]
    return demo_model("refunds", [
        call("lookup_order", order_id="A-1001"),
        call("issue_refund", order_id="A-1001", amount=129.0),
        "Hello! We're sorry your headphones arrived damaged. We have refunded 129.00 EUR to your "
        "card (refund rf-A-1001); it should appear within 3-5 days.",
    ], when={"A-2002": large})  # fmt: skip


def build_workflow() -> Handoff:
    """Triage and three specialists, with fresh models (the YAML twin builds the same)."""
    triage = Agent(
        name="triage",
        instructions="Route the customer to billing (invoices, charges), technical (product "
        "problems) or refunds (returns, money back). Do not answer them yourself.",
        model=triage_model(),
    )
    billing = Agent(
        name="billing",
        instructions="Resolve questions about invoices and charges. Check the order first.",
        model=billing_model(),
        tools=[lookup_order],
    )
    technical = Agent(
        name="technical",
        instructions="Help with product problems, using the help center.",
        model=technical_model(),
        tools=[search_help_center],
    )
    refunds = Agent(
        name="refunds",
        instructions="Handle refunds. Check the order before refunding it, then write a short, "
        "warm reply to the customer.",
        model=refunds_model(),
        tools=[lookup_order, issue_refund],
    )
    return Handoff(
        "support_desk",
        triage,
        [billing, technical, refunds],
        history="conversation",  # specialists see the customer's words, not triage's tool calls
        routes={"billing": ["refunds"], "technical": ["refunds"]},
    )


support_desk = workflow = build_workflow()


def show(output: Any, outputs: dict[str, Any]) -> None:
    hops = [p.split("/", 1)[1].split("[")[0] for p in outputs if p.count("/") == 1]
    print(f"handled by: {' -> '.join(hops)}")
    print(f"reply: {output}")


if __name__ == "__main__":
    code = run_example("support desk", workflow, INPUT, show)
    leave_waiting(workflow, LARGE, "the 1,499 EUR laptop refund")
    sys.exit(code)
