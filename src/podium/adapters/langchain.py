"""A LangChain chat model backed by Podium: what a LangGraph graph's nodes call.

:class:`PodiumChatModel` is a ``BaseChatModel`` (LangChain's extension point for chat models)
whose every generation is one Podium model step through
:class:`~podium.adapters.binding.PodiumModel`: journaled under the adapter node's path,
replayed on resume, budgeted before the call, rate-limited, traced and costed. Needs the
``langgraph`` extra (``pip install 'podium[langgraph]'``); ``import podium`` never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
)
from langchain_core.messages import SystemMessage as LCSystemMessage
from langchain_core.messages import ToolMessage as LCToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from podium.adapters.binding import PodiumModel
from podium.errors import UserError
from podium.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)
from podium.models import Model


class PodiumChatModel(BaseChatModel):
    """A LangChain chat model whose calls are Podium model steps.

    ``model`` is a Podium :class:`~podium.models.Model` or a ``provider:model`` string;
    ``max_tokens`` and ``temperature`` become the request's settings (``max_tokens`` bounds
    what a budget reserves before the call).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[ToolDefinition, ...] = Field(default=())
    podium: PodiumModel | None = Field(default=None, exclude=True)

    def model_post_init(self, context: Any, /) -> None:
        if not isinstance(self.model, Model | str):
            raise UserError(
                f"PodiumChatModel: model must be a podium Model or a string, not {self.model!r}"
            )
        if self.podium is None:
            self.podium = PodiumModel(self.model)

    @property
    def _llm_type(self) -> str:
        return "podium"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The same model offering ``tools`` (same Podium model object: one pass cache)."""
        return self.model_copy(update={"tools": tuple(_definition(t) for t in tools)})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise UserError(
            "PodiumChatModel is async only: run the graph with ainvoke (the adapter node does)"
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        assert self.podium is not None
        request = ModelRequest(
            messages=tuple(to_podium(m) for m in messages),
            tools=self.tools,
            settings=ModelSettings(temperature=self.temperature, max_tokens=self.max_tokens),
        )
        response = await self.podium.request(request)
        return ChatResult(generations=[ChatGeneration(message=to_langchain(response))])


def _definition(tool: dict[str, Any] | type | Callable[..., Any] | BaseTool) -> ToolDefinition:
    function = convert_to_openai_tool(tool)["function"]
    return ToolDefinition(
        name=function["name"],
        description=function.get("description", ""),
        parameters=function.get("parameters", {"type": "object", "properties": {}}),
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "".join(parts)


def to_podium(message: BaseMessage) -> Message:
    """A LangChain message as a Podium message; a kind Podium has no role for is refused."""
    if isinstance(message, LCSystemMessage):
        return SystemMessage(content=_text(message.content))
    if isinstance(message, HumanMessage):
        return UserMessage(content=_text(message.content))
    if isinstance(message, AIMessage):
        calls = tuple(
            ToolCall(id=str(c["id"]), name=c["name"], arguments=json.dumps(c["args"]))
            for c in message.tool_calls
        )
        return AssistantMessage(content=_text(message.content), tool_calls=calls)
    if isinstance(message, LCToolMessage):
        return ToolMessage(
            tool_call_id=message.tool_call_id,
            name=message.name or "",
            content=_text(message.content),
            is_error=message.status == "error",
        )
    raise UserError(f"PodiumChatModel: unsupported message type {type(message).__name__}")


def to_langchain(response: ModelResponse) -> AIMessage:
    """A Podium model response as LangChain's ``AIMessage`` (tool calls and usage kept)."""
    usage = response.usage
    return AIMessage(
        content=response.text,
        tool_calls=[
            {
                "id": c.id,
                "name": c.name,
                "args": json.loads(c.arguments or "{}"),
                "type": "tool_call",
            }
            for c in response.tool_calls
        ],
        usage_metadata=UsageMetadata(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.input_tokens + usage.output_tokens,
        ),
        response_metadata={
            "model_name": response.model_name,
            "finish_reason": response.finish_reason,
        },
    )
