"""MCP servers as an agent's tools (the ``mcp`` extra: the official ``mcp`` 2.x SDK).

>>> weather = MCPServer("weather", url="http://127.0.0.1:8000/mcp", effects={"forecast": "read"})
>>> agent = Agent(name="helper", model="openai:gpt-4.1-mini", toolsets=[weather])

What Podium trusts and what it does not (docs/mcp.md):

- **The operator, not the server, declares what a call does**: each tool's effect class
  (``effects``, default ``at_most_once``) and the scopes an agent needs (``scopes``). The
  server's hints (``readOnlyHint``...) are journaled with the listing and shown, never used.
- **Pinning.** A run's first listing is journaled with a digest of each tool's definition
  (name, description, input schema); a pin file (:func:`read_pins`, ``podium mcp pin``) fixes
  the digests ahead of time. Before every call the live definition is read again; a changed one
  (a rug pull) is refused until a person approves it (:func:`changes` says what changed).
- **Results are untrusted content** (the rule of two applies after one).
- **Secrets** for the server (HTTP headers, stdio environment) come from the secret store when
  a session opens, and are redacted from everything recorded.
- **One session per operation**: a listing and each call open their own session, so a restarted
  server is simply reached again, and a crashed or hung one is a tool error (``timeout``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jsonschema
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic import JsonValue

from podium.errors import SpecError, ToolArgumentsError, ToolDefinitionError, ToolError
from podium.tools import Tool, ToolContext
from podium.types import Effect

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PIN_FORMAT = "podium.mcp-pins/1"
Pin = str | Mapping[str, Any]  # a digest, or {digest, description, parameters} (a pin file)


def digest(name: str, description: str, parameters: JsonValue) -> str:
    """``sha256:<hex>`` of a tool's definition as canonical JSON (name, description, schema)."""
    body = {"name": name, "description": description, "input_schema": parameters}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class MCPServer:
    """An MCP server whose tools an agent may call: ``command`` (stdio) or ``url`` (HTTP).

    ``headers`` and ``env_secrets`` map an HTTP header or an environment variable of the
    server process to a secret's *name*; the value is read from the runtime's secret store.
    ``tools`` limits which of the server's tools are offered (default: all it lists).
    ``pins`` maps tool names to the digests they must have (see :func:`read_pins`).
    """

    name: str
    command: str | None = None
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    env_secrets: Mapping[str, str] = field(default_factory=dict)
    effects: Mapping[str, Effect | str] = field(default_factory=dict)
    default_effect: Effect | str = Effect.AT_MOST_ONCE
    scopes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    default_scopes: Sequence[str] = ()
    tools_allowed: Sequence[str] | None = None
    pins: Mapping[str, Pin] = field(default_factory=dict)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", self.name):
            raise SpecError(f"MCP server name {self.name!r} must be 1-64 letters, digits, _.-")
        if (self.command is None) == (self.url is None):
            raise SpecError(f"MCP server {self.name!r}: give exactly one of command or url")
        try:
            Effect(self.default_effect)
            for value in self.effects.values():
                Effect(value)
        except ValueError as error:
            raise SpecError(f"MCP server {self.name!r}: {error}") from None
        if self.timeout <= 0:
            raise SpecError(f"MCP server {self.name!r}: timeout must be > 0")

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(sorted({*self.headers.values(), *self.env_secrets.values()}))

    # -- the wire ---------------------------------------------------------------------------

    async def _client(self, stack: AsyncExitStack, secrets: Mapping[str, str]) -> Client:
        if self.url is not None:
            headers = {header: secrets[name] for header, name in self.headers.items()}
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            transport = streamable_http_client(self.url, http_client=http)
            client = Client(transport, cache=None, read_timeout_seconds=self.timeout)
        else:
            assert self.command is not None
            env = {**get_default_environment(), **self.env}
            env.update({var: secrets[name] for var, name in self.env_secrets.items()})
            params = StdioServerParameters(
                command=self.command, args=list(self.args), env=env, cwd=self.cwd
            )
            client = Client(params, cache=None, read_timeout_seconds=self.timeout)
        return await stack.enter_async_context(client)

    async def list(self, secrets: Mapping[str, str]) -> JsonValue:
        """The server's tools as the journal keeps them: name, description, schema, hints,
        the digest of the definition and the pinned digest it must keep."""
        try:
            async with AsyncExitStack() as stack:
                client = await self._client(stack, secrets)
                listed = await _all_tools(client)
        except Exception as error:
            why = _why(error)
            raise ToolError(f"MCP server {self.name!r} could not be listed: {why}") from None
        wanted = None if self.tools_allowed is None else set(self.tools_allowed)
        return [_entry(t, self.pins) for t in listed if wanted is None or t.name in wanted]

    async def call(self, name: str, arguments: dict[str, Any], secrets: Mapping[str, str]) -> Any:
        """One call in its own session; an error result or a dead server raises ToolError."""
        try:
            async with AsyncExitStack() as stack:
                client = await self._client(stack, secrets)
                result = await client.call_tool(name, arguments)
        except Exception as error:
            raise ToolError(f"MCP server {self.name!r} failed: {_why(error)}") from None
        if result.is_error:
            raise ToolError(f"MCP tool {name!r} returned an error: {_text(result.content)}")
        if result.structured_content is not None:
            return result.structured_content
        return _text(result.content)

    async def live(self, name: str, secrets: Mapping[str, str]) -> dict[str, JsonValue] | None:
        """The tool's definition as the server presents it now (None: no longer listed)."""
        listing = cast(list[dict[str, JsonValue]], await self.list(secrets))
        return next((entry for entry in listing if entry["name"] == name), None)

    # -- tools ------------------------------------------------------------------------------

    def tools(self, listing: JsonValue) -> Sequence[Tool]:
        entries = cast(list[dict[str, Any]], listing)
        return [self._tool(entry) for entry in entries]

    def _tool(self, entry: dict[str, Any]) -> Tool:
        name = str(entry["name"])
        if not _NAME.match(name):
            raise ToolDefinitionError(
                f"MCP server {self.name!r}: tool name {name!r} must match {_NAME.pattern}"
            )
        schema = cast(dict[str, JsonValue], entry["parameters"])
        secrets = self.secret_names

        async def invoke(_podium_context: ToolContext, **arguments: Any) -> Any:
            return await self.call(name, arguments, _podium_context.secrets)

        async def drift(values: Mapping[str, str]) -> str | None:
            return changes(entry, await self.live(name, values))

        return Tool(
            name=name,
            description=str(entry["description"]),
            parameters=schema,
            function=invoke,
            effect=Effect(self.effects.get(name, self.default_effect)),
            timeout=self.timeout,
            context_param="_podium_context",
            scopes=frozenset(self.scopes.get(name, self.default_scopes)),
            secrets=secrets,
            check_arguments=_checker(name, schema),
            drift=drift,
        )


