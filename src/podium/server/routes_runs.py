"""``/v1/runs``: start, list, read, follow (SSE) and act on runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from podium.errors import RunNotFound
from podium.runtime.engine import result_from
from podium.server.deps import CallerDep, PlaneDep, state_of
from podium.server.models import Cancel, Resolve, Signal, StartRun, decode_cursor, encode_cursor
from podium.service import Caller, ControlPlane
from podium.service.views import event_json, run_detail, run_summary
from podium.types import Resolution, RunStatus

router = APIRouter(prefix="/v1")


@router.post("/runs", status_code=201)
async def start_run(
    body: StartRun,
    caller: CallerDep,
    plane: PlaneDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Start a run of a deployment. A repeat with the same ``Idempotency-Key`` and body
    answers 200 with the first run; with another body, 422 ``idempotency_conflict``."""
    run_id, created, deployment = await plane.start(
        caller, body.namespace, body.deployment, body.input, version=body.version,
        idempotency_key=idempotency_key, environment=body.environment,
    )  # fmt: skip
    if not created:
        response.status_code = 200
    return {
        "run_id": run_id, "created": created, "deployment": deployment.name,
        "version": deployment.version, "digest": deployment.digest,
    }  # fmt: skip


@router.get("/runs")
async def list_runs(
    caller: CallerDep,
    plane: PlaneDep,
    namespace: str | None = None,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    tag: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Runs, newest first; ``next_cursor`` pages on (stable under inserts)."""
    records, after = await plane.list_runs(
        caller, namespace=namespace, statuses=status or (), tag=tag,
        cursor=decode_cursor(cursor), limit=limit,
    )  # fmt: skip
    return {"runs": [run_summary(r) for r in records], "next_cursor": encode_cursor(after)}


@router.get("/runs/{run_id}")
async def get_run(run_id: str, caller: CallerDep, plane: PlaneDep) -> dict[str, Any]:
    """Status, node tree, tokens and cost of a run."""
    record, events = await plane.run(caller, run_id)
    result = result_from(run_id, events)
    return run_detail(record, result, events)


@router.get("/runs/{run_id}/events")
async def run_events(
    run_id: str,
    caller: CallerDep,
    plane: PlaneDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> dict[str, Any]:
    """Events with ``seq > after``, at most ``limit``; ``next_after`` continues."""
    events = await plane.events(caller, run_id, after=after, limit=limit)
    return {
        "events": [event_json(e) for e in events],
        "next_after": events[-1].seq if events else after,
    }


@router.get("/runs/{run_id}/stream", response_class=StreamingResponse)
async def follow_run(
    run_id: str,
    request: Request,
    caller: CallerDep,
    plane: PlaneDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> StreamingResponse:
    """Server-sent events: one ``id: SEQ`` message per event, then ``event: end`` once the run
    is finished. Reconnect with ``Last-Event-ID``: the stream resumes after it."""
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    await plane.events(caller, run_id, after=start, limit=1)  # 404 before the stream starts
    poll = state_of(request).poll_seconds
    return StreamingResponse(
        _stream(plane, caller, run_id, start, poll),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(
    plane: ControlPlane, caller: Caller, run_id: str, after: int, poll: float
) -> AsyncIterator[str]:
    idle = 0.0
    while True:
        try:  # visibility was checked before the stream began; a run never changes namespace
            record = await plane.store.get_run(run_id)
            events = await plane.store.read(run_id, after_seq=after)
        except RunNotFound:
            return
        for stored in events:
            after = stored.seq
            data = json.dumps(event_json(stored), separators=(",", ":"))
            yield f"id: {stored.seq}\nevent: {stored.event.type}\ndata: {data}\n\n"
        if not events and record.status.terminal and record.last_seq <= after:
            yield f"event: end\ndata: {json.dumps({'status': record.status.value})}\n\n"
            return
        idle = 0.0 if events else idle + poll
        if idle >= 15.0:
            idle = 0.0
            yield ": keep-alive\n\n"
        await anyio.sleep(poll)


@router.post("/runs/{run_id}/signal", status_code=202)
async def signal_run(
    run_id: str, body: Signal, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    await plane.signal(caller, run_id, body.name, body.payload)
    return {"run_id": run_id, "signal": body.name}


@router.post("/runs/{run_id}/cancel", status_code=202)
async def cancel_run(
    run_id: str, caller: CallerDep, plane: PlaneDep, body: Cancel | None = None
) -> dict[str, Any]:
    await plane.cancel(caller, run_id, (body or Cancel()).reason)
    return {"run_id": run_id, "cancelled": True}


@router.post("/runs/{run_id}/resume", status_code=202)
async def resume_run(run_id: str, caller: CallerDep, plane: PlaneDep) -> dict[str, Any]:
    await plane.resume(caller, run_id)
    return {"run_id": run_id, "runnable": True}


@router.post("/runs/{run_id}/resolve", status_code=202)
async def resolve_step(
    run_id: str, body: Resolve, caller: CallerDep, plane: PlaneDep
) -> dict[str, Any]:
    await plane.resolve(
        caller, run_id, body.step_key, Resolution(body.action), result=body.result,
        comment=body.comment,
    )  # fmt: skip
    return {"run_id": run_id, "step_key": body.step_key, "action": body.action}


@router.get("/runs/{run_id}/audit")
async def audit_run(run_id: str, caller: CallerDep, plane: PlaneDep) -> JSONResponse:
    result = await plane.verify(caller, run_id)
    return JSONResponse(
        {
            "run_id": run_id,
            "ok": result.ok,
            "events": result.events,
            "head": result.head,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
        }
    )


@router.get("/runs/{run_id}/export", response_class=PlainTextResponse)
async def export_run(run_id: str, caller: CallerDep, plane: PlaneDep) -> PlainTextResponse:
    """The run as JSON lines (``podium audit import`` reads it)."""
    return PlainTextResponse(await plane.export(caller, run_id), media_type="application/jsonl")
