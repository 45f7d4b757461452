"""The Anthropic Messages API.

System messages go to the ``system`` parameter; tool results travel as ``tool_result`` blocks
in a user message (consecutive results share one). Structured output is asked for in the
system prompt. ``Usage.input_tokens`` counts the whole prompt, cache reads included.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import anthropic
import httpx2
from anthropic import AsyncAnthropic, NotGiven, not_given
from anthropic.types import (
    MessageParam,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RawMessageStreamEvent,
    TextBlock,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
)
from anthropic.types.message_create_params import (
    MessageCreateParamsBase,
    MessageCreateParamsStreaming,
)

from podium.errors import (
    ModelConnectionError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeoutError,
    SpecError,
)
from podium.messages import (
    AssistantMessage,
    FinishReason,
    Message,
    ModelRequest,
    ModelResponse,
    StreamItem,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    Usage,
    UserMessage,
)
from podium.models.base import Model, check_model_request_allowed
from podium.models.limits import admit
from podium.models.registry import base_url_from
from podium.providers._common import local_key, retry_after

__all__ = ["AnthropicModel"]

DEFAULT_MAX_TOKENS = 4096
_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
# An error event inside a 200 stream carries no status; its type says what it would have been.
_STREAM_ERROR_STATUS = {"rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}
_SCHEMA_INSTRUCTION = (
    "Answer with a single JSON object that matches this JSON schema, and nothing else "
    "(no prose, no code fences):\n"
)
_SDK_ERRORS = (anthropic.AnthropicError, httpx2.HTTPError)
_FAILURES = (*_SDK_ERRORS, ValueError, TypeError, AttributeError, KeyError)  # -> ModelError
_USAGE_FIELDS = {
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
}


class AnthropicModel(Model):
    """A Claude model behind the Anthropic Messages API.

    ``base_url`` defaults to ``PODIUM_ANTHROPIC_BASE_URL``, then ``ANTHROPIC_BASE_URL``, then
    the Anthropic endpoint; ``api_key`` to ``ANTHROPIC_API_KEY`` (a loopback server needs
    none). The SDK's own retries are off: wrap the model in :class:`~podium.models.RetryModel`.
    """

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        client: AsyncAnthropic | None = None,
    ) -> None:
        self.model_name = model_name
        self._owns_client = client is None
        if client is not None:
            self._client = client.with_options(max_retries=0)
            self.base_url: str | None = str(client.base_url)
            return
        self.base_url = base_url or base_url_from("anthropic")
        key = api_key or os.environ.get("ANTHROPIC_API_KEY") or local_key(self.base_url)
        if not key:
            raise SpecError(
                f"model {self.name!r} needs an API key: set ANTHROPIC_API_KEY or pass api_key="
            )
        # Podium emits its own GenAI spans; the SDK's would duplicate them.
        self._client = AsyncAnthropic(
            api_key=key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
            open_telemetry=False,
        )

    @property
    def name(self) -> str:
        return f"anthropic:{self.model_name}"

    async def aclose(self) -> None:
        """Close the SDK client if this model created it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> AnthropicModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(self, request: ModelRequest) -> ModelResponse:
        check_model_request_allowed(self.base_url, self.name)
        ticket = await admit(self.name, request)  # shared rate limits: wait, don't get a 429
        try:
            message = await self._client.messages.create(
                **self._params(request),
                extra_body=_extra_body(request),
                timeout=_timeout(request),
            )
            response = self._response(message)
        except _FAILURES as error:
            raise self._error(error) from error
        await ticket.settle(response.usage)
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        check_model_request_allowed(self.base_url, self.name)
        ticket = await admit(self.name, request)
        state = _StreamState(self.model_name)
        try:
            params: MessageCreateParamsStreaming = {**self._params(request), "stream": True}
            stream = await self._client.messages.create(
                **params, extra_body=_extra_body(request), timeout=_timeout(request)
            )
            async with stream:
                async for event in stream:
                    if text := state.add(event):
                        yield TextDelta(text=text)
        except _FAILURES as error:
            raise self._error(error) from error
        final = state.response(self.name)
        await ticket.settle(final.usage)
        yield final

    # --- translation ------------------------------------------------------------------------

    def _params(self, request: ModelRequest) -> MessageCreateParamsBase:
        system, messages = _messages(request.messages)
        if request.output_schema is not None:
            instruction = _SCHEMA_INSTRUCTION + json.dumps(request.output_schema)
            system = f"{system}\n\n{instruction}" if system else instruction
        params: MessageCreateParamsBase = {
            "model": self.model_name,
            "max_tokens": request.settings.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if system:
            params["system"] = system
        if request.tools:
            params["tools"] = [_tool(tool) for tool in request.tools]
        return params

    def _response(self, message: anthropic.types.Message) -> ModelResponse:
        if not isinstance(message, anthropic.types.Message):
            raise ModelResponseError(f"not a message: {message!r:.200}", model=self.name)
        text = [block.text for block in message.content if isinstance(block, TextBlock)]
        calls = [
            ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input))
            for block in message.content
            if isinstance(block, ToolUseBlock)
        ]
        return ModelResponse(
            text="".join(text),
            tool_calls=tuple(calls),
            usage=_usage(message.usage),
            finish_reason=_FINISH.get(message.stop_reason or "", "other"),
            model_name=message.model or self.model_name,
            provider="anthropic",
        )

    def _error(self, error: Exception) -> ModelError:
        if isinstance(error, anthropic.APIStatusError):
            return self._status_error(error)
        if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
            return ModelTimeoutError(f"request timed out: {error}", model=self.name)
        if isinstance(error, anthropic.APIConnectionError | httpx2.TransportError):
            return ModelConnectionError(f"connection failed: {error}", model=self.name)
        return ModelResponseError(f"bad response: {type(error).__name__}: {error}", model=self.name)

    def _status_error(self, error: anthropic.APIStatusError) -> ModelError:
        message = error.api_message or error.message
        status = error.status_code
        if status < 400:  # an error event in the middle of a stream
            status = _STREAM_ERROR_STATUS.get(str(error.type), 0)
            if not status:
                return ModelResponseError(f"stream error: {message}", model=self.name)
        delay = retry_after(error.response.headers)
        return ModelHTTPError(status, message, model=self.name, retry_after=delay)


