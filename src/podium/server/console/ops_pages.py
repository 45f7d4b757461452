"""The approvals inbox, costs, deployments, fleet and audit pages."""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from podium.errors import PermissionDenied, UserError
from podium.runtime.governance import run_of
from podium.server.console.charts import bars
from podium.server.console.views import pretty
from podium.server.console.web import ConsoleRoute, Me, MeDep, PostDep, page
from podium.service import DeploymentNotFound
from podium.store.control import Deployment
from podium.types import RunStatus

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MAX_LIST = 500


@router.get("/approvals")
async def approvals(request: Request, me: MeDep) -> HTMLResponse:
    items = []
    for item in await me.plane.approvals(me.caller):  # oldest run first
        req = item.request
        items.append({
            "id": item.approval_id, "run_id": item.run_id, "namespace": item.namespace,
            "subject": req.subject, "kind": req.kind, "action": pretty(req.action),
            "digest": req.digest, "role": req.role, "requested_by": req.requested_by,
            "reason": req.reason, "provenance": ", ".join(req.provenance),
            "expires_at": req.expires_at, "can_decide": me.can(item.namespace, "decide"),
        })  # fmt: skip
    return page(request, "approvals.html", me, items=items)


@router.post("/approvals/{approval_id}/decide")
async def decide(
    approval_id: str,
    me: PostDep,
    verdict: str = Form(...),
    digest: str = Form(...),
    comment: str = Form(""),
) -> Response:
    if verdict not in ("approve", "reject"):
        raise UserError(f"verdict {verdict!r}: approve or reject")
    decided = await me.plane.decide(
        me.caller, approval_id, "approve" if verdict == "approve" else "reject",
        digest=digest, comment=comment[:1000],
    )  # fmt: skip
    return RedirectResponse(f"/runs/{run_of(decided.approval_id)}", status_code=303)


@router.get("/costs")
async def costs(request: Request, me: MeDep) -> HTMLResponse:
    reports = await me.plane.costs(me.caller)
    charts: dict[str, list[tuple[str, float]]] = {}
    for report in reports.values():
        for dimension, rows in report["by"].items():
            if dimension == "run":
                continue
            chart = charts.setdefault(dimension, [])
            chart.extend((str(r["key"]), float(r["cost_usd"])) for r in rows)
    by_run = {r["key"]: r for rep in reports.values() for r in rep["by"].get("run", [])}
    charts["deployment"] = await _by_deployment(me, by_run)
    budgets = [await _budget(me, ns) for ns in me.caller.namespaces("read")]
    svg = {
        name: bars(sorted(rows)[-40:] if name == "day" else rows) for name, rows in charts.items()
    }
    totals = {ns or "*": rep["total"] for ns, rep in reports.items()}
    return page(request, "costs.html", me, charts=svg, totals=totals, budgets=budgets)


async def _by_deployment(me: Me, by_run: dict[str, Any]) -> list[tuple[str, float]]:
    out: dict[str, float] = {}
    for deployment in await me.plane.deployments(me.caller):
        label = f"{deployment.namespace}/{deployment.name}"
        if label in out:
            continue
        total, cursor = 0.0, None
        while True:
            runs, cursor = await me.plane.list_runs(
                me.caller, namespace=deployment.namespace, tag=f"deployment:{deployment.name}",
                cursor=cursor, limit=MAX_LIST,
            )  # fmt: skip
            total += sum(float(by_run.get(r.run_id, {}).get("cost_usd", 0.0)) for r in runs)
            if cursor is None:
                break
        out[label] = total
    return sorted(out.items())


async def _budget(me: Me, namespace: str) -> dict[str, Any]:
    tokens, cost = await me.plane.store.spend(namespace)
    held_tokens, held_cost = await me.plane.store.held_spend(namespace)
    return {
        "namespace": namespace, "tokens": tokens, "cost": cost, "held_tokens": held_tokens,
        "held_cost": held_cost,
    }  # fmt: skip


@router.get("/deployments")
async def deployments(request: Request, me: MeDep, a: str = "", b: str = "") -> HTMLResponse:
    found = await me.plane.deployments(me.caller)
    diff: list[str] = []
    if a and b:
        diff = _diff(_find(found, a), _find(found, b))
    usage: dict[str, int] = {}
    for d in found:
        runs, _ = await me.plane.list_runs(
            me.caller, namespace=d.namespace, tag=f"version:{d.version}", limit=MAX_LIST
        )
        usage[d.digest] = sum(1 for r in runs if f"deployment:{d.name}" in r.tags)
    return page(
        request, "deployments.html", me, deployments=found, usage=usage, diff=diff, a=a, b=b
    )


def _find(found: list[Deployment], digest: str) -> Deployment:
    for deployment in found:
        if deployment.digest == digest:
            return deployment
    raise DeploymentNotFound(f"no deployment version {digest[:16]!r}")


def _diff(old: Deployment, new: Deployment) -> list[str]:
    lines: list[str] = []
    for name in sorted(set(old.files) | set(new.files)):
        before = old.files.get(name, "").splitlines()
        after = new.files.get(name, "").splitlines()
        lines.extend(
            difflib.unified_diff(
                before, after, f"v{old.version}/{name}", f"v{new.version}/{name}", lineterm=""
            )
        )
    return lines or ["(no difference in the files)"]


@router.get("/fleet")
async def fleet(request: Request, me: MeDep) -> HTMLResponse:
    counts: dict[str, str] = {}
    running: list[Any] = []
    for status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUSPENDED,
                   RunStatus.NEEDS_ATTENTION):  # fmt: skip
        runs, more = await me.plane.list_runs(me.caller, statuses=(status,), limit=MAX_LIST)
        counts[status.value] = f"{len(runs)}{'+' if more else ''}"
        if status is RunStatus.RUNNING:
            running = runs
    failed, _ = await me.plane.list_runs(me.caller, statuses=(RunStatus.FAILED,), limit=MAX_LIST)
    dead = [r for r in failed if "dead-lettered" in (r.error or "")]
    return page(request, "fleet.html", me, counts=counts, running=running, dead=dead)


@router.get("/audit")
async def audit(request: Request, me: MeDep, run_id: str = "") -> HTMLResponse:
    result = await me.plane.verify(me.caller, run_id.strip()) if run_id.strip() else None
    log: dict[str, Any] | None = None
    try:
        entries, problems = await me.plane.operator_log(me.caller)
        log = {"entries": entries[-100:], "problems": problems, "count": len(entries)}
    except PermissionDenied:
        log = None  # only administrators read the operator log
    return page(request, "audit.html", me, run_id=run_id, result=result, log=log)
