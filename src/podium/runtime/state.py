"""Run state as a pure fold over the journal. No I/O here.

The executor asks this state one question per step: "is this step already in the journal,
and is it the step the journal holds at this position?"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podium.budget import Spend
from podium.errors import NonDeterminismError
from podium.events import (
    TERMINAL_TYPES,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ExecutionStarted,
    GuardrailTripped,
    ModelCallCompleted,
    NodeFinished,
    NodeStarted,
    RunStarted,
    RunSuspended,
    SignalReceived,
    StepCompleted,
    StepFailed,
    StepResolved,
    StepResult,
    StepUnknown,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.messages import Usage

_RESULTS = (StepCompleted, StepFailed, ModelCallCompleted, ToolCallCompleted)  # StepResult


def split_key(key: str) -> tuple[str, int]:
    """``support/triage/model#2`` -> (``support/triage``, 2)."""
    head, _, counter = key.rpartition("#")
    path, _, _name = head.rpartition("/")
    return path, int(counter)


def make_key(path: str, name: str, counter: int) -> str:
    return f"{path}/{name}#{counter}"


@dataclass(slots=True)
class ReplayState:
    run_id: str
    last_seq: int = 0
    started: RunStarted | None = None
    terminal: Event | None = None
    owner: str | None = None
    executions: int = 0
    results: dict[str, StepResult] = field(default_factory=dict)
    slots: dict[tuple[str, int], str] = field(default_factory=dict)
    intents: dict[str, list[ToolCallIntent]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    resolutions: dict[str, list[StepResolved]] = field(default_factory=dict)
    signals: dict[str, list[tuple[int, SignalReceived]]] = field(default_factory=dict)
    consumed_signals: set[int] = field(default_factory=set)
    nodes_started: set[str] = field(default_factory=set)
    nodes_finished: set[str] = field(default_factory=set)
    waiting_for: str = ""
    approvals: dict[str, ApprovalRequested] = field(default_factory=dict)  # by approval id
    approvals_by_key: dict[str, list[str]] = field(default_factory=dict)
    decisions: dict[str, ApprovalDecided] = field(default_factory=dict)
    trips: set[tuple[str, str, str]] = field(default_factory=set)  # key, guardrail, stage
    reached: dict[str, int] = field(default_factory=dict)  # node path -> highest step counter
    cost_usd: float = 0.0
    spend_by_path: dict[str, list[float]] = field(default_factory=dict)  # tokens, cost, steps
    # usage summed as plain counters (a Usage per model call is an object per step; see usage)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0

    @classmethod
    def of(cls, run_id: str, events: list[tuple[int, Event]]) -> ReplayState:
        state = cls(run_id=run_id)
        for seq, event in events:
            state.apply(seq, event)
        return state

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
        )

    def apply(self, seq: int, event: Event) -> None:
        self.last_seq = seq
        if isinstance(event, _RESULTS):
            self._apply_result(event)
        elif event.type in TERMINAL_TYPES:
            self.terminal = event
        elif isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, ExecutionStarted):
            self.owner = event.owner
            self.executions += 1
        else:
            self._apply_other(seq, event)

    def _apply_other(self, seq: int, event: Event) -> None:
        match event:
            case RunSuspended():
                self.waiting_for = event.waiting_for or event.reason
                if event.at:
                    self._reach(split_key(event.at))
            case SignalReceived():
                self.signals.setdefault(event.name, []).append((seq, event))
            case ToolCallIntent():
                self._claim(event.key)
                self.intents.setdefault(event.key, []).append(event)
            case StepUnknown():
                self.unknown.add(event.key)
            case StepResolved():
                self.unknown.discard(event.key)
                self.resolutions.setdefault(event.key, []).append(event)
            case NodeStarted():
                self.nodes_started.add(event.path)
            case NodeFinished():
                self.nodes_finished.add(event.path)
            case _:
                self._apply_governance(event)

    def _apply_governance(self, event: Event) -> None:
        match event:
            case ApprovalRequested():
                self.approvals[event.approval_id] = event
                self.approvals_by_key.setdefault(event.key, []).append(event.approval_id)
            case ApprovalDecided():
                self.decisions.setdefault(event.approval_id, event)  # the first one counts
            case GuardrailTripped():
                self.trips.add((event.key, event.guardrail, event.stage))

    def _apply_result(self, event: StepResult) -> None:
        key = event.key
        slot = split_key(key)
        if isinstance(event, StepCompleted) and event.kind == "patch":
            self.results[key] = event  # a patch marker holds no slot and reaches no counter
            return
        self.slots[slot] = key
        self._reach(slot)
        self.results[key] = event
        if isinstance(event, ModelCallCompleted):
            usage = event.response.usage
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cached_tokens += usage.cached_tokens
            self.model_calls += 1
            cost = event.cost_usd or 0.0
            self.cost_usd += cost
            self._charge(slot[0], usage.input_tokens + usage.output_tokens, cost)
        elif isinstance(event, ToolCallCompleted):
            self.tool_calls += 1
            self._charge(slot[0], 0, 0.0)
        elif isinstance(event, StepCompleted) and event.kind == "signal":
            seq = event.result.get("seq") if isinstance(event.result, dict) else None
            if isinstance(seq, int):
                self.consumed_signals.add(seq)

    def _charge(self, path: str, tokens: int, cost: float) -> None:
        entry = self.spend_by_path.get(path)
        if entry is None:
            entry = self.spend_by_path[path] = [0, 0.0, 0]
        entry[0] += tokens
        entry[1] += cost
        entry[2] += 1

    def spent(self) -> Spend:
        """What the journal says the run spent: tokens, cost and steps (model and tool calls)."""
        return Spend(
            tokens=self.input_tokens + self.output_tokens,
            cost_usd=self.cost_usd,
            steps=self.model_calls + self.tool_calls,
        )

    def spend_under(self, path: str) -> tuple[int, float, int]:
        """Tokens, cost and steps journaled by the node at ``path`` and everything under it."""
        tokens, cost, steps = 0, 0.0, 0
        for where, (t, c, n) in self.spend_by_path.items():
            if where == path or where.startswith((path + "/", path + "[")):
                tokens, cost, steps = tokens + int(t), cost + c, steps + int(n)
        return tokens, cost, steps

    def _claim(self, key: str) -> None:
        slot = split_key(key)
        self.slots[slot] = key
        self._reach(slot)

    def _reach(self, slot: tuple[str, int]) -> None:
        path, n = slot
        if n > self.reached.get(path, 0):
            self.reached[path] = n

    # -- questions the executor asks --------------------------------------------------------

    def check_slot(self, key: str) -> None:
        """Fail closed if the journal holds a different step at this node position."""
        held = self.slots.get(split_key(key))
        if held is not None and held != key:
            raise NonDeterminismError(
                key, f"the journal holds {held!r} at this position; the code now asks for {key!r}"
            )

    def pending_intent(self, key: str) -> ToolCallIntent | None:
        """The latest intent of ``key`` if it has no result and no resolution after it."""
        intents = self.intents.get(key)
        if not intents or key in self.results:
            return None
        if len(self.resolutions.get(key, ())) >= len(intents):
            return None
        return intents[-1]

    def latest_resolution(self, key: str) -> StepResolved | None:
        intents = self.intents.get(key, [])
        resolutions = self.resolutions.get(key, [])
        if intents and resolutions and len(resolutions) == len(intents):
            return resolutions[-1]
        return None

    def pending_approvals(self) -> list[ApprovalRequested]:
        return [r for i, r in self.approvals.items() if i not in self.decisions]

    def next_signal(self, name: str) -> tuple[int, SignalReceived] | None:
        for seq, signal in self.signals.get(name, ()):
            if seq not in self.consumed_signals:
                return seq, signal
        return None
