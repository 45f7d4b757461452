"""Model and tool calls as durable steps, with their effect classes honoured."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

import anyio
import pydantic_core

from podium import jsonsafe
from podium.budget import Ledger, Reservation
from podium.errors import (
    InvalidPayloadError,
    ModelError,
    ModelProtocolError,
    PayloadTooLargeError,
    ToolArgumentsError,
    ToolError,
    ToolTimeoutError,
)
from podium.events import (
    ErrorInfo,
    ModelCallCompleted,
    ModelCallFailed,
    ToolAttemptFailed,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.messages import ModelRequest, ModelResponse, TextDelta, ToolCall, ToolMessage
from podium.models import AttemptFailure, Model, listen
from podium.models.limits import admission
from podium.runtime import budgeting, governance, guarding, recordable
from podium.runtime.context import Context
from podium.runtime.frame import Guard
from podium.tokens import count_tokens
from podium.tools import Tool, ToolContext
from podium.types import Effect, Resolution

# -- model calls ------------------------------------------------------------------------------


async def call_model(ctx: Context, model: Model, request: ModelRequest) -> ModelResponse:
    """One model step. A journaled response is returned without calling the model again."""

    holds: list[str] = []  # a namespace budget's hold, released once the call is journaled

    async def run(key: str) -> ModelCallCompleted:
        return await _model_call(ctx, key, model, request, digest, holds)

    digest = request.digest()
    try:
        return await ctx.durable(
            "model", expect=ModelCallCompleted, digest=digest, run=run, value=_response
        )
    finally:
        await budgeting.release_namespace(ctx, holds)


def _response(done: ModelCallCompleted) -> ModelResponse:
    return done.response


async def _model_call(
    ctx: Context, key: str, model: Model, request: ModelRequest, digest: str, holds: list[str]
) -> ModelCallCompleted:
    execution = ctx.execution
    reported = 0

    async def on_failure(failure: AttemptFailure) -> None:
        nonlocal reported
        reported += 1
        await execution.kernel.commit(_failed_event(key, failure))

    ledger = budgeting.current(ctx)
    reservation = None
    if ledger is not None:  # raises BudgetExceeded before anything is sent
        max_output = request.settings.max_tokens or budgeting.DEFAULT_MAX_OUTPUT_TOKENS
        estimate = count_tokens(request, model.name)
        reservation = ledger.reserve(model.name, estimate, max_output, execution.clock.now())
    hold = await budgeting.hold_namespace(ctx, model.name, ledger, reservation)
    holds.extend(() if hold is None else (hold,))
    started = time.perf_counter()
    received: ModelResponse | None = None
    with listen(on_failure), admission(execution.services.admission):
        try:
            received = response = await _request(ctx, key, model, request)
            recordable.check_response(ctx, model, response)
        except BaseException as error:
            if ledger is not None and reservation is not None:
                ledger.release(reservation)
            if isinstance(error, ModelError) and reported == 0:
                failure = AttemptFailure.from_error(model.name, 1, error)
                kept = received if isinstance(error, ModelProtocolError) else None
                await execution.kernel.commit(_failed_event(key, failure, kept))
            raise
    duration = (time.perf_counter() - started) * 1000
    cost = _charge(ctx, ledger, reservation, model, response)
    return ModelCallCompleted(
        key=key, model=model.name, request_digest=digest, response=response,
        duration_ms=round(duration, 3), cost_usd=cost,
    )  # fmt: skip


def _charge(
    ctx: Context,
    ledger: Ledger | None,
    reservation: Reservation | None,
    model: Model,
    response: ModelResponse,
) -> float | None:
    """Settle the reservation; the call's cost for the journal (None: no price known)."""
    cost = ctx.execution.services.prices.cost(model.name, response.usage)
    if ledger is not None and reservation is not None:
        charged = ledger.settle(reservation, response.usage).cost_usd
        if cost is not None or ledger.fallback_price is not None:
            cost = charged  # what the budget charged is what the journal says was spent
    return cost


async def _request(ctx: Context, key: str, model: Model, request: ModelRequest) -> ModelResponse:
    sink = ctx.execution.services.on_delta
    if sink is None:
        return await model.request(request)
    final: ModelResponse | None = None
    async for item in model.stream(request):
        if isinstance(item, TextDelta):
            sink(key, item)
        else:
            final = item
    if final is None:
        raise ModelError(f"{model.name}: stream ended without a final response", model=model.name)
    return final


