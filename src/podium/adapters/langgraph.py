"""A LangGraph compiled graph as a Podium node.

``langgraph_node(graph)`` wraps anything with ``async ainvoke(input)`` — a compiled LangGraph
graph, or any LangChain runnable — as a :class:`~podium.adapters.generic.ForeignNode`: the
graph runs with the node's context bound, so the :class:`~podium.adapters.langchain.
PodiumChatModel` its nodes call makes journaled Podium model steps under the node's path. This
module imports no framework (it duck-types ``ainvoke``), so YAML's ``langgraph: module:graph``
works from ``podium.spec`` without importing LangGraph until the graph's own module does.
"""

from __future__ import annotations

import re
from typing import Any

from podium.adapters.generic import ForeignNode
from podium.errors import UserError


def langgraph_node(graph: Any, *, name: str | None = None) -> ForeignNode:
    """``graph`` (a compiled LangGraph graph) as a node of kind ``langgraph``."""
    invoke = getattr(graph, "ainvoke", None)
    if not callable(invoke):
        raise UserError(
            f"{graph!r} is not a LangGraph graph: expected a compiled graph (with ainvoke)"
        )
    raw = name or str(getattr(graph, "name", None) or "langgraph")
    label = re.sub(r"[^A-Za-z0-9_.:-]", "", raw)[:64] or "langgraph"
    return ForeignNode(invoke, label, kind="langgraph")
