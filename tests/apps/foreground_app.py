"""A workflow for the foreground lease tests: every effect appends a line to a ledger, with the
pid of the process that ran it, so a test counts how often each step really executed.

Environment: FG_LEDGER (a JSON-lines file shared by every process), FG_SLOW_SECONDS (how long
the ``slow`` step takes), FG_SYNC_SECONDS (synchronous work in the workflow code between the
``slow`` step and the agent: it blocks the event loop, as CPU-bound code does), FG_MODEL
(``scripted``, the default: a scripted model that writes a ledger line per request; or
``openai``: ``openai:fg-model`` against the fake LLM server at OPENAI_BASE_URL).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import anyio

from podium import Agent, Context, ToolContext, tool, workflow
from podium.messages import ModelRequest, ModelResponse
from podium.models import Model
from podium.testing import ScriptedModel, call


def ledger(**record: Any) -> None:
    """One line per record, written with a single O_APPEND write (whole lines, any process)."""
    line = json.dumps({"pid": os.getpid(), "at": time.time(), **record}) + "\n"
    path = os.environ.get("FG_LEDGER", "ledger.jsonl")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _seconds(name: str) -> float:
    return float(os.environ.get(name, "0") or 0)


class LedgerModel(Model):
    """A scripted model (by turn) that writes a ledger line for every request it gets."""

    def __init__(self) -> None:
        self.inner = ScriptedModel([call("work", n=1), "done"], by_turn=True)

    @property
    def name(self) -> str:
        return "scripted:fg"

    async def request(self, request: ModelRequest) -> ModelResponse:
        turn = sum(m.role == "assistant" for m in request.messages)
        first = next((m for m in request.messages if m.role == "user"), None)
        ledger(kind="model", job=getattr(first, "content", ""), turn=turn)
        return await self.inner.request(request)


@tool
async def work(n: int, ctx: ToolContext) -> str:
    """Do some work."""
    ledger(kind="tool", run=ctx.run_id, key=ctx.step_key)
    return f"worked {n}"


def _model() -> Model | str:
    return "openai:fg-model" if os.environ.get("FG_MODEL") == "openai" else LedgerModel()


clerk = Agent(name="clerk", model=_model(), tools=[work], instructions="Do the job.")


def effect(run_id: str, name: str) -> str:
    ledger(kind="step", run=run_id, name=name)
    return name


async def slow(run_id: str) -> str:
    ledger(kind="enter", run=run_id, name="slow")
    await anyio.sleep(_seconds("FG_SLOW_SECONDS"))
    ledger(kind="step", run=run_id, name="slow")
    return "slow"


def _busy(seconds: float) -> None:
    """CPU-bound work, as far as the event loop can tell: no heartbeat gets in meanwhile."""
    time.sleep(seconds)


@workflow(name="fg")
async def flow(ctx: Context, input: Any) -> Any:
    await ctx.step("prepare", effect, ctx.run_id, "prepare")
    await ctx.step("slow", slow, ctx.run_id)
    sync = _seconds("FG_SYNC_SECONDS")
    if sync:
        ledger(kind="sync", run=ctx.run_id)
        _busy(sync)
    answer = await ctx.run(clerk, f"job {input}")
    await ctx.step("finish", effect, ctx.run_id, "finish")
    return {"input": input, "answer": answer}
