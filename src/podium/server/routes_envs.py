"""``/v1/environments`` and a deployment's promotions: configure environments, see what each
serves, approve a promotion, promote (``force`` by an admin), roll back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from podium.server.deps import CallerDep, PlaneDep
from podium.server.models import Approve, Configure, Promote, Rollback
from podium.store.environments import Environment, Promotion

router = APIRouter(prefix="/v1")


def _env_json(env: Environment) -> dict[str, Any]:
    return {"name": env.name, "position": env.position, "settings": env.settings.as_dict()}


def _promotion_json(p: Promotion) -> dict[str, Any]:
    return {
        "namespace": p.namespace, "deployment": p.name, "env": p.env, "seq": p.seq,
        "kind": p.kind, "version": p.version, "at": p.created_at, "by": p.created_by,
    }  # fmt: skip


@router.get("/environments/{namespace}")
async def environments(namespace: str, caller: CallerDep, plane: PlaneDep) -> dict[str, Any]:
    return {"environments": [_env_json(e) for e in await plane.environments(caller, namespace)]}


@router.put("/environments/{namespace}")
async def configure(
    namespace: str, body: Configure, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    envs = await plane.configure_environments(caller, namespace, body.environments)
    return {"environments": [_env_json(e) for e in envs]}


@router.get("/deployments/{namespace}/{name}/environments")
async def serving(namespace: str, name: str, caller: CallerDep, plane: PlaneDep) -> dict[str, Any]:
    """The version each environment serves to new runs (null: none yet)."""
    return {"serving": await plane.serving(caller, namespace, name)}


@router.post("/deployments/{namespace}/{name}/versions/{version}/approvals", status_code=201)
async def approve(
    namespace: str, name: str, version: int, body: Approve, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    found, new = await plane.approve_promotion(caller, namespace, name, version, body.to)
    return {"new": new, "approvers": [a.approver for a in found]}


@router.post("/deployments/{namespace}/{name}/promote", status_code=201)
async def promote(
    namespace: str, name: str, body: Promote, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    made = await plane.promote(caller, namespace, name, body.version, body.to, force=body.force)
    return _promotion_json(made)


@router.post("/deployments/{namespace}/{name}/rollback", status_code=201)
async def rollback(
    namespace: str, name: str, body: Rollback, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    return _promotion_json(await plane.rollback(caller, namespace, name, body.env))
