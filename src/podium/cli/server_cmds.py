"""``podium serve``, ``deploy``, ``deployments`` and ``keys``: the control plane from a shell
with access to the store. These commands act as the local administrator (``$PODIUM_USER``),
through the same service layer as the HTTP API, and are recorded in the operator log."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated

import typer

from podium.cli.common import Options, err, fail, out, run_with_store, who
from podium.cli.render import print_json
from podium.service import Caller, ControlPlane
from podium.service.core import expires
from podium.service.views import deployment_json, key_json
from podium.store import Store

NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="The namespace")]
keys_app = typer.Typer(
    help="API keys of `podium serve`: create, list, revoke.", no_args_is_help=True
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def local_admin() -> Caller:
    """Whoever holds the store: an administrator of every namespace."""
    return Caller(name=who(), credential=f"local:{who()}", source="cli", roles={"*": "admin"})


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Execute runs in this process (default: on for SQLite, off for PostgreSQL)",
        ),
    ] = None,
) -> None:
    """Serve the /v1 HTTP API (and, on SQLite, execute runs) until Ctrl-C."""
    try:
        uvicorn = importlib.import_module("uvicorn")
        importlib.import_module("fastapi")
    except ImportError:
        fail("podium serve needs the server extra: pip install -e '.[server]' (in a clone)", 2)
    os.environ["PODIUM_DB"] = Options.db
    if worker is not None:
        os.environ["PODIUM_SERVE_WORKER"] = "1" if worker else "0"
    err.print(f"podium serve · http://{host}:{port}/v1 · store {Options.db}", markup=False)
    uvicorn.run(
        "podium.server.serve:build", factory=True, host=host, port=port, log_level="warning"
    )


def deploy(
    target: Annotated[str, typer.Argument(help="A spec file (flow.yaml) or module:object")],
    name: Annotated[str, typer.Option("--name", help="The deployment's name")],
    namespace: NamespaceOption = "default",
    root: Annotated[
        Path | None,
        typer.Option(help="Capture Python sources under this folder (default: the spec's)"),
    ] = None,
) -> None:
    """Record an immutable version of TARGET (the spec and the Python source it loads)."""

    async def go(store: Store) -> None:
        plane = ControlPlane(store)
        deployment, created = await plane.deploy(local_admin(), namespace, name, target, root)
        state = "deployed" if created else "unchanged (already deployed)"
        out.print(
            f"{namespace}/{name} v{deployment.version} {deployment.digest[:12]} {state} · "
            f"{len(deployment.files)} file(s)",
            markup=False, highlight=False,
        )  # fmt: skip

    run_with_store(go)


def deployments(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """List deployed versions, newest first."""

    async def go(store: Store) -> None:
        found = await ControlPlane(store).deployments(local_admin(), namespace)
        if as_json:
            print_json(out, [deployment_json(d) for d in found])
            return
        for d in found:
            out.print(
                f"{d.namespace}/{d.name} v{d.version} {d.digest[:12]} {d.entry} "
                f"by {d.created_by}", markup=False, highlight=False,
            )  # fmt: skip

    run_with_store(go)


def parse_duration(text: str) -> float:
    """``90``, ``30m``, ``12h``, ``30d`` as seconds."""
    unit = text[-1:].lower()
    number = text[:-1] if unit in _UNITS else text
    try:
        seconds = float(number) * _UNITS.get(unit, 1)
    except ValueError:
        fail(f"--expires {text!r}: use seconds or a number with s, m, h or d (e.g. 30d)", 2)
    if seconds <= 0:
        fail(f"--expires {text!r}: must be positive", 2)
    return seconds


@keys_app.command("create")
def create_key(
    namespace: NamespaceOption,
    role: Annotated[str, typer.Option(help="viewer, operator, approver or admin")],
    expires_in: Annotated[
        str | None, typer.Option("--expires", help="Lifetime: 3600, 12h, 30d (default: none)")
    ] = None,
    label: Annotated[str, typer.Option(help="Who or what holds it (shown as principal)")] = "",
) -> None:
    """Create an API key; its token is printed once (stdout) and stored only as a hash."""
    seconds = parse_duration(expires_in) if expires_in else None

    async def go(store: Store) -> str:
        key, token = await ControlPlane(store).create_key(
            local_admin(), namespace, role, expires_at=expires(seconds), label=label
        )
        err.print(f"key {key.key_id} · {namespace} · {role} (shown once)", markup=False)
        return token

    out.print(run_with_store(go), markup=False, highlight=False)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key id")]) -> None:
    """Revoke a key: refused at once by every replica."""

    async def go(store: Store) -> None:
        await ControlPlane(store).revoke_key(local_admin(), key_id)

    run_with_store(go)
    err.print(f"key {key_id} revoked", markup=False)


@keys_app.command("list")
def list_keys(
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
) -> None:
    """Keys (never their secrets)."""

    async def go(store: Store) -> None:
        print_json(
            out, [key_json(k) for k in await ControlPlane(store).keys(local_admin(), namespace)]
        )

    run_with_store(go)


def register_server_commands(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(deploy)
    app.command()(deployments)
    app.add_typer(keys_app, name="keys")
