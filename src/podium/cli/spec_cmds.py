"""``podium validate FILE`` and ``podium schema``: the spec commands of the CLI.

``validate`` prints every problem as ``FILE:LINE:COLUMN: field.path: message`` (with ``(did you
mean 'x'?)`` when a valid name is close) and exits 0 if the spec is valid, 2 if not. Importing
this module also lets ``podium run flow.yaml`` and ``podium resume`` load spec files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from podium.errors import UserError
from podium.spec import SUFFIXES, SpecIssue, check_file, environment_issues, schema_text


def validate(
    file: Annotated[str, typer.Argument(help="The spec file (YAML)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    no_env: Annotated[
        bool,
        typer.Option("--no-env", help="Check the file only, not API keys, base URLs and SDKs"),
    ] = False,
) -> None:
    """Check a spec file: report every problem, located, without starting a run; and whether
    this environment can call each model it names (API key, base URL, provider SDK)."""
    try:
        root, issues = check_file(file)
        if not no_env:
            issues = sorted([*issues, *environment_issues(file)], key=_order)
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        report = {"file": file, "valid": not issues, "issues": [i.to_json() for i in issues]}
        typer.echo(json.dumps(report, indent=2))
    else:
        for issue in issues:
            typer.echo(str(issue))
        count = len(issues)
        summary = f"{count} problem{'s' if count != 1 else ''}" if issues else "valid"
        name = "" if issues else f" (workflow {getattr(root, 'name', '?')!r})"
        typer.echo(f"{file}: {summary}{name}", err=True)
    raise typer.Exit(2 if issues else 0)


def refuse_unready(target: str) -> None:
    """Before ``podium run`` records a run of a spec file: exit 2, printing each model this
    environment cannot call (no API key, a bad base URL, a missing SDK), if there are any."""
    file = target.partition(":")[0]
    if not file.endswith(SUFFIXES) or not Path(file).is_file():
        return
    try:
        issues = environment_issues(file)
    except UserError:
        return  # unreadable: loading the target reports it
    if not issues:
        return
    for found in issues:
        typer.echo(str(found), err=True)
    count = len(issues)
    typer.echo(
        f"error: {file}: {count} model{'s' if count != 1 else ''} cannot be called from this "
        "environment; no run was started",
        err=True,
    )
    raise typer.Exit(2)


def _order(found: SpecIssue) -> tuple[int, int, str]:
    return (found.line, found.column, found.path)


def schema() -> None:
    """Print the JSON Schema of spec files (for editor completion and checks)."""
    sys.stdout.write(schema_text())


def register_spec_commands(app: typer.Typer) -> None:
    """Add ``validate`` and ``schema`` to the ``podium`` command."""
    app.command()(validate)
    app.command()(schema)


__all__ = ["refuse_unready", "register_spec_commands"]
