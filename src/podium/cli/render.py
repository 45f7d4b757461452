"""Terminal views of runs, built only from the journal."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    ErrorInfo,
    GuardrailTripped,
    ModelCallCompleted,
    ModelCallFailed,
    NodeFinished,
    NodeStarted,
    RunFailed,
    StepCompleted,
    StepFailed,
    StepResolved,
    StepUnknown,
    ToolAttemptFailed,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.observability.cost import CostRow, node_chain, node_costs
from podium.store import RunRecord, StoredEvent
from podium.types import RunStatus

STATUS_STYLE = {
    RunStatus.PENDING: "yellow",
    RunStatus.RUNNING: "cyan",
    RunStatus.SUSPENDED: "magenta",
    RunStatus.NEEDS_ATTENTION: "bold red",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "dim",
}


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def short_name(workflow: str) -> str:
    """The name ``podium runs`` shows for a workflow reference (``/a/b.py:flow`` -> ``flow``)."""
    return workflow.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def runs_table(records: list[RunRecord]) -> Table:
    """Fits 80 columns: the run id, status and time whole; the workflow name and the error
    cut with an ellipsis to what is left (`podium show` has them in full)."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    longest = max(len(r.status.value) for r in records) if records else 6
    table.add_column(
        "run", no_wrap=True, min_width=max((len(r.run_id) for r in records), default=3)
    )
    names = min(max((len(short_name(r.workflow)) for r in records), default=8), 16)
    table.add_column("workflow", no_wrap=True, overflow="ellipsis", min_width=names, max_width=16)
    table.add_column("status", no_wrap=True, min_width=longest)
    table.add_column("created", no_wrap=True, min_width=11)
    table.add_column("events", no_wrap=True, justify="right", min_width=6)
    table.add_column("error", no_wrap=True, overflow="ellipsis", ratio=1)
    for r in records:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.run_id, escape(short_name(r.workflow)), f"[{style}]{r.status.value}[/]",
            _short_when(r.created_at), str(r.last_seq), escape(r.error or ""),
        )  # fmt: skip
    return table


def _short_when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M")


@dataclass(slots=True)
class _Step:
    key: str
    kind: str
    status: str
    detail: str = ""


@dataclass(slots=True)
class _NodeView:
    path: str
    kind: str
    status: str = "running"
    steps: list[_Step] = field(default_factory=list)


def _step_line(event: object) -> _Step | None:
    match event:
        case ModelCallCompleted(key=key, response=r, duration_ms=ms):
            usage = r.usage
            detail = (
                f"{r.model_name or event.model}  {usage.input_tokens}+{usage.output_tokens} tok"
            )
            return _Step(key, "model", "ok", f"{detail}  {ms:.0f} ms")
        case ModelCallFailed(key=key, attempt=n, error=e):
            return _Step(key, "model", "attempt failed", f"#{n} {event.model}: {e.message}")
        case ToolCallIntent(key=key, tool=tool):
            return _Step(key, "tool", "intent", f"{tool} (at_most_once)")
        case ToolCallCompleted(key=key, is_error=err, result=res, attempts=n):
            status = "error" if err else "ok"
            return _Step(key, "tool", status, f"{_short(res)}  attempts={n}")
        case StepUnknown(key=key, tool=tool):
            return _Step(key, "tool", "UNKNOWN", f"{tool}: may or may not have run; resolve it")
        case StepResolved(key=key, action=action, by=by):
            return _Step(key, "resolution", action.value, f"by {by or '?'}")
        case StepCompleted(key=key, kind=kind, result=res):
            return _Step(key, kind, "ok", _short(res))
        case StepFailed(key=key, kind=kind, error=e):
            return _Step(key, kind, "error", f"{e.type}: {e.message}")
        case ApprovalRequested() | ApprovalDecided() | GuardrailTripped():
            return _governance_line(event)
    return None


