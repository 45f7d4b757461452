"""The control plane's one core: every surface (the HTTP server, the CLI) calls these methods.

Each method takes the authenticated :class:`~podium.service.auth.Caller` and enforces the
namespace boundary itself: a run, approval or deployment of a namespace the caller cannot read
answers exactly like a missing one (:class:`~podium.errors.RunNotFound`,
:class:`DeploymentNotFound`); one it can read but not change answers
:class:`~podium.errors.PermissionDenied`. Every mutation is appended to the operator log with
the caller's name, credential and address.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import Any

import pydantic_core

from podium.errors import ConcurrencyError, PermissionDenied, PodiumError, RunNotFound, UserError
from podium.events import ApprovalDecided
from podium.observability.audit import VerifyResult, export_jsonl, verify_run
from podium.observability.cost import cost_report
from podium.runtime import Runtime
from podium.runtime.approvals import PendingApproval, Verdict
from podium.runtime.deployed import load_version
from podium.runtime.governance import run_of
from podium.service.auth import Caller, Permission, check_namespace, new_api_key
from podium.service.bundles import capture
from podium.service.environments import EnvironmentOps
from podium.store import RunFilter, RunRecord, Store, StoredEvent
from podium.store.control import (
    ApiKey,
    Deployment,
    OperatorAction,
    OperatorEntry,
    bundle_digest,
    canonical,
    verify_operator_log,
)
from podium.types import Resolution, RunStatus, new_run_id

MAX_PAGE = 500
RESUME_SIGNAL = "podium.resume"


class DeploymentNotFound(PodiumError):
    """No deployment of that name (or version) in a namespace the caller can see."""


class KeyNotFound(PodiumError):
    """No API key with that id in a namespace the caller administers."""


class IdempotencyConflict(UserError):
    """An Idempotency-Key reused with a different request."""


Cursor = tuple[float, str]


class ControlPlane(EnvironmentOps):
    def __init__(self, store: Store, **runtime_options: Any) -> None:
        self.store = store
        self.runtime_options = runtime_options

    # -- deployments and keys (admin) --------------------------------------------------------

    async def deploy(
        self, caller: Caller, namespace: str, name: str, target: str, root: Any = None
    ) -> tuple[Deployment, bool]:
        self._require(caller, check_namespace(namespace), "admin")
        check_namespace(name)
        entry, files = capture(target, root)
        draft = Deployment(
            namespace=namespace, name=name, version=0, digest=bundle_digest(entry, files),
            entry=entry, files=files, created_by=caller.name,
        )  # fmt: skip
        deployment, created = await self.store.put_deployment(draft)
        if created:
            detail = {"version": deployment.version, "digest": deployment.digest}
            await self._log(caller, "deployment.create", namespace, name, detail)
        return deployment, created

    async def deployments(self, caller: Caller, namespace: str | None = None) -> list[Deployment]:
        spaces = self._readable(caller, namespace)
        return [d for ns in spaces for d in await self.store.list_deployments(ns)]

    async def create_key(
        self,
        caller: Caller,
        namespace: str,
        role: str,
        *,
        expires_at: float | None = None,
        label: str = "",
    ) -> tuple[ApiKey, str]:
        self._require(caller, check_namespace(namespace), "admin")
        key, token = new_api_key(
            namespace, role, expires_at=expires_at, label=label, by=caller.name
        )
        await self.store.put_api_key(key)
        detail = {"role": role, "expires_at": expires_at, "label": key.label}
        await self._log(caller, "key.create", namespace, key.key_id, detail)
        return key, token

    async def keys(self, caller: Caller, namespace: str | None = None) -> list[ApiKey]:
        spaces = self._administered(caller, namespace)
        return [k for ns in spaces for k in await self.store.list_api_keys(ns)]

    async def revoke_key(self, caller: Caller, key_id: str) -> None:
        key = await self.store.get_api_key(key_id)
        if key is None or not caller.can(key.namespace, "read"):
            raise KeyNotFound(f"no API key {key_id!r}")
        self._require(caller, key.namespace, "admin")
        if await self.store.revoke_api_key(key_id):
            await self._log(caller, "key.revoke", key.namespace, key_id, {})

    # -- runs --------------------------------------------------------------------------------

    async def start(
        self,
        caller: Caller,
        namespace: str,
        deployment: str,
        input: Any = None,
        *,
        version: str | None = None,
        idempotency_key: str | None = None,
        environment: str | None = None,
    ) -> tuple[str, bool, Deployment]:
        """Start a run of a deployment (its newest version, or ``version``, a digest, or the
        version promoted to ``environment``); ``(run_id, created, deployment)``. With
        ``idempotency_key`` a repeat of the same request returns the first run, and another
        request under that key is refused."""
        if not caller.can(namespace, "read"):
            raise DeploymentNotFound(f"no deployment {namespace}/{deployment}")
        if environment is not None:
            await self._environment(caller, namespace, environment)
            served = await self.serving_version(namespace, deployment, environment)
            version = (await self._version(caller, namespace, deployment, served)).digest
        found = await self.store.get_deployment(namespace, deployment, version)
        if found is None:
            raise DeploymentNotFound(f"no deployment {namespace}/{deployment}")
        self._require(caller, namespace, "operate")
        input = pydantic_core.to_jsonable_python(input)
        run_id = new_run_id()
        if idempotency_key is not None:
            request = {"deployment": deployment, "version": version, "input": input}
            digest = bundle_digest(canonical(request), {})
            run_id, bound = await self.store.reserve_idempotency(
                namespace, idempotency_key, digest, run_id
            )
            if bound != digest:
                raise IdempotencyConflict(
                    "Idempotency-Key was already used with a different request"
                )
        workflow = load_version(found)
        runtime = Runtime(self.store, namespace=namespace, **self.runtime_options)
        tags: tuple[str, ...] = (
            f"deployment:{deployment}", f"version:{found.version}", f"by:{caller.credential}",
        )  # fmt: skip
        tags += (f"env:{environment}",) if environment is not None else ()
        try:
            await runtime.start(workflow, input, run_id=run_id, ref=found.ref, tags=tags)
        except ConcurrencyError:
            return run_id, False, found  # the first request with this key started it
        detail = {"deployment": deployment, "version": found.version, "env": environment}
        await self._log(caller, "run.start", namespace, run_id, detail)
        return run_id, True, found

    async def list_runs(
        self,
        caller: Caller,
        *,
        namespace: str | None = None,
        statuses: Sequence[RunStatus] = (),
        tag: str | None = None,
        cursor: Cursor | None = None,
        limit: int = 50,
        workflow: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> tuple[list[RunRecord], Cursor | None]:
        """A page of runs, newest first, and the cursor of the next page (None: last)."""
        limit = max(1, min(limit, MAX_PAGE))
        found: list[RunRecord] = []
        for ns in self._readable(caller, namespace):
            query = RunFilter(
                statuses=tuple(statuses),
                namespace=ns,
                tag=tag,
                before=cursor,
                limit=limit + 1,
                workflow=workflow,
                created_after=created_after,
                created_before=created_before,
            )
            found.extend(await self.store.list_runs(query))
        found.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        page = found[:limit]
        more = len(found) > limit
        return page, ((page[-1].created_at, page[-1].run_id) if more and page else None)

    async def run(self, caller: Caller, run_id: str) -> tuple[RunRecord, list[StoredEvent]]:
        record = await self._visible(caller, run_id, "read")
        return record, await self.store.read(run_id)

    async def events(
        self, caller: Caller, run_id: str, *, after: int = 0, limit: int = MAX_PAGE
    ) -> list[StoredEvent]:
        await self._visible(caller, run_id, "read")
        return (await self.store.read(run_id, after_seq=max(0, after)))[: max(1, limit)]

    async def signal(self, caller: Caller, run_id: str, name: str, payload: Any = None) -> None:
        record = await self._visible(caller, run_id, "operate")
        await self._runtime(record).signal(run_id, name, payload, by=caller.name)
        await self._log(caller, "run.signal", record.namespace, run_id, {"name": name})

    async def cancel(self, caller: Caller, run_id: str, reason: str = "") -> None:
        record = await self._visible(caller, run_id, "operate")
        await self._runtime(record).cancel(run_id, reason=reason, by=caller.name)
        await self._log(caller, "run.cancel", record.namespace, run_id, {"reason": reason})

    async def resume(self, caller: Caller, run_id: str) -> None:
        """Make a suspended run runnable now (a worker picks it up)."""
        record = await self._visible(caller, run_id, "operate")
        await self._runtime(record).signal(run_id, RESUME_SIGNAL, None, by=caller.name)
        await self._log(caller, "run.resume", record.namespace, run_id, {})

    async def resolve(
        self,
        caller: Caller,
        run_id: str,
        step_key: str,
        action: Resolution,
        *,
        result: Any = None,
        comment: str = "",
    ) -> None:
        record = await self._visible(caller, run_id, "operate")
        await self._runtime(record).resolve(
            run_id, step_key, action, result=result, by=caller.name, comment=comment
        )
        detail = {"step": step_key, "action": action.value}
        await self._log(caller, "run.resolve", record.namespace, run_id, detail)

    # -- approvals ---------------------------------------------------------------------------

    async def approvals(
        self, caller: Caller, namespace: str | None = None
    ) -> list[PendingApproval]:
        found: list[PendingApproval] = []
        for ns in self._readable(caller, namespace):
            runtime = Runtime(self.store, namespace=ns or "default", namespaces=ns or "*")
            found.extend(await runtime.approvals(namespace=ns))
        return found

    async def decide(
        self,
        caller: Caller,
        approval_id: str,
        verdict: Verdict,
        *,
        digest: str | None = None,
        comment: str = "",
        answer: Any = None,
    ) -> ApprovalDecided:
        try:
            run_id = run_of(approval_id)
        except PodiumError:
            raise RunNotFound(approval_id) from None
        record = await self._visible(caller, run_id, "decide")
        if f"by:{caller.credential}" in record.tags:
            raise PermissionDenied(f"{caller.name} started run {run_id} and cannot decide in it")
        decided = await self._runtime(record).decide(
            approval_id, verdict, by=caller.principal(record.namespace), comment=comment,
            answer=answer, digest=digest,
        )  # fmt: skip
        detail = {"verdict": verdict, "digest": decided.digest}
        await self._log(caller, "approval.decide", record.namespace, approval_id, detail)
        return decided

    # -- costs, audit ------------------------------------------------------------------------

    async def costs(
        self, caller: Caller, namespace: str | None = None, since: float | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ns in self._readable(caller, namespace):
            report = await cost_report(self.store, namespace=ns, since=since)
            out[ns or "*"] = report.as_dict()
        return out

    async def verify(self, caller: Caller, run_id: str) -> VerifyResult:
        await self._visible(caller, run_id, "read")
        return await verify_run(self.store, run_id)

    async def export(self, caller: Caller, run_id: str) -> str:
        await self._visible(caller, run_id, "read")
        buffer = io.StringIO()
        await export_jsonl(self.store, run_id, buffer)
        return buffer.getvalue()

    async def operator_log(
        self, caller: Caller, namespace: str | None = None
    ) -> tuple[list[OperatorEntry], list[str]]:
        """The entries of the namespaces the caller administers, and the problems found
        verifying the whole chain."""
        spaces = set(self._administered(caller, namespace))
        entries = await self.store.operator_log()
        mine = [e for e in entries if None in spaces or e.action.namespace in spaces]
        return mine, verify_operator_log(entries)

    # -- helpers -----------------------------------------------------------------------------

    def _readable(self, caller: Caller, namespace: str | None) -> list[str | None]:
        """The namespaces to read: ``namespace`` if readable; else every readable one (None:
        every namespace, for a caller holding the ``*`` wildcard)."""
        if namespace is not None:
            return [namespace] if caller.can(namespace, "read") else []
        if "*" in caller.roles and caller.can("*", "read"):
            return [None]
        return list(caller.namespaces("read"))

    def _administered(self, caller: Caller, namespace: str | None) -> list[str | None]:
        spaces = [ns for ns in self._readable(caller, namespace) if caller.can(ns or "*", "admin")]
        if not spaces:
            raise PermissionDenied(f"{caller.name} administers no namespace here")
        return spaces

    def _require(self, caller: Caller, namespace: str, permission: Permission) -> None:
        if not caller.can(namespace, permission):
            raise PermissionDenied(f"{caller.name} may not {permission} in namespace {namespace!r}")

    async def _visible(self, caller: Caller, run_id: str, permission: Permission) -> RunRecord:
        record = await self.store.get_run(run_id)  # RunNotFound(run_id) when missing
        if not caller.can(record.namespace, "read"):
            raise RunNotFound(run_id)  # exactly as missing: no existence leak
        self._require(caller, record.namespace, permission)
        return record

    async def _version(self, caller: Caller, namespace: str, name: str, version: int) -> Deployment:
        if caller.can(namespace, "read"):
            for listed in await self.store.list_deployments(namespace):
                if listed.name == name and listed.version == version:
                    found = await self.store.get_deployment(namespace, name, listed.digest)
                    if found is not None:
                        return found
        raise DeploymentNotFound(f"no deployment {namespace}/{name} v{version}")

    def _runtime(self, record: RunRecord) -> Runtime:
        return Runtime(self.store, namespace=record.namespace, **self.runtime_options)

    async def _log(
        self, caller: Caller, action: str, namespace: str, target: str, detail: dict[str, Any]
    ) -> None:
        await self.store.log_operator(
            OperatorAction(
                principal=caller.name, credential=caller.credential, source=caller.source,
                action=action, namespace=namespace, target=target, detail=detail,
            )
        )  # fmt: skip


def expires(seconds: float | None) -> float | None:
    return None if seconds is None else time.time() + seconds
