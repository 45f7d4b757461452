"""Workflows for the approval kill -9 tests: a payment that needs a CFO's approval.

Environment: STATE_DIR (logs and markers). ``pay`` logs every time it really runs, so a test
can count payments across processes. ``flow`` runs the payment next to a branch that keeps
the process alive (polling for a ``release`` file) after the payment asked for its approval,
so the test can kill the process while it waits; ``payment`` is the payment alone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, Context, Effect, tool, workflow
from podium.patterns import Parallel
from podium.policy import ApprovalRule
from podium.testing import ScriptedModel, call

STATE = Path(os.environ.get("STATE_DIR", "."))


def _log(name: str, line: str) -> None:
    with (STATE / f"{name}.log").open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


@tool(effect=Effect.AT_MOST_ONCE, approval=ApprovalRule(role="cfo", reason="every payment"))
def pay(amount: int, to: str) -> str:
    """Pay a supplier (at most once, and only when a CFO approved it)."""
    _log("paid", f"{amount} {to}")
    return f"paid {amount} to {to}"


def payer() -> Agent:
    # by_turn: a new process answers by the conversation's turn, not by its own call count
    model = ScriptedModel([call("pay", amount=5000, to="acme"), "paid acme"], by_turn=True)
    return Agent(name="payer", identity="payer-bot", model=model, tools=[pay])


async def hold(_: Any) -> str:
    """Keep the process busy until the test releases it (it is killed before that)."""
    _log("holding", str(os.getpid()))
    deadline = time.monotonic() + 60
    # polling a file the test writes: there is no event to wait on across processes
    while not (STATE / "release").exists() and time.monotonic() < deadline:  # noqa: ASYNC110
        await anyio.sleep(0.02)
    return "released"


@workflow
async def holder(ctx: Context, input: Any) -> Any:
    return await ctx.step("hold", hold, input)


flow = Parallel("flow", {"payment": payer(), "holder": holder})


@workflow(name="payment")
async def payment(ctx: Context, input: Any) -> Any:
    return await ctx.run(payer(), input)
