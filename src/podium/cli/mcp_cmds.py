"""``podium mcp pin SPEC``: fix the digests of every MCP tool a spec's servers offer now.

The pin file (``podium.mcp-pins/1``) is written next to the spec unless ``--out`` names it;
the spec's ``mcp_servers.<name>.pins`` points at it, and from then on a tool whose definition
differs from its pin is refused until a person approves the change (docs/mcp.md). Secrets the
servers need are read from the environment, as the runtime's default secret store does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import typer

from podium.cli.common import guarded, out
from podium.errors import UserError
from podium.policy import EnvSecrets
from podium.spec.loader import mcp_servers
from podium.spec.mcp import pin_text

mcp_app = typer.Typer(help="MCP: pin the tools of a spec's MCP servers.", no_args_is_help=True)


@mcp_app.command()
def pin(
    spec: Annotated[Path, typer.Argument(help="A spec file with mcp_servers")],
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write (default: SPEC's name + .mcp-pins.json)"),
    ] = None,
) -> None:
    """List each MCP server of SPEC now and write the digests of its tools to a pin file."""
    target = output or spec.with_name(spec.stem + ".mcp-pins.json")
    text = guarded(lambda: anyio.run(_pins, spec))
    target.write_text(text, encoding="utf-8")
    out.print(f"pinned {target}", highlight=False, markup=False)


async def _pins(spec: Path) -> str:
    servers = mcp_servers(spec)
    if not servers:
        raise UserError(f"{spec}: the spec declares no mcp_servers")
    return await pin_text(servers, EnvSecrets())


def register_mcp_commands(app: typer.Typer) -> None:
    app.add_typer(mcp_app, name="mcp")