def _failed_event(
    key: str, failure: AttemptFailure, response: ModelResponse | None = None
) -> ModelCallFailed:
    return ModelCallFailed(
        key=key,
        model=failure.model,
        attempt=failure.attempt,
        error=ErrorInfo(type=failure.error_type, message=failure.message),
        status_code=failure.status_code,
        retry_after=failure.retry_after,
        retryable=failure.retryable,
        response=response,
    )


# -- tool calls -------------------------------------------------------------------------------


async def call_tool(
    ctx: Context, key: str, tool: Tool | None, call: ToolCall, guard: Guard | None = None
) -> ToolMessage:
    """One tool step (its key allocated by the caller, in order, before tools run in parallel).

    ``guard`` enforces the calling agent's scopes, approval rules and untrusted-content policy
    before the tool runs; a refusal goes back to the model as a journaled tool error. The
    replay checks the journaled effect class against the tool's (see podium.runtime.step).
    """

    async def run(key: str) -> ToolCallCompleted:
        return await _tool_step(ctx, key, tool, call, guard)

    effect = tool.effect if tool is not None else Effect.READ
    return await ctx.durable(
        call.name, key=key, expect=ToolCallCompleted, effect=effect, run=run,
        value=partial(_tool_message, call),
    )  # fmt: skip


def _tool_message(call: ToolCall, done: ToolCallCompleted) -> ToolMessage:
    return tool_message(call, done.result, done.is_error)


async def _tool_step(
    ctx: Context, key: str, tool: Tool | None, call: ToolCall, guard: Guard | None
) -> ToolCallCompleted:
    budgeting.charge_step(ctx)  # before any gate or intent: a refused budget leaves no trace
    if tool is None:
        return _error(ctx, key, call, Effect.READ, None, f"unknown tool {call.name!r}")
    if guard is not None and not guard.visible(tool):  # never shown to it; refused, journaled
        reason = f"permission denied: {tool.name!r} is not granted to {guard.agent.identity!r}"
        return _error(ctx, key, call, tool.effect, None, reason, error_type="PermissionDenied")
    try:
        arguments = _accept(ctx, key, tool, call, call.arguments)
    except ToolArgumentsError as error:
        return _error(ctx, key, call, tool.effect, None, str(error), error)
    if guard is not None:
        governed = await _governed(ctx, key, tool, call, arguments, guard)
        if isinstance(governed, ToolCallCompleted):
            return governed
        arguments = governed
    if tool.effect is Effect.AT_MOST_ONCE:
        resolved = await _at_most_once_gate(ctx, key, tool, call)
        if resolved is not None:
            return resolved
    return await _invoke(ctx, key, tool, call, arguments)


async def _governed(
    ctx: Context, key: str, tool: Tool, call: ToolCall, arguments: dict[str, Any], guard: Guard
) -> dict[str, Any] | ToolCallCompleted:
    """Guardrails on the arguments, then scopes, approvals and the untrusted-content rule.
    Returns the arguments to call with, or the refusal to journal."""
    if guard.agent.guardrails:
        screened = await guarding.screen(ctx, guard.agent, arguments, "tool_args", key)
        if screened.blocked:
            reason = "blocked by guardrails: " + screened.summary()
            return _error(
                ctx, key, call, tool.effect, arguments, reason, error_type="GuardrailTripped"
            )
        if screened.action == "redact":
            try:
                arguments = _accept(ctx, key, tool, call, screened.value)
            except ToolArgumentsError as error:
                return _error(ctx, key, call, tool.effect, None, str(error), error)
    refused = await governance.refusal(ctx, guard, key, tool, arguments)
    if refused is not None:
        kind, reason = refused
        return _error(ctx, key, call, tool.effect, arguments, reason, error_type=kind)
    return arguments


def _accept(
    ctx: Context, key: str, tool: Tool, call: ToolCall, raw: str | dict[str, Any]
) -> dict[str, Any]:
    """Strict-JSON, schema-valid arguments the journal can record, before anything sees them:
    nothing may execute that the journal cannot record. Raises ``ToolArgumentsError``."""
    arguments = tool.validate(raw)
    probe = _completed(key, tool.effect, call, None, False, None, 0, 0.0, arguments)
    try:
        recordable.check(ctx, probe)
    except (InvalidPayloadError, PayloadTooLargeError) as error:
        raise ToolArgumentsError(
            f"the arguments of tool {tool.name!r} cannot be recorded: {recordable.refusal(error)}"
        ) from None
    return arguments


