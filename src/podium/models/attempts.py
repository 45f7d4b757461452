"""Reporting of failed model attempts, so wrappers stay small and the runtime journals them.

Wrappers such as :class:`RetryModel` and :class:`FallbackModel` call :func:`report_failure`;
the runtime installs a listener (with :func:`listen`) that appends a journal event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Generic, TypeVar

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


T = TypeVar("T")

Listener = Callable[[AttemptFailure], Awaitable[None]]
_listener: ContextVar[Listener | None] = ContextVar("podium_attempt_listener", default=None)


async def report_failure(failure: AttemptFailure) -> None:
    listener = _listener.get()
    if listener is not None:
        await listener(failure)


def listen(listener: Listener) -> AbstractContextManager[None]:
    """Send the failures reported inside ``with listen(listener):`` to ``listener``."""
    return Binding(_listener, listener)


class Binding(Generic[T]):
    """``with Binding(var, value):`` sets a context variable for the block, then resets it.

    A class rather than a ``@contextmanager`` generator: the runtime enters these for every
    model call, and a generator-based one costs a generator and its wrapper each time."""

    __slots__ = ("_token", "_value", "_var")

    def __init__(self, var: ContextVar[T], value: T) -> None:
        self._var = var
        self._value = value
        self._token: Token[T] | None = None

    def __enter__(self) -> None:
        self._token = self._var.set(self._value)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            self._var.reset(self._token)
