"""A workflow for the worker tests: its tools append what they do to a ledger, with the pid.

Environment (per worker process): WORKER_LEDGER (a JSON-lines file shared by all workers),
WORKER_EFFECTS (a folder: one file per applied charge, named by its idempotency key),
WORKER_STEP_SECONDS (how long `work` takes), WORKER_CHARGE_SECONDS (how long `charge` takes
after applying its effect), WORKER_OWNERS (optional: a folder where `work` holds a per-run
marker file while it runs, created with O_EXCL: finding one already there means another
process is inside the same run at the same time, recorded as an "overlap").
Offline: the model is scripted by turn, so any process continues a run where another left off.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, Context, Effect, ToolContext, tool, workflow
from podium.testing import ScriptedModel, call


def _path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def ledger(**record: Any) -> None:
    """One line per record, written with a single O_APPEND write (whole lines, any process)."""
    line = json.dumps({"pid": os.getpid(), "at": time.time(), **record}) + "\n"
    fd = os.open(
        _path("WORKER_LEDGER", "ledger.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@tool
async def work(n: int, ctx: ToolContext) -> str:
    """Do some work (records the interval it ran in, even when cancelled)."""
    start = time.time()
    ledger(kind="enter", run=ctx.run_id, step=ctx.step_key)
    marker = _enter(ctx.run_id)
    try:
        await anyio.sleep(_seconds("WORKER_STEP_SECONDS", 0.02))
    finally:
        if marker is not None:
            marker.unlink()
        ledger(kind="work", run=ctx.run_id, step=ctx.step_key, start=start, end=time.time())
    return f"worked {n} in {os.getpid()}"


def _enter(run_id: str) -> Path | None:
    """Count owners inside the tool: hold the run's marker while working (WORKER_OWNERS)."""
    folder = os.environ.get("WORKER_OWNERS")
    if not folder:
        return None
    marker = Path(folder) / run_id
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        ledger(kind="overlap", run=run_id)
        return None
    return marker


@tool(effect=Effect.IDEMPOTENT)
async def charge(amount: int, ctx: ToolContext) -> str:
    """Charge a card at a provider that deduplicates by idempotency key."""
    effects = _path("WORKER_EFFECTS", "effects")
    effects.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(effects / ctx.idempotency_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        ledger(kind="charge", run=ctx.run_id, key=ctx.idempotency_key, applied=False)
    else:
        os.write(fd, f"{ctx.run_id} {amount} {os.getpid()}".encode())
        os.close(fd)
        ledger(kind="charge", run=ctx.run_id, key=ctx.idempotency_key, applied=True)
    await anyio.sleep(_seconds("WORKER_CHARGE_SECONDS", 0.0))
    return f"charged {amount} in {os.getpid()}"


clerk = Agent(
    name="clerk",
    model=ScriptedModel(
        [call("work", n=1), call("charge", amount=5), call("work", n=2), "done"], by_turn=True
    ),
    tools=[work, charge],
)


@workflow(name="job")
async def flow(ctx: Context, input: Any) -> Any:
    answer = await ctx.run(clerk, f"job {input}")
    return {"input": input, "answer": answer}
