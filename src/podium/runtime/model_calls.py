"""A model call as a chain of small layers around the provider request.

Each layer is one class that takes the next layer and is called with one input, a
:class:`ModelStep`; adding a field to the step never changes a layer's signature. A layer with
nothing to do for a step hands back the next layer's awaitable itself (no coroutine of its
own), so an unused layer costs a method call. Outermost first:

- :class:`Journaled` — the durable step: replay a journaled response (checked against the
  request digest), or call the rest of the chain and commit ``model_call_completed``;
- :class:`Budgeted` — reserve an estimate (and hold it against a namespace budget) before
  anything is sent, settle the real usage after, release on failure; the cost the journal
  records is what the budget charged;
- :class:`Attempts` — journal every failed attempt (``model_call_failed``; a response the
  journal cannot record is a protocol error, kept in the event); the retries themselves are
  the model's (``RetryModel``, ``FallbackModel``);
- :class:`RateLimited` — admission by the shared per-provider rate limits;
- :class:`Requested` — the request itself, streamed when someone listens to the deltas.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from podium.budget import Ledger
from podium.errors import ModelError, ModelProtocolError
from podium.events import ErrorInfo, ModelCallCompleted, ModelCallFailed
from podium.messages import ModelRequest, ModelResponse, TextDelta
from podium.models import AttemptFailure, Model, listen
from podium.models.limits import Admission, admission, admission_bound
from podium.runtime import budgeting, recordable
from podium.runtime.context import Context
from podium.tokens import count_tokens


@dataclass(slots=True)
class ModelStep:
    """The one input of every model layer. ``cost_usd`` is set by :class:`Budgeted`."""

    ctx: Context
    model: Model
    request: ModelRequest
    digest: str
    key: str = ""
    cost_usd: float | None = None
    budgeted: bool = False  # a ledger settled the call (cost_usd is what it charged)
    holds: list[str] = field(default_factory=list)  # namespace-budget holds, released after


ModelHandler = Callable[[ModelStep], Awaitable[ModelResponse]]


class Journaled:
    def __init__(self, inner: ModelHandler) -> None:
        self.inner = inner

    async def __call__(self, step: ModelStep) -> ModelResponse:
        async def run(key: str) -> ModelCallCompleted:
            step.key = key
            started = time.perf_counter()
            response = await self.inner(step)
            duration = (time.perf_counter() - started) * 1000
            cost = step.cost_usd
            if cost is None and not step.budgeted:  # priced here when no budget charged it
                cost = step.ctx.execution.services.prices.cost(step.model.name, response.usage)
            return ModelCallCompleted(
                key=key, model=step.model.name, request_digest=step.digest, response=response,
                duration_ms=round(duration, 3), cost_usd=cost,
            )  # fmt: skip

        return await step.ctx.durable(
            "model", expect=ModelCallCompleted, digest=step.digest, run=run, value=_response
        )


def _response(done: ModelCallCompleted) -> ModelResponse:
    return done.response


class Budgeted:
    def __init__(self, inner: ModelHandler) -> None:
        self.inner = inner

    def __call__(self, step: ModelStep) -> Awaitable[ModelResponse]:
        ledger = budgeting.current(step.ctx)
        if ledger is None:
            return self.inner(step)
        return self._charged(step, ledger)

    async def _charged(self, step: ModelStep, ledger: Ledger) -> ModelResponse:
        ctx, model, request = step.ctx, step.model, step.request
        max_output = request.settings.max_tokens or budgeting.DEFAULT_MAX_OUTPUT_TOKENS
        # raises BudgetExceeded before anything is sent
        reservation = ledger.reserve(
            model.name, count_tokens(request, model.name), max_output, ctx.execution.clock.now()
        )
        hold = await budgeting.hold_namespace(ctx, model.name, ledger, reservation)
        if hold is not None:
            step.holds.append(hold)
        try:
            response = await self.inner(step)
        except BaseException:
            ledger.release(reservation)
            raise
        cost = ctx.execution.services.prices.cost(model.name, response.usage)
        charged = ledger.settle(reservation, response.usage).cost_usd
        if cost is not None or ledger.fallback_price is not None:
            cost = charged  # what the budget charged is what the journal says was spent
        step.cost_usd, step.budgeted = cost, True
        return response


class Attempts:
    def __init__(self, inner: ModelHandler) -> None:
        self.inner = inner

    async def __call__(self, step: ModelStep) -> ModelResponse:
        kernel = step.ctx.execution.kernel
        reported = 0

        async def on_failure(failure: AttemptFailure) -> None:
            nonlocal reported
            reported += 1
            await kernel.commit(_failed_event(step.key, failure))

        received: ModelResponse | None = None
        with listen(on_failure):
            try:
                received = response = await self.inner(step)
                recordable.check_response(step.ctx, step.model, response)
                return response
            except ModelError as error:
                if reported == 0:  # a model without its own retries failed once
                    failure = AttemptFailure.from_error(step.model.name, 1, error)
                    kept = received if isinstance(error, ModelProtocolError) else None
                    await kernel.commit(_failed_event(step.key, failure, kept))
                raise


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


class RateLimited:
    def __init__(self, inner: ModelHandler) -> None:
        self.inner = inner

    def __call__(self, step: ModelStep) -> Awaitable[ModelResponse]:
        limits = step.ctx.execution.services.admission
        if limits is None and not admission_bound():  # nothing to install, nothing to clear
            return self.inner(step)
        return self._admitted(step, limits)

    async def _admitted(self, step: ModelStep, limits: Admission | None) -> ModelResponse:
        with admission(limits):
            return await self.inner(step)


class Requested:
    """The end of the chain: ``model.request``, or ``model.stream`` when deltas are wanted."""

    async def __call__(self, step: ModelStep) -> ModelResponse:
        await step.ctx.execution.kernel.before_effect("model request", step.key)
        sink = step.ctx.execution.services.on_delta
        if sink is None:
            return await step.model.request(step.request)
        final: ModelResponse | None = None
        async for item in step.model.stream(step.request):
            if isinstance(item, TextDelta):
                sink(step.key, item)
            else:
                final = item
        if final is None:
            name = step.model.name
            raise ModelError(f"{name}: stream ended without a final response", model=name)
        return final


CHAIN = Journaled(Budgeted(Attempts(RateLimited(Requested()))))
"""Every model call, outermost layer first (stateless: built once)."""


async def call_model(ctx: Context, model: Model, request: ModelRequest) -> ModelResponse:
    """One model step. A journaled response is returned without calling the model again."""
    step = ModelStep(ctx, model, request, request.digest())
    try:
        return await CHAIN(step)
    finally:
        if step.holds:  # a namespace budget's holds, released once the call is journaled
            await budgeting.release_namespace(ctx, step.holds)
