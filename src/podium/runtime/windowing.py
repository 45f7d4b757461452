"""Context policies applied: the agent's messages trimmed to its window before a model call.

The trimming is a pure function of the messages, except the summary, which is a model call
through :func:`~podium.runtime.model_calls.call_model` (a journaled step): a replay gets the
same summary back from the journal, so it rebuilds the same context and every later model
request has the digest the journal holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import partial

from podium.context_policy import SUMMARY_PREFIX, ContextOverflow, ContextPolicy
from podium.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from podium.models import Model, infer_model
from podium.runtime.context import Context
from podium.runtime.model_calls import call_model

Measure = Callable[[Sequence[Message]], int]
Turn = list[Message]

_SUMMARISE = (
    "You maintain the running summary of a conversation that no longer fits the model's "
    "window. Merge the previous summary and the older turns below into one summary of at "
    "most {tokens} tokens. Keep every fact, name, number, decision and open question that a "
    "later answer may need; drop pleasantries and repetition. Reply with the summary only."
)


def split(messages: Sequence[Message]) -> tuple[list[Message], str, list[Turn]]:
    """The leading system messages (the summary taken out), the summary text, and the turns:
    a user message alone, or an assistant message with the tool results that follow it."""
    head: list[Message] = []
    summary = ""
    index = 0
    while index < len(messages) and isinstance(messages[index], SystemMessage):
        message = messages[index]
        if message.content.startswith(SUMMARY_PREFIX):
            summary = message.content[len(SUMMARY_PREFIX) :]
        else:
            head.append(message)
        index += 1
    turns: list[Turn] = []
    for message in messages[index:]:
        if isinstance(message, ToolMessage) and turns:
            turns[-1].append(message)  # a result stays with its call
        else:
            turns.append([message])
    return head, summary, turns


def _pending(turns: list[Turn]) -> int:
    """The index of the pending task: the last user message's turn (-1: none)."""
    for index in range(len(turns) - 1, -1, -1):
        if isinstance(turns[index][0], UserMessage):
            return index
    return -1


def _shorten_results(turns: list[Turn], keep: int) -> None:
    """Replace the tool results of all but the last ``keep`` turns by a placeholder."""
    for turn in turns[: max(0, len(turns) - keep)]:
        for position, message in enumerate(turn):
            if isinstance(message, ToolMessage) and not message.content.startswith("[dropped"):
                note = f"[dropped: an old result of {message.name}, {len(message.content)} chars]"
                turn[position] = dataclasses.replace(message, content=note)


def assemble(head: list[Message], summary: str, turns: Sequence[Turn]) -> list[Message]:
    messages = list(head)
    if summary:
        messages.append(SystemMessage(content=SUMMARY_PREFIX + summary))
    for turn in turns:
        messages.extend(turn)
    return messages


def plan(
    policy: ContextPolicy, messages: Sequence[Message], measure: Measure
) -> tuple[list[Message], str, list[Turn], list[Turn]]:
    """What to keep and what to let go: (head, summary, kept turns, dropped turns), oldest
    first. Pure; raises :class:`ContextOverflow` if the pinned part alone is over the window."""
    head, summary, turns = split(messages)
    if policy.keep_tool_results is not None:
        _shorten_results(turns, policy.keep_tool_results)
    pending = _pending(turns)
    pinned = turns[pending] if pending >= 0 else None
    # the pending task's turn is pinned: it moves to the front of what is kept if it is old
    droppable = [t for i, t in enumerate(turns) if i != pending]
    dropped: list[Turn] = []
    if policy.keep_last_turns is not None:
        allowed = max(1, policy.keep_last_turns - (1 if pinned is not None else 0))
        cut = max(0, len(droppable) - allowed)
        dropped, droppable = droppable[:cut], droppable[cut:]

    def kept() -> list[Turn]:
        return _ordered(turns, pinned, droppable)

    if measure(assemble(head, summary, kept())) > policy.max_tokens:
        target = int(policy.max_tokens * policy.compact_to)
        while droppable and measure(assemble(head, summary, kept())) > target:
            if len(droppable) == 1 and droppable[0] is turns[-1]:
                break  # the turn being answered is never dropped
            dropped.append(droppable.pop(0))
    return head, summary, kept(), dropped


def _ordered(turns: list[Turn], pinned: Turn | None, kept: list[Turn]) -> list[Turn]:
    ids = {id(t) for t in kept}
    if pinned is not None:
        ids.add(id(pinned))
    ordered = [t for t in turns if id(t) in ids]
    return ordered


async def fit(
    ctx: Context, agent_name: str, policy: ContextPolicy, messages: list[Message], measure: Measure
) -> list[Message]:
    """The messages to send (and to keep for the next turn), within ``policy``."""
    head, summary, kept, dropped = plan(policy, messages, measure)
    if dropped and policy.summarize_with is not None:
        summary = await _summarise(ctx, policy, summary, dropped)
    fitted = assemble(head, summary, kept)
    size = measure(fitted)
    if size > policy.max_tokens:
        raise ContextOverflow(
            f"agent {agent_name!r}: the system prompt, summary, pending task and current turn "
            f"need {size} tokens, over the context window of {policy.max_tokens}"
        )
    return fitted


async def _summarise(ctx: Context, policy: ContextPolicy, summary: str, dropped: list[Turn]) -> str:
    model = _summariser(ctx, policy)
    lines = [f"Previous summary:\n{summary or '(none)'}", "Older turns:"]
    lines.extend(_render(message) for turn in dropped for message in turn)
    request = ModelRequest(
        messages=(
            SystemMessage(content=_SUMMARISE.format(tokens=policy.summary_tokens)),
            UserMessage(content="\n".join(lines)),
        ),
        settings=ModelSettings(max_tokens=policy.summary_tokens),
    )
    response = await call_model(ctx, model, request)
    return response.text.strip()


def _render(message: Message) -> str:
    if isinstance(message, AssistantMessage):
        calls = "; ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        return f"assistant: {message.content}" + (f" [calls: {calls}]" if calls else "")
    if isinstance(message, ToolMessage):
        return f"tool {message.name}: {message.content}"
    return f"{message.role}: {message.content}"


def _summariser(ctx: Context, policy: ContextPolicy) -> Model:
    model = policy.summarize_with
    assert model is not None
    if not isinstance(model, str):
        return model
    return ctx.execution.own(id(policy), partial(infer_model, model))


__all__ = ["assemble", "fit", "plan", "split"]
