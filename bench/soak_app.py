"""The workflow of bench/soak.py: every effect writes a ledger line (pid, start, end) so the soak
can tell a step that ran again after it was journaled from an honest crash re-run.

Per run: a ``ctx.step`` (``prepare``), an agent on a scripted model (its requests logged with
their digest) calling a plain tool (``work``), an idempotent one (``charge``: one effect file
per idempotency key, created ``O_EXCL``) and an at_most_once one (``wire``), then another
``ctx.step`` (``finish``). Environment: SOAK_LEDGER (a JSON-lines file), SOAK_EFFECTS (a folder).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, Context, Effect, ToolContext, tool, workflow
from podium.messages import ModelRequest, ModelResponse
from podium.models import Model
from podium.testing import ScriptedModel, call
from podium.testing.models import ScriptItem

STEP_SECONDS = 0.2


def ledger(**record: Any) -> None:
    """One line per record, one O_APPEND write: whole lines from any process."""
    line = json.dumps({"pid": os.getpid(), **record}) + "\n"
    fd = os.open(os.environ["SOAK_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class LoggedModel(Model):
    """A scripted model (by turn) that logs every request it gets, with its digest."""

    def __init__(self) -> None:
        script: list[ScriptItem] = [
            call("work", n=1),
            call("charge", amount=5),
            call("wire", amount=7),
            "done",
        ]
        self.inner = ScriptedModel(script, by_turn=True)

    @property
    def name(self) -> str:
        return "scripted:soak"

    async def request(self, request: ModelRequest) -> ModelResponse:
        ledger(kind="model", digest=request.digest(), start=time.time())
        return await self.inner.request(request)


async def _effect(kind: str, run: str, key: str, **extra: Any) -> None:
    start = time.time()
    ledger(kind=f"{kind}-start", run=run, key=key, start=start)
    await anyio.sleep(STEP_SECONDS)
    ledger(kind=kind, run=run, key=key, start=start, end=time.time(), **extra)


@tool
async def work(n: int, ctx: ToolContext) -> str:
    """Plain work: may repeat after a crash, never after it was journaled."""
    await _effect("tool", ctx.run_id, ctx.step_key)
    return f"worked {n}"


@tool(effect=Effect.IDEMPOTENT)
async def charge(amount: int, ctx: ToolContext) -> str:
    """A charge deduplicated by its idempotency key (an effect file per key)."""
    applied = _apply(ctx.idempotency_key, ctx.run_id)
    await _effect("tool", ctx.run_id, ctx.step_key, applied=applied)
    return f"charged {amount}"


def _apply(key: str, run_id: str) -> bool:
    """The provider's side: the first charge with ``key`` is applied, later ones are not."""
    folder = Path(os.environ["SOAK_EFFECTS"])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(folder / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.write(fd, run_id.encode())
    os.close(fd)
    return True


@tool(effect=Effect.AT_MOST_ONCE)
async def wire(amount: int, ctx: ToolContext) -> str:
    """A wire transfer: must never run twice."""
    ledger(kind="wire", run=ctx.run_id, key=ctx.step_key, start=time.time())
    await _effect("tool", ctx.run_id, ctx.step_key)
    return f"wired {amount}"


clerk = Agent(name="clerk", model=LoggedModel(), tools=[work, charge, wire], untrusted="allow")


async def _step(run: str, key: str) -> str:
    await _effect("step", run, key)
    return key


@workflow(name="soak")
async def flow(ctx: Context, input: Any) -> Any:
    await ctx.step("prepare", _step, ctx.run_id, "soak/prepare#1")
    answer = await ctx.run(clerk, f"job {input}")
    await ctx.step("finish", _step, ctx.run_id, "soak/finish#2")
    return {"input": input, "answer": answer}
