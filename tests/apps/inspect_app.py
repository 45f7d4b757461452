"""Targets for the cost and inspection tests: agents on priced, cached and unpriced models."""

from __future__ import annotations

from typing import Any

import anyio

from podium import Agent, Context, workflow
from podium.messages import ModelResponse, Usage
from podium.patterns import Parallel
from podium.prices import DEFAULT_PRICES
from podium.testing import ScriptedModel

# acme:big has a cached-input price; acme:small has none (cached input costs full price);
# acme:mystery is in no table.
PRICES = DEFAULT_PRICES.with_overrides(
    {
        "acme:big": {"input_per_mtok": 10.0, "output_per_mtok": 30.0, "cached_input_per_mtok": 1.0},
        "acme:small": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    },
    version="test",
)


def _agent(name: str, model: str, usage: Usage) -> Agent:
    reply = ModelResponse(text=f"{name} [done]", usage=usage, model_name=model)
    return Agent(name=name, model=ScriptedModel([reply], by_turn=True, name=model))


researcher = _agent(
    "researcher", "acme:big", Usage(input_tokens=1000, output_tokens=200, cached_tokens=400)
)
writer = _agent(
    "writer", "acme:small", Usage(input_tokens=2000, output_tokens=500, cached_tokens=1000)
)
analyst = _agent("analyst", "acme:big", Usage(input_tokens=3000, output_tokens=100))
guesser = _agent("guesser", "acme:mystery", Usage(input_tokens=500, output_tokens=50))


@workflow(name="research")
async def research(ctx: Context, input: Any) -> Any:
    notes = await ctx.run(researcher, str(input))
    return await ctx.run(writer, notes)


panel = Parallel("panel", {"big": analyst, "guess": guesser})


async def _tick(n: int) -> int:
    await anyio.sleep(0.02)
    return n


@workflow(name="slow")
async def slow(ctx: Context, input: Any) -> Any:
    for n in range(3):
        await ctx.step("tick", _tick, n)
    return "ticked"


@workflow(name="waiter")
async def waiter(ctx: Context, input: Any) -> Any:
    return await ctx.wait_for("go")
