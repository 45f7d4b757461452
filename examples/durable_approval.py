"""A workflow that waits for a person, durably.

An agent drafts a summary of an expense claim, then the run suspends on
``ctx.wait_for("approval")``. Suspended, it holds no task and no memory. The script then opens the
same SQLite file with a second Runtime (as another process would), delivers the signal and
resumes: the drafting step replays from the journal, only the steps after the wait run.

Offline (a scripted model). Run it with ``python examples/durable_approval.py``, or step by step
with the CLI::

    podium run examples/durable_approval.py:expense_approval \
        --input '{"employee": "ana", "amount": 420, "reason": "conference travel"}'
    podium signal RUN_ID approval --payload '{"approved": true, "by": "maria"}'
    podium resume RUN_ID
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio

from podium import Agent, Context, Runtime, SQLiteStore, workflow
from podium.testing import ScriptedModel

CLAIM = {"employee": "ana", "amount": 420.0, "reason": "conference travel"}

drafter_model = ScriptedModel(
    ["Ana claims 420.00 EUR for conference travel; receipts attached, within policy."],
    name="scripted:drafter",
    by_turn=True,  # the answer depends only on the request, so any process can replay it
)
drafter = Agent(
    name="drafter",
    model=drafter_model,
    instructions="Summarise the expense claim for an approver in one sentence.",
)
PAYMENTS: list[str] = []


def pay_expense(employee: str, amount: float) -> dict[str, Any]:
    """Stands in for a call to the payroll system."""
    PAYMENTS.append(employee)
    return {"payment_id": f"pay-{employee}-{int(amount)}", "amount": amount}


@workflow(name="expense_approval")
async def expense_approval(ctx: Context, claim: dict[str, Any]) -> dict[str, Any]:
    summary = await ctx.run(drafter, claim)
    decision = await ctx.wait_for("approval")  # suspends the run until the signal arrives
    if not (isinstance(decision, dict) and decision.get("approved")):
        return {"summary": summary, "status": "rejected"}
    payment = await ctx.step("pay", pay_expense, claim["employee"], claim["amount"])
    return {"summary": summary, "status": "paid", "payment": payment, "by": decision.get("by")}


async def main() -> int:
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")

    # 1. Start the run. It drafts the summary, then suspends at the wait.
    async with SQLiteStore(db) as store:
        first = await Runtime(store).run(expense_approval, CLAIM)
    print(f"run {first.run_id}: {first.status.value} after {first.model_calls} model call(s)")

    # 2. Later, anywhere: a second Runtime on the same file signals the run and resumes it.
    async with SQLiteStore(db) as store:
        print(f"status index: {(await store.get_run(first.run_id)).status.value}")
        runtime = Runtime(store)
        decision = {"approved": True, "by": "maria"}
        await runtime.signal(first.run_id, "approval", decision, by="maria")
        print(f"signalled; status index: {(await store.get_run(first.run_id)).status.value}")
        done = await runtime.resume(first.run_id, expense_approval)
        journal = await store.read(first.run_id)

    print(f"run {done.run_id}: {done.status.value}")
    print("journal:")
    for stored in journal:
        print(f"  {stored.seq:>3}  {stored.event.type:<20} {_detail(stored.event)}")
    print(f"drafter model requests: {len(drafter_model.requests)}, payments: {len(PAYMENTS)}")
    print(json.dumps(done.output, indent=2))
    print(f"inspect it: podium show {done.run_id}   (store: {db})", file=sys.stderr)
    ok = done.status.value == "completed" and len(drafter_model.requests) == 1
    return 0 if ok and PAYMENTS == ["ana"] else 1


def _detail(event: Any) -> str:
    for field in ("key", "path", "waiting_for", "name"):
        if getattr(event, field, ""):
            return f"{field}={getattr(event, field)}"
    return ""


if __name__ == "__main__":
    sys.exit(anyio.run(main))
