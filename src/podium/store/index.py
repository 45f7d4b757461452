"""The status index as a pure fold over events; every backend uses this, so none drifts."""

from __future__ import annotations

from collections.abc import Sequence

from podium.errors import (
    ConcurrencyError,
    RunLeased,
    RunStateError,
    StoreError,
)
from podium.events import Event, RunStarted
from podium.store.base import RunFilter, RunRecord
from podium.store.base import encode_checked as encode_checked  # its home was here
from podium.types import RunStatus


def new_record(run_id: str, first: Event, ts: float) -> RunRecord:
    if not isinstance(first, RunStarted):
        raise StoreError(f"run {run_id}: the first event must be run_started, got {first.type}")
    return RunRecord(
        run_id=run_id,
        workflow=first.workflow,
        namespace=first.namespace,
        status=RunStatus.PENDING,
        created_at=ts,
        updated_at=ts,
        last_seq=0,
        parent_run_id=first.parent_run_id,
        tags=first.tags,
    )


def fold(record: RunRecord, events: Sequence[Event], ts: float) -> RunRecord:
    """The index row after ``events`` are appended to ``record``'s run."""
    status, wake_at, error = record.status, record.wake_at, record.error
    tokens, cost = record.tokens, record.cost_usd
    for event in events:
        status, wake_at, error = _step(status, wake_at, error, event)
        if event.type == "model_call_completed":
            tokens += event.response.usage.total_tokens
            cost += event.cost_usd or 0.0
    return RunRecord(  # every field named (dataclasses.replace inspects the fields each time)
        run_id=record.run_id,
        workflow=record.workflow,
        namespace=record.namespace,
        status=status,
        created_at=record.created_at,
        updated_at=ts,
        last_seq=record.last_seq + len(events),
        parent_run_id=record.parent_run_id,
        tags=record.tags,
        wake_at=wake_at,
        error=error,
        tokens=tokens,
        cost_usd=cost,
    )


def _step(
    status: RunStatus, wake_at: float | None, error: str | None, event: Event
) -> tuple[RunStatus, float | None, str | None]:
    match event.type:
        case "execution_started":
            return RunStatus.RUNNING, None, error
        case "run_suspended":
            if event.needs_attention:  # waiting for a person to resolve an unknown step
                return RunStatus.NEEDS_ATTENTION, None, error
            return RunStatus.SUSPENDED, event.wake_at, error
        case "step_unknown":
            return RunStatus.NEEDS_ATTENTION, None, error
        case "signal_received" | "step_resolved" | "approval_decided" if not status.terminal:
            runnable = status in (RunStatus.SUSPENDED, RunStatus.NEEDS_ATTENTION)
            return (RunStatus.PENDING if runnable else status), None, error
        case "run_completed":
            return RunStatus.COMPLETED, None, None
        case "run_failed":
            return RunStatus.FAILED, None, event.error.describe()
        case "run_cancelled":
            return RunStatus.CANCELLED, None, event.reason or "cancelled"
    return status, wake_at, error


def check_append(
    run_id: str, record: RunRecord | None, events: Sequence[Event], expected_seq: int
) -> None:
    """Validate an append against the current row (shared by every backend)."""
    actual = record.last_seq if record is not None else 0
    if expected_seq != actual or (record is None and expected_seq != 0):
        raise ConcurrencyError(run_id, expected_seq, actual)
    if record is not None and record.status.terminal:
        raise StoreError(f"run {run_id} is {record.status.value}; its journal is closed")
    if not events:
        raise StoreError(f"run {run_id}: append needs at least one event")


def matches(record: RunRecord, query: RunFilter) -> bool:
    """In-memory evaluation of a filter (SQL backends translate it instead)."""
    checks = (
        not query.statuses or record.status in query.statuses,
        query.workflow is None or record.workflow == query.workflow,
        query.namespace is None or record.namespace == query.namespace,
        query.tag is None or query.tag in record.tags,
        query.created_after is None or record.created_at >= query.created_after,
        query.created_before is None or record.created_at < query.created_before,
        query.before is None or (record.created_at, record.run_id) < query.before,
    )
    return all(checks)


def check_erase(run_id: str, status: RunStatus) -> None:
    if not status.terminal:
        raise RunStateError(f"run {run_id} is {status.value}: only a finished run can be erased")


def check_import(run_id: str, exists: bool, rows: Sequence[tuple[float, Event]]) -> None:
    if exists:
        raise RunStateError(f"run {run_id} already exists; nothing imported")
    if not rows:
        raise StoreError(f"run {run_id}: an import needs at least one event")


def fold_rows(run_id: str, rows: Sequence[tuple[float, Event]]) -> RunRecord:
    """The index row of an imported run: the same fold as appends, one row at a time."""
    ts, first = rows[0]
    record = new_record(run_id, first, ts)
    for ts, event in rows:
        record = fold(record, [event], ts)
    return record


def check_head(run_id: str, head: str, expected: str | None) -> None:
    if expected is not None and head != expected:
        raise StoreError(
            f"run {run_id}: the imported chain ends in {head[:16]}, not {expected[:16]}; "
            "nothing imported"
        )


TERMINAL = tuple(status for status in RunStatus if status.terminal)


def check_acquire(
    run_id: str,
    status: RunStatus,
    holder: str | None,
    expires_at: float | None,
    owner: str,
    now: float,
    take_from: str | None = None,
) -> None:
    """Why ``owner`` may not lease ``run_id`` now (:meth:`Store.acquire`), if it may not."""
    if status.terminal:
        raise RunStateError(f"run {run_id} is already {status.value}: there is nothing to run")
    live = expires_at is not None and expires_at > now
    if holder is not None and holder not in (owner, take_from) and live:
        assert expires_at is not None
        raise RunLeased(run_id, holder, expires_at - now)
