"""A validated spec document to the objects of the Python API: models, tools, agents, nodes.

Everything that can still go wrong here (an import that names the wrong kind of object, a
constructor refusing a value, a pattern name used twice) becomes a :class:`Finding` at the path
of the part being built; the build goes on so every problem is reported at once, and the root
is returned only if there were none.
"""

from __future__ import annotations

import contextlib
import inspect
import pathlib
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import pydantic

from podium.adapters import langgraph_node
from podium.agents import Agent
from podium.context_policy import ContextPolicy
from podium.errors import UserError
from podium.messages import ModelSettings
from podium.models import Model
from podium.retry import RetryPolicy
from podium.runtime.nodes import FunctionNode, Node, Workflow, as_node
from podium.spec.errors import Path, format_path
from podium.spec.fields import BUILTIN_TYPES, ROUND_ROBIN
from podium.spec.mcp import MCPServerSpec, build_server
from podium.spec.nodes import AgentNode, LangGraphNode, WorkflowNode
from podium.spec.nodes import FunctionNode as FunctionSpec
from podium.spec.resolve import ImportProblem, resolve
from podium.spec.schema import AgentSpec, ContextSpec, ModelImport, SpecDocument
from podium.spec.validate import Finding
from podium.tools import Tool, Toolset

_BUILD_ERRORS = (UserError, TypeError, ValueError)
T = TypeVar("T")


class Failed(Exception):
    """Building one part failed; its finding is already recorded."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # what a part that failed to build is, until the owner gives up
PatternBuilder = Callable[["Builder", Any, Path], Any]
AgentOptions = Callable[["Builder", AgentSpec, Path, list[Tool]], dict[str, Any]]


def options(**values: Any) -> dict[str, Any]:
    """Keyword arguments the spec set; the rest keep the constructor's defaults."""
    return {key: value for key, value in values.items() if value is not None}


def _no_options(b: Builder, spec: AgentSpec, at: Path, tools: list[Tool]) -> dict[str, Any]:
    return {}


