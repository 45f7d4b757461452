"""Context policies: a long conversation stays inside its window, keeps its early facts in a
journaled summary, and never loses the system prompt, the pending task or a call's result."""

from __future__ import annotations

import pytest

from podium import Agent, ContextPolicy, Runtime, tool
from podium.errors import SpecError
from podium.events import ModelCallCompleted
from podium.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from podium.runtime.windowing import plan
from podium.spec import SpecValidationError, loads_spec
from podium.testing import FunctionModel, Recording, replay
from podium.testing.models import CallSpec, call
from podium.tokens import count_tokens

pytestmark = pytest.mark.anyio

TURNS = 300
WINDOW = 2000
FACT = "the vault code is ZEBRA-42"
FILLER = "nothing unusual in this sector; readings nominal, all systems green. " * 3


@tool
def observe(n: int) -> str:
    """Read sector n."""
    return FACT if n == 2 else f"observation {n}: {FILLER}"


def _text(request: ModelRequest) -> str:
    return "\n".join(getattr(m, "content", "") for m in request.messages)


def _summarise(request: ModelRequest) -> str:
    """An obedient summariser: keeps every line that states a fact ("... is ...")."""
    facts = [line.removeprefix("tool observe: ") for line in _text(request).splitlines()]
    kept = sorted({f for f in facts if " code is " in f and not f.startswith("You ")})
    return "\n".join(kept) or "nothing notable"


def _main() -> FunctionModel:
    calls = {"n": 0}

    def answer(request: ModelRequest) -> str | CallSpec:
        n = calls["n"]
        calls["n"] += 1
        if n < TURNS - 1:
            return call("observe", n=n)
        return "ZEBRA-42" if "ZEBRA-42" in _text(request) else "I do not know"

    return FunctionModel(answer, name="function:main")


def _paired(request: ModelRequest) -> bool:
    asked: set[str] = set()
    for message in request.messages:
        if isinstance(message, AssistantMessage):
            asked |= {c.id for c in message.tool_calls}
        if isinstance(message, ToolMessage) and message.tool_call_id not in asked:
            return False
    return True


async def test_300_turns_stay_in_the_window_flat_and_keep_the_early_fact() -> None:
    main, summariser = _main(), FunctionModel(_summarise, name="function:summariser")
    agent = Agent(
        name="surveyor",
        model=main,
        instructions="Survey every sector, then answer the question.",
        tools=[observe],
        max_turns=TURNS + 1,
        context=ContextPolicy(max_tokens=WINDOW, summarize_with=summariser, summary_tokens=200),
    )
    runtime = Runtime()
    result = await runtime.run(agent, "What is the vault code?")

    assert result.status.value == "completed", result.error
    assert result.output == "ZEBRA-42"
    sizes = [count_tokens(r, main.name) for r in main.requests]
    assert len(sizes) == TURNS
    assert max(sizes) <= WINDOW
    late, early = sizes[200:], sizes[50:150]
    assert sum(late) / len(late) <= 1.1 * sum(early) / len(early)  # flat, not growing
    for request in main.requests:
        assert request.messages[0] == SystemMessage(content=agent.instructions)
        assert UserMessage(content="What is the vault code?") in request.messages
        assert _paired(request)
    # few summaries, each a journaled model call: the replay rebuilds the same context
    assert 3 <= len(summariser.requests) < TURNS // 5
    events = [s.event for s in await runtime.store.read(result.run_id)]
    summaries = [e for e in events if isinstance(e, ModelCallCompleted) and "summar" in e.model]
    assert len(summaries) == len(summariser.requests)
    again = await replay(agent, await Recording.from_store(runtime.store, result.run_id))
    assert again.identical
    assert again.run.output == "ZEBRA-42"


async def test_without_a_summary_the_early_fact_is_gone_but_the_window_holds() -> None:
    main = _main()
    agent = Agent(
        name="surveyor",
        model=main,
        tools=[observe],
        max_turns=TURNS + 1,
        context=ContextPolicy(max_tokens=WINDOW),
    )
    result = await Runtime().run(agent, "What is the vault code?")
    assert result.output == "I do not know"  # the policy really dropped the old turns
    assert max(count_tokens(r, main.name) for r in main.requests) <= WINDOW