async def _at_most_once_gate(
    ctx: Context, key: str, tool: Tool, call: ToolCall
) -> ToolCallCompleted | None:
    """Commit the intent first; an intent without a result is ``unknown`` until resolved."""
    kernel = ctx.execution.kernel
    resolution = await kernel.intent_gate(key, tool.name)  # suspends on an open intent
    if resolution is not None and resolution.action is Resolution.SKIP:
        result = resolution.result if resolution.result is not None else "skipped by an operator"
        return _completed(key, tool.effect, call, result, False, None, 0, 0.0)
    if resolution is not None and resolution.action is Resolution.FAIL:
        message = f"failed by an operator: {resolution.comment or 'no comment'}"
        return _error(ctx, key, call, tool.effect, None, message)
    await kernel.commit(
        ToolCallIntent(
            key=key, tool=tool.name, call_id=call.id, arguments=arguments_json(call),
            idempotency_key=ctx.idempotency_key(key),
        )
    )  # fmt: skip
    return None


async def _invoke(
    ctx: Context, key: str, tool: Tool, call: ToolCall, arguments: dict[str, Any]
) -> ToolCallCompleted:
    execution = ctx.execution
    policy = tool.retry
    started = time.perf_counter()
    attempt = 1
    try:
        secrets = _secrets(ctx, tool)
    except ToolError as error:
        return _error(ctx, key, call, tool.effect, arguments, str(error), error)
    redact = execution.redactor
    while True:
        context = ToolContext(
            run_id=ctx.run_id, step_key=key, tool_call_id=call.id,
            idempotency_key=ctx.idempotency_key(key), attempt=attempt, secrets=secrets,
        )  # fmt: skip
        try:
            result = redact.value(await _once(tool, arguments, context))
            break
        except Exception as error:
            message = jsonsafe.clean_text(redact.text(str(error)))  # attacker text, too
            info = ErrorInfo(type=type(error).__name__, message=message)
            await execution.kernel.commit(
                ToolAttemptFailed(key=key, tool=tool.name, attempt=attempt, error=info)
            )
            if attempt >= policy.max_attempts:
                text = f"{info.type}: {info.message}"
                return _error(ctx, key, call, tool.effect, arguments, text, error, attempt)
            await execution.clock.sleep(policy.delay(attempt))
            attempt += 1
    duration = (time.perf_counter() - started) * 1000
    event = _completed(key, tool.effect, call, result, False, None, attempt, duration, arguments)
    refused = _unrecordable(ctx, tool, event)
    if refused is not None:  # attacker data (NaN, 20 MB...) is an error the model reads
        kind = "ToolResultError"
        return _error(
            ctx, key, call, tool.effect, arguments, refused, None, attempt, error_type=kind
        )
    return event


def _unrecordable(ctx: Context, tool: Tool, event: ToolCallCompleted) -> str | None:
    """Why the journal cannot record this completed call, or None if it can."""
    try:
        recordable.check(ctx, event)
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


async def _once(tool: Tool, arguments: dict[str, Any], context: ToolContext) -> Any:
    if tool.timeout is None:
        return await tool.invoke(arguments, context)
    try:
        with anyio.fail_after(tool.timeout):
            return await tool.invoke(arguments, context)
    except TimeoutError:
        raise ToolTimeoutError(f"tool {tool.name!r} timed out after {tool.timeout}s") from None


def _error(
    ctx: Context,
    key: str,
    call: ToolCall,
    effect: Effect,
    arguments: dict[str, Any] | None,
    text: str,
    error: BaseException | None = None,
    attempts: int = 0,
    *,
    error_type: str | None = None,
) -> ToolCallCompleted:
    """A tool step that ended in an error the model is told about (redacted)."""
    error_type = error_type or (type(error).__name__ if error else "ToolError")
    text = jsonsafe.clean_text(ctx.execution.redactor.text(text))
    return _completed(key, effect, call, text, True, error_type, attempts, 0.0, arguments)


def _completed(
    key: str,
    effect: Effect,
    call: ToolCall,
    result: Any,
    is_error: bool,
    error_type: str | None,
    attempts: int,
    duration: float,
    arguments: dict[str, Any] | None = None,
) -> ToolCallCompleted:
    return ToolCallCompleted(
        key=key, tool=call.name, call_id=call.id, effect=effect,
        arguments=pydantic_core.to_jsonable_python(arguments) if arguments is not None
        else arguments_json(call),
        result=result, is_error=is_error, error_type=error_type, attempts=attempts,
        duration_ms=round(duration, 3),
    )  # fmt: skip


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
