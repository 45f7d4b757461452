"""Time travel: a fork's journal is another run's journal up to a step. Pure; no I/O.

``podium fork RUN --at POINT`` (:meth:`~podium.runtime.Runtime.fork`) starts a new run whose
journal is RUN's events before POINT — the first event of a step key (``flow/clerk/model#2``),
the start of a node path (``flow/clerk``), or a seq number, as ``podium show`` and ``podium
logs`` print them — and executes it, with the original's input and workflow or changed ones.
The carried steps replay, so nothing the prefix did happens again; POINT and everything after
it run anew. The rules, one per kind of event:

- ``run_started`` is the fork's own: it records ``forked_from``, ``fork_point`` and how many
  events it ``carried``. Execution bookkeeping (``execution_started``, ``run_suspended``) is
  not carried: the fork has not run yet.
- Steps, node starts and ends, failed attempts, signals and guardrail trips before POINT are
  carried as they are, with their timestamps.
- **An at_most_once tool the original began is never begun again.** Every event of a step
  whose intent is before POINT, or is POINT itself, is carried — the intent and whatever the
  original recorded after it, even past POINT: the result, ``step_unknown``, a person's
  resolution. A step the original never finished is ``unknown`` in the fork too and waits for
  ``podium resolve``, as after a crash. At_most_once tools *after* POINT belong to the fork:
  if its code calls them, they run (with the fork's run id in their idempotency key).
- **A decision belongs to the run it was asked in.** An approval decided before POINT is
  carried (its id renamed into the fork); an approval not decided at POINT (its last request
  at that step is open) is dropped with that step's earlier requests, so the fork asks again
  when it gets there, with its own approval id, and the original's later decision does not
  carry over.

The fork keeps the original's namespace, budget and tags (plus ``forked-from:RUN``). Its
journal holds the carried model calls, so its budget counts what the prefix spent, as the
original's did; ``podium cost`` counts each carried call once, with the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from podium.errors import UserError
from podium.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    ExecutionStarted,
    NodeStarted,
    RunStarted,
    RunSuspended,
    StepCompleted,
    ToolCallIntent,
)
from podium.store import StoredEvent

__all__ = ["Prefix", "effects_after", "fork_point_seq", "prefix"]

_NOT_CARRIED = (RunStarted, ExecutionStarted, RunSuspended)


@dataclass(frozen=True, slots=True)
class Prefix:
    """What a fork carries: ``(ts, event)`` rows after its ``run_started``."""

    rows: list[tuple[float, Event]]


def fork_point_seq(run_id: str, events: Sequence[StoredEvent], point: str) -> int:
    """The seq of the first event of step ``point`` (or of node ``point``'s start), or
    ``point`` itself when it is a seq number of the journal after its ``run_started``."""
    if point.isdecimal():
        if 2 <= int(point) <= len(events):
            return int(point)
        raise UserError(
            f"run {run_id} has events 1..{len(events)}: fork at a seq from 2 to {len(events)}"
        )
    for stored in events:
        event = stored.event
        if getattr(event, "key", None) == point or (
            isinstance(event, NodeStarted) and event.path == point
        ):
            return stored.seq
    keys = list(dict.fromkeys(k for s in events if (k := getattr(s.event, "key", None))))
    shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "") or "none"
    raise UserError(
        f"run {run_id} has no step or node {point!r} to fork at (its steps: {shown}; "
        "see `podium show` or `podium logs`)"
    )


def prefix(run_id: str, fork_id: str, events: Sequence[StoredEvent], point: str) -> Prefix:
    """The events a fork of ``run_id`` at ``point`` carries (see the module docstring)."""
    cut = fork_point_seq(run_id, events, point)
    effects = _begun_effects(events, cut)
    undecided = _undecided_approvals(events, cut)
    rows: list[tuple[float, Event]] = []
    seqs: dict[int, int] = {}  # original seq -> the fork's (its run_started is seq 1)
    for stored in events:
        event = stored.event
        key = getattr(event, "key", None)
        if isinstance(event, _NOT_CARRIED) or (stored.seq >= cut and key not in effects):
            continue
        if isinstance(event, ApprovalRequested | ApprovalDecided):
            if event.key in undecided:
                continue
            event = replace(event, approval_id=_renamed(event.approval_id, run_id, fork_id))
        elif isinstance(event, StepCompleted) and event.kind == "signal":
            event = _renumbered(event, seqs)
        rows.append((stored.ts, event))
        seqs[stored.seq] = len(rows) + 1
    return Prefix(rows)


def effects_after(run_id: str, events: Sequence[StoredEvent], point: str) -> list[str]:
    """The at_most_once steps the original began after ``point``: a fork runs them again if
    its code calls them (a warning worth printing before it does)."""
    cut = fork_point_seq(run_id, events, point)
    begun = _begun_effects(events, cut)
    later = (s.event.key for s in events if s.seq > cut and isinstance(s.event, ToolCallIntent))
    return list(dict.fromkeys(key for key in later if key not in begun))


def _begun_effects(events: Sequence[StoredEvent], cut: int) -> set[str]:
    """Keys of the at_most_once steps whose intent is before the fork point or is it."""
    return {s.event.key for s in events if isinstance(s.event, ToolCallIntent) and s.seq <= cut}


def _undecided_approvals(events: Sequence[StoredEvent], cut: int) -> set[str]:
    """Step keys whose last approval request before the fork point has no decision there."""
    last: dict[str, str] = {}
    decided: set[str] = set()
    for stored in events:
        if stored.seq >= cut:
            break
        event = stored.event
        if isinstance(event, ApprovalRequested):
            last[event.key] = event.approval_id
        elif isinstance(event, ApprovalDecided):
            decided.add(event.approval_id)
    return {key for key, approval in last.items() if approval not in decided}


def _renumbered(step: StepCompleted, seqs: dict[int, int]) -> StepCompleted:
    """A signal step names the seq of the signal it consumed: the fork's seq of it."""
    result = step.result
    if isinstance(result, dict) and isinstance(result.get("seq"), int):
        old = result["seq"]
        assert isinstance(old, int)
        return replace(step, result={**result, "seq": seqs.get(old, old)})
    return step


def _renamed(approval_id: str, run_id: str, fork_id: str) -> str:
    """``apv.<key>[-n].<run id>`` of the original as the fork's."""
    suffix = f".{run_id}"
    if not approval_id.endswith(suffix):
        raise UserError(f"approval {approval_id!r} does not belong to run {run_id}")
    return approval_id[: -len(suffix)] + f".{fork_id}"
