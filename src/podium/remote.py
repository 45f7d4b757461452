"""A client of `podium serve`, used by the CLI's ``--server URL`` (env ``PODIUM_SERVER``) with the
API key or token in ``PODIUM_API_KEY``.

:class:`RemoteStore` serves the read side of the store contract over the ``/v1`` API, so
``runs``, ``show`` and ``logs`` work unchanged; the verbs that change a run (``signal``,
``cancel``, ``approve``, ``reject``) call :class:`ServerClient`. What the API does not offer
(running workflows, audit import, retention) is refused with a clear error. Plain ``urllib``
in a worker thread: the client needs no extra package.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import anyio.to_thread

from podium.errors import (
    PermissionDenied,
    PodiumError,
    RunNotFound,
    RunStateError,
    StoreError,
    UserError,
)
from podium.events import Event, decode
from podium.store import AuditTrail, Lease, RunFilter, RunRecord, Store, StoredEvent
from podium.types import RunStatus

_PAGE = 500


class ServerClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        return await anyio.to_thread.run_sync(self._call, method, path, body)

    def _call(self, method: str, path: str, body: Any) -> Any:
        if not self.token:
            raise PermissionDenied("--server needs a credential: set PODIUM_API_KEY")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _problem(error, path) from None
        except (urllib.error.URLError, OSError) as error:
            raise StoreError(f"cannot reach the server {self.url}: {error}") from None
        return json.loads(raw) if raw else None

    async def signal(self, run_id: str, name: str, payload: Any) -> None:
        await self.call("POST", f"/v1/runs/{_q(run_id)}/signal", {"name": name, "payload": payload})

    async def cancel(self, run_id: str, reason: str) -> None:
        await self.call("POST", f"/v1/runs/{_q(run_id)}/cancel", {"reason": reason})

    async def decide(
        self, approval_id: str, verdict: str, *, digest: str | None, comment: str
    ) -> dict[str, Any]:
        body = {"digest": digest, "comment": comment}
        answer: dict[str, Any] = await self.call(
            "POST", f"/v1/approvals/{_q(approval_id)}/{verdict}", body
        )
        return answer


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _problem(error: urllib.error.HTTPError, path: str) -> PodiumError:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    detail = str(body.get("detail") or error.reason)
    code = str(body.get("code", ""))
    if code == "not_found" and path.startswith("/v1/runs/"):
        return RunNotFound(urllib.parse.unquote(path.split("/")[3]))
    kinds: dict[str, type[PodiumError]] = {
        "unauthenticated": PermissionDenied, "forbidden": PermissionDenied,
        "approval_mismatch": PermissionDenied, "conflict": RunStateError,
        "invalid_request": UserError, "malformed_json": UserError,
        "deployment_not_found": UserError, "not_found": UserError,
        "idempotency_conflict": UserError, "payload_too_large": UserError,
    }  # fmt: skip
    kind = kinds.get(code, StoreError)
    return kind(f"server: {detail}" if kind is not RunNotFound else detail)


def record_of(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], workflow=row["workflow"], namespace=row["namespace"],
        status=RunStatus(row["status"]), created_at=row["created_at"],
        updated_at=row["updated_at"], last_seq=row["last_seq"],
        parent_run_id=row.get("parent_run_id"), tags=tuple(row.get("tags", ())),
        wake_at=row.get("wake_at"), error=row.get("error"), tokens=row.get("tokens", 0),
        cost_usd=row.get("cost_usd", 0.0),
    )  # fmt: skip


class RemoteStore(Store):
    """The read side of :class:`~podium.store.Store` over a server's ``/v1`` API."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    async def get_run(self, run_id: str) -> RunRecord:
        return record_of(await self.client.call("GET", f"/v1/runs/{_q(run_id)}"))

    async def read(
        self, run_id: str, *, after_seq: int = 0, verify: bool = False
    ) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        while True:
            page = await self.client.call(
                "GET", f"/v1/runs/{_q(run_id)}/events?after={after_seq}&limit={_PAGE}"
            )
            for item in page["events"]:
                event = decode(json.dumps(item["event"]))
                out.append(
                    StoredEvent(
                        run_id=run_id, seq=item["seq"], ts=item["ts"], event=event,
                        hash=item.get("hash", ""),
                    )
                )  # fmt: skip
            if len(page["events"]) < _PAGE:
                return out
            after_seq = page["next_after"]

    async def list_runs(self, query: RunFilter | None = None) -> list[RunRecord]:
        q = query or RunFilter()
        params: list[tuple[str, str]] = [("status", s.value) for s in q.statuses]
        for name, value in (("namespace", q.namespace), ("tag", q.tag)):
            if value is not None:
                params.append((name, value))
        found: list[RunRecord] = []
        cursor: str | None = None
        while len(found) < q.limit:
            page_params = [*params, ("limit", str(min(_PAGE, q.limit)))]
            if cursor:
                page_params.append(("cursor", cursor))
            page = await self.client.call("GET", "/v1/runs?" + urllib.parse.urlencode(page_params))
            found.extend(r for r in map(record_of, page["runs"]) if _kept(r, q))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return found[: q.limit]

    async def append(
        self, run_id: str, events: Sequence[Event], *, expected_seq: int, lease: Lease | None = None
    ) -> int:
        raise _not_here("running workflows")

    async def audit_trail(self, run_id: str) -> AuditTrail:
        raise _not_here("audit trails (use GET /v1/runs/ID/audit)")

    async def import_run(
        self, run_id: str, rows: Sequence[tuple[float, Event]], *, expect_head: str | None = None
    ) -> str:
        raise _not_here("importing runs")

    async def delete_runs(self, namespace: str, older_than: float) -> int:
        raise _not_here("retention")

    async def erase(self, run_id: str, *, reason: str, by: str = "") -> bool:
        raise _not_here("erasure")

    async def close(self) -> None:
        return None


def _kept(record: RunRecord, q: RunFilter) -> bool:
    """The filters the API does not take, applied here."""
    return (
        (q.workflow is None or record.workflow == q.workflow)
        and (q.created_after is None or record.created_at >= q.created_after)
        and (q.created_before is None or record.created_at < q.created_before)
    )


def _not_here(what: str) -> UserError:
    return UserError(f"{what} is not available with --server: use --db with store access")
