"""Workflows for bench/workers.py: a chain of agents on a 50 ms scripted model, and a run
that holds a step (for takeover timing)."""

from __future__ import annotations

import os
from typing import Any

import anyio

from podium import Agent, Context, workflow
from podium.testing import ScriptedModel

agent = Agent(name="step", model=ScriptedModel(["ok"], by_turn=True, latency=0.05))


@workflow(name="chain")
async def chain(ctx: Context, input: Any) -> Any:
    text = "start"
    for _ in range(int(input)):
        text = await ctx.run(agent, text)
    return text


async def _hold(seconds: float) -> str:
    marker = os.environ.get("BENCH_MARKER")
    if marker:
        await anyio.Path(marker).touch()
    await anyio.sleep(seconds)
    return "held"


@workflow(name="hold")
async def hold(ctx: Context, input: Any) -> Any:
    return await ctx.step("hold", _hold, float(input))