def changes(pinned: Mapping[str, Any], now: Mapping[str, Any] | None) -> str | None:
    """What changed between a pinned definition and the live one, or None if nothing did."""
    name = pinned["name"]
    if now is None:
        return f"MCP tool {name!r} is no longer listed by its server"
    if now["digest"] == pinned["pin"]:
        return None
    was = pinned.get("pinned") or pinned  # a pin file's definition, or the run's listing
    said = []
    if now["description"] != was["description"]:
        said.append(f"description {was['description']!r} -> {now['description']!r}")
    if now["parameters"] != was["parameters"]:
        said.append(
            "input schema "
            + json.dumps(was["parameters"], sort_keys=True)
            + " -> "
            + json.dumps(now["parameters"], sort_keys=True)
        )
    if not said:
        said.append(f"digest {now['digest']} differs from the pinned {pinned['pin']}")
    return f"MCP tool {name!r} changed since it was pinned: " + "; ".join(said)


def _entry(tool: mcp_types.Tool, pins: Mapping[str, Pin]) -> dict[str, JsonValue]:
    description = tool.description or ""
    parameters = cast(JsonValue, tool.input_schema)
    own = digest(tool.name, description, parameters)
    notes = tool.annotations
    hints: JsonValue = (
        notes.model_dump(mode="json", by_alias=True, exclude_none=True) if notes else {}
    )
    pin = pins.get(tool.name, own)
    entry: dict[str, JsonValue] = {
        "name": tool.name, "description": description, "parameters": parameters,
        "hints": hints, "digest": own, "pin": pin if isinstance(pin, str) else pin["digest"],
    }  # fmt: skip
    if not isinstance(pin, str) and pin["digest"] != own:  # what the pin file says it was
        entry["pinned"] = {"description": pin["description"], "parameters": pin["parameters"]}
    return entry


async def _all_tools(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _checker(name: str, schema: dict[str, JsonValue]) -> Any:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        why = error.message
        raise ToolDefinitionError(f"MCP tool {name!r}: invalid input schema: {why}") from None
    validator = jsonschema.Draft202012Validator(schema)

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ToolArgumentsError(f"invalid arguments for tool {name!r}: not an object")
        problems = [
            f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}"
            for error in validator.iter_errors(value)
        ]
        if problems:
            raise ToolArgumentsError(f"invalid arguments for tool {name!r}: " + "; ".join(problems))
        return value

    return check


def _text(content: Sequence[Any]) -> str:
    parts = []
    for block in content:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else json.dumps(block.model_dump(mode="json")))
    return "\n".join(parts)


def _why(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_pins(path: str | Path) -> dict[str, dict[str, Pin]]:
    """A pin file: ``{"format": "podium.mcp-pins/1", "servers": {server: {tool: pin}}}``, each
    pin ``{"digest": "sha256:...", "description": ..., "parameters": ...}`` (or a digest)."""
    where = Path(path)
    try:
        data = json.loads(where.read_text())
    except (OSError, ValueError) as error:
        raise SpecError(f"{where}: cannot read the MCP pin file: {error}") from None
    servers = data.get("servers") if isinstance(data, dict) else None
    if data.get("format") != PIN_FORMAT or not isinstance(servers, dict):
        raise SpecError(f"{where}: not a pin file ({PIN_FORMAT!r} with 'servers')")
    for server, tools in servers.items():
        if not isinstance(tools, dict) or not all(_a_pin(v) for v in tools.values()):
            raise SpecError(
                f"{where}: servers.{server} must map tool names to pins "
                "({digest: 'sha256:...', description, parameters})"
            )
    return cast(dict[str, dict[str, Pin]], servers)


def _a_pin(value: object) -> bool:
    if isinstance(value, str):
        return value.startswith("sha256:")
    return (
        isinstance(value, dict)
        and isinstance(value.get("digest"), str)
        and value["digest"].startswith("sha256:")
        and isinstance(value.get("description"), str)
        and isinstance(value.get("parameters"), dict)
    )


def pin_file(listings: Mapping[str, JsonValue]) -> str:
    """The text of a pin file fixing the digests of each server's listing."""
    servers = {
        server: {
            str(e["name"]): {
                "digest": e["digest"],
                "description": e["description"],
                "parameters": e["parameters"],
            }
            for e in cast(list[dict[str, Any]], listing)
        }
        for server, listing in listings.items()
    }
    return json.dumps({"format": PIN_FORMAT, "servers": servers}, indent=2, sort_keys=True) + "\n"


__all__ = ["MCPServer", "changes", "digest", "pin_file", "read_pins"]
