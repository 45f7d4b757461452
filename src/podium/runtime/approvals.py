"""The approvals inbox and decisions, from outside a run (CLI, server, another process).

A decision is an ``approval_decided`` event appended to the run's journal. It is checked here,
before it is written: the run must be in the caller's namespaces (another namespace's run is
reported exactly like a missing one) and its journal must verify; the decider must hold the
requested role, may not be the identity that asked, and decides exactly the action it was shown
(its digest); and the request must not have expired on the store's clock (a late decision routes
the request to its expiry instead, as a resuming run would). Deciding twice the same way is
harmless; deciding differently is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

import pydantic_core
from pydantic import JsonValue

from podium.errors import (
    ApprovalExpired,
    ApprovalMismatch,
    ConcurrencyError,
    PermissionDenied,
    RunStateError,
)
from podium.events import ApprovalDecided, ApprovalRequested, Event
from podium.policy import Principal
from podium.runtime.governance import expiry, run_of
from podium.runtime.state import ReplayState
from podium.runtime.tenancy import Namespaces, scoped_read
from podium.store import RunFilter, RunRecord, Store
from podium.types import RunStatus


@dataclass(frozen=True, slots=True)
class PendingApproval:
    """An inbox item: what is to be decided, in which run, asked by whom and why."""

    run_id: str
    workflow: str
    namespace: str
    request: ApprovalRequested

    @property
    def approval_id(self) -> str:
        return self.request.approval_id


Verdict = Literal["approve", "reject", "answer"]


async def pending(
    store: Store,
    scope: Namespaces,
    *,
    namespace: str | None = None,
    role: str | None = None,
    limit: int = 1000,
) -> list[PendingApproval]:
    """Approvals waiting for a decision in the caller's namespaces (``namespace`` narrows them;
    a foreign one finds nothing), oldest run first, at most ``limit``, after ``role``.

    Reads the index of every waiting run (cheap) and the journals of the oldest ones only until
    ``limit`` items are found.
    """
    waiting = (
        RunStatus.SUSPENDED,
        RunStatus.NEEDS_ATTENTION,
        RunStatus.RUNNING,
        RunStatus.PENDING,
    )
    records: list[RunRecord] = []
    for name in scope.filters(namespace):
        records.extend(
            await store.list_runs(RunFilter(statuses=waiting, namespace=name, limit=_ALL))
        )
    records.sort(key=lambda r: (r.created_at, r.run_id))
    found: list[PendingApproval] = []
    for record in records:
        found.extend(await _pending_in(store, record, role))
        if len(found) >= limit:
            return found[:limit]
    return found


_ALL = 10**12


async def _pending_in(store: Store, record: RunRecord, role: str | None) -> list[PendingApproval]:
    stored = await store.read(record.run_id)
    state = ReplayState.of(record.run_id, [(s.seq, s.event) for s in stored])
    return [
        PendingApproval(record.run_id, record.workflow, record.namespace, request)
        for request in state.pending_approvals()
        if role is None or request.role == role
    ]


async def decide(
    store: Store,
    scope: Namespaces,
    approval: str,
    verdict: Verdict,
    by: Principal,
    *,
    comment: str = "",
    answer: JsonValue = None,
    digest: str | None = None,
) -> ApprovalDecided:
    """Record a decision; returns it (or the identical earlier one). Raises if not allowed.

    The run must be in ``scope`` (else ``RunNotFound``, as for an unknown run) and its journal
    must verify (``TamperedJournalError``). A request past its expiry on the store's clock is
    routed to its expiry here, as a resuming run would route it (denied, or escalated to its
    ``escalate_to`` role), and the decision is refused with :class:`ApprovalExpired`.
    """
    run_id = run_of(approval)
    for _attempt in range(20):
        stored = await scoped_read(store, run_id, scope, verify=True)
        state = ReplayState.of(run_id, [(s.seq, s.event) for s in stored])
        request = state.approvals.get(approval)
        if request is None:
            raise RunStateError(f"run {run_id} has no approval {approval!r}")
        decision = _decision(request, verdict, by, comment, answer)
        earlier = state.decisions.get(approval)
        if earlier is not None:
            return _same_or_refuse(state, earlier, decision)
        _check(request, by, digest, verdict, decision.answer)
        if state.terminal is not None:
            raise RunStateError(f"run {run_id} is already {state.terminal.type}")
        try:
            if request.expires_at is not None and await store.now() >= request.expires_at:
                await _expire(store, state, request)
            await store.append(run_id, [decision], expected_seq=state.last_seq)
            return decision
        except ConcurrencyError:
            continue
    raise RunStateError(f"run {run_id}: could not record the decision: too much contention")


async def _expire(store: Store, state: ReplayState, request: ApprovalRequested) -> NoReturn:
    """Record the expiry of ``request`` (as a resume would) and refuse the late decision."""
    attempt = state.approvals_by_key[request.key].index(request.approval_id) + 1
    decided, again = expiry(state.run_id, request, attempt)
    events: list[Event] = [decided] if again is None else [decided, again]
    await store.append(state.run_id, events, expected_seq=state.last_seq)
    raise _expired(decided, again)


def _expired(decided: ApprovalDecided, again: ApprovalRequested | None) -> ApprovalExpired:
    approval = decided.approval_id
    if again is None:
        return ApprovalExpired(
            f"{approval} expired before this decision: it was denied (on_expiry deny); "
            "nothing else was recorded"
        )
    return ApprovalExpired(
        f"{approval} expired before this decision: it was escalated to the role "
        f"{again.role!r} as {again.approval_id}; the decision was not recorded",
        escalated_to=again.approval_id,
    )


def _decision(
    request: ApprovalRequested, verdict: Verdict, by: Principal, comment: str, answer: JsonValue
) -> ApprovalDecided:
    outcome = {"approve": "approved", "reject": "rejected", "answer": "answered"}[verdict]
    return ApprovalDecided(
        key=request.key, approval_id=request.approval_id,
        decision=outcome,  # type: ignore[arg-type]
        digest=request.digest, by=by.name, role=request.role, comment=comment,
        answer=pydantic_core.to_jsonable_python(answer),
    )  # fmt: skip


def _check(
    request: ApprovalRequested,
    by: Principal,
    digest: str | None,
    verdict: Verdict,
    answer: JsonValue,
) -> None:
    if request.role not in by.roles:
        raise PermissionDenied(
            f"{by.name} cannot decide {request.approval_id}: it needs the role {request.role!r}"
        )
    if by.name == request.requested_by:
        raise PermissionDenied(f"{by.name} cannot decide its own request {request.approval_id}")
    if digest is not None and digest != request.digest:
        raise ApprovalMismatch(
            f"{request.approval_id} is for a different action than the one decided "
            f"(digest {digest[:12]}… is not {request.digest[:12]}…); nothing was recorded"
        )
    if (verdict == "answer") != (request.kind == "input"):
        expected = "an answer" if request.kind == "input" else "approve or reject"
        raise RunStateError(f"{request.approval_id} needs {expected}")
    if verdict == "answer":
        problem = _answer_problem(request.answer_schema, answer)
        if problem:
            raise RunStateError(f"{request.approval_id}: the answer is not valid: {problem}")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _answer_problem(schema: JsonValue, answer: JsonValue) -> str:
    """A first, shallow check against the question's JSON Schema (type and required fields),
    so a wrong answer is refused before it is journaled; the node validates fully."""
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type")
    expected = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
    if expected is not None:
        wrong_bool = isinstance(answer, bool) and kind in ("integer", "number")
        if not isinstance(answer, expected) or wrong_bool:
            return f"expected {kind}, got {type(answer).__name__}"
    required = schema.get("required")
    if isinstance(answer, dict) and isinstance(required, list):
        missing = [str(name) for name in required if name not in answer]
        if missing:
            return f"missing {', '.join(missing)}"
    return ""


def _same_or_refuse(
    state: ReplayState, earlier: ApprovalDecided, decision: ApprovalDecided
) -> ApprovalDecided:
    if earlier.decision in ("expired", "escalated"):  # it expired before this decision
        later = state.approvals_by_key.get(earlier.key, [])
        position = later.index(earlier.approval_id) + 1 if earlier.approval_id in later else 0
        again = state.approvals.get(later[position]) if position < len(later) else None
        raise _expired(earlier, again)
    same = (earlier.decision, earlier.by, earlier.answer) == (
        decision.decision,
        decision.by,
        decision.answer,
    )
    if same:
        return earlier  # submitted twice: harmless
    raise RunStateError(
        f"{earlier.approval_id} was already decided: {earlier.decision} by {earlier.by}"
    )
