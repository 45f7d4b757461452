"""``/v1/approvals``, ``/v1/costs``, ``/v1/deployments``, ``/v1/keys``, ``/v1/operator-log``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from podium.server.deps import CallerDep, PlaneDep
from podium.server.models import CreateKey, Decision
from podium.service.core import expires
from podium.service.views import deployment_json, key_json, operator_json

router = APIRouter(prefix="/v1")


@router.get("/approvals")
async def list_approvals(
    caller: CallerDep, plane: PlaneDep, namespace: str | None = None
) -> dict[str, Any]:
    """The inbox: pending approvals in the caller's namespaces, oldest run first."""
    pending = await plane.approvals(caller, namespace)
    return {
        "approvals": [
            {
                "approval_id": p.approval_id,
                "run_id": p.run_id,
                "namespace": p.namespace,
                "workflow": p.workflow,
                "kind": p.request.kind,
                "subject": p.request.subject,
                "action": p.request.action,
                "role": p.request.role,
                "digest": p.request.digest,
                "requested_by": p.request.requested_by,
                "reason": p.request.reason,
            }
            for p in pending
        ]
    }


async def _decide(
    approval_id: str, verdict: Literal["approve", "reject"], body: Decision | None,
    caller: CallerDep, plane: PlaneDep,
) -> dict[str, Any]:  # fmt: skip
    body = body or Decision()
    decided = await plane.decide(
        caller, approval_id, verdict, digest=body.digest, comment=body.comment
    )
    return {
        "approval_id": approval_id, "decision": decided.decision, "by": decided.by,
        "digest": decided.digest,
    }  # fmt: skip


@router.post("/approvals/{approval_id}/approve")
async def approve(
    approval_id: str, caller: CallerDep, plane: PlaneDep, body: Decision | None = None
) -> dict[str, Any]:
    """Approve as the authenticated principal; ``digest`` binds it to the exact action."""
    return await _decide(approval_id, "approve", body, caller, plane)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: str, caller: CallerDep, plane: PlaneDep, body: Decision | None = None
) -> dict[str, Any]:
    return await _decide(approval_id, "reject", body, caller, plane)


@router.get("/costs")
async def costs(
    caller: CallerDep, plane: PlaneDep, namespace: str | None = None, since: float | None = None
) -> dict[str, Any]:
    """The rollups of ``podium cost`` per namespace."""
    return {"namespaces": await plane.costs(caller, namespace, since)}


@router.get("/deployments")
async def deployments(
    caller: CallerDep, plane: PlaneDep, namespace: str | None = None
) -> dict[str, Any]:
    found = await plane.deployments(caller, namespace)
    return {"deployments": [deployment_json(d) for d in found]}


@router.get("/keys")
async def list_keys(
    caller: CallerDep, plane: PlaneDep, namespace: str | None = None
) -> dict[str, Any]:
    return {"keys": [key_json(k) for k in await plane.keys(caller, namespace)]}


@router.post("/keys", status_code=201)
async def create_key(body: CreateKey, caller: CallerDep, plane: PlaneDep) -> dict[str, Any]:
    """A new API key; its ``token`` is shown here once and never again."""
    key, token = await plane.create_key(
        caller, body.namespace, body.role, expires_at=expires(body.expires_in), label=body.label
    )
    return {**key_json(key), "token": token}


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, caller: CallerDep, plane: PlaneDep) -> None:
    await plane.revoke_key(caller, key_id)


@router.get("/operator-log")
async def operator_log(
    caller: CallerDep, plane: PlaneDep, namespace: str | None = None
) -> dict[str, Any]:
    """The mutations in the namespaces the caller administers, and whether the whole
    hash chain verifies."""
    entries, problems = await plane.operator_log(caller, namespace)
    return {
        "entries": [operator_json(e) for e in entries],
        "verified": not problems,
        "problems": problems,
    }
