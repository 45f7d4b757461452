"""The agent loop: model -> requested tools (concurrently) -> results -> repeat."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pydantic
import pydantic_core
from pydantic import JsonValue

from podium import jsonsafe
from podium.agents import Agent
from podium.errors import MaxTurnsExceeded, OutputValidationError
from podium.guardrails import GuardrailTripped, Stage
from podium.messages import (
    Message,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)
from podium.models import Model, infer_model
from podium.runtime import budgeting, guarding, routing, toolsets, windowing
from podium.runtime.calls import call_tool
from podium.runtime.context import Context
from podium.runtime.delegation import (
    ExtraTool,
    HandoffTool,
    NodeTool,
    call_node_tool,
    complete_handoff,
    delegation_depth,
)
from podium.runtime.frame import AgentFrame, Guard
from podium.runtime.nodes import register_node_adapter
from podium.tokens import count_tokens


@dataclass(frozen=True, slots=True)
class AgentNode:
    agent: Agent
    kind: str = "agent"

    @property
    def name(self) -> str:
        return self.agent.name

    async def execute(self, ctx: Context, input: Any) -> Any:
        # run_agent's body, inlined: one coroutine less on every agent's stack
        outcome = await agent_turns(ctx, self.agent, first_messages(self.agent, input))
        return outcome.output


register_node_adapter(Agent, AgentNode)


@dataclass(slots=True)
class AgentOutcome:
    """How an agent's turns ended: a final output, or a handoff to the named agents."""

    output: Any
    messages: list[Message]
    handoffs: list[str]


async def run_agent(ctx: Context, agent: Agent, input: Any) -> Any:
    outcome = await agent_turns(ctx, agent, first_messages(agent, input))
    return outcome.output


def first_messages(agent: Agent, input: Any, history: Sequence[Message] = ()) -> list[Message]:
    messages: list[Message] = []
    if agent.instructions:
        messages.append(SystemMessage(content=agent.instructions))
    messages.extend(history)
    if input is not None or not history:
        messages.append(UserMessage(content=render(input)))
    return messages


async def agent_turns(
    ctx: Context, agent: Agent, messages: list[Message], extra: Sequence[ExtraTool] = ()
) -> AgentOutcome:
    """Model -> tools -> model ... until a final output, a handoff or ``max_turns``."""
    override = ctx.execution.services.agent_override
    if override is not None:
        agent = override(agent)
    agent = await toolsets.expand(ctx, agent)  # MCP servers: listed, pinned, journaled
    guard = Guard.under(ctx.frame.guard, agent)
    _know_secrets(ctx, agent)
    ledger = await budgeting.agent_ledger(ctx, agent) or ctx.frame.ledger
    inner = ctx.framed(AgentFrame(guard=guard, ledger=ledger, depth=ctx.frame.depth))
    return await _turns(inner, agent, guard, messages, extra)


def _know_secrets(ctx: Context, agent: Agent) -> None:
    """Teach the redactor the values of every secret this agent's tools declare, so they are
    redacted on every pass, even before (or without) the declaring tool running. The values
    go nowhere else: a tool receives its secrets only when it runs."""
    execution = ctx.execution
    for tool in agent.tools:
        for name in tool.secrets:
            value = execution.services.secrets.get(name)
            if value is not None:
                execution.redactor.add(name, value)


async def _turns(
    ctx: Context, agent: Agent, guard: Guard, messages: list[Message], extra: Sequence[ExtraTool]
) -> AgentOutcome:
    model = _model(ctx, agent)
    output = output_of(agent.output_type)
    by_name = {t.name: t for t in extra} if extra else {}
    shown = tuple(t.definition() for t in agent.tools if guard.visible(t))  # not granted: unseen
    definitions = shown + tuple(t.definition() for t in extra) if extra else shown
    handed_over = any(isinstance(m, ToolMessage) for m in messages)
    if handed_over:
        guard.note_untrusted("the conversation handed over")
    stage: Stage = "message" if handed_over or delegation_depth(ctx) > 0 else "input"
    await _screen_input(ctx, agent, messages, stage)
    retries_left = agent.output_retries
    for _turn in range(agent.max_turns):
        if agent.context is not None:
            messages[:] = await _fit(ctx, agent, messages, definitions, output.schema, model)
        request = ModelRequest(
            messages=tuple(messages),
            tools=definitions,
            output_schema=output.schema,
            settings=agent.settings,
        )
        response = await routing.ask(ctx, model, request)
        messages.append(response.as_message())
        if response.tool_calls:
            results = await _run_tools(ctx, agent, guard, by_name, response.tool_calls)
            messages.extend(results)
            handoffs = [
                t.target
                for c in response.tool_calls
                if isinstance(t := by_name.get(c.name), HandoffTool)
            ]
            if handoffs:
                return AgentOutcome(None, messages, list(dict.fromkeys(handoffs)))
            continue
        try:
            parsed = output.parse(response.text)
            return AgentOutcome(await _screen_output(ctx, agent, output, parsed), messages, [])
        except OutputValidationError as error:
            if retries_left == 0:
                raise
            retries_left -= 1
            messages.append(UserMessage(content=f"{error}\nReply again with valid output."))
    raise MaxTurnsExceeded(f"agent {agent.name!r} did not finish within {agent.max_turns} turns")


async def _fit(
    ctx: Context,
    agent: Agent,
    messages: list[Message],
    definitions: tuple[ToolDefinition, ...],
    schema: dict[str, JsonValue] | None,
    model: Model,
) -> list[Message]:
    """The agent's context policy applied: the messages within its window."""
    assert agent.context is not None

    def measure(candidate: Sequence[Message]) -> int:
        request = ModelRequest(messages=tuple(candidate), tools=definitions, output_schema=schema)
        return count_tokens(request, model.name)

    return await windowing.fit(ctx, agent.name, agent.context, messages, measure)


