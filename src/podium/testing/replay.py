"""Record a run, replay it as a test: a :class:`Recording`'s model answers and tool results are
served back to the workflow's *current* code, offline (:func:`replay`), and :func:`diff` compares
the two journals step by step; :func:`assert_same` is the pytest entry point."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from unittest import mock

import pydantic_core
from pydantic import JsonValue

from podium import events as ev
from podium.agents import Agent
from podium.context_policy import ContextPolicy
from podium.errors import ModelError, ToolError
from podium.messages import ModelRequest, ModelResponse
from podium.models import ALLOW_MODEL_REQUESTS_ENV, Model
from podium.runtime import RunResult, Runtime
from podium.runtime.budgeting import budget_from
from podium.runtime.state import split_key
from podium.store import Store
from podium.testing.clock import FakeClock
from podium.tools import Tool, ToolContext

_CONTEXT = "_podium_replay_context"
_UNCHECKED_KINDS = {"clock", "random", "signal"}  # values that differ by nature (a signal: its seq)


@dataclass(frozen=True, slots=True)
class Recording:
    """A recorded run: its events in journal order (``from_store``, ``from_jsonl``)."""

    run_id: str
    events: tuple[ev.Event, ...]

    @property
    def started(self) -> ev.RunStarted:
        return cast(ev.RunStarted, self.events[0])

    @classmethod
    async def from_store(cls, store: Store, run_id: str) -> Recording:
        return cls(run_id, tuple(stored.event for stored in await store.read(run_id)))

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a ``podium export`` file: a header line, then one line per event."""
        lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
        header = json.loads(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("podium_export") != 1:
            raise ValueError(f"{path}: not a podium export file (version 1)")
        events: list[ev.Event] = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                row = json.loads(line)
                events.append(ev.decode(json.dumps(row["event"])))
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}:{number}: unreadable event: {error}") from None
        if header.get("events", len(events)) != len(events):
            raise ValueError(f"{path}: {len(events)} events, the header says {header['events']}")
        return cls(str(header.get("run_id", "")), tuple(events))


class NoRecordedAnswer(ModelError):
    """A model was asked something the recorded run never asked it."""


@dataclass(slots=True)
class RecordedCall:
    """A recorded model call; ``how`` a replay used it: ``digest``, ``order`` or ``""`` (not)."""

    key: str
    model: str
    digest: str
    response: ModelResponse
    how: Literal["digest", "order", ""] = ""

    @property
    def names(self) -> set[str]:  # of its node: ``flow/desk[clerk]/model#1`` -> desk, clerk
        return set(re.split(r"[\[\]]", split_key(self.key)[0].rsplit("/", 1)[-1])) - {""}


