"""``mcp_servers:`` in a spec: MCP servers whose tools agents list at run time (docs/mcp.md).

The section is validated like every other; building it imports :mod:`podium.providers.mcp`
(the ``mcp`` extra) only when a spec has servers, so a spec without any never needs the SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue

from podium.errors import SpecError, UserError
from podium.policy import SecretsProvider
from podium.spec.fields import Name, SpecModel

EffectName = Literal["read", "idempotent", "at_most_once"]
Names = list[Annotated[str, Field(min_length=1)]]


class MCPServerSpec(SpecModel):
    """An MCP server: ``command`` (stdio) or ``url`` (streamable HTTP), and what its tools do."""

    command: str | None = Field(default=None, description="Start this program; talk over stdio")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Its environment (stdio)")
    cwd: str | None = None
    url: str | None = Field(default=None, description="A streamable HTTP endpoint")
    headers: dict[str, Name] = Field(
        default_factory=dict, description="HTTP header -> the name of a secret holding its value"
    )
    env_secrets: dict[str, Name] = Field(
        default_factory=dict, description="Environment variable -> the name of a secret (stdio)"
    )
    effects: dict[str, EffectName] = Field(
        default_factory=dict, description="tool -> effect class (never the server's hints)"
    )
    default_effect: EffectName = "at_most_once"
    scopes: dict[str, Names] = Field(
        default_factory=dict, description="tool -> scopes an agent needs to see and call it"
    )
    default_scopes: Names = Field(default_factory=list)
    tools: Names | None = Field(default=None, description="Offer only these tools (default all)")
    pins: str | None = Field(
        default=None,
        description="A pin file (podium mcp pin), relative to the spec's folder",
    )
    timeout: Annotated[float, Field(gt=0)] = 30.0


def _provider() -> Any:
    try:
        return importlib.import_module("podium.providers.mcp")
    except ImportError as error:
        raise SpecError(
            f"MCP servers need the mcp extra (pip install 'podium[mcp]'): {error}"
        ) from None


def build_server(name: str, spec: MCPServerSpec, folder: Path | None) -> Any:
    """The :class:`podium.providers.mcp.MCPServer` a validated entry describes."""
    module = _provider()
    pins: dict[str, str] = {}
    if spec.pins is not None:
        path = Path(spec.pins)
        if not path.is_absolute() and folder is not None:
            path = folder / path
        read: Callable[[Path], dict[str, dict[str, str]]] = module.read_pins
        pins = read(path).get(name, {})
    options = spec.model_dump(exclude={"tools", "pins"})
    return module.MCPServer(name=name, tools_allowed=spec.tools, pins=pins, **options)


async def pin_text(servers: Mapping[str, Any], secrets: SecretsProvider) -> str:
    """A pin file fixing the digests of every tool ``servers`` list now."""
    listings: dict[str, JsonValue] = {}
    for name, server in servers.items():
        values = {}
        for secret in server.secret_names:
            value = secrets.get(secret)
            if value is None:
                raise UserError(f"secret {secret!r} of MCP server {name!r} is not set")
            values[secret] = value
        listings[name] = await server.list(values)
    text: str = _provider().pin_file(listings)
    return text


__all__ = ["MCPServerSpec", "build_server", "pin_text"]
