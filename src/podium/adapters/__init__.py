"""Agents from other frameworks as Podium nodes, with their model calls journaled.

A foreign agent is handed a model object backed by Podium (:class:`PodiumModel`, or a
framework's own model type built on it); the node that runs the agent binds its
:class:`~podium.runtime.context.Context` for the duration of the call, so every model call the
agent makes goes through Podium's model-call chain (journaled, replayed on resume, budgeted
before the call, rate-limited, traced and costed). See ``docs/adapters.md``.

This package imports no framework: the framework-specific model types live in their own
modules (``podium.adapters.langchain`` needs the ``langgraph`` extra).
"""

from podium.adapters.binding import PodiumModel, bound, current_context
from podium.adapters.generic import ForeignNode, foreign
from podium.adapters.langgraph import langgraph_node

__all__ = [
    "ForeignNode",
    "PodiumModel",
    "bound",
    "current_context",
    "foreign",
    "langgraph_node",
]
