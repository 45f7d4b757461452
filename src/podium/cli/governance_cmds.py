"""``podium approvals``, ``approve``, ``reject`` and ``answer``: the approvals inbox of the CLI.

A decision is taken as the identity ``--as NAME`` (or ``--by``; default ``$PODIUM_USER``, else
``$USER``) holding the roles ``--role R`` (repeatable; default ``$PODIUM_ROLES``,
comma-separated), in the namespace ``--namespace`` (env ``PODIUM_NAMESPACE``, default
``default``): another namespace's request is reported as not found (exit 3). The runtime checks
it before anything is written: the role the request names, not the identity that asked, the
action that was shown (``--digest``), not past its expiry on the store's clock. A refusal is one
line with exit code 8. Keys and values are printed verbatim (never read as console markup).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.text import Text

from podium.cli.common import (
    AsOption,
    NamespaceOption,
    Options,
    err,
    fail,
    namespace_filter,
    out,
    parse_input,
    run_with_store,
    runtime_in,
    server_client,
    who,
)
from podium.cli.render import when
from podium.errors import RunStateError
from podium.events import ApprovalDecided, ApprovalRequested
from podium.policy import Principal
from podium.runtime import Runtime
from podium.runtime.approvals import PendingApproval, Verdict
from podium.runtime.governance import run_of
from podium.store import Store

RoleOption = Annotated[
    list[str] | None,
    typer.Option("--role", help="A role you hold (repeatable; env PODIUM_ROLES, comma-separated)"),
]
CommentOption = Annotated[str, typer.Option("--comment", help="Recorded with the decision")]
DigestOption = Annotated[
    str | None,
    typer.Option("--digest", help="Refuse unless the request is for exactly this action"),
]


def approvals(
    role: Annotated[str | None, typer.Option("--role", help="Only requests for this role")] = None,
    namespace: NamespaceOption = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the inbox as JSON")] = False,
) -> None:
    """The inbox of the namespace: approvals and questions waiting for a person, oldest run
    first."""

    async def go(store: Store) -> list[PendingApproval]:
        runtime = runtime_in(store, namespace)
        return await runtime.approvals(namespace=namespace_filter(namespace), role=role)

    items = run_with_store(go, read_only=True)
    if as_json:
        typer.echo(json.dumps([_as_json(item) for item in items], indent=2, ensure_ascii=False))
        return
    if not items:
        err.print("no pending approvals", highlight=False)
        return
    for index, item in enumerate(items):
        if index:
            out.print()
        out.print(_heading(item), highlight=False)
        for name, value in _fields(item.request):
            out.print(f"  {name + ':':<11} {value}", markup=False, highlight=False)
    count = len(items)
    err.print(
        f"{count} pending; decide with `podium approve|reject ID` or `podium answer ID JSON`",
        markup=False,
        highlight=False,
    )


def approve(
    approval_id: Annotated[str, typer.Argument(help="The approval id (see `podium approvals`)")],
    comment: CommentOption = "",
    as_name: AsOption = None,
    role: RoleOption = None,
    digest: DigestOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Approve a pending request (the run continues with `podium resume`)."""
    _decide(approval_id, "approve", as_name, role, namespace, comment=comment, digest=digest)


