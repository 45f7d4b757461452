"""A workflow for the kill -9 tests: its tools log what they see and can kill the process.

Environment: CRASH_AT (after_model | intent | concurrent), STATE_DIR (logs and markers).
The model is openai:crash-model, pointed at the fake LLM server by OPENAI_BASE_URL.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from podium import Agent, Context, Effect, ToolContext, tool, workflow

STATE = Path(os.environ.get("STATE_DIR", "."))
CRASH_AT = os.environ.get("CRASH_AT", "")


def _log(name: str, line: str) -> None:
    with (STATE / f"{name}.log").open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _die_once(point: str) -> None:
    marker = STATE / f"crashed-{point}"
    if point == CRASH_AT and not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)


@tool
def mark(point: str) -> str:
    """Record that the workflow reached a point (and die there once if told to)."""
    _die_once(point)
    _log("mark", point)
    return f"reached {point}"


@tool(effect=Effect.IDEMPOTENT)
def charge(amount: int, ctx: ToolContext) -> str:
    """Charge a card; safe to repeat with the same idempotency key."""
    _log("charge", f"{ctx.attempt} {ctx.idempotency_key}")
    time.sleep(1.0)
    return f"charged {amount}"


@tool(effect=Effect.AT_MOST_ONCE)
def wire(amount: int) -> str:
    """Send a wire transfer: must never happen twice."""
    _log("wire", str(amount))
    _die_once("intent")
    time.sleep(1.0)
    return f"wired {amount}"


@tool
def lookup(query: str) -> str:
    """Look something up; in the concurrent scenario, kill the process mid-flight."""
    if CRASH_AT == "concurrent" and not (STATE / "crashed-concurrent").exists():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (STATE / "charge.log").exists() and (STATE / "wire.log").exists():
                break
            time.sleep(0.01)
        _die_once("concurrent")
    return f"found {query}"


agent = Agent(
    name="clerk",
    model="openai:crash-model",
    instructions="Do what the customer asks.",
    tools=[mark, charge, wire, lookup],
)


@workflow(name="crash")
async def flow(ctx: Context, input: Any) -> Any:
    answer = await ctx.run(agent, input)
    return {"answer": answer}
