"""Hierarchical: a manager agent delegates to worker agents it sees as tools.

Each worker is a tool named after it taking one argument, ``task``. Calling it runs the worker
as a child of the manager (``procurement/manager/sourcing[1]``) and returns its output to the
manager as the tool result; a failed worker comes back as a tool error, not a failed run. With a
``template``, the manager can also spawn temporary sub-agents on the fly (``spawn_agent``: a
name, instructions and a task), up to ``max_spawn`` per run: every sub-agent its manager (an
agent of that name) spawned anywhere in the run counts — in every iteration of a loop, every
branch of a fan-out, every nested call. The count is derived from the run's journal (the
``node_started`` events of spawned agents, plus those started in this pass), so a replay, a
resume in another process and a concurrent branch all see the same number. Delegation
depth — workers that are themselves supervisors — is capped by ``max_depth``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue

from podium.agents import Agent
from podium.errors import SpecError, ToolError
from podium.patterns._fanout import check_name, node_of
from podium.runtime import Context, Node
from podium.runtime.agent_loop import agent_turns, first_messages
from podium.runtime.context import run_node
from podium.runtime.delegation import ExtraTool, NodeTool, delegation_depth

SPAWN_PARAMETERS: dict[str, JsonValue] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "A short name for the new agent."},
        "instructions": {"type": "string", "description": "Its role and how to work."},
        "task": {"type": "string", "description": "What it must do, in full."},
    },
    "required": ["name", "instructions", "task"],
    "additionalProperties": False,
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SPAWNED = "spawned."


class Supervisor:
    kind = "supervisor"

    def __init__(
        self,
        name: str,
        manager: Agent,
        workers: Sequence[Any] = (),
        *,
        template: Agent | None = None,
        max_depth: int = 2,
        max_spawn: int = 5,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(manager, Agent):
            raise SpecError(f"supervisor {name!r}: manager must be an Agent, not {manager!r}")
        self.manager = manager
        if isinstance(workers, str | bytes) or not isinstance(workers, Sequence):
            raise SpecError(
                f"supervisor {name!r}: workers must be a list of nodes, not {workers!r}"
            )
        self.workers: tuple[Node, ...] = tuple(
            node_of(w, f"supervisor {name!r} worker {i + 1}") for i, w in enumerate(workers)
        )
        if not self.workers and template is None:
            raise SpecError(f"supervisor {name!r} needs workers or a template to spawn from")
        if template is not None and not isinstance(template, Agent):
            raise SpecError(f"supervisor {name!r}: template must be an Agent, not {template!r}")
        self.template = template
        for field, value in (("max_depth", max_depth), ("max_spawn", max_spawn)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(
                    f"supervisor {name!r}: {field} must be an integer >= 0, not {value!r}"
                )
        self.max_depth = max_depth
        self.max_spawn = max_spawn
        self.tools = self._tools()

    def _tools(self) -> tuple[ExtraTool, ...]:
        tools: list[ExtraTool] = []
        seen: set[str] = set()
        for worker in self.workers:
            tool_name = _UNSAFE.sub("_", worker.name)[:64]
            if tool_name in seen:
                raise SpecError(f"supervisor {self.name!r}: two workers are named {tool_name!r}")
            seen.add(tool_name)
            tools.append(NodeTool(tool_name, _describe(worker), self._delegate_to(worker)))
        if self.template is not None:
            if any(w.name.startswith(_SPAWNED) for w in self.workers):
                raise SpecError(
                    f"supervisor {self.name!r}: worker names starting with {_SPAWNED!r} are "
                    "reserved for spawned agents"
                )
            if "spawn_agent" in seen:
                raise SpecError(
                    f"supervisor {self.name!r}: a worker named 'spawn_agent' collides with the "
                    "spawn tool of the template"
                )
            description = (
                "Create a temporary specialist agent for a sub-task and get its answer. "
                f"It uses the {self.template.name!r} template's model and tools."
            )
            tools.append(NodeTool("spawn_agent", description, self._spawn, SPAWN_PARAMETERS))
        return tuple(tools)

    def _delegate_to(self, worker: Node) -> Any:
        def prepare(ctx: Context, arguments: dict[str, Any]) -> tuple[Node, Any, str]:
            self._check_depth(ctx)
            return worker, _task(arguments), worker.name

        return prepare

    def _spawn(self, ctx: Context, arguments: dict[str, Any]) -> tuple[Node, Any, str]:
        self._check_depth(ctx)
        assert self.template is not None
        task = _task(arguments)  # a refused call does not count against max_spawn
        raw = _UNSAFE.sub("_", str(arguments.get("name") or "agent")).strip("_")[:40] or "agent"
        label = f"{_SPAWNED}{raw}"
        if not _replaying(ctx, label) and self._spawned(ctx) >= self.max_spawn:
            raise ToolError(f"spawn limit reached: at most {self.max_spawn} sub-agents per run")
        agent = dataclasses.replace(
            self.template,
            name=label,
            instructions=str(arguments.get("instructions") or self.template.instructions),
        )
        return node_of(agent, "spawned agent"), task, agent.name

    def _spawned(self, ctx: Context) -> int:
        """Sub-agents spawned in this run by this supervisor's manager (an agent of that name,
        wherever it ran: a loop's iterations, a fan-out's branches): journaled, or started in
        this pass (a spawn is granted and its node started with no await in between)."""
        manager = self.manager.name
        count = 0
        for path in ctx.started_nodes():
            parent, _, leaf = path.rpartition("/")
            if leaf.startswith(_SPAWNED) and parent.rpartition("/")[2] == manager:
                count += 1
        return count

    def _check_depth(self, ctx: Context) -> None:
        if delegation_depth(ctx) >= self.max_depth:
            raise ToolError(
                f"delegation depth limit reached ({self.max_depth}): do this task yourself"
            )

    async def execute(self, ctx: Context, input: Any) -> Any:
        return await run_node(ctx.child(self.manager.name), _Manager(self), input)

    def __repr__(self) -> str:
        return f"Supervisor({self.name!r}, manager={self.manager.name!r})"


class _Manager:
    kind = "agent"

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.name = supervisor.manager.name

    async def execute(self, ctx: Context, input: Any) -> Any:
        manager = self.supervisor.manager
        outcome = await agent_turns(
            ctx, manager, first_messages(manager, input), self.supervisor.tools
        )
        return outcome.output


def _replaying(ctx: Context, label: str) -> bool:
    """Whether this spawn already started in the journal (a replay keeps what was granted):
    its child would be ``label[n]`` with the next ``n`` of ``child_label``."""
    return f"{ctx.path}/{label}[{ctx.count(label, 0) + 1}]" in ctx.started_nodes()


def _task(arguments: dict[str, Any]) -> str:
    task = arguments.get("task")
    if not isinstance(task, str) or not task.strip():
        raise ToolError("the 'task' argument is required: say what to do")
    return task


def _describe(worker: Node) -> str:
    instructions = getattr(getattr(worker, "agent", None), "instructions", "") or ""
    first = instructions.strip().splitlines()[0] if instructions.strip() else ""
    return f"Delegate a task to the {worker.name} agent and get its answer. {first}".strip()
