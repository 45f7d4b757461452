"""What bench/soak.py counts after the chaos: the ledger the soak app's effects wrote, set against
the journals in the store.

An *execution* of a step is a ledger record of it (``ctx.step`` and tool calls log a start and,
unless cut short, an end; model requests log a start with the request digest). A step is
journaled at the time of its completing event (``step_completed``, ``tool_call_completed``,
``model_call_completed`` with that digest). An execution counts as **executed twice** if it
started after its step was journaled, or if it overlapped another process's execution of the
same step; any other extra execution is a **crash re-run** (the first was cut short before
anything was journaled: at-least-once, as documented).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soak_app import STEP_SECONDS

from podium.errors import PodiumError
from podium.events import ModelCallCompleted, StepCompleted, ToolCallCompleted
from podium.observability.audit import verify_run
from podium.store import RunFilter
from podium.store.open import open_store


@dataclass(frozen=True, slots=True)
class Execution:
    pid: int
    start: float
    end: float  # recorded, or when its process was killed, or start + the step's length


@dataclass
class Ledger:
    steps: dict[tuple[str, str], list[Execution]] = field(default_factory=dict)  # (run, key)
    models: dict[str, list[Execution]] = field(default_factory=dict)  # digest
    charges: Counter[str] = field(default_factory=Counter)  # run -> effect files (one per key)
    wires: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def load(cls, path: Path, effects: Path, kills: dict[int, float]) -> Ledger:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        ledger = cls()
        for effect in effects.iterdir() if effects.exists() else ():
            ledger.charges[effect.read_text()] += 1
        ends = {
            (r["pid"], r["run"], r["key"], r["start"]): r["end"]
            for r in records
            if r["kind"] in ("step", "tool")
        }
        for r in records:
            kind = r["kind"]
            if kind in ("step-start", "tool-start"):
                end = ends.get((r["pid"], r["run"], r["key"], r["start"]))
                if end is None:  # cut short: killed, or cancelled with its lease
                    end = min(kills.get(r["pid"], float("inf")), r["start"] + STEP_SECONDS)
                execution = Execution(r["pid"], r["start"], end)
                ledger.steps.setdefault((r["run"], r["key"]), []).append(execution)
            elif kind == "model":
                execution = Execution(r["pid"], r["start"], r["start"])
                ledger.models.setdefault(r["digest"], []).append(execution)
            elif kind == "wire":
                ledger.wires[(r["run"], r["key"])] += 1
        return ledger


def twice(executions: list[Execution], journaled: float | None) -> tuple[int, int]:
    """(executed twice, crash re-runs) among the executions of one step."""
    bad = {i for i, e in enumerate(executions) if journaled is not None and e.start > journaled}
    for (i, a), (j, b) in itertools.combinations(enumerate(executions), 2):
        if a.pid != b.pid and a.start < b.end and b.start < a.end:
            bad.add(max(i, j))
    reruns = max(0, len(executions) - 1 - len(bad))
    return len(bad), reruns


async def analyse(db: str, ledger: Ledger) -> dict[str, Any]:
    """The soak's figures (see the module docstring)."""
    store = open_store(db)
    async with store:
        records = await store.list_runs(RunFilter(limit=2**62))
        journaled: dict[tuple[str, str], float] = {}
        digests: dict[str, float] = {}
        audit_failures = 0
        for record in records:
            try:
                stored = await store.read(record.run_id)
            except PodiumError:
                audit_failures += 1
                continue
            for s in stored:
                event = s.event
                if isinstance(event, StepCompleted | ToolCallCompleted):
                    journaled.setdefault((record.run_id, event.key), s.ts)
                elif isinstance(event, ModelCallCompleted):
                    digests.setdefault(event.request_digest, s.ts)
            if not (await verify_run(store, record.run_id)).ok:
                audit_failures += 1
    counts: Counter[str] = Counter()
    for key, executions in ledger.steps.items():
        bad, reruns = twice(executions, journaled.get(key))
        counts["steps_executed_twice"] += bad
        counts["crash_reruns"] += reruns
    for digest, executions in ledger.models.items():
        bad, reruns = twice(executions, digests.get(digest))
        counts["steps_executed_twice"] += bad
        counts["model_requests_executed_twice"] += bad
        counts["crash_reruns"] += reruns
    statuses = Counter(r.status.value for r in records)
    return {
        "runs": len(records),
        "statuses": dict(sorted(statuses.items())),
        "runs_completed": statuses.get("completed", 0),
        "steps_executed": sum(len(e) for e in ledger.steps.values())
        + sum(len(e) for e in ledger.models.values()),
        "steps_executed_twice": counts["steps_executed_twice"],
        "model_requests_executed_twice": counts["model_requests_executed_twice"],
        "crash_reruns": counts["crash_reruns"],
        "keyed_effects_duplicated": sum(n > 1 for n in ledger.charges.values()),
        "charges_applied": sum(ledger.charges.values()),
        "at_most_once_reruns": sum(n - 1 for n in ledger.wires.values() if n > 1),
        "audit_failures": audit_failures,
    }