class Replayer:
    """Serves a recording back: a model request gets the unused answer with its digest, else the
    agent's next one (the request changed: ``order``); a tool call the result of the same key and
    arguments, else of the same arguments, else of the same key. The real tool never runs."""

    def __init__(self, recording: Recording) -> None:
        events = recording.events
        self.calls = [
            RecordedCall(e.key, e.model, e.request_digest, e.response)
            for e in events
            if isinstance(e, ev.ModelCallCompleted)
        ]
        self.tool_results = [
            e for e in events if isinstance(e, ev.ToolCallCompleted) and e.attempts
        ]
        self.failures = {
            (e.key, e.attempt): e.error for e in events if isinstance(e, ev.ToolAttemptFailed)
        }
        self.agent_names: set[str] = set()  # the agents seen so far
        self._agents: dict[int, tuple[Agent, Agent]] = {}
        self.served: list[RecordedCall] = []  # in the order the replay asked
        self.asked: Counter[str] = Counter()  # the digests of the requests made
        self.tools_served: list[str] = []  # the recorded tool steps served, in order

    def answer(self, model: str, agent: str, request: ModelRequest) -> ModelResponse:
        digest = request.digest()
        self.asked[digest] += 1
        open_calls = [c for c in self.calls if not c.how and c.model == model]
        same = [c for c in open_calls if c.digest == digest]
        choices: list[tuple[list[RecordedCall], Literal["digest", "order"]]] = [
            ([c for c in same if agent in c.names], "digest"),
            (same, "digest"),
            ([c for c in open_calls if agent in c.names], "order"),
            ([c for c in open_calls if not c.names & self.agent_names], "order"),
        ]
        for found, how in choices:
            if found:
                found[0].how = how
                self.served.append(found[0])
                return found[0].response
        message = f"no recorded answer: the recorded run never asked {model} this for {agent!r}"
        raise NoRecordedAnswer(message, model=model)

    def tool_for(self, tool: Tool) -> Tool:
        """A copy of ``tool`` whose function returns recorded results (validation still runs)."""
        serve = functools.partial(self._tool_result, tool.name)
        return dataclasses.replace(
            tool, function=serve, context_param=_CONTEXT, threaded=False, secrets=()
        )

    def _tool_result(self, name: str, **given: Any) -> Any:
        context = cast(ToolContext, given.pop(_CONTEXT))
        key, arguments = context.step_key, pydantic_core.to_jsonable_python(given)
        mine = [r for r in self.tool_results if r.tool == name]
        exact = [r for r in mine if r.key == key and r.arguments == arguments]
        alike = [r for r in mine if r.key not in self.tools_served and r.arguments == arguments]
        here = [r for r in mine if r.key == key]
        record = next((found[0] for found in (exact, alike, here) if found), None)
        if record is None:
            raise ToolError(f"no recorded result: the run never called {name}({arguments})")
        if context.attempt == 1:
            self.tools_served.append(record.key)
        failure = self.failures.get((record.key, context.attempt))  # each attempt that failed
        if failure is not None:  # an exception whose ``Type: message`` is the recorded one
            raise type(failure.type, (Exception,), {"__module__": __name__})(failure.message)
        return record.result

    def override(self, agent: Agent) -> Agent:
        """``agent`` answering from the recording: its model and tools are recorded ones
        (used as ``Runtime(agent_override=...)``; the agent objects are not changed)."""
        found = self._agents.get(id(agent))
        if found is None or found[0] is not agent:
            self.agent_names.add(agent.name)
            model = agent.model if isinstance(agent.model, str) else agent.model.name
            served = dataclasses.replace(
                agent,
                model=RecordedModel(self, model, agent.name),
                tools=tuple(self.tool_for(t) for t in agent.tools),
                context=self._context_for(agent),
            )
            found = self._agents[id(agent)] = (agent, served)
        return found[1]

    def _context_for(self, agent: Agent) -> ContextPolicy | None:
        """The agent's context policy with its summariser answering from the recording."""
        policy = agent.context
        if policy is None or policy.summarize_with is None:
            return policy
        model = policy.summarize_with
        name = model if isinstance(model, str) else model.name
        return dataclasses.replace(policy, summarize_with=RecordedModel(self, name, agent.name))


