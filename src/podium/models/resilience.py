"""Retry and failover as wrappers around any :class:`Model`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from podium.errors import ModelError, ModelHTTPError, UserError
from podium.messages import ModelRequest, ModelResponse, StreamItem
from podium.models.attempts import AttemptFailure, report_failure
from podium.models.base import Model
from podium.retry import RetryPolicy

Sleep = Callable[[float], Awaitable[None]]


class RetryModel(Model):
    """Retry retryable errors (429, 5xx, timeouts, connection errors) with backoff."""

    def __init__(
        self, model: Model, policy: RetryPolicy | None = None, *, sleep: Sleep = anyio.sleep
    ) -> None:
        self.wrapped = model
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    @property
    def name(self) -> str:
        return self.wrapped.name

    async def request(self, request: ModelRequest) -> ModelResponse:
        attempt = 1
        while True:
            try:
                return await self.wrapped.request(request)
            except ModelError as error:
                await self._after_failure(attempt, error)
            attempt += 1

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        attempt = 1
        while True:
            emitted = False
            try:
                async for item in self.wrapped.stream(request):
                    emitted = True
                    yield item
                return
            except ModelError as error:
                if emitted:  # deltas already went out; a retry would duplicate them
                    await report_failure(AttemptFailure.from_error(self.name, attempt, error))
                    raise
                await self._after_failure(attempt, error)
            attempt += 1

    async def aclose(self) -> None:
        await self.wrapped.aclose()

    async def _after_failure(self, attempt: int, error: ModelError) -> None:
        await report_failure(AttemptFailure.from_error(self.wrapped.name, attempt, error))
        if not error.retryable or attempt >= self.policy.max_attempts:
            raise error
        retry_after = error.retry_after if isinstance(error, ModelHTTPError) else None
        await self._sleep(self.policy.delay(attempt, retry_after))


class FallbackModel(Model):
    """Try models in order; move on only on retryable errors, never on 400-class content errors.

    Wrap a member in :class:`RetryModel` to retry it before failing over.
    """

    def __init__(self, *models: Model) -> None:
        if not models:
            raise UserError("FallbackModel needs at least one model")
        self.models = models

    @property
    def name(self) -> str:
        return self.models[0].name

    async def request(self, request: ModelRequest) -> ModelResponse:
        for index, model in enumerate(self.models):
            try:
                return await model.request(request)
            except ModelError as error:
                await self._after_failure(index, model, error)
        raise AssertionError("unreachable")  # pragma: no cover

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        for index, model in enumerate(self.models):
            emitted = False
            try:
                async for item in model.stream(request):
                    emitted = True
                    yield item
                return
            except ModelError as error:
                if emitted:
                    raise
                await self._after_failure(index, model, error)

    async def aclose(self) -> None:
        for model in self.models:
            await model.aclose()

    async def _after_failure(self, index: int, model: Model, error: ModelError) -> None:
        if not isinstance(model, RetryModel | FallbackModel):  # they already reported
            await report_failure(AttemptFailure.from_error(model.name, 1, error))
        if not error.retryable or index == len(self.models) - 1:
            raise error
