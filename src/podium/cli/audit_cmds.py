"""``podium audit verify``, ``export``, ``import``, ``retention`` and ``erase``.

A journal or an export that does not verify exits 6 (a store error) after naming the run and
the first bad sequence; a run that is not finished cannot be erased (exit 2). See docs/audit.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from podium.cli.common import (
    STORE_ERROR,
    AsOption,
    NamespaceOption,
    err,
    out,
    run_with_store,
    runtime_in,
    who,
)
from podium.cli.json_out import JsonOption, emit, verify_json
from podium.cli.render import when
from podium.observability.audit import (
    VerifyResult,
    cutoff,
    export_jsonl,
    import_jsonl,
    retention_candidates,
    verify_run,
)
from podium.store import RunFilter, RunRecord, Store

audit_app = typer.Typer(
    help="Check the hash chains of run journals.", no_args_is_help=True, add_completion=False
)


@audit_app.command("verify")
def audit_verify(
    run_id: Annotated[
        str | None, typer.Argument(help="The run (default: every run of the namespace)")
    ] = None,
    namespace: NamespaceOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Check each run's hash chain: ok, or the first bad sequence and why."""

    async def go(store: Store) -> list[VerifyResult]:
        runtime = runtime_in(store, namespace)
        if run_id is not None:
            await runtime.get_run(run_id)  # another namespace's run: not found
            return [await verify_run(store, run_id)]
        records = await runtime.list_runs(RunFilter(limit=2**62))
        return [await verify_run(store, record.run_id) for record in reversed(records)]

    results = run_with_store(go, read_only=True)
    if as_json:
        emit([verify_json(result) for result in results])
    for result in results if not as_json else ():
        out.print(f"{result.run_id}: {result.describe()}", markup=False, highlight=False)
    bad = sum(not result.ok for result in results)
    if run_id is None:
        runs = f"{len(results)} run{'' if len(results) == 1 else 's'}"
        summary = f"{runs} verified: {len(results) - bad} ok, {bad} bad"
        err.print(summary if results else "no runs", highlight=False)
    if bad:
        raise typer.Exit(STORE_ERROR)


def export(
    run_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE (default: stdout)")
    ] = None,
    namespace: NamespaceOption = "default",
) -> None:
    """Write a run as JSON lines (a header, then one line per event); it must verify first."""

    async def go(store: Store) -> VerifyResult:
        await runtime_in(store, namespace).get_run(run_id)  # another namespace's: not found
        if output is None:
            return await export_jsonl(store, run_id, sys.stdout)
        part = output.with_name(output.name + ".part")
        try:
            with part.open("w", encoding="utf-8") as handle:
                result = await export_jsonl(store, run_id, handle)
            part.replace(output)
        finally:
            part.unlink(missing_ok=True)
        return result

    result = run_with_store(go, read_only=True)
    err.print(f"exported run {run_id}: {result.describe()}", markup=False, highlight=False)


def import_(
    file: Annotated[str, typer.Argument(help="An export (JSON lines), or - for stdin")],
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the file; write nothing")
    ] = False,
    namespace: NamespaceOption = "default",
) -> None:
    """Verify an export, then create its run (refused if the run exists or a row is bad, or if
    it belongs to another namespace than --namespace)."""

    handle = _open(file)

    async def go(store: Store) -> VerifyResult:
        scope = runtime_in(store, namespace).scope
        with handle:
            return await import_jsonl(store, handle, check_only=check, scope=scope)

    result = run_with_store(go, read_only=check)
    done = "verifies" if check else "imported"
    line = f"export of run {result.run_id} {done}: {result.describe()}"
    err.print(line, markup=False, highlight=False)


def _open(file: str) -> TextIO:
    if file == "-":
        return sys.stdin
    try:
        return Path(file).open(encoding="utf-8")
    except OSError as error:
        err.print(f"[red]error:[/] cannot read {file}: {error.strerror}", highlight=False)
        raise typer.Exit(2) from None


def retention(
    namespace: Annotated[str, typer.Option("--namespace", help="The namespace to clean")],
    older_than: Annotated[
        float, typer.Option("--older-than", min=0, help="Days since the run was last updated")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing")
    ] = False,
) -> None:
    """Delete the finished runs of a namespace not updated for DAYS days (never live runs)."""

    before = cutoff(older_than)

    async def go(store: Store) -> tuple[list[RunRecord], int]:
        doomed = await retention_candidates(store, namespace, before)
        if dry_run:
            return doomed, len(doomed)
        return doomed, await store.delete_runs(namespace, before)

    doomed, count = run_with_store(go, read_only=dry_run)
    for record in doomed:
        line = f"{record.run_id}  {record.status.value}  updated {when(record.updated_at)}"
        out.print(line, markup=False, highlight=False)
    did = "would delete" if dry_run else "deleted"
    err.print(
        f"{did} {count} finished runs of namespace {namespace} not updated since {when(before)}",
        markup=False,
        highlight=False,
    )


def erase(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the tombstone)")],
    namespace: NamespaceOption = "default",
    as_name: AsOption = None,
) -> None:
    """Erase a finished run's content (inputs, outputs, every event body); keep its chain."""

    async def go(store: Store) -> bool:
        await runtime_in(store, namespace).get_run(run_id)  # another namespace's: not found
        return await store.erase(run_id, reason=reason, by=who(as_name))

    erased = run_with_store(go)
    if erased:
        line = f"run {run_id} erased: its events are tombstones; its chain still verifies"
    else:
        line = f"run {run_id} was already erased; nothing written"
    err.print(line, markup=False, highlight=False)


def register_audit_commands(app: typer.Typer) -> None:
    """Add ``audit verify``, ``export``, ``import``, ``retention`` and ``erase``."""
    app.add_typer(audit_app, name="audit")
    app.command("export")(export)
    app.command("import")(import_)
    app.command()(retention)
    app.command()(erase)


__all__ = ["register_audit_commands"]
