"""A tool call as a chain of small layers around the tool's function.

Each layer is one class that takes the next layer and is called with one input, a
:class:`ToolStep`. A layer either passes the step on or ends it with the event that records
the outcome (a refusal is a journaled tool error the model reads); a layer with nothing to do
hands back the next layer's awaitable itself, without a coroutine of its own. Outermost first:

- :class:`Journaled` — the durable step: replay a journaled result (checked against the
  tool's effect class; an open at_most_once intent is never run under another class), or run
  the rest and commit ``tool_call_completed``;
- :class:`Budgeted` — one step charged against the budget, before any gate or intent;
- :class:`Checked` — an unknown tool, a tool not granted to the agent, invalid arguments;
- :class:`Guarded` — the agent's guardrails on the arguments (block, or redact and re-check);
- :class:`Governed` — a foreign tool's pinned definition, scopes, approval rules and the
  untrusted-content rule (may suspend);
- :class:`AtMostOnce` — an at_most_once call commits its intent first; an open intent is
  ``unknown`` until an operator resolves it;
- :class:`Retried` — attempts under the tool's retry policy, each failure journaled; the
  secrets the tool declares are resolved here, now, and redacted from what is recorded;
- :class:`Timed` — one attempt under the tool's timeout;
- :class:`Invoked` — the tool's function.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import pydantic_core

from podium import jsonsafe
from podium.errors import (
    InvalidPayloadError,
    PayloadTooLargeError,
    ToolArgumentsError,
    ToolError,
    ToolTimeoutError,
)
from podium.events import ErrorInfo, ToolAttemptFailed, ToolCallCompleted, ToolCallIntent
from podium.messages import ToolCall, ToolMessage
from podium.runtime import budgeting, governance, guarding, recordable, toolsets
from podium.runtime.context import Context
from podium.runtime.frame import Guard
from podium.tools import Tool, ToolContext
from podium.types import Effect, Resolution


@dataclass(slots=True)
class ToolStep:
    """The one input of every tool layer. ``arguments`` are set once validated."""

    ctx: Context
    key: str
    call: ToolCall
    tool: Tool | None
    guard: Guard | None
    arguments: dict[str, Any] | None = None
    attempt: int = 1

    @property
    def effect(self) -> Effect:
        return self.tool.effect if self.tool is not None else Effect.READ

    def completed(
        self, result: Any, *, attempts: int = 0, duration_ms: float = 0.0
    ) -> ToolCallCompleted:
        return self._event(result, False, None, attempts, duration_ms)

    def error(
        self,
        text: str,
        *,
        error: BaseException | None = None,
        error_type: str | None = None,
        attempts: int = 0,
    ) -> ToolCallCompleted:
        """The call ended in an error the model is told about (redacted)."""
        kind = error_type or (type(error).__name__ if error else "ToolError")
        text = jsonsafe.clean_text(self.ctx.execution.redactor.text(text))
        return self._event(text, True, kind, attempts, 0.0)

    def _event(
        self, result: Any, is_error: bool, error_type: str | None, attempts: int, duration: float
    ) -> ToolCallCompleted:
        call = self.call
        arguments = (
            pydantic_core.to_jsonable_python(self.arguments)
            if self.arguments is not None
            else arguments_json(call)
        )
        return ToolCallCompleted(
            key=self.key, tool=call.name, call_id=call.id, effect=self.effect,
            arguments=arguments, result=result, is_error=is_error, error_type=error_type,
            attempts=attempts, duration_ms=round(duration, 3),
        )  # fmt: skip


ToolHandler = Callable[[ToolStep], Awaitable[ToolCallCompleted]]
Attempt = Callable[[ToolStep, ToolContext], Awaitable[Any]]


class Journaled:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    async def __call__(self, step: ToolStep) -> ToolMessage:
        async def run(key: str) -> ToolCallCompleted:
            return await self.inner(step)

        return await step.ctx.durable(
            step.call.name, key=step.key, expect=ToolCallCompleted, effect=step.effect,
            run=run, value=partial(_message, step.call),
        )  # fmt: skip


def _message(call: ToolCall, done: ToolCallCompleted) -> ToolMessage:
    return tool_message(call, done.result, done.is_error)


class Budgeted:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep) -> Awaitable[ToolCallCompleted]:
        budgeting.charge_step(step.ctx)  # before any gate or intent: a refusal leaves no trace
        return self.inner(step)


class Checked:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep) -> Awaitable[ToolCallCompleted]:
        tool, guard = step.tool, step.guard
        if tool is None:
            return _ended(step.error(f"unknown tool {step.call.name!r}"))
        if guard is not None and not guard.visible(tool):  # never shown to it: refused
            reason = f"permission denied: {tool.name!r} is not granted to {guard.agent.identity!r}"
            return _ended(step.error(reason, error_type="PermissionDenied"))
        try:
            step.arguments = _accept(step, tool, step.call.arguments)
        except ToolArgumentsError as error:
            return _ended(step.error(str(error), error=error))
        return self.inner(step)


def _accept(step: ToolStep, tool: Tool, raw: str | dict[str, Any]) -> dict[str, Any]:
    """Strict-JSON, schema-valid arguments the journal can record, before anything sees them:
    nothing may execute that the journal cannot record. Raises ``ToolArgumentsError``."""
    arguments = tool.validate(raw)
    probe = ToolStep(step.ctx, step.key, step.call, tool, step.guard, arguments).completed(None)
    try:
        recordable.check(step.ctx, probe, probe.arguments, step.call.id, step.call.name)
    except (InvalidPayloadError, PayloadTooLargeError) as error:
        raise ToolArgumentsError(
            f"the arguments of tool {tool.name!r} cannot be recorded: {recordable.refusal(error)}"
        ) from None
    return arguments


async def _ended(event: ToolCallCompleted) -> ToolCallCompleted:
    """A step a layer ended without going further (a refusal, an error)."""
    return event


class Guarded:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep) -> Awaitable[ToolCallCompleted]:
        guard = step.guard
        if guard is None or not guard.agent.guardrails:
            return self.inner(step)
        return self._screened(step, guard)

    async def _screened(self, step: ToolStep, guard: Guard) -> ToolCallCompleted:
        tool = step.tool
        assert tool is not None  # Checked ended the step otherwise
        screened = await guarding.screen(
            step.ctx, guard.agent, step.arguments, "tool_args", step.key
        )
        if screened.blocked:
            reason = "blocked by guardrails: " + screened.summary()
            return step.error(reason, error_type="GuardrailTripped")
        if screened.action == "redact":
            try:
                step.arguments = _accept(step, tool, screened.value)
            except ToolArgumentsError as error:
                step.arguments = None
                return step.error(str(error), error=error)
        return await self.inner(step)


class Governed:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep) -> Awaitable[ToolCallCompleted]:
        guard = step.guard
        if guard is None:
            return self.inner(step)
        return self._governed(step, guard)

    async def _governed(self, step: ToolStep, guard: Guard) -> ToolCallCompleted:
        tool = step.tool
        assert tool is not None  # Checked ended the step otherwise
        arguments = step.arguments or {}
        refused = None
        if tool.drift is not None:  # a foreign tool (MCP): its pinned definition first
            refused = await toolsets.pin_refusal(step.ctx, guard, step.key, tool, arguments)
        if refused is None:
            refused = await governance.refusal(step.ctx, guard, step.key, tool, arguments)
        if refused is not None:
            kind, reason = refused
            return step.error(reason, error_type=kind)
        return await self.inner(step)


class AtMostOnce:
    def __init__(self, inner: ToolHandler) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep) -> Awaitable[ToolCallCompleted]:
        if step.effect is not Effect.AT_MOST_ONCE:
            return self.inner(step)
        return self._gated(step)

    async def _gated(self, step: ToolStep) -> ToolCallCompleted:
        ctx, key, call = step.ctx, step.key, step.call
        kernel = ctx.execution.kernel
        resolution = await kernel.intent_gate(key, call.name)  # suspends on an open intent
        if resolution is not None and resolution.action is Resolution.SKIP:
            result = (
                resolution.result if resolution.result is not None else "skipped by an operator"
            )
            step.arguments = None  # the journal records the call as the model made it
            return step.completed(result)
        if resolution is not None and resolution.action is Resolution.FAIL:
            step.arguments = None
            return step.error(f"failed by an operator: {resolution.comment or 'no comment'}")
        await kernel.commit(
            ToolCallIntent(
                key=key, tool=call.name, call_id=call.id, arguments=arguments_json(call),
                idempotency_key=ctx.idempotency_key(key),
            )
        )  # fmt: skip
        return await self.inner(step)


class Retried:
    """Attempts under the tool's retry policy; the last failure is the model's tool error."""

    def __init__(self, inner: Attempt) -> None:
        self.inner = inner

    async def __call__(self, step: ToolStep) -> ToolCallCompleted:
        ctx, key, tool = step.ctx, step.key, step.tool
        assert tool is not None  # Checked ended the step otherwise
        execution = ctx.execution
        try:
            secrets = _secrets(ctx, tool)
        except ToolError as error:
            return step.error(str(error), error=error)
        redact = execution.redactor
        started = time.perf_counter()
        while True:
            context = ToolContext(
                run_id=ctx.run_id, step_key=key, tool_call_id=step.call.id,
                idempotency_key=ctx.idempotency_key(key), attempt=step.attempt, secrets=secrets,
            )  # fmt: skip
            try:
                result = redact.value(await self.inner(step, context))
                break
            except Exception as error:
                info = ErrorInfo.of(  # attacker text, too: cleaned and redacted
                    error, redact=lambda text: jsonsafe.clean_text(redact.text(text))
                )
                await execution.kernel.commit(
                    ToolAttemptFailed(key=key, tool=tool.name, attempt=step.attempt, error=info)
                )
                if step.attempt >= tool.retry.max_attempts:
                    text = f"{info.type}: {info.message}"
                    return step.error(text, error=error, attempts=step.attempt)
                await execution.clock.sleep(tool.retry.delay(step.attempt))
                step.attempt += 1
        duration = (time.perf_counter() - started) * 1000
        event = step.completed(result, attempts=step.attempt, duration_ms=duration)
        refused = _unrecordable(ctx, tool, event)
        if refused is not None:  # attacker data (NaN, 20 MB...) is an error the model reads
            return step.error(refused, error_type="ToolResultError", attempts=step.attempt)
        return event


def _unrecordable(ctx: Context, tool: Tool, event: ToolCallCompleted) -> str | None:
    """Why the journal cannot record this completed call, or None if it can."""
    try:
        recordable.check(ctx, event, event.arguments, event.result, event.call_id, event.tool)
    except (InvalidPayloadError, PayloadTooLargeError) as error:
        why = recordable.refusal(error)
        return f"the result of tool {tool.name!r} cannot be recorded: {why}; it was not kept"
    return None


def _secrets(ctx: Context, tool: Tool) -> dict[str, str]:
    """Resolve the secrets a tool declares, now (never earlier); remember them for redaction."""
    values: dict[str, str] = {}
    for name in tool.secrets:
        value = ctx.execution.services.secrets.get(name)
        if value is None:
            raise ToolError(f"secret {name!r} of tool {tool.name!r} is not configured")
        ctx.execution.redactor.add(name, value)
        values[name] = value
    return values


class Timed:
    def __init__(self, inner: Attempt) -> None:
        self.inner = inner

    def __call__(self, step: ToolStep, context: ToolContext) -> Awaitable[Any]:
        tool = step.tool
        assert tool is not None
        if tool.timeout is None:
            return self.inner(step, context)
        return self._timed(step, context, tool)

    async def _timed(self, step: ToolStep, context: ToolContext, tool: Tool) -> Any:
        try:
            with anyio.fail_after(tool.timeout):
                return await self.inner(step, context)
        except TimeoutError:
            raise ToolTimeoutError(f"tool {tool.name!r} timed out after {tool.timeout}s") from None


class Invoked:
    """The end of the chain: the tool's function, with the validated arguments, once the
    execution's lease certainly holds (``Journal.before_effect``)."""

    async def __call__(self, step: ToolStep, context: ToolContext) -> Any:
        assert step.tool is not None
        assert step.arguments is not None
        await step.ctx.execution.kernel.before_effect("tool call", step.key)
        return await step.tool.invoke(step.arguments, context)


