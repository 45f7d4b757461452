"""Per-provider rate limits (requests and tokens per minute), shared by every worker.

A provider calls :func:`admit` right before each request it sends (every attempt counts: a
retry is a request) and settles the ticket with the usage it got back. The runtime decides
what admission means — :class:`podium.runtime.ratelimit.SharedRateLimits` draws from buckets
kept in the store, so all workers of one database share one allowance and wait for it instead
of collecting 429s. Outside a run, or with no limits configured, :func:`admit` costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from podium.errors import UserError
from podium.messages import ModelRequest, Usage
from podium.models.attempts import Binding
from podium.tokens import count_tokens

__all__ = ["Admission", "RateLimit", "Ticket", "admission", "admit", "parse_rate_limit"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """An allowance per minute; None: that dimension is not limited. Bursts up to one minute's
    allowance; it refills continuously."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise UserError(f"RateLimit.{name} must be a positive number, got {value!r}")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise UserError("RateLimit needs requests_per_minute or tokens_per_minute")


Settle = Callable[[int], Awaitable[None]]  # the tokens actually used


class Admission(Protocol):
    async def admit(self, model: str, tokens: int) -> Settle | None:
        """Wait until ``model`` may send a request of about ``tokens`` tokens; return how to
        correct the estimate afterwards (None: nothing to correct)."""
        ...


@dataclass(slots=True)
class Ticket:
    """One admitted request; :meth:`settle` it with the usage the provider reported."""

    settle_tokens: Settle | None = None

    async def settle(self, usage: Usage | None) -> None:
        if self.settle_tokens is not None and usage is not None:
            settle, self.settle_tokens = self.settle_tokens, None
            await settle(usage.input_tokens + usage.output_tokens)


_ADMISSION: ContextVar[Admission | None] = ContextVar("podium_admission", default=None)
_FREE = Ticket()


def admission(gate: Admission | None) -> AbstractContextManager[None]:
    """Install ``gate`` for the model calls made in this context (the runtime does this)."""
    return Binding(_ADMISSION, gate)


def admission_bound() -> bool:
    """Whether a gate is installed in this context (a runtime with rate limits runs it)."""
    return _ADMISSION.get() is not None


async def admit(model: str, request: ModelRequest) -> Ticket:
    """Called by providers before each request: waits for the rate limits of ``model``."""
    gate = _ADMISSION.get()
    if gate is None:
        return _FREE
    tokens = count_tokens(request, model) + (request.settings.max_tokens or 0)
    return Ticket(await gate.admit(model, tokens))


def parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    """``KEY=N rpm[,M tpm]`` (e.g. ``openai=500rpm,200000tpm``, ``openai:gpt-4o=30000tpm``)
    as ``(key, RateLimit)``; for the CLI."""
    key, sep, spec = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"rate limit {text!r}: expected KEY=Nrpm[,Mtpm]")
    values: dict[str, float] = {}
    for part in spec.replace(" ", "").split(","):
        unit = part[-3:].lower()
        if unit not in ("rpm", "tpm") or unit in values:
            raise UserError(f"rate limit {text!r}: {part!r} is not Nrpm or Ntpm (once each)")
        try:
            values[unit] = float(part[:-3])
        except ValueError:
            raise UserError(f"rate limit {text!r}: {part[:-3]!r} is not a number") from None
    return key.strip(), RateLimit(values.get("rpm"), values.get("tpm"))