class RecordedModel(Model):
    """A model answering from a recording (see :class:`Replayer`); it never reaches a network."""

    def __init__(self, replayer: Replayer, name: str, agent: str = "") -> None:
        self.replayer = replayer
        self._name = name
        self.agent = agent

    @property
    def name(self) -> str:
        return self._name

    async def request(self, request: ModelRequest) -> ModelResponse:
        return self.replayer.answer(self._name, self.agent, request)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The new run and its events, how it differs from the recording, and how it was served."""

    run: RunResult
    events: tuple[ev.Event, ...]
    diffs: tuple[StepDiff, ...]
    served: tuple[RecordedCall, ...]  # the recorded model calls used, in the order used
    tools_served: tuple[str, ...]  # the recorded tool steps whose results were served
    unserved: tuple[str, ...]  # model steps a real model answered, not the recording

    @property
    def identical(self) -> bool:
        return not self.diffs and not self.unserved

    def report(self) -> str:
        lines = [f"the replay differs from the recording in {len(self.diffs)} step(s):"]
        lines += [f"  {d}" for d in self.diffs]
        if self.unserved:  # e.g. a replay on a runtime without the override
            lines.append(f"  answered by a real model, not the recording: {self.unserved}")
        return "\n".join(lines)


async def replay(
    workflow: Any, recording: Recording, *, runtime: Runtime | None = None
) -> ReplayResult:
    """Run ``workflow``'s current code on the recorded input, offline, against the recording:
    by default on a fresh in-memory store with a fake clock (sleeps never suspend), recorded
    signals delivered up front, real model requests blocked (``PODIUM_ALLOW_MODEL_REQUESTS=0``)."""
    started = recording.started
    clock = FakeClock(started.started_at or FakeClock().time)
    replayer = Replayer(recording)
    if runtime is None:
        runtime = Runtime(namespace=started.namespace, clock=clock, max_inline_sleep=1e9)
    runtime.agent_override = replayer.override
    with mock.patch.dict(os.environ, {ALLOW_MODEL_REQUESTS_ENV: "0"}):
        budget = budget_from(started.budget)
        run_id = await runtime.start(workflow, started.input, tags=started.tags, budget=budget)
        for event in recording.events:
            if isinstance(event, ev.SignalReceived):
                await runtime.signal(run_id, event.name, event.payload, by=event.by)
        result = await runtime.resume(run_id, workflow)
    events = tuple(stored.event for stored in await runtime.store.read(run_id))
    completed = [e for e in events if isinstance(e, ev.ModelCallCompleted)]
    extra = Counter(e.request_digest for e in completed) - replayer.asked  # not from us
    unserved = tuple(e.key for e in completed if e.request_digest in extra)
    diffs = tuple(diff(recording.events, events))
    served, tools = tuple(replayer.served), tuple(replayer.tools_served)
    return ReplayResult(result, events, diffs, served, tools, unserved)


async def assert_same(
    recording: Recording, workflow: Any, *, runtime: Runtime | None = None
) -> ReplayResult:
    """Replay; raise :class:`AssertionError` with a readable step diff if anything changed."""
    result = await replay(workflow, recording, runtime=runtime)
    if not result.identical:
        raise AssertionError(result.report())
    return result


@dataclass(frozen=True, slots=True)
class StepDiff:
    """One difference at a step key, a node path, or ``(run)``."""

    key: str
    change: Literal["added", "missing", "changed"]
    kind: str  # node, model, tool, step, run
    description: str
    recorded: JsonValue = None
    new: JsonValue = None

    def __str__(self) -> str:
        return f"{self.change:<7} {self.key}: {self.description}"


# event type -> the fields compared; everything else (ids, times, costs, owners) is ignored
_FIELDS: dict[str, tuple[str, ...]] = {
    "node_started": ("kind",),
    "node_finished": ("output", "error"),
    "model_call_completed": ("model", "request_digest", "response"),
    "model_call_failed": ("model", "error"),
    "tool_call_completed": ("tool", "arguments", "result", "is_error"),
    "step_completed": ("kind", "result"),
    "step_failed": ("kind", "error"),
    "run_suspended": ("waiting_for",),
    "run_completed": ("output",),
    "run_failed": ("error",),
}


def diff(recorded: Iterable[Any], new: Iterable[Any]) -> list[StepDiff]:
    """Two runs' events (or stored events) compared step by step, aligned by step key and node
    path. Ignored: run ids, times, durations, owners, costs, call ids, idempotency keys, the
    values of ``ctx.now()``, ``ctx.uuid()``, ``ctx.random()`` and signal sequence numbers."""
    before, after = _steps(recorded), _steps(new)
    out = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, now = before.get(key), after.get(key)
        if now is None and old is not None:
            out.append(StepDiff(key, "missing", old[0], f"gone: {_summary(old[1])}", old[1]))
        elif old is None and now is not None:
            out.append(StepDiff(key, "added", now[0], f"new: {_summary(now[1])}", None, now[1]))
        elif old is not None and now is not None and old[1] != now[1]:
            fields = [f for f in {**old[1], **now[1]} if old[1].get(f) != now[1].get(f)]
            text = "; ".join(_change(f, old[1].get(f), now[1].get(f)) for f in fields)
            out.append(StepDiff(key, "changed", now[0], text, old[1], now[1]))
    return out


def _steps(events: Iterable[Any]) -> dict[str, tuple[str, dict[str, JsonValue]]]:
    steps: dict[str, tuple[str, dict[str, JsonValue]]] = {}
    for event in (getattr(e, "event", e) for e in events):  # Events or StoredEvents
        fields = _FIELDS.get(event.type, ())
        if isinstance(event, ev.StepCompleted) and event.kind in _UNCHECKED_KINDS:
            payload = event.result.get("payload") if isinstance(event.result, dict) else None
            event = dataclasses.replace(event, result=payload)  # a signal's payload only
        data = {f: _plain(getattr(event, f)) for f in fields if getattr(event, f) is not None}
        kind, _, what = event.type.partition("_")
        key = str(getattr(event, "key", None) or getattr(event, "path", "(run)"))
        if kind == "run":
            data = {"status": what, **data}
        elif kind == "node":
            data = {**steps.get(key, ("", {}))[1], **data}
        if fields:
            steps[key] = (kind, data)
    return steps


def _plain(value: Any) -> JsonValue:
    if isinstance(value, ev.ErrorInfo):
        return value.describe()
    if isinstance(value, ModelResponse):
        calls: list[JsonValue] = [[c.name, c.arguments] for c in value.tool_calls]
        return {"text": value.text, "tool_calls": calls} if calls else value.text
    return cast(JsonValue, value)


def _summary(data: dict[str, JsonValue]) -> str:
    return ", ".join(f"{k} {_brief(v)}" for k, v in data.items() if k != "request_digest")


def _change(field: str, old: JsonValue, new: JsonValue) -> str:
    if field == "request_digest":
        return f"the model request changed (digest {str(old)[:8]} -> {str(new)[:8]})"
    return f"{field} {_brief(old)} -> {_brief(new)}"


def _brief(value: JsonValue, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
