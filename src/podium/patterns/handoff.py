"""Handoff: an agent passes control to a specialist, who owns the rest of the conversation.

Every agent that may hand off sees a ``transfer_to_<name>`` tool per allowed target (by
default the triage agent may transfer to every specialist, and specialists finish). When an
agent calls one, its turn ends and the target continues with the conversation so far, filtered
by ``history``. Calling several transfer tools in one turn is a **parallel handoff**: each
target continues its own copy of the conversation concurrently, and the output maps each
target to its answer (or goes through ``reducer``). At most ``max_handoffs`` transfers happen
along any chain, so cycles (billing -> triage -> billing ...) are bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from podium.agents import Agent
from podium.errors import HandoffLimitExceeded, SpecError
from podium.messages import AssistantMessage, Message, SystemMessage, UserMessage
from podium.patterns._fanout import Branch, check_name, fan_out, node_of
from podium.runtime import Context
from podium.runtime.agent_loop import AgentOutcome, agent_turns, first_messages, render
from podium.runtime.context import run_node
from podium.runtime.delegation import HandoffTool

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

History = Literal["full", "conversation", "input"] | Callable[[list[Message]], list[Message]]


class Handoff:
    kind = "handoff"

    def __init__(
        self,
        name: str,
        triage: Agent,
        specialists: Sequence[Agent],
        *,
        history: History = "full",
        routes: Mapping[str, Sequence[str]] | None = None,
        max_handoffs: int = 5,
        reducer: Any = None,
    ) -> None:
        self.name = check_name(name)
        if isinstance(specialists, str | bytes) or not isinstance(specialists, Sequence):
            raise SpecError(
                f"handoff {name!r}: specialists must be a list of agents, not {specialists!r}"
            )
        agents = [triage, *specialists]
        for agent in agents:
            if not isinstance(agent, Agent):
                raise SpecError(f"handoff {name!r}: {agent!r} is not an Agent")
        if not specialists:
            raise SpecError(f"handoff {name!r} needs at least one specialist")
        self.agents = {a.name: a for a in agents}
        if len(self.agents) != len(agents):
            raise SpecError(f"handoff {name!r}: agent names must be unique")
        self.triage = triage
        self.routes = _routes(name, self.agents, triage, routes)
        if not callable(history) and history not in ("full", "conversation", "input"):
            raise SpecError(
                f"handoff {name!r}: history must be 'full', 'conversation', 'input' or a "
                f"function, not {history!r}"
            )
        self.history = history
        if isinstance(max_handoffs, bool) or not isinstance(max_handoffs, int) or max_handoffs < 0:
            raise SpecError(
                f"handoff {name!r}: max_handoffs must be an integer >= 0, not {max_handoffs!r}"
            )
        self.max_handoffs = max_handoffs
        self.reducer = node_of(reducer, f"handoff {name!r} reducer") if reducer else None
        self.tools = {
            source: _transfer_tools(name, self.agents, targets)
            for source, targets in self.routes.items()
        }

    async def execute(self, ctx: Context, input: Any) -> Any:
        messages: list[Message] = [UserMessage(content=render(input))]
        return await self._chain(ctx, self.triage.name, messages, hop=1)

    async def _chain(self, ctx: Context, agent_name: str, history: list[Message], hop: int) -> Any:
        agent = self.agents[agent_name]
        turn = _Turn(agent, self.tools.get(agent_name, ()), first_messages(agent, None, history))
        outcome: AgentOutcome = await run_node(
            ctx.child(f"{agent_name}[{hop}]"), turn, None, summary=_summary
        )
        if not outcome.handoffs:
            return outcome.output
        if hop > self.max_handoffs:
            raise HandoffLimitExceeded(
                f"handoff {self.name!r} at {ctx.path}: more than {self.max_handoffs} transfers "
                f"(last: {agent_name} -> {', '.join(outcome.handoffs)})"
            )
        passed = self._pass(outcome.messages)
        if len(outcome.handoffs) == 1:
            return await self._chain(ctx, outcome.handoffs[0], passed, hop + 1)
        branches = [Branch(t, _Chain(self, t, passed, hop + 1), None) for t in outcome.handoffs]
        outcomes = await fan_out(ctx, branches, "fail_fast", None)
        merged = dict(zip(outcome.handoffs, outcomes, strict=True))
        if self.reducer is None:
            return merged
        return await run_node(ctx.child(f"reduce[{hop}]"), self.reducer, merged)

    def _pass(self, messages: list[Message]) -> list[Message]:
        """What the next agent sees of the conversation (never the previous system prompt)."""
        rest: list[Message] = [m for m in messages if not isinstance(m, SystemMessage)]
        if callable(self.history):
            chosen: list[Message] = [
                m for m in self.history(list(rest)) if not isinstance(m, SystemMessage)
            ]
            return chosen or rest[:1]  # never an empty conversation
        if self.history == "input":
            return rest[:1]
        if self.history == "conversation":
            return _conversation(rest)
        return rest

    def __repr__(self) -> str:
        return f"Handoff({self.name!r}, triage={self.triage.name!r})"


@dataclass(frozen=True, slots=True)
class _Turn:
    """One agent's part of the conversation, as a node (its own path and events)."""

    agent: Agent
    tools: tuple[HandoffTool, ...]
    messages: list[Message]
    kind: str = "agent"

    @property
    def name(self) -> str:
        return self.agent.name

    async def execute(self, ctx: Context, input: Any) -> AgentOutcome:
        return await agent_turns(ctx, self.agent, list(self.messages), self.tools)


