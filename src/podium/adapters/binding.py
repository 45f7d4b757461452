"""The bridge between a foreign framework's model calls and the node that runs the agent.

A framework calls its model object from deep inside its own code, with no way to pass
Podium's :class:`~podium.runtime.context.Context` along. The adapter node binds the context
in a context variable for the duration of the foreign call (:func:`bound`); tasks the
framework starts inherit it. :class:`PodiumModel` reads it and sends the request through
:func:`~podium.runtime.model_calls.call_model`, the same chain an Agent's model calls take.
A model call outside a bound node fails with :class:`~podium.errors.UserError` instead of
reaching the provider unjournaled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

from podium.errors import UserError
from podium.messages import ModelRequest, ModelResponse, StreamItem
from podium.models import Model
from podium.models.registry import infer_model
from podium.runtime.context import Context
from podium.runtime.model_calls import call_model

_BOUND: ContextVar[Context | None] = ContextVar("podium_adapter_context", default=None)


@contextmanager
def bound(ctx: Context) -> Iterator[Context]:
    """Bind ``ctx`` as the node whose steps a foreign agent's model calls become."""
    token = _BOUND.set(ctx)
    try:
        yield ctx
    finally:
        _BOUND.reset(token)


def current_context(what: str) -> Context:
    """The bound node's context; ``what`` names the caller in the error when none is bound."""
    ctx = _BOUND.get()
    if ctx is None:
        raise UserError(
            f"{what} was called outside a Podium node: run the foreign agent through an "
            "adapter node (podium.adapters) so its model calls are journaled"
        )
    return ctx


class PodiumModel(Model):
    """A :class:`~podium.models.Model` whose every request is a journaled Podium model step.

    ``model`` is a model object or a ``provider:model`` string (built once per run pass and
    closed with it, like an Agent's). Outside an adapter node a request raises
    :class:`~podium.errors.UserError`.
    """

    def __init__(self, model: Model | str) -> None:
        if not isinstance(model, Model | str) or isinstance(model, PodiumModel):
            raise UserError(
                f"PodiumModel wraps a Model or a 'provider:model' string, not {model!r}"
            )
        self.model = model

    @property
    def name(self) -> str:
        return self.model if isinstance(self.model, str) else self.model.name

    def resolve(self, ctx: Context) -> Model:
        if not isinstance(self.model, str):
            return self.model
        return ctx.execution.own(id(self), partial(infer_model, self.model))

    async def request(self, request: ModelRequest) -> ModelResponse:
        ctx = current_context(f"the model {self.name!r}")
        return await call_model(ctx, self.resolve(ctx), request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        yield await self.request(request)