def reject(
    approval_id: Annotated[str, typer.Argument(help="The approval id (see `podium approvals`)")],
    comment: CommentOption = "",
    as_name: AsOption = None,
    role: RoleOption = None,
    digest: DigestOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Reject a pending request: the tool call is refused, the approval node says no."""
    _decide(approval_id, "reject", as_name, role, namespace, comment=comment, digest=digest)


def answer(
    approval_id: Annotated[str, typer.Argument(help="The id of the question")],
    value: Annotated[str, typer.Argument(help="The answer: JSON, text, or @file")],
    comment: CommentOption = "",
    as_name: AsOption = None,
    role: RoleOption = None,
    digest: DigestOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Answer a question asked by an input node (the run continues with `podium resume`)."""

    _decide(
        approval_id, "answer", as_name, role, namespace,
        comment=comment, answer=parse_input(value, "ANSWER"), digest=digest,
    )  # fmt: skip


def _decide(
    approval_id: str,
    verdict: Verdict,
    as_name: str | None,
    roles: list[str] | None,
    namespace: str,
    *,
    comment: str,
    digest: str | None,
    answer: Any = None,
) -> None:
    if Options.server:
        _decide_remote(approval_id, verdict, as_name, roles, comment=comment, digest=digest)
        return
    principal = Principal(who(as_name), frozenset(roles or _env_roles()))

    async def go(store: Store) -> tuple[ApprovalDecided, bool]:
        runtime = runtime_in(store, namespace)
        earlier = await _earlier(runtime, approval_id)
        decision = await runtime.decide(
            approval_id, verdict, by=principal, comment=comment, answer=answer, digest=digest
        )
        if earlier is not None:  # the runtime let us see the run: say if it is over
            record = await runtime.get_run(run_of(approval_id))
            if record.status.terminal:
                raise RunStateError(
                    f"run {record.run_id} is finished ({record.status.value}): {approval_id} "
                    f"was {decision.decision} by {_by(decision)}; nothing written"
                )
        return decision, earlier is not None

    decision, again = run_with_store(go)
    run_id = run_of(approval_id)
    by = _by(decision)
    if again:
        line = f"{approval_id} was already decided: {decision.decision} by {by}; nothing written"
    else:
        line = f"{approval_id} {decision.decision} by {by}"
    err.print(line, markup=False, highlight=False)
    err.print(
        f"run {run_id}: resume it with `podium resume {run_id}`", markup=False, highlight=False
    )


def _by(decision: ApprovalDecided) -> str:
    return f"{decision.by} ({decision.role})" if decision.role else decision.by


def _decide_remote(
    approval_id: str,
    verdict: Verdict,
    as_name: str | None,
    roles: list[str] | None,
    *,
    comment: str,
    digest: str | None,
) -> None:
    """Through ``--server``: the decider is the credential's principal, never ``--as``."""
    if as_name or roles or verdict == "answer":
        fail("with --server the credential decides: --as, --role and answer are not taken", 2)
    decided = run_with_store(
        lambda _: server_client().decide(approval_id, verdict, digest=digest, comment=comment)
    )
    line = f"{approval_id} {decided['decision']} by {decided['by']} (through {Options.server})"
    err.print(line, markup=False, highlight=False)


async def _earlier(runtime: Runtime, approval_id: str) -> ApprovalDecided | None:
    """The decision already journaled for ``approval_id``, if any (to say it was a repeat)."""
    for stored in await runtime.read(run_of(approval_id)):
        event = stored.event
        if isinstance(event, ApprovalDecided) and event.approval_id == approval_id:
            return event
    return None


def _env_roles() -> list[str]:
    raw = os.environ.get("PODIUM_ROLES", "")
    return [role.strip() for role in raw.split(",") if role.strip()]


# -- showing a request -------------------------------------------------------------------------


def _heading(item: PendingApproval) -> Text:
    workflow = item.workflow.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return Text.assemble(
        (item.approval_id, "bold"), f"  {item.request.kind}  run {item.run_id} ({workflow})"
    )


def _fields(request: ApprovalRequested) -> list[tuple[str, str]]:
    """(name, value) lines: what is asked, by whom, why, from what sources, for whom, until."""
    action = request.action if isinstance(request.action, dict) else {}
    fields: list[tuple[str, str]]
    if request.kind == "tool":
        fields = [("what", f"{request.subject} {_json(action.get('arguments'))}")]
    elif request.kind == "input":
        fields = [
            ("question", str(action.get("question", request.reason))),
            ("context", _json(action.get("context"))),
            ("answer", _json(request.answer_schema)),
        ]
    else:
        fields = [
            ("what", str(action.get("prompt", request.reason))),
            ("input", _json(action.get("input"))),
        ]
    untrusted = ", ".join(request.provenance) or "none"
    fields += [
        ("asked by", f"{request.requested_by}  at {request.key}"),
        ("reason", request.reason or "-"),
        ("untrusted", untrusted),
        ("role", request.role),
        ("expires", _expiry(request)),
        ("digest", request.digest),
    ]
    return fields


def _expiry(request: ApprovalRequested) -> str:
    if request.expires_at is None:
        return "never"
    then = f"escalated to {request.escalate_to}" if request.on_expiry == "escalate" else "denied"
    return f"{when(request.expires_at)}, then {then}"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _as_json(item: PendingApproval) -> dict[str, Any]:
    request = item.request
    return {
        "approval_id": item.approval_id,
        "run_id": item.run_id,
        "workflow": item.workflow,
        "namespace": item.namespace,
        "kind": request.kind,
        "subject": request.subject,
        "key": request.key,
        "action": request.action,
        "requested_by": request.requested_by,
        "reason": request.reason,
        "provenance": list(request.provenance),
        "role": request.role,
        "expires_at": request.expires_at,
        "on_expiry": request.on_expiry,
        "escalate_to": request.escalate_to,
        "answer_schema": request.answer_schema,
        "digest": request.digest,
    }


def register_governance_commands(app: typer.Typer) -> None:
    """Add ``approvals``, ``approve``, ``reject`` and ``answer`` to the ``podium`` command."""
    app.command()(approvals)
    app.command()(approve)
    app.command()(reject)
    app.command()(answer)


__all__ = ["register_governance_commands"]
