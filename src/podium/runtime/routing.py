"""A :class:`~podium.models.routing.Router` inside a run: every decision journaled and costed.

Each attempt is three durable steps at the caller's node: the classifier's call (if the router
has one; a journaled model call), a ``route`` step recording the model picked and why, and the
model call itself (``model_call_completed``, priced and budgeted like any other). An answer
rejected by the validator or the evaluator (a journaled model call too) leaves a ``route``
step recording the rejection, the reason and what the rejected attempt cost, then the next
stronger model is tried. A replay returns the journaled decisions: it never re-decides.
"""

from __future__ import annotations

from typing import Any, cast

from podium.events import StepCompleted
from podium.messages import ModelRequest, ModelResponse
from podium.models import Model
from podium.models.routing import Decision, Router, evaluator_rejection
from podium.runtime.context import Context
from podium.runtime.model_calls import call_model


async def ask(ctx: Context, model: Model, request: ModelRequest) -> ModelResponse:
    """One model call of an agent: routed if ``model`` is a :class:`Router`."""
    if isinstance(model, Router):
        return await routed(ctx, model, request)
    return await call_model(ctx, model, request)


async def routed(ctx: Context, router: Router, request: ModelRequest) -> ModelResponse:
    """Route ``request``: decide, call, check, escalate; every step journaled."""
    if router.classifier is not None and router.labels:
        label = await call_model(
            ctx, router.member(router.classifier), router.classify_request(request)
        )
        decision = router.by_label(label.text, request)
    else:
        decision = router.by_rules(request)
    attempt = 1
    while True:
        chosen = await _record(ctx, router, decision, attempt)
        model = router.model(chosen)
        response = await call_model(ctx, model, request)
        rejected = router.validate(request, response)
        if rejected is None and router.evaluator is not None and router.escalation(chosen):
            check = router.evaluate_request(request, response)
            verdict = await call_model(ctx, router.member(router.evaluator), check)
            rejected = evaluator_rejection(verdict.text)
        following = router.escalation(chosen)
        if rejected is None or following is None:
            return response
        cost = ctx.execution.services.prices.cost(model.name, response.usage)
        await _rejected(ctx, chosen, rejected, cost)
        decision = Decision(
            following, f"escalated after {chosen}: {rejected}", decision.input_tokens
        )
        attempt += 1


async def _record(ctx: Context, router: Router, decision: Decision, attempt: int) -> str:
    async def run(key: str) -> StepCompleted:
        result = {
            "router": router.name, "task": router.tag, "attempt": attempt,
            "model": decision.model, "reason": decision.reason,
            "input_tokens": decision.input_tokens,
        }  # fmt: skip
        return StepCompleted(key=key, kind="route", result=cast(Any, result))

    return await ctx.durable("route", expect=StepCompleted, run=run, value=_model_of)


async def _rejected(ctx: Context, model: str, reason: str, cost: float | None) -> None:
    async def run(key: str) -> StepCompleted:
        result = {"rejected": model, "reason": reason[:500], "cost_usd": cost}
        return StepCompleted(key=key, kind="route", result=cast(Any, result))

    await ctx.durable("route", expect=StepCompleted, run=run, value=lambda done: None)


def _model_of(done: StepCompleted) -> str:
    result = done.result
    assert isinstance(result, dict)
    return str(result["model"])


__all__ = ["ask", "routed"]
