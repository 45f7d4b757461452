"""``podium environments``, ``promote`` and ``rollback``: environments and gated promotion from
a shell with access to the store, as the local administrator (``$PODIUM_USER``), through the
same service layer as the HTTP API, recorded in the operator log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from podium.cli.common import err, fail, out, run_with_store
from podium.cli.render import print_json
from podium.cli.server_cmds import NamespaceOption, local_admin
from podium.service import ControlPlane
from podium.store import Store


def environments(
    namespace: NamespaceOption = "default",
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Also show what each serves of it")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--set", help="Replace the environments with this YAML mapping (in order)"),
    ] = None,
) -> None:
    """The namespace's environments in promotion order, their settings (JSON) and, with
    --deployment, the version each serves to new runs."""
    raw: Any = _read_yaml(config) if config is not None else None

    async def go(store: Store) -> None:
        plane = ControlPlane(store)
        if raw is not None:
            await plane.configure_environments(local_admin(), namespace, raw)
        envs = await plane.environments(local_admin(), namespace)
        serving = await plane.serving(local_admin(), namespace, deployment) if deployment else {}
        print_json(
            out,
            [
                {"name": e.name, "settings": e.settings.as_dict()}
                | ({"serving": serving.get(e.name)} if deployment else {})
                for e in envs
            ],
        )

    run_with_store(go)


def promote(
    name: Annotated[str, typer.Argument(help="The deployment")],
    version: Annotated[int, typer.Argument(help="The version number (podium deployments)")],
    to: Annotated[str, typer.Option("--to", help="The environment")],
    namespace: NamespaceOption = "default",
    approve: Annotated[
        bool, typer.Option("--approve", help="Record your approval of this promotion instead")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Skip approvals and order (admin; logged)")
    ] = False,
) -> None:
    """Promote version VERSION of NAME into an environment, once the version is served by the
    environment before it and has the approvals this one needs (see docs/environments.md)."""
    if approve and force:
        fail("--approve and --force: choose one", 2)

    async def go(store: Store) -> None:
        plane = ControlPlane(store)
        if approve:
            found, new = await plane.approve_promotion(local_admin(), namespace, name, version, to)
            state = "approved" if new else "already approved by you (counted once)"
            names = ", ".join(a.approver for a in found)
            err.print(f"{name} v{version} → {to}: {state} · approvers: {names}", markup=False)
            return
        made = await plane.promote(local_admin(), namespace, name, version, to, force=force)
        how = "forced into" if made.kind == "force" else "promoted to"
        err.print(f"{namespace}/{name} v{version} {how} {to}", markup=False)

    run_with_store(go)


def rollback(
    name: Annotated[str, typer.Argument(help="The deployment")],
    env: Annotated[str, typer.Option("--env", help="The environment")],
    namespace: NamespaceOption = "default",
) -> None:
    """Put back the version ENV served before its current one: new runs use it at once, runs
    already started keep theirs."""

    async def go(store: Store) -> None:
        made = await ControlPlane(store).rollback(local_admin(), namespace, name, env)
        err.print(f"{namespace}/{name} in {env} rolled back to v{made.version}", markup=False)

    run_with_store(go)


def _read_yaml(path: Path) -> Any:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        fail(f"--set {path}: cannot read it: {error}", 2)
    if not isinstance(raw, dict):
        fail(f"--set {path}: a mapping of environment name to settings", 2)
    return raw


def register_env_commands(app: typer.Typer) -> None:
    app.command()(environments)
    app.command()(promote)
    app.command()(rollback)