def _conversation(turns: int) -> list[Message]:
    messages: list[Message] = [SystemMessage(content="be brief"), UserMessage(content="task")]
    for i in range(turns):
        messages.append(
            AssistantMessage(tool_calls=(ToolCall(id=f"c{i}", name="t", arguments="{}"),))
        )
        messages.append(ToolMessage(tool_call_id=f"c{i}", name="t", content=f"result {i} " * 20))
    return messages


def _measure(messages: object) -> int:
    return count_tokens(messages)  # type: ignore[arg-type]


def test_keep_last_turns_keeps_the_task_and_whole_tool_turns() -> None:
    head, _summary, kept, dropped = plan(
        ContextPolicy(max_tokens=100_000, keep_last_turns=3), _conversation(10), _measure
    )
    assert head == [SystemMessage(content="be brief")]
    assert kept[0] == [UserMessage(content="task")]  # the pending task is pinned
    assert [t[0].tool_calls[0].id for t in kept[1:]] == ["c8", "c9"]  # type: ignore[union-attr]
    assert all(len(t) == 2 for t in kept[1:] + dropped)  # a call never leaves its result
    assert len(dropped) == 8


def test_old_tool_results_are_shortened_not_unpaired() -> None:
    _head, _summary, kept, _dropped = plan(
        ContextPolicy(max_tokens=100_000, keep_tool_results=2), _conversation(5), _measure
    )
    results = [m for t in kept for m in t if isinstance(m, ToolMessage)]
    assert [r.tool_call_id for r in results] == ["c0", "c1", "c2", "c3", "c4"]
    assert all(r.content.startswith("[dropped: an old result of t") for r in results[:3])
    assert results[3].content.startswith("result 3")


async def test_a_pinned_part_over_the_window_is_a_clear_error() -> None:
    agent = Agent(
        name="wordy",
        model=FunctionModel(lambda r: "ok"),
        instructions="x " * 400,
        context=ContextPolicy(max_tokens=100, summary_tokens=20),
    )
    result = await Runtime().run(agent, "task")
    assert result.status.value == "failed"
    assert "ContextOverflow" in (result.error or "")
    assert "agent 'wordy'" in (result.error or "")
    assert "window of 100" in (result.error or "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_tokens": 10}, "max_tokens must be >= 64"),
        ({"max_tokens": 1000, "keep_last_turns": 0}, "keep_last_turns must be >= 1"),
        ({"max_tokens": 1000, "summarize_with": "cheap"}, "must look like 'provider:model'"),
        ({"max_tokens": 1000, "summary_tokens": 1000}, "summary_tokens must be"),
        ({"max_tokens": 1000, "compact_to": 2.0}, "compact_to must be"),
    ],
)
def test_bad_policies_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ContextPolicy(**options)  # type: ignore[arg-type]


def test_a_yaml_agent_gets_its_context_policy() -> None:
    agent = loads_spec(
        """
version: 1
agents:
  chat:
    model: "openai:gpt-4.1"
    context:
      max_tokens: 8000
      keep_last_turns: 40
      keep_tool_results: 5
      summarize_with: "openai:gpt-4.1-nano"
      summary_tokens: 300
workflow: {agent: chat}
"""
    )
    assert isinstance(agent, Agent)
    assert agent.context == ContextPolicy(
        max_tokens=8000,
        keep_last_turns=40,
        keep_tool_results=5,
        summarize_with="openai:gpt-4.1-nano",
        summary_tokens=300,
    )


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("{max_tokens: 1000, summary_tokens: 2000}", "agents.chat.context: .*summary_tokens"),
        ("{max_tokens: 1000, summarize_with: nobody}", "agents.chat.context.summarize_with"),
        ("{max_tokens: 1000, keep_last_turns: 0}", "agents.chat.context.keep_last_turns"),
    ],
)
def test_a_bad_yaml_context_is_located(context: str, message: str) -> None:
    spec = f"""
version: 1
agents:
  chat: {{model: "openai:gpt-4.1", context: {context}}}
workflow: {{agent: chat}}
"""
    with pytest.raises(SpecValidationError, match=message):
        loads_spec(spec)
