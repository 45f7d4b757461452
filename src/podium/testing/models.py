"""Deterministic model doubles: scripted answers and Python functions as models."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from podium.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    StreamItem,
    TextDelta,
    ToolCall,
    Usage,
)
from podium.models import Model


@dataclass(frozen=True, slots=True)
class CallSpec:
    """A tool call a scripted model will make: ``call("lookup", order_id="A-1")``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None  # send these exact argument bytes (to test bad JSON)


def call(name: str, /, **arguments: Any) -> CallSpec:
    return CallSpec(name, arguments)


ScriptItem = str | CallSpec | Sequence[CallSpec] | ModelResponse | BaseException


class ScriptedModel(Model):
    """Answers from a script, in order (or by the agent's turn with ``by_turn=True``).

    Items: a string (final text), a :func:`call` or a list of them (tool calls, run in
    parallel), a :class:`ModelResponse`, or an exception to raise. ``by_turn`` picks the item
    from the number of assistant messages in the request, so the answer is the same in any
    process and on replay (use one model per agent then).
    """

    def __init__(
        self,
        script: Iterable[ScriptItem],
        *,
        name: str = "scripted:model",
        by_turn: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.script = list(script)
        self._name = name
        self.by_turn = by_turn
        self.latency = latency
        self.requests: list[ModelRequest] = []
        self._next = 0

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self.latency:
            await anyio.sleep(self.latency)
        index = _turn(request) if self.by_turn else self._next
        self._next += 1
        if index >= len(self.script):
            raise AssertionError(
                f"{self._name}: script exhausted after {len(self.script)} item(s); "
                f"unexpected request #{index + 1}"
            )
        return _to_response(self.script[index], request, self._name, index)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        response = await self.request(request)
        for word in response.text.split(" ") if response.text else ():
            yield TextDelta(text=word + " ")
        yield response

    def assert_complete(self) -> None:
        """Fail if scripted answers were never asked for."""
        used = self._next
        if used < len(self.script):
            raise AssertionError(f"{self._name}: {len(self.script) - used} scripted item(s) unused")


ModelFunction = Callable[[ModelRequest], ScriptItem | Awaitable[ScriptItem]]


class FunctionModel(Model):
    """A model whose answer is computed by a Python function of the request."""

    def __init__(self, function: ModelFunction, *, name: str = "function:model") -> None:
        self.function = function
        self._name = name
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        item = self.function(request)
        if inspect.isawaitable(item):
            item = await item
        return _to_response(item, request, self._name, len(self.requests) - 1)


def _turn(request: ModelRequest) -> int:
    return sum(isinstance(m, AssistantMessage) for m in request.messages)


def _to_response(item: ScriptItem, request: ModelRequest, model: str, index: int) -> ModelResponse:
    if isinstance(item, BaseException):
        raise item
    if isinstance(item, ModelResponse):
        return item
    if isinstance(item, str):
        usage = Usage(input_tokens=_estimate(request), output_tokens=max(1, len(item) // 4))
        return ModelResponse(text=item, usage=usage, model_name=model, provider="scripted")
    specs = [item] if isinstance(item, CallSpec) else list(item)
    calls = tuple(
        ToolCall(
            id=f"call_{index}_{n}",
            name=s.name,
            arguments=s.raw if s.raw is not None else json.dumps(s.arguments),
        )
        for n, s in enumerate(specs)
    )
    usage = Usage(input_tokens=_estimate(request), output_tokens=10 * len(calls))
    return ModelResponse(
        tool_calls=calls, usage=usage, finish_reason="tool_calls", model_name=model,
        provider="scripted",
    )  # fmt: skip


def _estimate(request: ModelRequest) -> int:
    chars = sum(len(getattr(m, "content", "")) for m in request.messages)
    return max(1, chars // 4)