CHAIN = Journaled(Budgeted(Checked(Guarded(Governed(AtMostOnce(Retried(Timed(Invoked()))))))))
"""Every tool call, outermost layer first (stateless: built once)."""


async def call_tool(
    ctx: Context, key: str, tool: Tool | None, call: ToolCall, guard: Guard | None = None
) -> ToolMessage:
    """One tool step (its key allocated by the caller, in order, before tools run in parallel).

    ``guard`` enforces the calling agent's scopes, approval rules and untrusted-content policy
    before the tool runs; a refusal goes back to the model as a journaled tool error.
    """
    return await CHAIN(ToolStep(ctx, key, call, tool, guard))


def parse_arguments(call: ToolCall) -> Any:
    """A call's arguments as strict JSON (:mod:`podium.jsonsafe`), else ``ToolArgumentsError``
    naming the tool, where and why."""
    try:
        return jsonsafe.loads(
            call.arguments or "{}", root="arguments", max_chars=jsonsafe.MAX_ARGUMENT_CHARS
        )
    except jsonsafe.JsonValueError as error:
        raise ToolArgumentsError(f"invalid arguments for tool {call.name!r}: {error}") from None


def arguments_json(call: ToolCall) -> Any:
    """What the journal records as a call's arguments: the strict JSON value, or (refused
    arguments) their text, clipped (the model's response, journaled before, holds it all)."""
    try:
        return parse_arguments(call)
    except ToolArgumentsError:
        return jsonsafe.clean_text(call.arguments)


def tool_message(call: ToolCall, result: Any, is_error: bool) -> ToolMessage:
    content = result if isinstance(result, str) else json.dumps(result, default=str)
    return ToolMessage(tool_call_id=call.id, name=call.name, content=content, is_error=is_error)
