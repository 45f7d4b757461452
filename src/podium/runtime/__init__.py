"""The run loop: steps, replay, suspension, and the agent loop."""

from podium.runtime import agent_loop as _agent_loop  # registers Agent as a node
from podium.runtime.context import Context
from podium.runtime.engine import RunResult, Runtime
from podium.runtime.nodes import Node, Workflow, as_node, workflow
from podium.runtime.sync import run_sync
from podium.runtime.targets import load_target

del _agent_loop

__all__ = [
    "Context",
    "Node",
    "RunResult",
    "Runtime",
    "Workflow",
    "as_node",
    "load_target",
    "run_sync",
    "workflow",
]