@dataclass(frozen=True, slots=True)
class _Chain:
    """One branch of a parallel handoff: a target continuing its own copy of the talk."""

    handoff: Handoff
    target: str
    history: list[Message]
    hop: int
    kind: str = "handoff_branch"

    @property
    def name(self) -> str:
        return self.target

    async def execute(self, ctx: Context, input: Any) -> Any:
        return await self.handoff._chain(ctx, self.target, self.history, self.hop)


def _summary(outcome: AgentOutcome) -> Any:
    if outcome.handoffs:
        return {"handoff": outcome.handoffs}
    return outcome.output


def _conversation(messages: list[Message]) -> list[Message]:
    """User messages and assistant text; tool calls and their results are left out whole."""
    out: list[Message] = []
    for message in messages:
        if isinstance(message, UserMessage):
            out.append(message)
        elif isinstance(message, AssistantMessage) and message.content:
            out.append(AssistantMessage(content=message.content))
    return out


def _routes(
    name: str,
    agents: Mapping[str, Agent],
    triage: Agent,
    routes: Mapping[str, Sequence[str]] | None,
) -> dict[str, tuple[str, ...]]:
    table = {triage.name: tuple(n for n in agents if n != triage.name)}
    if routes is not None and not isinstance(routes, Mapping):
        raise SpecError(
            f"handoff {name!r}: routes must be a mapping of agent name -> list of agent names, "
            f"not {routes!r}"
        )
    for source, targets in (routes or {}).items():
        if isinstance(targets, str | bytes) or not isinstance(targets, Sequence):
            raise SpecError(
                f"handoff {name!r}: the route of {source!r} must be a list of agent names, "
                f"not {targets!r}"
            )
        for agent_name in (source, *targets):
            if agent_name not in agents:
                raise SpecError(
                    f"handoff {name!r}: route names unknown agent {agent_name!r} "
                    f"(agents: {', '.join(agents)})"
                )
        if source in targets:
            raise SpecError(f"handoff {name!r}: {source!r} cannot hand off to itself")
        table[source] = tuple(targets)
    return table


def _transfer_tools(
    name: str, agents: Mapping[str, Agent], targets: Sequence[str]
) -> tuple[HandoffTool, ...]:
    tools: dict[str, HandoffTool] = {}
    for target in targets:
        tool_name = ("transfer_to_" + _UNSAFE.sub("_", target))[:64]
        if tool_name in tools:
            raise SpecError(
                f"handoff {name!r}: {target!r} and {tools[tool_name].target!r} both give the "
                f"tool name {tool_name!r}; rename one"
            )
        tools[tool_name] = HandoffTool(tool_name, target, _describe(agents[target]))
    return tuple(tools.values())


def _describe(agent: Agent) -> str:
    first = agent.instructions.strip().splitlines()[0] if agent.instructions.strip() else ""
    return f"Transfer the conversation to {agent.name}. {first}".strip()


__all__ = ["Handoff", "History"]