class Builder:
    """Builds a document's objects, collecting a finding for each part that cannot be built."""

    def __init__(
        self,
        doc: SpecDocument,
        patterns: Mapping[str, PatternBuilder],
        agent_options: AgentOptions = _no_options,
        folder: pathlib.Path | None = None,
    ) -> None:
        self.doc = doc
        self.folder = folder  # the spec file's folder: relative pin files resolve there
        self.patterns = patterns
        self.agent_options = agent_options  # governance: identity, approvals, guardrails...
        self.findings: list[Finding] = []
        self.models: dict[str, Model | str] = {}
        self.tools: dict[str, Tool] = {}
        self.mcp_servers: dict[str, Toolset] = {}
        self.agents: dict[str, Agent] = {}
        self.pattern_names: dict[str, Path] = {}
        self._failed: set[str] = set()  # agents that could not be built (and are reported)
        self._building: list[str] = []  # agents being built, each waiting for the next

    def build(self) -> Any:
        """The root node (``None`` when there are findings)."""
        self._each(self.doc.models, "models", self._named_model)
        self._each(self.doc.tools, "tools", self._tool)
        self._each(self.doc.mcp_servers, "mcp_servers", self._mcp_server)
        for name in self.doc.agents:
            with contextlib.suppress(Failed):
                self.built_agent(name)
        try:
            root = self.node(self.doc.workflow, ("workflow",))
        except Failed:
            return None
        return None if self.findings else root

    def _each(self, section: dict[str, Any], name: str, build: Callable[[Any, Path], Any]) -> None:
        target: dict[str, Any] = getattr(self, name)
        for key, value in section.items():
            with contextlib.suppress(Failed):
                target[key] = build(value, (name, key))

    # -- findings and imports --------------------------------------------------------------

    def fail(self, path: Path, message: str, *, at_key: bool = False) -> Failed:
        self.findings.append(Finding(path, message, at_key=at_key))
        return Failed(message)

    def resolve(self, import_path: str, at: Path) -> Any:
        try:
            return resolve(import_path)
        except ImportProblem as error:  # validation imported it; only a flaky module gets here
            self.findings.append(Finding(at, error.message, error.suggestion))
            raise Failed(error.message) from None

    def attempt(self, build: Callable[..., T], *args: Any) -> T:
        """``build(*args)``, or :data:`MISSING` if it failed (see :meth:`require`)."""
        try:
            return build(*args)
        except Failed:
            return cast(T, MISSING)

    def require(self, *parts: Any) -> None:
        """Give up on the owner if any part (or item of a list/dict part) is missing."""
        for part in parts:
            items = part.values() if isinstance(part, dict) else part
            if part is MISSING or (isinstance(part, list | dict) and MISSING in list(items)):
                raise Failed("a part failed to build")

    def construct(self, at: Path, factory: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a constructor; a refused value is reported at ``at`` (the owner's key)."""
        try:
            return factory(*args, **kwargs)
        except _BUILD_ERRORS as error:
            raise self.fail(at, str(error), at_key=True) from None

    # -- models, tools, agents -------------------------------------------------------------

    def _named_model(self, value: str | ModelImport, at: Path) -> Model | str:
        return value if isinstance(value, str) else self._model_import(value, at)

    def _model_import(self, spec: ModelImport, at: Path) -> Model:
        at = (*at, "import")
        obj = self.resolve(spec.import_, at)
        if not isinstance(obj, Model) and callable(obj):
            try:
                obj = obj()
            except Exception as error:
                message = f"calling {spec.import_!r} failed: {type(error).__name__}: {error}"
                raise self.fail(at, message) from None
        if not isinstance(obj, Model):
            message = f"{spec.import_!r} is not a podium Model nor a function returning one"
            raise self.fail(at, f"{message} (got {type(obj).__name__})")
        return obj

    def _agent_model(self, value: str | ModelImport, at: Path) -> Model | str:
        if isinstance(value, ModelImport):
            return self._model_import(value, at)
        if ":" in value:
            return value
        if value not in self.models:
            raise Failed(value)  # the model itself failed to build and is reported
        return self.models[value]

    def _tool(self, import_path: str, at: Path) -> Tool:
        obj = self.resolve(import_path, at)
        if not isinstance(obj, Tool):
            hint = "decorate the function with @tool" if callable(obj) else "expected a Tool"
            raise self.fail(at, f"{import_path!r} is not a tool ({hint})")
        return obj

    def _mcp_server(self, spec: MCPServerSpec, at: Path) -> Toolset:
        built: Toolset = self.construct(at, build_server, str(at[-1]), spec, self.folder)
        return built

    def _agent_mcp(self, ref: str, at: Path) -> Toolset:
        if ref not in self.mcp_servers:
            raise Failed(ref)  # the server itself failed to build and is reported
        return self.mcp_servers[ref]

    def _agent_tool(self, ref: str, at: Path) -> Tool:
        if ":" in ref:
            return self._tool(ref, at)
        if ref not in self.tools:
            raise Failed(ref)
        return self.tools[ref]

    def output_type(self, name: str, at: Path) -> Any:
        if name in BUILTIN_TYPES:
            return BUILTIN_TYPES[name]
        obj = self.resolve(name, at)
        if not isinstance(obj, type) and typing.get_origin(obj) is None:
            raise self.fail(at, f"{name!r} is not a type (got {type(obj).__name__})")
        try:
            pydantic.TypeAdapter(obj)
        except Exception as error:
            message = f"{name!r} cannot be an output type: {type(error).__name__}: {error}"
            raise self.fail(at, message) from None
        return obj

    def built_agent(self, name: str, at: Path = ()) -> Agent:
        """The agent called ``name``, built now if it was not yet: an agent may refer to one
        defined after it (its judge). An agent that needs itself, through others, fails at
        ``at``, the reference that closes the cycle."""
        if name in self.agents:
            return self.agents[name]
        if name in self._failed or name not in self.doc.agents:
            raise Failed(name)
        if name in self._building:
            cycle = [*self._building[self._building.index(name) :], name]
            if len(cycle) == 2:
                raise self.fail(at, f"agent {name!r} cannot judge itself")
            raise self.fail(at, f"agents judge each other in a cycle: {' -> '.join(cycle)}")
        self._building.append(name)
        try:
            agent = self._agent(self.doc.agents[name], ("agents", name))
        except Failed:
            self._failed.add(name)
            raise
        finally:
            self._building.pop()
        self.agents[name] = agent
        return agent

    def _agent(self, spec: AgentSpec, at: Path) -> Agent:
        model = self.attempt(self._agent_model, spec.model, (*at, "model"))
        tools = [
            self.attempt(self._agent_tool, t, (*at, "tools", i)) for i, t in enumerate(spec.tools)
        ]
        toolsets = [
            self.attempt(self._agent_mcp, ref, (*at, "mcp", i)) for i, ref in enumerate(spec.mcp)
        ]
        output = self.optional(self.output_type, spec.output_type, (*at, "output_type"))
        context = self.optional(self._context, spec.context, (*at, "context"))
        governance = self.agent_options(self, spec, at, tools)
        self.require(model, tools, toolsets, output, context, *governance.values())
        limits = self.doc.limits
        settings = spec.settings.model_dump() if spec.settings else {}
        return self.construct(
            at,
            Agent,
            name=str(at[-1]),
            model=model,
            instructions=spec.instructions,
            tools=tools,
            toolsets=toolsets,
            output_type=output,
            max_turns=_first(spec.max_turns, limits.max_turns),
            output_retries=_first(spec.output_retries, limits.output_retries),
            settings=ModelSettings(**settings),
            model_retry=RetryPolicy(**spec.retry.model_dump()) if spec.retry else None,
            context=context,
            **governance,
        )

    def _context(self, spec: ContextSpec, at: Path) -> ContextPolicy:
        summariser = self.optional(self._agent_model, spec.summarize_with, (*at, "summarize_with"))
        self.require(summariser)
        fields = spec.model_dump(exclude={"summarize_with"})
        return self.construct(at, ContextPolicy, summarize_with=summariser, **fields)

    def optional(self, build: Callable[[Any, Path], T], value: Any, at: Path) -> T | None:
        """``build(value, at)`` unless ``value`` is ``None``; :data:`MISSING` if it failed."""
        return None if value is None else self.attempt(build, value, at)

    # -- nodes -----------------------------------------------------------------------------

    def node(self, spec: Any, at: Path) -> Any:
        """The object for a node spec: an agent, a function, a workflow or a pattern."""
        if isinstance(spec, AgentNode):
            if spec.agent not in self.agents:
                raise Failed(spec.agent)
            return self.agents[spec.agent]
        if isinstance(spec, FunctionSpec):
            return self._function(spec.function, (*at, "function"))
        if isinstance(spec, WorkflowNode):
            return self._workflow(spec.workflow, (*at, "workflow"))
        if isinstance(spec, LangGraphNode):
            return self._langgraph(spec.langgraph, (*at, "langgraph"))
        kind = next(iter(type(spec).model_fields))
        pattern = getattr(spec, kind)
        self._claim_name(pattern.name, (*at, kind))
        return self.patterns[kind](self, pattern, (*at, kind))

    def nodes(self, specs: list[Any], at: Path) -> list[Any]:
        """Each node of a list (a failed one is :data:`MISSING`)."""
        return [self.attempt(self.node, spec, (*at, i)) for i, spec in enumerate(specs)]

    def callable(self, import_path: str, at: Path) -> Callable[..., Any]:
        obj = self.resolve(import_path, at)
        if not callable(obj) or isinstance(obj, type):
            raise self.fail(at, f"{import_path!r} is not a function")
        return obj  # type: ignore[no-any-return]

    def router(self, ref: str, at: Path) -> Any:
        """An agent by name, a function by import path, or ``round_robin`` as written."""
        if ref == ROUND_ROBIN:
            return ref
        return self.callable(ref, at) if ":" in ref else self.agent(ref)

    def _function(self, import_path: str, at: Path) -> Any:
        obj = self.resolve(import_path, at)
        if isinstance(obj, FunctionNode):
            return obj
        if isinstance(obj, Workflow):
            raise self.fail(
                at, f"{import_path!r} is a workflow: write {{workflow: {import_path!r}}}"
            )
        if isinstance(obj, Agent | Node | type) or not callable(obj):
            raise self.fail(at, f"{import_path!r} is not a function (got {type(obj).__name__})")
        return obj

    def _workflow(self, import_path: str, at: Path) -> Workflow:
        obj = self.resolve(import_path, at)
        if inspect.iscoroutinefunction(obj):
            obj = as_node(obj)
        if not isinstance(obj, Workflow):
            expected = "expected a @workflow or an async function (ctx, input)"
            raise self.fail(at, f"{import_path!r} is not a workflow: {expected}")
        return obj

    def _langgraph(self, import_path: str, at: Path) -> Any:
        obj = self.resolve(import_path, at)
        try:
            return langgraph_node(obj, name=import_path.rsplit(":", 1)[-1])
        except UserError as error:
            raise self.fail(at, f"{import_path!r}: {error}") from None

    def agent(self, name: str) -> Agent:
        if name not in self.agents:
            raise Failed(name)
        return self.agents[name]

    def _claim_name(self, name: str, at: Path) -> None:
        """Pattern names are unique in a spec, so every node's path says which one it is."""
        first = self.pattern_names.setdefault(name, at)
        if first != at:
            where = format_path(first)
            raise self.fail((*at, "name"), f"duplicate node name {name!r} (first used at {where})")


def _first(value: int | None, default: int) -> int:
    return default if value is None else value


__all__ = ["MISSING", "AgentOptions", "Builder", "Failed", "PatternBuilder", "options"]