# Where each approval was asked (approval id -> step key), to put its decision on that step:
# a decision names only the approval. Requests come first in a journal; bounded for listeners.
_APPROVAL_KEYS: dict[str, str] = {}
_TRIPPED = {"block": "blocked", "redact": "redacted", "flag": "flagged"}


def _governance_line(event: ApprovalRequested | ApprovalDecided | GuardrailTripped) -> _Step | None:
    """Approval requests and decisions (who, with what comment) and guardrail trips."""
    if isinstance(event, GuardrailTripped):
        last = event.key.rsplit("/", 1)[-1]  # a step key, or the node it guarded
        where = event.key if "#" in last else f"{event.key}/guardrail:{event.guardrail}"
        reasons = "; ".join(event.reasons)
        detail = f"{event.guardrail} at {event.stage}: {reasons}"
        return _Step(where, "guardrail", _TRIPPED.get(event.action, event.action), detail)
    if isinstance(event, ApprovalRequested):
        _APPROVAL_KEYS[event.approval_id] = event.key
        if len(_APPROVAL_KEYS) > 10_000:
            del _APPROVAL_KEYS[next(iter(_APPROVAL_KEYS))]
        untrusted = f"; untrusted: {', '.join(event.provenance)}" if event.provenance else ""
        detail = (
            f"{event.approval_id} {event.kind} {event.subject}: role {event.role}, asked by "
            f"{event.requested_by}{untrusted}"
        )

        return _Step(event.key, "approval", "asked", detail)
    key = _APPROVAL_KEYS.get(event.approval_id)
    if key is None:
        return None
    detail = f"by {event.by or '?'}" + (f" ({event.role})" if event.role else "")
    detail += f": {event.comment}" if event.comment else ""
    if event.decision == "answered":
        detail += f"  answer {_short(event.answer)}"
    return _Step(key, "approval", event.decision, detail)


def run_tree(record: RunRecord, events: list[StoredEvent]) -> RenderableType:
    """``podium show``: the node tree, then (if the run has nodes) its timeline."""
    tree = node_tree(record, events)
    gantt = Timeline(events)
    return Group(tree, gantt) if gantt.rows else tree


def node_tree(record: RunRecord, events: list[StoredEvent]) -> Tree:
    """Nodes (with tokens and cost, their own and their children's) and their steps."""
    style = STATUS_STYLE.get(record.status, "")
    # the status before the workflow: a narrow terminal crops a long path, never the status
    status = f"[{style}]{record.status.value}[/]"
    root = Tree(f"[bold]{record.run_id}[/]  {status}  {escape(record.workflow)}")
    nodes: dict[str, _NodeView] = {}
    order: list[str] = []
    for stored in events:
        event = stored.event
        if isinstance(event, NodeStarted) and event.path not in nodes:
            nodes[event.path] = _NodeView(event.path, event.kind)
            order.append(event.path)
        elif isinstance(event, NodeFinished) and event.path in nodes:
            nodes[event.path].status = "failed" if event.error else "done"
        else:
            line = _step_line(event)
            owner = _owner(line.key, nodes) if line else None
            if line and owner:
                nodes[owner].steps.append(line)
    branches: dict[str, Tree] = {}
    costs = node_costs(events)  # a node's calls and those of every node inside it
    for path in order:
        view = nodes[path]
        if view.status == "running" and record.status.terminal:
            view.status = "not finished"
        parent = _owner(path, nodes, strict=True)
        label = f"[bold]{escape(path.rsplit('/', 1)[-1])}[/] ({view.kind}) {_badge(view.status)}"
        spent = costs.get(path)
        label += f"  [dim]{spent_note(spent)}[/]" if spent else ""
        branch = (branches[parent] if parent is not None else root).add(label)
        branches[path] = branch
        for step in view.steps:
            name = step.key[len(path) + 1 :]
            branch.add(f"{_badge(step.status)} {escape(name)}  [dim]{escape(step.detail)}[/]")
    return root