def _messages(messages: Sequence[Message]) -> tuple[str, list[MessageParam]]:
    """The system prompt and the conversation; consecutive tool results share a user turn."""
    system: list[str] = []
    out: list[MessageParam] = []
    results: list[ToolResultBlockParam] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            results.append(_tool_result(message))
            continue
        if results:
            out.append({"role": "user", "content": results})
            results = []
        if isinstance(message, SystemMessage):
            system.append(message.content)
        elif isinstance(message, UserMessage):
            out.append({"role": "user", "content": message.content})
        else:
            out.append(_assistant(message))
    if results:
        out.append({"role": "user", "content": results})
    return "\n\n".join(system), out


def _assistant(message: AssistantMessage) -> MessageParam:
    blocks: list[TextBlockParam | ToolUseBlockParam] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        tool_use: ToolUseBlockParam = {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": _arguments(call.arguments),
        }
        blocks.append(tool_use)
    return {"role": "assistant", "content": blocks or message.content}


def _arguments(text: str) -> dict[str, object]:
    """Tool-call arguments as an object; text that is not a JSON object is kept under a key."""
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"raw_arguments": text}


def _tool_result(message: ToolMessage) -> ToolResultBlockParam:
    block: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content,
    }
    if message.is_error:
        block["is_error"] = True
    return block


def _tool(tool: ToolDefinition) -> ToolParam:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.parameters),
    }


def _usage(usage: anthropic.types.Usage) -> Usage:
    cached = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    return Usage(
        input_tokens=(usage.input_tokens or 0) + cached + written,
        output_tokens=usage.output_tokens or 0,
        cached_tokens=cached,
    )


@dataclass
class _PartialCall:
    id: str
    name: str
    start_input: dict[str, object]
    json: str = ""

    def done(self) -> ToolCall:
        arguments = self.json or (json.dumps(self.start_input) if self.start_input else "{}")
        return ToolCall(id=self.id, name=self.name, arguments=arguments)


class _StreamState:
    """Accumulates stream events into the final response."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.text: list[str] = []
        self.calls: dict[int, _PartialCall] = {}
        self.usage = anthropic.types.Usage(input_tokens=0, output_tokens=0)
        self.stop_reason: str | None = None
        self.stopped = False

    def add(self, event: RawMessageStreamEvent) -> str:
        """Take one event; return the text it adds."""
        text = ""
        if isinstance(event, RawMessageStartEvent):
            self.model_name = event.message.model or self.model_name
            self.usage = event.message.usage
        elif isinstance(event, RawContentBlockStartEvent):
            text = self._block_start(event)
        elif isinstance(event, RawContentBlockDeltaEvent):
            text = self._delta(event)
        elif isinstance(event, RawMessageDeltaEvent):
            self._message_delta(event)
        elif isinstance(event, RawMessageStopEvent):
            self.stopped = True
        self.text.append(text)
        return text

    def _block_start(self, event: RawContentBlockStartEvent) -> str:
        block = event.content_block
        if isinstance(block, ToolUseBlock):
            self.calls[event.index] = _PartialCall(block.id, block.name, dict(block.input))
        return block.text if isinstance(block, TextBlock) else ""

    def _delta(self, event: RawContentBlockDeltaEvent) -> str:
        delta = event.delta
        if delta.type == "input_json_delta" and event.index in self.calls:
            self.calls[event.index].json += delta.partial_json
        return delta.text if delta.type == "text_delta" else ""

    def _message_delta(self, event: RawMessageDeltaEvent) -> None:
        self.stop_reason = event.delta.stop_reason or self.stop_reason
        counts = event.usage.model_dump(include=_USAGE_FIELDS)  # cumulative; None: unchanged
        update = {key: value for key, value in counts.items() if value is not None}
        self.usage = self.usage.model_copy(update=update)

    def response(self, model: str) -> ModelResponse:
        if not self.stopped:
            raise ModelConnectionError("stream ended before message_stop", model=model)
        calls = (self.calls[index].done() for index in sorted(self.calls))
        return ModelResponse(
            text="".join(self.text),
            tool_calls=tuple(calls),
            usage=_usage(self.usage),
            finish_reason=_FINISH.get(self.stop_reason or "", "other"),
            model_name=self.model_name,
            provider="anthropic",
        )


# --- helpers (the OpenAI provider has its own copy: neither imports the other's SDK) ----------


def _timeout(request: ModelRequest) -> float | NotGiven:
    timeout = request.settings.timeout
    return not_given if timeout is None else timeout


def _extra_body(request: ModelRequest) -> dict[str, object] | None:
    """Settings this SDK version has no parameter for."""
    temperature = request.settings.temperature
    return None if temperature is None else {"temperature": temperature}
