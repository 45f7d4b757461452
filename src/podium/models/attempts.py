"""Reporting of failed model attempts, so wrappers stay small and the runtime journals them.

Wrappers such as :class:`RetryModel` and :class:`FallbackModel` call :func:`report_failure`;
the runtime installs a listener (with :func:`listen`) that appends a journal event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from podium.errors import ModelError, ModelHTTPError


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptFailure:
    model: str
    attempt: int
    error_type: str
    message: str
    status_code: int | None
    retry_after: float | None
    retryable: bool

    @classmethod
    def from_error(cls, model: str, attempt: int, error: ModelError) -> AttemptFailure:
        http = error if isinstance(error, ModelHTTPError) else None
        return cls(
            model=model,
            attempt=attempt,
            error_type=type(error).__name__,
            message=str(error),
            status_code=http.status_code if http else None,
            retry_after=http.retry_after if http else None,
            retryable=error.retryable,
        )


Listener = Callable[[AttemptFailure], Awaitable[None]]
_listener: ContextVar[Listener | None] = ContextVar("podium_attempt_listener", default=None)


async def report_failure(failure: AttemptFailure) -> None:
    listener = _listener.get()
    if listener is not None:
        await listener(failure)


@contextmanager
def listen(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