def _owner(key: str, nodes: dict[str, _NodeView], strict: bool = False) -> str | None:
    """The innermost node holding ``key`` (a step key, or with ``strict`` a node path)."""
    path = key if strict else key.rsplit("/", 1)[0]
    candidates = _ancestors(path) if strict else [path, *_ancestors(path)]
    return next((p for p in candidates if p in nodes), None)


def _ancestors(path: str) -> list[str]:
    """``a/checks[credit]/x`` -> ``a/checks[credit]``, ``a/checks``, ``a``: a branch
    ``name[label]`` belongs to the node ``name`` next to it."""
    out: list[str] = []
    while path:
        head, _, last = path.rpartition("/")
        if last.endswith("]") and "[" in last:
            bare = last[: last.index("[")]
            out.append(f"{head}/{bare}" if head else bare)
        if not head:
            break
        out.append(head)
        path = head
    return out


def _badge(status: str) -> str:
    colours = {
        "ok": "green",
        "done": "green",
        "error": "red",
        "failed": "red",
        "UNKNOWN": "bold red",
    }
    return f"[{colours.get(status, 'yellow')}]{status}[/]"


def _short(value: object, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_line(stored: StoredEvent) -> str | None:
    """One line of live progress for an event, or None for events not worth a line."""
    line = _step_line(stored.event)
    if line is None:
        return None
    return f"{_badge(line.status)} {escape(line.key)}  [dim]{escape(line.detail)}[/]"


def print_json(console: Console, value: object) -> None:
    console.print_json(json.dumps(value, default=str))


def run_failure(events: list[StoredEvent]) -> ErrorInfo | None:
    """The error the run failed with (its ``run_failed`` event), if it failed."""
    for stored in reversed(events):
        if isinstance(stored.event, RunFailed):
            return stored.event.error
    return None


def error_of(event: object) -> ErrorInfo | None:
    """The journaled error of a failed run, step or tool attempt (a failed node's is its run's
    or its step's, already shown)."""
    if isinstance(event, RunFailed | StepFailed | ToolAttemptFailed):
        return event.error
    return None


def waiting_reasons(events: list[StoredEvent]) -> list[tuple[str, str]]:
    """(approval id, reason) of each approval still waiting for a decision, whole: a changed
    MCP tool's request says there what changed, too long for a line of the tree."""
    waiting: dict[str, str] = {}
    for stored in events:
        event = stored.event
        if isinstance(event, ApprovalRequested) and event.reason:
            waiting[event.approval_id] = event.reason
        elif isinstance(event, ApprovalDecided):
            waiting.pop(event.approval_id, None)
    return list(waiting.items())


def unknown_steps(events: list[StoredEvent]) -> list[str]:
    """Keys of steps that are unknown now (an unknown not yet resolved)."""
    pending: dict[str, None] = {}
    for stored in events:
        event = stored.event
        if isinstance(event, StepUnknown):
            pending[event.key] = None
        elif isinstance(event, StepResolved):
            pending.pop(event.key, None)
    return list(pending)


def usd(amount: float) -> str:
    """``$1,234.50``, ``$0.50``, ``$0.0042``: cents above a dollar, the significant digits below."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    text = f"{amount:.6f}".rstrip("0")
    return "$" + (text if len(text.split(".")[1]) >= 2 else f"{amount:.2f}")


def spent_note(row: CostRow) -> str:
    """``120+30 tok · $0.0012`` (plus the calls without a price, if any)."""
    note = f"{row.input_tokens}+{row.output_tokens} tok"
    if row.unpriced < row.calls:
        note += f" · {usd(row.cost_usd)}"
    if row.unpriced:
        note += f" · {row.unpriced} unpriced"
    return note


class Timeline:
    """A Gantt view: one row per node (indented by depth), its bar on the run's time scale, as
    wide as the console.

    A node starts at its ``node_started`` event, or earlier when a model or tool call inside it
    began before (its journaled duration back-dates it); it ends at ``node_finished``. A node
    still open is drawn to the end with a lighter bar. Parallel branches overlap.
    """

    def __init__(self, events: list[StoredEvent]) -> None:
        self.starts, self.ends, self.kinds = _spans(events)
        self.rows: list[tuple[str, int]] = []
        if not self.starts:
            return
        self.t0 = min(self.starts.values())  # the scale: from the first node to the last one
        open_ = len(self.ends.keys() & self.starts.keys()) < len(self.starts)
        self.t1 = max(*self.starts.values(), *self.ends.values(), events[-1].ts if open_ else 0)
        parents = {
            p: next((a for a in node_chain(p)[1:] if a in self.starts), None) for p in self.starts
        }
        self.rows = _depth_first(parents)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.rows:
            yield self.render(options.max_width)

    def render(self, width: int) -> Text:
        t0, span = self.t0, max(self.t1 - self.t0, 1e-9)
        labels = ["  " * depth + path.rsplit("/", 1)[-1] for path, depth in self.rows]
        label_w = min(max(len(label) for label in labels), 40)
        bar_w = max(10, width - label_w - 12)
        text = Text(f"timeline  {_duration(self.t1 - t0)}\n", style="bold")
        for (path, _), label in zip(self.rows, labels, strict=True):
            start, end = self.starts[path], self.ends.get(path)
            a = min(int((start - t0) / span * bar_w), bar_w - 1)
            b = max(a + 1, round(((end if end is not None else self.t1) - t0) / span * bar_w))
            label = label if len(label) <= label_w else label[: label_w - 1] + "…"
            text.append(f"{label:<{label_w}} ")
            text.append("·" * a, style="dim")
            bar = ("█" if end is not None else "▒") * (b - a)
            text.append(bar, style=_BAR.get(self.kinds[path], ""))
            text.append("·" * (bar_w - b), style="dim")
            text.append(f" {_duration(end - start) if end is not None else 'open'}\n")
        text.rstrip()
        return text


def _spans(
    events: list[StoredEvent],
) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Start and end time of each node (a node spans every node inside it), and its kind.

    ``node_started``/``node_finished`` are written with the next commit, so they are late: a
    node starts no later than its first step began (a model or tool call's journaled duration
    back-dates it) and, if it has steps, ends at its last one.
    """
    starts: dict[str, float] = {}
    finished: dict[str, float] = {}
    kinds: dict[str, str] = {}
    steps: list[tuple[str, float, float]] = []  # owner, began, done
    for stored in events:
        event = stored.event
        if isinstance(event, NodeStarted):
            starts.setdefault(event.path, stored.ts)
            kinds.setdefault(event.path, event.kind)
        elif isinstance(event, NodeFinished):
            finished[event.path] = stored.ts
        elif isinstance(key := getattr(event, "key", None), str):
            took = getattr(event, "duration_ms", 0.0) / 1000
            steps.append((key.rsplit("/", 1)[0], stored.ts - took, stored.ts))
    last: dict[str, float] = {}
    for owner_path, began, done in steps:
        owner = next((p for p in node_chain(owner_path) if p in starts), None)
        if owner is not None:
            starts[owner] = min(starts[owner], began)
            last[owner] = max(last.get(owner, done), done)
    for path in list(starts):
        for above in (p for p in node_chain(path)[1:] if p in starts):
            starts[above] = min(starts[above], starts[path])
            if path in last:
                last[above] = max(last.get(above, last[path]), last[path])
    ends = {
        p: max(starts[p], min(ts, last.get(p, ts))) for p, ts in finished.items() if p in starts
    }
    return starts, ends, kinds


_BAR = {"agent": "cyan", "function": "green", "approval": "magenta", "input": "magenta"}


def _depth_first(parents: dict[str, str | None]) -> list[tuple[str, int]]:
    children: dict[str | None, list[str]] = {}
    for path, parent in parents.items():
        children.setdefault(parent, []).append(path)
    rows: list[tuple[str, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for path in children.get(parent, []):
            rows.append((path, depth))
            walk(path, depth + 1)

    walk(None, 0)
    return rows


def _duration(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
