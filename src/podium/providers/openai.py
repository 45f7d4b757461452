"""OpenAI Chat Completions, and every OpenAI-compatible server through ``base_url``.

vLLM, Ollama, llama.cpp, LM Studio and gateways speak the same wire format::

    OpenAIModel("llama3.1", base_url="http://localhost:11434/v1")  # Ollama; no key needed
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx2
import openai
from openai import AsyncOpenAI, NotGiven, not_given
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsBase,
    CompletionCreateParamsStreaming,
)
from openai.types.completion_usage import CompletionUsage
from openai.types.shared_params.response_format_json_schema import JSONSchema

from podium.errors import (
    ModelConnectionError,
    ModelError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeoutError,
    SpecError,
)
from podium.messages import (
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

__all__ = ["OpenAIModel"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# Everything the SDK (or a malformed answer) can raise; mapped to a ModelError.
_FAILURES = (openai.OpenAIError, httpx2.HTTPError, ValueError, TypeError, AttributeError, KeyError)


class OpenAIModel(Model):
    """A chat model behind the OpenAI Chat Completions API.

    ``base_url`` defaults to ``PODIUM_OPENAI_BASE_URL``, then ``OPENAI_BASE_URL``, then the
    OpenAI endpoint; ``api_key`` to ``OPENAI_API_KEY`` (a loopback server needs none). The
    SDK's own retries are off: wrap the model in :class:`~podium.models.RetryModel`.
    """

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        client: AsyncOpenAI | None = None,
    ) -> None:
        self.model_name = model_name
        self._owns_client = client is None
        if client is not None:
            self._client = client.with_options(max_retries=0)
            self.base_url: str | None = str(client.base_url)
            return
        self.base_url = base_url or base_url_from("openai")
        key = api_key or os.environ.get("OPENAI_API_KEY") or local_key(self.base_url)
        if not key:
            raise SpecError(
                f"model {self.name!r} needs an API key: set OPENAI_API_KEY or pass api_key="
            )
        self._client = AsyncOpenAI(
            api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0
        )

    @property
    def name(self) -> str:
        return f"openai:{self.model_name}"

    async def aclose(self) -> None:
        """Close the SDK client if this model created it."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(self, request: ModelRequest) -> ModelResponse:
        check_model_request_allowed(self.base_url, self.name)
        ticket = await admit(self.name, request)  # shared rate limits: wait, don't get a 429
        try:
            completion = await self._client.chat.completions.create(
                **self._params(request), timeout=_timeout(request)
            )
            response = self._response(completion)
        except _FAILURES as error:
            raise self._error(error) from error
        await ticket.settle(response.usage)
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        check_model_request_allowed(self.base_url, self.name)
        ticket = await admit(self.name, request)
        state = _StreamState(self.model_name)
        try:
            params: CompletionCreateParamsStreaming = {
                **self._params(request),
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            stream = await self._client.chat.completions.create(**params, timeout=_timeout(request))
            async with stream:
                async for chunk in stream:
                    if text := state.add(chunk):
                        yield TextDelta(text=text)
        except _FAILURES as error:
            raise self._error(error) from error
        final = state.response(self.name)
        await ticket.settle(final.usage)
        yield final

    # --- translation ------------------------------------------------------------------------

    def _params(self, request: ModelRequest) -> CompletionCreateParamsBase:
        params: CompletionCreateParamsBase = {
            "model": self.model_name,
            "messages": [_message(message) for message in request.messages],
        }
        if request.tools:
            params["tools"] = [_tool(tool) for tool in request.tools]
        if request.output_schema is not None:
            schema: JSONSchema = {"name": "output", "schema": dict(request.output_schema)}
            params["response_format"] = {"type": "json_schema", "json_schema": schema}
        if request.settings.temperature is not None:
            params["temperature"] = request.settings.temperature
        if request.settings.max_tokens is not None:
            params["max_completion_tokens"] = request.settings.max_tokens
        return params

    def _response(self, completion: ChatCompletion) -> ModelResponse:
        if not isinstance(completion, ChatCompletion) or not completion.choices:
            raise ModelResponseError(
                f"no completion choice in {completion!r:.200}", model=self.name
            )
        choice = completion.choices[0]
        return ModelResponse(
            text=choice.message.content or "",
            tool_calls=tuple(
                _tool_call(call, self.name) for call in choice.message.tool_calls or ()
            ),
            usage=_usage(completion.usage),
            finish_reason=_FINISH.get(choice.finish_reason, "other"),
            model_name=completion.model or self.model_name,
            provider="openai",
        )

    def _error(self, error: Exception) -> ModelError:
        if isinstance(error, openai.APIStatusError):
            return ModelHTTPError(
                error.status_code,
                _status_message(error),
                model=self.name,
                retry_after=retry_after(error.response.headers),
            )
        if isinstance(error, openai.APITimeoutError | httpx2.TimeoutException):
            return ModelTimeoutError(f"request timed out: {error}", model=self.name)
        if isinstance(error, openai.APIConnectionError | httpx2.TransportError):
            return ModelConnectionError(f"connection failed: {error}", model=self.name)
        return ModelResponseError(f"bad response: {type(error).__name__}: {error}", model=self.name)


def _message(message: Message) -> ChatCompletionMessageParam:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": message.content}
    if isinstance(message, ToolMessage):  # OpenAI has no error flag: the content says it
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    param: ChatCompletionAssistantMessageParam = {"role": "assistant"}
    param["content"] = message.content or (None if message.tool_calls else "")
    if message.tool_calls:
        param["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    return param


def _tool(tool: ToolDefinition) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }


def _tool_call(call: object, model: str) -> ToolCall:
    if not isinstance(call, ChatCompletionMessageFunctionToolCall):
        raise ModelResponseError(f"unsupported tool call {call!r:.200}", model=model)
    return ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_tokens=(details.cached_tokens or 0) if details else 0,
    )


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class _StreamState:
    """Accumulates chunks into the final response."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.text: list[str] = []
        self.calls: dict[int, _PartialCall] = {}
        self.finish: str | None = None
        self.usage = Usage()

    def add(self, chunk: ChatCompletionChunk) -> str:
        """Take one chunk; return its text."""
        self.model_name = chunk.model or self.model_name
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        text = ""
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                self._add_call(call)
            self.finish = choice.finish_reason or self.finish
        self.text.append(text)
        return text

    def _add_call(self, delta: ChoiceDeltaToolCall) -> None:
        call = self.calls.setdefault(delta.index, _PartialCall(id=f"call_{delta.index}"))
        call.id = delta.id or call.id
        if delta.function is not None:
            call.name = delta.function.name or call.name
            call.arguments += delta.function.arguments or ""

    def response(self, model: str) -> ModelResponse:
        if self.finish is None:
            raise ModelConnectionError("stream ended before its final chunk", model=model)
        calls = (self.calls[index] for index in sorted(self.calls))
        return ModelResponse(
            text="".join(self.text),
            tool_calls=tuple(ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in calls),
            usage=self.usage,
            finish_reason=_FINISH.get(self.finish, "other"),
            model_name=self.model_name,
            provider="openai",
        )


# --- helpers (the Anthropic provider has its own copy: neither imports the other's SDK) -------


def _timeout(request: ModelRequest) -> float | NotGiven:
    timeout = request.settings.timeout
    return not_given if timeout is None else timeout


def _status_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message
