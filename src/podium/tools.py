"""Typed tools: a Python function becomes a schema, a validator and an effect class.

>>> @tool(effect="read")
... def lookup_order(order_id: str) -> dict[str, str]:
...     '''Look up an order.
...
...     Args:
...         order_id: The order number, e.g. "A-100".
...     '''
...     return {"order_id": order_id, "status": "shipped"}
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, get_type_hints, overload

import anyio
import anyio.to_thread
import pydantic
import pydantic_core
from pydantic import JsonValue

from podium import jsonsafe
from podium.errors import ToolArgumentsError, ToolDefinitionError, ToolResultError
from podium.messages import ToolDefinition
from podium.policy import ApprovalRule
from podium.retry import RetryPolicy
from podium.types import Effect

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolContext:
    """What a running tool may know about its call. Stable across retries and replays."""

    run_id: str
    step_key: str
    tool_call_id: str
    idempotency_key: str
    attempt: int
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # declared ones only


@dataclass(frozen=True, kw_only=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, JsonValue]
    function: Callable[..., Any]
    effect: Effect = Effect.READ
    timeout: float | None = None
    retry: RetryPolicy = _NO_RETRY
    args_model: type[pydantic.BaseModel] | None = None
    context_param: str | None = None
    threaded: bool = True
    scopes: frozenset[str] = frozenset()  # what an agent must be granted to see and call it
    approval: ApprovalRule | None = None  # when a person must approve a call
    tags: frozenset[str] = frozenset()  # "consequential": needs approval after untrusted input
    secrets: tuple[str, ...] = ()  # secret names resolved only when it runs (ToolContext)
    trusted_output: bool = False  # its results are not untrusted content (provenance)
    # a tool described by someone else (an MCP server): its arguments checked against its
    # JSON schema (raises ToolArgumentsError), and the reason its live definition no longer
    # matches the pinned one (None: unchanged), asked before every call (docs/mcp.md)
    check_arguments: Callable[[Any], dict[str, Any]] | None = None
    drift: Callable[[Mapping[str, str]], Awaitable[str | None]] | None = None

    @property
    def consequential(self) -> bool:
        """An action that matters: ``at_most_once``, or tagged ``consequential``."""
        return self.effect is Effect.AT_MOST_ONCE or "consequential" in self.tags

    def definition(self) -> ToolDefinition:
        return ToolDefinition(
            name=self.name, description=self.description, parameters=self.parameters
        )

    def validate(self, arguments: str | dict[str, Any]) -> dict[str, Any]:
        """Parse and validate model-provided arguments; raise :class:`ToolArgumentsError`.

        The text must be strict JSON (:mod:`podium.jsonsafe`: finite numbers, valid text,
        bounded depth and size) before the schema is applied, and what the schema made of it
        must still be (a ``float`` field given ``"NaN"`` is refused): nothing a predicate, a
        guardrail or the tool sees can be a value the journal cannot record.
        """
        if self.args_model is None:
            return self._validate_foreign(arguments)
        try:
            if isinstance(arguments, str):
                text = arguments or "{}"
                jsonsafe.loads(text, root="arguments", max_chars=jsonsafe.MAX_ARGUMENT_CHARS)
                parsed = self.args_model.model_validate_json(text)
            else:
                jsonsafe.check(arguments, root="arguments")
                parsed = self.args_model.model_validate(arguments)
            validated = {name: getattr(parsed, name) for name in type(parsed).model_fields}
            jsonsafe.check_python(validated, root="arguments")
        except pydantic.ValidationError as error:
            raise ToolArgumentsError(_describe(self.name, error)) from None
        except jsonsafe.JsonValueError as error:
            raise ToolArgumentsError(f"invalid arguments for tool {self.name!r}: {error}") from None
        return validated

    def _validate_foreign(self, arguments: str | dict[str, Any]) -> dict[str, Any]:
        assert self.check_arguments is not None, f"tool {self.name!r} has no argument schema"
        try:
            if isinstance(arguments, str):
                value = jsonsafe.loads(
                    arguments or "{}", root="arguments", max_chars=jsonsafe.MAX_ARGUMENT_CHARS
                )
            else:
                jsonsafe.check(arguments, root="arguments")
                value = arguments
        except jsonsafe.JsonValueError as error:
            raise ToolArgumentsError(f"invalid arguments for tool {self.name!r}: {error}") from None
        return self.check_arguments(value)

    async def invoke(self, arguments: dict[str, Any], context: ToolContext) -> JsonValue:
        """Run the function once (no retries; the runtime owns those) and make it JSON."""
        kwargs = dict(arguments)
        if self.context_param:
            kwargs[self.context_param] = context
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(**kwargs)
        elif self.threaded:
            result = await anyio.to_thread.run_sync(lambda: self.function(**kwargs))
        else:
            result = self.function(**kwargs)
        return cast(JsonValue, _to_json(self.name, result))


def _to_json(tool: str, value: object) -> object:
    """The result as strict JSON, or :class:`ToolResultError` saying where it is not."""
    try:
        jsonable = pydantic_core.to_jsonable_python(value)
        jsonsafe.check(jsonable, root="result")
    except jsonsafe.JsonValueError as error:
        raise ToolResultError(f"the result of tool {tool!r} cannot be recorded: {error}") from None
    except (pydantic_core.PydanticSerializationError, ValueError, RecursionError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ToolResultError(f"the result of tool {tool!r} is not JSON: {detail}") from None
    return jsonable


def _describe(tool: str, error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return f"invalid arguments for tool {tool!r}: " + "; ".join(problems)


class Toolset(Protocol):
    """Tools listed at run time (an MCP server): ``list`` returns the JSON the journal keeps
    when a run first lists them, ``tools`` builds the tools from that JSON (on every pass, so a
    replay sees the definitions the run pinned)."""

    @property
    def name(self) -> str: ...

    async def list(self, secrets: Mapping[str, str]) -> JsonValue: ...

    def tools(self, listing: JsonValue) -> Sequence[Tool]: ...

    @property
    def secret_names(self) -> tuple[str, ...]: ...


AnyFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


@overload
def tool(function: AnyFunction, /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect | str = Effect.READ,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    threaded: bool = True,
    **governance: Any,
) -> Callable[[AnyFunction], Tool]: ...


def tool(
    function: AnyFunction | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect | str = Effect.READ,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    threaded: bool = True,
    **governance: Any,
) -> Tool | Callable[[AnyFunction], Tool]:
    """Make a tool from a function's type hints and docstring.

    ``effect`` declares what repeating the call does (see :class:`~podium.types.Effect`).
    ``retry`` applies to ``read`` and ``idempotent`` tools; an ``at_most_once`` tool is never
    retried automatically, so giving it a retry policy is an error. Sync functions run in a
    worker thread unless ``threaded=False``.

    Governance (see docs/governance.md): ``scopes`` an agent must hold to see and call it,
    ``approval`` (an :class:`~podium.policy.ApprovalRule`), ``tags`` (``"consequential"``),
    ``secrets`` (names passed in ``ToolContext.secrets`` at call time only), and
    ``trusted_output`` (its results are not untrusted content).
    """

    def build(fn: AnyFunction) -> Tool:
        return make_tool(
            fn,
            name=name,
            description=description,
            effect=Effect(effect),
            timeout=timeout,
            retry=retry,
            threaded=threaded,
            **governance,
        )

    return build(function) if function is not None else build


def make_tool(
    fn: AnyFunction,
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect = Effect.READ,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    threaded: bool = True,
    scopes: Iterable[str] | None = None,
    approval: ApprovalRule | None = None,
    tags: Iterable[str] | None = None,
    secrets: Iterable[str] | None = None,
    trusted_output: bool = False,
) -> Tool:
    tool_name: str = name or str(getattr(fn, "__name__", ""))
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(f"tool name {tool_name!r} must match {_NAME.pattern}")
    if effect is Effect.AT_MOST_ONCE and retry is not None and retry.max_attempts > 1:
        raise ToolDefinitionError(
            f"tool {tool_name!r} is at_most_once and cannot have automatic retries"
        )
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    args_model, context_param = _args_model(fn, tool_name, arg_docs)
    schema = cast(dict[str, JsonValue], args_model.model_json_schema())
    schema.pop("title", None)
    return Tool(
        name=tool_name,
        description=str(description or summary or tool_name),
        parameters=schema,
        function=fn,
        effect=effect,
        timeout=timeout,
        retry=retry or _NO_RETRY,
        args_model=args_model,
        context_param=context_param,
        threaded=threaded,
        scopes=_names(tool_name, "scopes", scopes),
        approval=_approval(tool_name, approval),
        tags=_names(tool_name, "tags", tags),
        secrets=tuple(sorted(_names(tool_name, "secrets", secrets))),
        trusted_output=bool(trusted_output),
    )


def _names(tool_name: str, what: str, values: Iterable[str] | None) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise ToolDefinitionError(f"tool {tool_name!r}: {what} must be a list of names")
    return frozenset(values)


def _approval(tool_name: str, rule: ApprovalRule | None) -> ApprovalRule | None:
    if rule is not None and not isinstance(rule, ApprovalRule):
        raise ToolDefinitionError(f"tool {tool_name!r}: approval must be an ApprovalRule")
    return rule


def _args_model(
    fn: AnyFunction, tool_name: str, arg_docs: dict[str, str]
) -> tuple[type[pydantic.BaseModel], str | None]:
    try:
        hints = get_type_hints(fn)
    except (NameError, TypeError) as error:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: cannot resolve type hints: {error}"
        ) from None
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name)
        if annotation is ToolContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name!r}: *args/**kwargs are not supported")
        if annotation is None:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {param.name!r} needs a type annotation"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            annotation,
            pydantic.Field(default, description=arg_docs.get(param.name)),
        )
    model = pydantic.create_model(
        f"{tool_name}_args",
        __config__=pydantic.ConfigDict(extra="forbid", allow_inf_nan=False),
        **fields,
    )
    return model, context_param


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):\s*$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and per-argument descriptions."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section = None
    current = None
    for raw in doc.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line:
            match = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
            if match and raw.startswith(" " * 4) and not raw.startswith(" " * 8):
                current = match.group(1)
                args[current] = match.group(2)
            elif current:
                args[current] += " " + line
    text = "\n".join(summary).strip()
    return text.split("\n\n")[0].replace("\n", " "), args


__all__ = ["Tool", "ToolContext", "Toolset", "make_tool", "parse_docstring", "tool"]
