"""What the run page shows, folded from the journal (pure: events in, plain values out).

The Gantt timeline is laid out here as SVG coordinates (bars are attributes, never inline
styles, so the strict Content-Security-Policy holds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    ModelCallCompleted,
    ModelCallFailed,
    NodeFinished,
    NodeStarted,
    StepResolved,
    StepUnknown,
    ToolCallCompleted,
    ToolCallIntent,
    encode,
)
from podium.store import StoredEvent

CALL_TYPES = frozenset({"model_call_completed", "tool_call_completed", "tool_call_intent"})
PLAIN_TYPES = frozenset({"node_started", "node_finished", *CALL_TYPES})
WIDTH, ROW, LABEL = 900.0, 22, 260.0


@dataclass(slots=True)
class Bar:
    label: str
    kind: str
    start: float
    end: float | None
    status: str
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0


@dataclass(slots=True)
class RunView:
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    governance: list[dict[str, Any]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    height: float = 0.0
    span: float = 0.0


def pretty(value: Any) -> str:
    """JSON, indented; a string as itself (it is rendered as text, never as markup)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def fold(events: list[StoredEvent], now: float) -> RunView:
    view = RunView()
    nodes: dict[str, Bar] = {}
    for stored in events:
        event, ts = stored.event, stored.ts
        body = json.loads(encode(event))
        view.raw.append({"seq": stored.seq, "ts": ts, "type": event.type, "body": pretty(body)})
        if isinstance(event, NodeStarted):
            nodes.setdefault(event.path, Bar(event.path, event.kind, ts, None, "running"))
        elif isinstance(event, NodeFinished) and event.path in nodes:
            nodes[event.path].end = ts
            nodes[event.path].status = "failed" if event.error else "completed"
        elif isinstance(event, ModelCallCompleted | ModelCallFailed):
            _model(view, event, ts)
        elif isinstance(event, ToolCallIntent | ToolCallCompleted):
            _tool(view, event, ts)
        elif isinstance(event, StepUnknown | StepResolved):
            _unknown(view, event)
        elif isinstance(event, ApprovalRequested | ApprovalDecided):
            view.approvals.append({"type": event.type, "body": pretty(body), "ts": ts})
        elif event.type not in PLAIN_TYPES:
            view.governance.append({"type": event.type, "body": pretty(body), "ts": ts})
    view.bars = list(nodes.values()) + view.bars
    _layout(view, events[0].ts if events else now, now)
    return view


def _model(view: RunView, event: ModelCallCompleted | ModelCallFailed, ts: float) -> None:
    if isinstance(event, ModelCallFailed):
        view.model_calls.append({
            "key": event.key, "model": event.model, "failed": event.error.message,
            "tokens": "", "cost": "", "latency": "", "text": "", "tool_calls": "",
        })  # fmt: skip
        return
    usage = event.response.usage
    calls = [{"tool": c.name, "arguments": c.arguments} for c in event.response.tool_calls]
    view.model_calls.append({
        "key": event.key, "model": event.response.model_name or event.model, "failed": "",
        "tokens": f"{usage.input_tokens} in / {usage.output_tokens} out",
        "cost": "n/a" if event.cost_usd is None else f"${event.cost_usd:.6f}",
        "latency": f"{event.duration_ms:.0f} ms", "text": event.response.text,
        "tool_calls": pretty(calls) if calls else "",
    })  # fmt: skip
    start = ts - event.duration_ms / 1000.0
    view.bars.append(Bar(event.key, "model", start, ts, "completed"))


def _tool(view: RunView, event: ToolCallIntent | ToolCallCompleted, ts: float) -> None:
    row = view.tool_calls.setdefault(event.key, {
        "key": event.key, "tool": event.tool, "effect": "", "arguments": pretty(event.arguments),
        "result": "", "idempotency_key": "", "status": "started", "attempts": "",
    })  # fmt: skip
    if isinstance(event, ToolCallIntent):
        row.update(effect="at_most_once", idempotency_key=event.idempotency_key, status="intent")
        return
    row.update(
        effect=event.effect.value,
        result=pretty(event.result),
        attempts=str(event.attempts),
        status="error" if event.is_error else "completed",
    )
    view.bars.append(Bar(event.key, "tool", ts - event.duration_ms / 1000.0, ts, row["status"]))


def _unknown(view: RunView, event: StepUnknown | StepResolved) -> None:
    if isinstance(event, StepUnknown):
        view.unknown.append({"key": event.key, "tool": event.tool, "resolved": ""})
        if event.key in view.tool_calls:
            view.tool_calls[event.key]["status"] = "unknown"
        return
    for item in view.unknown:
        if item["key"] == event.key:
            item["resolved"] = f"{event.action.value} by {event.by or '?'}"


def _layout(view: RunView, origin: float, now: float) -> None:
    ends = [b.end if b.end is not None else now for b in view.bars]
    span = max([e - origin for e in ends] + [0.001])
    scale = (WIDTH - LABEL - 10) / span
    for index, (bar, end) in enumerate(zip(view.bars, ends, strict=True)):
        bar.x = LABEL + max(0.0, bar.start - origin) * scale
        bar.w = max(2.0, (end - max(bar.start, origin)) * scale)
        bar.y = index * ROW + 4
    view.height = len(view.bars) * ROW + 8
    view.span = span
