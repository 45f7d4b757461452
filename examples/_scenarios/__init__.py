"""What the seed-scenario examples share: picking a model, running a workflow, printing the run.

Every example runs offline on scripted models. ``PODIUM_DEMO_MODEL`` (e.g.
``openai:gpt-4.1-mini``) makes every agent use that real model instead; the scripts are then
ignored. The Python examples and their YAML twins get their models from the same factories
(``{import: "onboarding:verifier_model"}`` in YAML), so both see the same script.

The examples' tools are in-memory lookups declared ``threaded=False``: they run inline, so the
steps of parallel branches are journaled in the same order on every run, and
``tests/test_yaml_python_parity.py`` can compare a Python run and a YAML run event by event.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio

from podium import Model, Runtime, SQLiteStore
from podium.events import NodeFinished, NodeStarted
from podium.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    StreamItem,
    UserMessage,
)
from podium.models import infer_model
from podium.service import Caller, ControlPlane
from podium.store import StoredEvent
from podium.testing import FunctionModel, ScriptedModel
from podium.testing.models import ScriptItem

DEMO_MODEL_ENV = "PODIUM_DEMO_MODEL"
OFFLINE = "OFFLINE - scripted models, no network"


def real_model() -> str | None:
    """The real model the examples use instead of their scripts, if any."""
    return os.environ.get(DEMO_MODEL_ENV) or None


def demo_model(
    name: str, script: Sequence[ScriptItem], *, when: dict[str, Sequence[ScriptItem]] | None = None
) -> Model:
    """A scripted model named ``scripted:{name}``, or the real ``PODIUM_DEMO_MODEL``.

    The answer is picked by the agent's turn (the number of assistant messages in the
    request), so it is the same in any process and on replay. ``when`` maps a text to another
    script, used when the first user message contains that text: an agent that runs again on a
    different input (a loop's second attempt, a graph node's second visit) gets its own script.
    """
    real = real_model()
    if real:
        return RealModel(real)
    if not when:
        return ScriptedModel(list(script), name=f"scripted:{name}", by_turn=True)
    cases = [(text, list(items)) for text, items in when.items()]
    default = list(script)

    def answer(request: ModelRequest) -> ScriptItem:
        first = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
        chosen = next((items for text, items in cases if text in first), default)
        turn = sum(isinstance(m, AssistantMessage) for m in request.messages)
        if turn >= len(chosen):
            raise AssertionError(f"scripted:{name}: no scripted answer for turn {turn + 1}")
        return chosen[turn]

    return FunctionModel(answer, name=f"scripted:{name}")


class RealModel(Model):
    """``PODIUM_DEMO_MODEL``, resolved on the first request: building the workflow (or
    ``podium validate`` on a YAML twin) needs no SDK and no API key."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._model: Model | None = None

    @property
    def name(self) -> str:
        return self.spec

    def _resolved(self) -> Model:
        if self._model is None:
            self._model = infer_model(self.spec)  # retries as for Agent(model="provider:...")
        return self._model

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await self._resolved().request(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        async for item in self._resolved().stream(request):
            yield item

    async def aclose(self) -> None:
        if self._model is not None:
            await self._model.aclose()


def run_example(
    title: str,
    workflow: Any,
    input: Any,
    show: Callable[[Any, dict[str, Any]], None],
) -> int:
    """Run ``workflow`` on SQLite at ``$PODIUM_DB``, print the result and the node tree.

    ``show(output, outputs)`` prints the result; ``outputs`` maps each node path to its output.
    """
    real = real_model()
    mode = f"real provider: {real}" if real else OFFLINE
    print(f"Podium example: {title} ({mode})")
    if not real:
        print(f"  set {DEMO_MODEL_ENV}=openai:gpt-4.1-mini to use a real model")
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")

    async def go() -> tuple[Any, list[StoredEvent]]:
        async with SQLiteStore(db) as store:
            result = await Runtime(store).run(workflow, input)
            return result, await store.read(result.run_id)

    result, events = anyio.run(go)
    print(f"run {result.run_id}: {result.status.value}")
    print(
        f"  {result.model_calls} model calls, {result.tool_calls} tool calls, "
        f"{result.usage.total_tokens} tokens"
    )
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    if result.status.value == "completed":
        show(result.output, node_outputs(events))
    print("node tree:")
    print_tree(events)
    print(f"inspect it: podium show {result.run_id}   (store: {db})")
    return 0 if result.status.value == "completed" else 1


def leave_waiting(workflow: Any, input: Any, what: str, *, port: int = 8000) -> None:
    """Run ``workflow`` on ``input`` until it waits for a person, and print how to decide it in
    the web console: ``podium serve`` on the same store, and a login link holding a local admin
    API key of namespace ``default`` (valid 24 hours; the ``#`` part never reaches a server)."""
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")
    local = Caller(name="quickstart", credential="local:demo", source="demo", roles={"*": "admin"})

    async def go() -> tuple[Any, str]:
        async with SQLiteStore(db) as store:
            result = await Runtime(store).run(workflow, input)
            _, token = await ControlPlane(store).create_key(
                local, "default", "admin", expires_at=time.time() + 86400, label="quickstart"
            )
            return result, token

    result, token = anyio.run(go)
    print(f"run {result.run_id}: {result.status.value} ({what})")
    if result.waiting_for is None:
        return
    print(f"  waiting for a person at {result.waiting_for}; decide it in the web console:")
    where = "" if db == ".podium/podium.db" else f"--db {db} "
    print(f"  .venv/bin/pip install -e '.[server]' && .venv/bin/podium {where}serve")
    print(f"  then open http://127.0.0.1:{port}/login#{token}")


def node_outputs(events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Each finished node's path -> its output (as journaled)."""
    return {s.event.path: s.event.output for s in events if isinstance(s.event, NodeFinished)}


def print_tree(events: Sequence[StoredEvent]) -> None:
    """Each node of the run, indented under its parent, with a short view of its output."""
    outputs: dict[str, Any] = {}
    nodes: list[tuple[str, str]] = []
    for stored in events:
        event = stored.event
        if isinstance(event, NodeStarted):
            nodes.append((event.path, event.kind))
        elif isinstance(event, NodeFinished):
            outputs[event.path] = f"error: {event.error.type}" if event.error else event.output
    seen: list[str] = []
    for path, kind in nodes:
        parents = [p for p in seen if path.startswith((p + "/", p + "["))]
        parent = max(parents, key=len, default="")
        label = path[len(parent) :].lstrip("/") if parent else path
        depth = _depth(parent, seen)
        seen.append(path)
        print(f"  {'  ' * depth}{label} ({kind}) -> {short(outputs.get(path, '(unfinished)'))}")


def _depth(parent: str, seen: list[str]) -> int:
    depth = 0
    while parent:
        depth += 1
        parents = [p for p in seen if parent.startswith((p + "/", p + "[")) and p != parent]
        parent = max(parents, key=len, default="")
    return depth


def short(value: Any, limit: int = 72) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "OFFLINE",
    "RealModel",
    "demo_model",
    "node_outputs",
    "print_tree",
    "real_model",
    "run_example",
    "short",
]
