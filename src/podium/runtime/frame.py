"""The agent frame: who is running, carried on ``Context`` (no ContextVars).

A frame says which agent's guard applies (its effective scopes and what it has read), which
ledger its spending draws from, and how many delegations deep it runs. ``Context.child`` and
``Context.branch`` pass the frame down; an agent's loop runs under a frame of its own, and a
node tool runs its child one delegation deeper. So a child agent's scopes narrow to its
parent's, untrusted content read by a manager taints its workers' tasks, and an agent with a
budget draws from the ledger of whoever runs it — all by explicit parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podium.agents import Agent
from podium.budget import Ledger
from podium.tools import Tool


@dataclass(slots=True)
class Guard:
    """What one agent may do in this run: its effective scopes and what it has read."""

    agent: Agent
    scopes: frozenset[str]
    provenance: list[str] = field(default_factory=list)

    @classmethod
    def under(cls, parent: Guard | None, agent: Agent) -> Guard:
        """The guard of ``agent`` running under ``parent`` (a manager's guard, or None).

        Scopes narrow to the parent's; and a task from a parent that read untrusted content
        is untrusted too, so an injection cannot be laundered through a worker.
        """
        scopes = agent.scopes if parent is None else agent.scopes & parent.scopes
        guard = cls(agent, scopes)
        if parent is not None and parent.provenance:
            guard.note_untrusted(
                f"task from {parent.agent.identity}, which read {', '.join(parent.provenance)}"
            )
        return guard

    def visible(self, tool: Tool) -> bool:
        return tool.scopes <= self.scopes

    def note_untrusted(self, source: str) -> None:
        if source not in self.provenance:
            self.provenance.append(source)


@dataclass(frozen=True, slots=True)
class AgentFrame:
    """The innermost agent's guard, the ledger spending draws from (None: the run's), and
    the delegation depth (0 at the top)."""

    guard: Guard | None = None
    ledger: Ledger | None = None
    depth: int = 0


TOP = AgentFrame()