async def _run_tools(
    ctx: Context,
    agent: Agent,
    guard: Guard,
    extra: dict[str, ExtraTool],
    calls: tuple[ToolCall, ...],
) -> list[ToolMessage]:
    """Run the requested tools concurrently; keys are allocated in order first."""
    ledger = budgeting.current(ctx)
    if ledger is not None and len(calls) > 1:
        ledger.check_fan_out(len(calls))  # parallel tool calls are a fan-out too
    keys = [ctx.next_key(f"tool:{call.name}") for call in calls]

    async def one(index: int) -> ToolMessage:
        call = calls[index]
        special = extra.get(call.name)
        if isinstance(special, NodeTool):
            return await call_node_tool(ctx, keys[index], special, call)
        if isinstance(special, HandoffTool):
            return await complete_handoff(ctx, keys[index], special, call)
        return await call_tool(ctx, keys[index], agent.tool(call.name), call, guard)

    gathered = await ctx.gather(len(calls), one)
    gathered.raise_suspended()
    results: list[ToolMessage | None] = gathered.values
    _note_provenance(agent, guard, extra, keys, calls, results)
    screened = [
        await _screen_result(ctx, agent, key, result, _untrusted(agent, extra, call))
        for key, call, result in zip(keys, calls, results, strict=True)
    ]
    return [r for r in screened if r is not None]


def _note_provenance(
    agent: Agent,
    guard: Guard,
    extra: dict[str, ExtraTool],
    keys: list[str],
    calls: tuple[ToolCall, ...],
    results: list[ToolMessage | None],
) -> None:
    for key, call, result in zip(keys, calls, results, strict=True):
        if result is not None and not result.is_error and _untrusted(agent, extra, call):
            guard.note_untrusted(f"{call.name} ({key})")


async def _screen_input(ctx: Context, agent: Agent, messages: list[Message], stage: Stage) -> None:
    """Guardrails on what the agent is asked (the last user message); redaction rewrites it."""
    if not agent.guardrails:
        return
    index = next((i for i in range(len(messages) - 1, -1, -1) if _is_user(messages[i])), None)
    if index is None:
        return
    verdict = await guarding.screen(ctx, agent, messages[index].content, stage, ctx.path)
    if verdict.blocked:
        raise GuardrailTripped(verdict, stage=stage)
    if verdict.action == "redact":
        messages[index] = UserMessage(content=str(verdict.value))


def _is_user(message: Message) -> bool:
    return isinstance(message, UserMessage)


async def _screen_output(ctx: Context, agent: Agent, output: _Output, value: Any) -> Any:
    if not agent.guardrails:
        return value
    shown = pydantic_core.to_jsonable_python(value)
    verdict = await guarding.screen(ctx, agent, shown, "output", ctx.path)
    if verdict.blocked:
        raise GuardrailTripped(verdict, stage="output")
    if verdict.action != "redact":
        return value
    if output.adapter is None:
        return verdict.value
    return output.adapter.validate_python(verdict.value)


async def _screen_result(
    ctx: Context, agent: Agent, key: str, result: ToolMessage | None, untrusted: bool
) -> ToolMessage | None:
    """Guardrails on untrusted text entering the context (tool results, agents' answers)."""
    if result is None or not untrusted or result.is_error or not agent.guardrails:
        return result
    verdict = await guarding.screen(ctx, agent, result.content, "message", key)
    if verdict.blocked:
        text = "blocked by guardrails: " + verdict.summary()
        return dataclasses.replace(result, content=text, is_error=True)
    if verdict.action == "redact":
        return dataclasses.replace(result, content=str(verdict.value))
    return result


def _untrusted(agent: Agent, extra: dict[str, ExtraTool], call: ToolCall) -> bool:
    """Tool output and other agents' text are untrusted unless the tool says otherwise."""
    special = extra.get(call.name)
    if isinstance(special, HandoffTool):
        return False
    if isinstance(special, NodeTool):
        return True
    tool = agent.tool(call.name)
    return tool is not None and not tool.trusted_output


def _model(ctx: Context, agent: Agent) -> Model:
    if not isinstance(agent.model, str):
        return agent.model  # a model object is used as it is (what infer_model returns)
    # built here from a string: owned by the pass, closed when it ends
    return ctx.execution.own(id(agent), partial(infer_model, agent.model, retry=agent.model_retry))


def render(input: Any) -> str:
    """What a model reads as its input: text as is, anything else as JSON."""
    if isinstance(input, str):
        return input
    return json.dumps(pydantic_core.to_jsonable_python(input), ensure_ascii=False)


def output_of(output_type: Any) -> _Output:
    """The (cached) schema and validator for an output type."""
    if output_type is None:
        return _TEXT
    if not _hashable(output_type):
        return _Output(output_type)
    found = _OUTPUTS.get(output_type)
    if found is None:
        found = _OUTPUTS[output_type] = _Output(output_type)
    return found


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


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
            value = self.adapter.validate_json(_strip_fences(text))
            jsonsafe.check_python(value, root="output")  # no NaN into the journal or code
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'output'}: {e['msg']}"
                for e in error.errors()
            )
            raise OutputValidationError(f"the output is not valid: {problems}") from None
        except jsonsafe.JsonValueError as error:
            raise OutputValidationError(f"the output is not valid: {error}") from None
        return value


_OUTPUTS: dict[Any, _Output] = {}
_TEXT = _Output(None)  # plain text: no schema, no validator


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[-1].rsplit("```", 1)[0]
    return stripped
