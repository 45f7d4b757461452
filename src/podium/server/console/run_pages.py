"""The runs list (filters, cursor pages, live status) and the run page (tree, timeline, calls,
events, actions), both following the store over SSE."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from podium.errors import RunNotFound, UserError
from podium.server.console.session import caller_for
from podium.server.console.views import fold
from podium.server.console.web import ConsoleRoute, Me, MeDep, PostDep, page, templates
from podium.server.deps import state_of
from podium.server.models import decode_cursor, encode_cursor
from podium.service import Unauthenticated
from podium.service.views import node_tree
from podium.types import Resolution, RunStatus

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 50
RECHECK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Filters:
    status: str = ""
    workflow: str = ""
    deployment: str = ""
    namespace: str = ""
    tag: str = ""
    since: str = ""  # YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)
    until: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        return cls(**{name: q.get(name, "").strip()[:200] for name in cls.__slots__})

    def query(self) -> str:
        return urlencode({n: getattr(self, n) for n in self.__slots__ if getattr(self, n)})


def _time(text: str, name: str) -> float | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise UserError(f"filter {name}: {text!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")


async def _page(me: Me, f: Filters, cursor: str | None) -> tuple[list[Any], str | None]:
    if f.status and f.status not in RunStatus.__members__.values():
        raise UserError(f"filter status: {f.status!r} is not one of {', '.join(RunStatus)}")
    if f.deployment and f.tag:
        raise UserError("filter by deployment or by tag, not both at once")
    tag = f"deployment:{f.deployment}" if f.deployment else (f.tag or None)
    records, after = await me.plane.list_runs(
        me.caller, namespace=f.namespace or None,
        statuses=(RunStatus(f.status),) if f.status else (), tag=tag,
        cursor=decode_cursor(cursor), limit=PAGE, workflow=f.workflow or None,
        created_after=_time(f.since, "since"), created_before=_time(f.until, "until"),
    )  # fmt: skip
    return records, encode_cursor(after)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs")
async def runs(request: Request, me: MeDep, cursor: str | None = None) -> HTMLResponse:
    filters = Filters.of(request)
    records, after = await _page(me, filters, cursor)
    deployments = await me.plane.deployments(me.caller)
    startable = [d for d in deployments if me.can(d.namespace, "operate")]
    latest = {(d.namespace, d.name): d for d in startable}
    return page(
        request, "runs.html", me, runs=records, next_cursor=after, f=filters,
        cursor=cursor or "", statuses=list(RunStatus), startable=sorted(latest),
    )  # fmt: skip


@router.get("/live/runs")
async def runs_live(request: Request, me: MeDep, cursor: str | None = None) -> Response:
    filters = Filters.of(request)
    await _page(me, filters, cursor)  # bad filters refuse before the stream starts
    poll = state_of(request).poll_seconds

    async def rows() -> AsyncIterator[str]:
        last = ""
        async for _ in _ticks(request, poll, me):
            records, _after = await _page(me, filters, cursor)
            mark = json.dumps([(r.run_id, r.status.value, r.last_seq) for r in records])
            if mark != last:
                last = mark
                html = templates.get_template("_rows.html").render(runs=records)
                yield _sse("rows", html)

    return _stream(rows())


@router.post("/runs/start")
async def start(
    me: PostDep,
    target: str = Form(...),
    input: str = Form(""),
) -> Response:
    namespace, _, deployment = target.partition("/")
    run_id, _, _ = await me.plane.start(me.caller, namespace, deployment, _input(input))
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _input(text: str) -> Any:
    """The run's input: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _run_context(me: Me, run_id: str) -> dict[str, Any]:
    record, events = await me.plane.run(me.caller, run_id)
    view = fold(events, time.time())
    return {
        "run": record, "view": view, "tree": node_tree(events),
        "input": events[0].event.input if events else None,  # type: ignore[union-attr]
        "can_operate": me.can(record.namespace, "operate"),
    }  # fmt: skip


@router.get("/runs/{run_id}")
async def run(request: Request, run_id: str, me: MeDep) -> HTMLResponse:
    return page(request, "run.html", me, **await _run_context(me, run_id))


@router.get("/live/runs/{run_id}")
async def run_live(
    request: Request, run_id: str, me: MeDep, seq: int = -1, status: str = ""
) -> Response:
    """The run's body again whenever its journal grows; ``seq``/``status``: what the page
    already shows (nothing is sent until the run moves past it)."""
    await me.plane.run(me.caller, run_id)  # not visible: 404 before the stream starts
    poll = state_of(request).poll_seconds

    async def updates() -> AsyncIterator[str]:
        seen = (seq, status)
        async for _ in _ticks(request, poll, me):
            try:
                record = await me.plane.store.get_run(run_id)
            except RunNotFound:
                return
            if (record.last_seq, record.status.value) == seen:
                continue
            seen = (record.last_seq, record.status.value)
            context = await _run_context(me, run_id)
            yield _sse("run", templates.get_template("_run_body.html").render(me=me, **context))
            if record.status.terminal:
                yield _sse("end", record.status.value)
                return

    return _stream(updates())


async def _ticks(request: Request, poll: float, me: Me) -> AsyncIterator[None]:
    """One tick per poll while the page is open and its session still stands (the key is
    read again every few seconds: a revoked key's live pages stop)."""
    source = request.client.host if request.client else ""
    checked = time.monotonic()
    while not await request.is_disconnected():
        if time.monotonic() - checked >= RECHECK_SECONDS:
            checked = time.monotonic()
            try:
                await caller_for(me.plane.store, me.session, source)
            except Unauthenticated:
                return
        yield None
        await anyio.sleep(poll)


def _sse(event: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n\n"


def _stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body, media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )  # fmt: skip


@router.post("/runs/{run_id}/cancel")
async def cancel(run_id: str, me: PostDep, reason: str = Form("")) -> Response:
    await me.plane.cancel(me.caller, run_id, reason[:500])
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/resume")
async def resume(run_id: str, me: PostDep) -> Response:
    await me.plane.resume(me.caller, run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/signal")
async def signal(
    run_id: str, me: PostDep, name: str = Form(...), payload: str = Form("")
) -> Response:
    await me.plane.signal(me.caller, run_id, name.strip(), _input(payload) if payload else None)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/resolve")
async def resolve(
    run_id: str,
    me: PostDep,
    step_key: str = Form(...),
    action: str = Form(...),
    result: str = Form(""),
    comment: str = Form(""),
) -> Response:
    try:
        resolution = Resolution(action)
    except ValueError:
        raise UserError(f"resolve action {action!r}: one of {', '.join(Resolution)}") from None
    await me.plane.resolve(
        me.caller, run_id, step_key, resolution, result=_input(result) if result else None,
        comment=comment[:500],
    )  # fmt: skip
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
