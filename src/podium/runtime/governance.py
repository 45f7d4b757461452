"""Policy enforcement around tool calls and human decisions — in code, outside the model.

- **Scopes.** A tool needing a scope the agent lacks is not shown to its model; a call to it
  anyway is refused (a journaled tool error). A child agent's scopes are the intersection of
  its own and its parent's, so delegation never widens them.
- **Approvals.** A call that needs a person's approval journals an ``approval_requested``
  event bound to the digest of the exact action and to a role, and the run suspends (no task
  is kept). A decision (:meth:`Runtime.decide`) makes it runnable again in any process.
- **Untrusted content** ("rule of two"): once a tool result or another agent's text entered an
  agent's context, a consequential call (``at_most_once`` or tagged ``consequential``) needs
  approval, or is refused, as the agent's ``untrusted`` policy says.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pydantic_core
from pydantic import JsonValue

from podium.errors import RunStateError, Suspend
from podium.events import ApprovalDecided, ApprovalKind, ApprovalRequested
from podium.policy import ApprovalRule, action_digest
from podium.runtime.context import Context
from podium.runtime.frame import Guard
from podium.tools import Tool


def approval_id(run_id: str, key: str, attempt: int = 1) -> str:
    """``apv.<key hash>[-n].<run id>``: names its run (any run id), so a decision finds it."""
    suffix = "" if attempt == 1 else f"-{attempt}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"apv.{digest}{suffix}.{run_id}"


def run_of(approval: str) -> str:
    parts = approval.split(".", 2)
    if len(parts) != 3 or parts[0] != "apv" or not parts[1] or not parts[2]:
        raise RunStateError(f"{approval!r} is not an approval id (apv.<key>.<run id>)")
    return parts[2]


async def refusal(
    ctx: Context, guard: Guard, key: str, tool: Tool, arguments: dict[str, Any]
) -> tuple[str, str] | None:
    """(error type, reason) if the call may not run; may suspend for an approval."""
    if not guard.visible(tool):
        missing = ", ".join(sorted(tool.scopes - guard.scopes))
        return "PermissionDenied", f"permission denied: {tool.name!r} needs scope {missing}"
    rule = guard.agent.approval_for(tool)
    reason = ""
    if rule is not None and rule.applies(arguments):
        reason = rule.reason or f"{tool.name!r} needs approval by policy"
    if tool.consequential and guard.provenance and guard.agent.untrusted != "allow":
        sources = ", ".join(guard.provenance)
        if guard.agent.untrusted == "refuse":
            return "PermissionDenied", (
                f"refused: {tool.name!r} is consequential and untrusted content entered "
                f"this conversation ({sources})"
            )
        reason = f"consequential call after untrusted content ({sources})"
        rule = rule or ApprovalRule()
    if not reason or rule is None:
        return None
    action: JsonValue = {"tool": tool.name, "arguments": _jsonable(arguments)}
    decision = await require_approval(
        ctx, key, kind="tool", subject=tool.name, action=action, rule=rule,
        requested_by=guard.agent.identity, reason=reason, provenance=tuple(guard.provenance),
    )  # fmt: skip
    if decision.decision == "approved":
        return None
    by = f" by {decision.by}" if decision.by else ""
    comment = f": {decision.comment}" if decision.comment else ""
    return "ApprovalRejected", f"not approved ({decision.decision}{by}){comment}"


async def require_approval(
    ctx: Context,
    key: str,
    *,
    kind: ApprovalKind,
    subject: str,
    action: JsonValue,
    rule: ApprovalRule,
    requested_by: str,
    reason: str = "",
    provenance: tuple[str, ...] = (),
    answer_schema: JsonValue = None,
) -> ApprovalDecided:
    """The decision on ``action`` at ``key``; suspends the run until there is one."""
    execution = ctx.execution
    digest = action_digest(kind, subject, action)
    request, decision, attempts = execution.kernel.approval(key, digest)
    if request is None:
        expires = execution.clock.now() + rule.expires_after if rule.expires_after else None
        request = ApprovalRequested(
            key=key, approval_id=approval_id(ctx.run_id, key), kind=kind, subject=subject,
            action=action, digest=digest, role=rule.role, requested_by=requested_by,
            reason=reason, provenance=provenance, expires_at=expires, on_expiry=rule.on_expiry,
            escalate_to=rule.escalate_to, answer_schema=answer_schema,
        )  # fmt: skip
        await execution.kernel.commit(request)
        raise _waiting(request)
    if decision is None:
        return await _undecided(ctx, request, attempts)
    if decision.decision == "escalated":  # replaying past an escalation: wait for the new one
        raise _waiting(request)
    return decision


async def _undecided(ctx: Context, request: ApprovalRequested, attempt: int) -> ApprovalDecided:
    execution = ctx.execution
    if request.expires_at is None or execution.clock.now() < request.expires_at:
        raise _waiting(request)
    decided, again = expiry(ctx.run_id, request, attempt)
    if again is None:
        await execution.kernel.commit(decided)
        return decided
    await execution.kernel.commit(decided, again)
    raise _waiting(again)


def expiry(
    run_id: str, request: ApprovalRequested, attempt: int
) -> tuple[ApprovalDecided, ApprovalRequested | None]:
    """What an expired request becomes: ``expired`` (denied), or ``escalated`` with the new
    request for the ``escalate_to`` role (``attempt``: the expired request's number at its
    key). One rule for a resuming run and for a decision that came too late
    (:func:`podium.runtime.approvals.decide`)."""
    if request.on_expiry == "deny" or request.escalate_to is None:
        expired = ApprovalDecided(
            key=request.key, approval_id=request.approval_id, decision="expired",
            digest=request.digest,
            by="podium", comment="no decision before it expired",
        )  # fmt: skip
        return expired, None
    escalated = ApprovalDecided(
        key=request.key, approval_id=request.approval_id, decision="escalated",
        digest=request.digest,
        by="podium", role=request.escalate_to,
        comment=f"expired; escalated to {request.escalate_to}",
    )  # fmt: skip
    again = ApprovalRequested(
        key=request.key, approval_id=approval_id(run_id, request.key, attempt + 1),
        kind=request.kind, subject=request.subject, action=request.action, digest=request.digest,
        role=request.escalate_to, requested_by=request.requested_by,
        reason=f"escalated: {request.reason}", provenance=request.provenance,
        answer_schema=request.answer_schema,
    )  # fmt: skip
    return escalated, again


def _waiting(request: ApprovalRequested) -> Suspend:
    return Suspend(
        f"waiting for approval {request.approval_id} (role {request.role})",
        waiting_for=request.approval_id,
        wake_at=request.expires_at,
    )


def _jsonable(arguments: dict[str, Any]) -> JsonValue:
    value: JsonValue = pydantic_core.to_jsonable_python(arguments)
    return value
