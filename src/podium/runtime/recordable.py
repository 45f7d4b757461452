"""Nothing may execute, or be believed, that the journal cannot record.

The store refuses an event it cannot hold (``InvalidPayloadError``: not strict JSON, U+0000 on
PostgreSQL; ``PayloadTooLargeError``: over its size limit) without writing anything. These
checks ask it *before* the runtime acts: before a tool runs on its arguments, before a tool's
result is believed, before a model's answer is used or charged. A refusal then becomes an error
the model reads (tool calls) or a typed, journaled failure (model calls), never a run that
acted and could not say so.
"""

from __future__ import annotations

from podium import jsonsafe
from podium.errors import (
    InvalidPayloadError,
    ModelProtocolError,
    ModelResponseError,
    PayloadTooLargeError,
)
from podium.events import Event, ModelCallCompleted
from podium.jsonsafe import MAX_INT
from podium.messages import ModelResponse
from podium.models import Model
from podium.runtime.context import Context

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_tokens")


_MARGIN = 4096  # bytes for an event's small fields (type, key, flags, numbers)


def check(ctx: Context, event: Event, *parts: object) -> None:
    """Raise what appending ``event`` would raise, writing nothing.

    ``parts`` are the event's fields that may be large or attacker-shaped (arguments, a result,
    ids a model chose). When their compact JSON is already strict and, with a margin for the
    rest, clearly under the store's limit, the exact encoding of the whole event is skipped."""
    kernel = ctx.execution.kernel
    store = kernel.journal.store
    if parts and _clearly_fits(parts, store.max_event_bytes):
        return
    store.check_event(kernel.run_id, event)


def _clearly_fits(parts: tuple[object, ...], limit: int) -> bool:
    total = _MARGIN
    for part in parts:
        size = jsonsafe.strict_size(part)
        if size is None:
            return False
        total += size
    return total <= limit


def refusal(error: InvalidPayloadError | PayloadTooLargeError) -> str:
    """Why the store refused an event, in a phrase."""
    if isinstance(error, PayloadTooLargeError):
        return f"it makes a {error.size:,}-byte event, over the store's {error.limit:,}-byte limit"
    return error.reason


def check_response(ctx: Context, model: Model, response: ModelResponse) -> None:
    """Refuse an answer outside the provider's protocol before anything uses or charges it:
    usage that is not a whole number from 0 to 2**63 - 1 (``ModelProtocolError``; the caller
    journals the response with the failure), or a response the journal cannot record (a lone
    surrogate, U+0000 on PostgreSQL, over the size limit: ``ModelResponseError``)."""
    provider = response.provider or model.name.partition(":")[0]
    for name in _USAGE_FIELDS:
        value = getattr(response.usage, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise ModelProtocolError(
                provider=provider, model=response.model_name or model.name,
                field=f"usage.{name}", value=value,
                expected=f"a whole number from 0 to {MAX_INT:,}",
            )  # fmt: skip
    store = ctx.execution.kernel.journal.store
    if _clearly_fits((response,), store.max_event_bytes):
        return  # the usual case: no probe event to build
    probe = ModelCallCompleted(key="", model=model.name, request_digest="", response=response)
    try:
        store.check_event(ctx.execution.kernel.run_id, probe)
    except (InvalidPayloadError, PayloadTooLargeError) as error:
        raise ModelResponseError(
            f"the response of {model.name} cannot be recorded: {refusal(error)}", model=model.name
        ) from None
