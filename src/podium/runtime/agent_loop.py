"""The agent loop: model -> requested tools (concurrently) -> results -> repeat."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import anyio
import pydantic
import pydantic_core
from pydantic import JsonValue

from podium.agents import Agent
from podium.errors import MaxTurnsExceeded, OutputValidationError, Suspend
from podium.messages import (
    Message,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from podium.models import Model, infer_model
from podium.runtime.calls import call_model, call_tool
from podium.runtime.context import Context
from podium.runtime.nodes import register_node_adapter


@dataclass(frozen=True, slots=True)
class AgentNode:
    agent: Agent
    kind: str = "agent"

    @property
    def name(self) -> str:
        return self.agent.name

    async def execute(self, ctx: Context, input: Any) -> Any:
        return await run_agent(ctx, self.agent, input)


register_node_adapter(Agent, AgentNode)


async def run_agent(ctx: Context, agent: Agent, input: Any) -> Any:
    model = _model(ctx, agent)
    output = _Output(agent.output_type)
    messages: list[Message] = []
    if agent.instructions:
        messages.append(SystemMessage(content=agent.instructions))
    messages.append(UserMessage(content=_render(input)))
    definitions = tuple(t.definition() for t in agent.tools)
    retries_left = agent.output_retries
    for _turn in range(agent.max_turns):
        request = ModelRequest(
            messages=tuple(messages),
            tools=definitions,
            output_schema=output.schema,
            settings=agent.settings,
        )
        response = await call_model(ctx, model, request)
        messages.append(response.as_message())
        if response.tool_calls:
            messages.extend(await _run_tools(ctx, agent, response.tool_calls))
            continue
        try:
            return output.parse(response.text)
        except OutputValidationError as error:
            if retries_left == 0:
                raise
            retries_left -= 1
            messages.append(UserMessage(content=f"{error}\nReply again with valid output."))
    raise MaxTurnsExceeded(f"agent {agent.name!r} did not finish within {agent.max_turns} turns")


async def _run_tools(ctx: Context, agent: Agent, calls: tuple[ToolCall, ...]) -> list[ToolMessage]:
    """Run the requested tools concurrently; keys are allocated in order first."""
    keys = [ctx.next_key(f"tool:{call.name}") for call in calls]
    results: list[ToolMessage | None] = [None] * len(calls)
    suspended: list[Suspend] = []

    async def one(index: int) -> None:
        call = calls[index]
        try:
            results[index] = await call_tool(ctx, keys[index], agent.tool(call.name), call)
        except Suspend as signal:  # let siblings finish; suspend after the group
            suspended.append(signal)

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(one, index)
    if suspended:
        raise suspended[0]
    return [r for r in results if r is not None]


def _model(ctx: Context, agent: Agent) -> Model:
    cache = ctx.execution.cache
    model = cache.get(id(agent))
    if model is None:
        model = infer_model(agent.model, retry=agent.model_retry)
        cache[id(agent)] = model
        if isinstance(agent.model, str):
            ctx.execution.owned_models.append(model)
    return cast(Model, model)


def _render(input: Any) -> str:
    if isinstance(input, str):
        return input
    return json.dumps(pydantic_core.to_jsonable_python(input), ensure_ascii=False)


class _Output:
    """Structured output: the schema sent to the model and the validator of its answer."""

    def __init__(self, output_type: Any) -> None:
        self.adapter: pydantic.TypeAdapter[Any] | None = None
        self.schema: dict[str, JsonValue] | None = None
        if output_type is not None and output_type is not str:
            self.adapter = pydantic.TypeAdapter(output_type)
            self.schema = cast(dict[str, JsonValue], self.adapter.json_schema())

    def parse(self, text: str) -> Any:
        if self.adapter is None:
            return text
        try:
            return self.adapter.validate_json(_strip_fences(text))
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'output'}: {e['msg']}"
                for e in error.errors()
            )
            raise OutputValidationError(f"the output is not valid: {problems}") from None


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[-1].rsplit("```", 1)[0]
    return stripped
