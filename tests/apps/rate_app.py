"""A workflow for the rate-limit tests: one agent on OpenAI's wire protocol, served by the
fake LLM server at FAKE_LLM_URL (through the official SDK)."""

from __future__ import annotations

import os
from typing import Any

from podium import Agent, Context, workflow
from podium.providers.openai import OpenAIModel

agent = Agent(
    name="asker",
    model=OpenAIModel(
        "gpt-test", base_url=os.environ.get("FAKE_LLM_URL", "http://127.0.0.1:9"), api_key="sk-x"
    ),
)


@workflow(name="ask")
async def ask(ctx: Context, input: Any) -> Any:
    return await ctx.run(agent, f"question {input}")
