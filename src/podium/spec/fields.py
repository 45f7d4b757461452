"""Building blocks of the spec schema: the base model and the string fields that name things.

References (an agent, a model, a tool by name) and import paths are checked while the document
is validated, against a context the loader passes in (``names`` by section, ``imports`` on or off),
so one pass reports a typo in a key, a reference to an undefined agent and an import path that
does not import, all together. Without a context (``SpecDocument.model_validate(data)``) only
the shape is checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from podium.spec.resolve import IMPORT_PATTERN, ImportProblem, is_import_path, resolve

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MODEL_STRING_PATTERN = r"^[A-Za-z0-9_-]+:\S+$"
ROLE_PATTERN = r"^[A-Za-z0-9_.:@-]{1,64}$"  # as podium.policy.check_role
END = "__end__"
ROUND_ROBIN = "round_robin"
BUILTIN_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict[str, Any],
    "list": list[Any],
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
    "list[bool]": list[bool],
    "list[dict]": list[dict[str, Any]],
}


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


def problem(
    kind: str,
    message: str,
    *,
    name: str = "",
    choices: Iterable[str] = (),
    hint: str = "",
    field: str = "",
) -> PydanticCustomError:
    """A validation error the loader turns into a located issue.

    The loader suggests the member of ``choices`` nearest to ``name``; ``hint`` is added to the
    message when there is no suggestion. ``field`` points the issue at that key of the mapping
    being validated (for a rule on several fields, checked once they are all valid).
    """
    context = {"message": message, "name": name, "choices": tuple(sorted(choices)), "hint": hint}
    return PydanticCustomError(kind, "{message}", {**context, "field": field})


def kind_of(value: Any) -> str:
    """What a YAML value is, in words: ``a mapping``, ``a boolean``..."""
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    names.update({int: "an integer", float: "a number", type(None): "nothing (null)"})
    return names.get(type(value), type(value).__name__)


def exact_int(value: Any) -> Any:
    """Before a ``Literal`` of integers, which strict mode still lets ``true`` and ``1.0`` pass."""
    if type(value) is not int:
        raise problem("int_type", f"expected an integer, got {kind_of(value)} {value!r}")
    return value


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, and the allowed keys are remembered
    (by the identity of the mapping validated) so an unknown key gets a suggestion.

    Values are validated strictly: ``'2'``, ``2.0`` or ``true`` where an integer goes is an
    error, not an integer (an integer is still a number where a float goes).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _remember_keys(cls, data: Any, info: ValidationInfo) -> Any:
        keys = _context(info).get("keys")
        if isinstance(keys, dict) and isinstance(data, dict):
            keys[id(data)] = tuple(f.alias or n for n, f in cls.model_fields.items())
        return data


def check_import(value: str, info: ValidationInfo) -> str:
    if not is_import_path(value):
        raise problem("import_format", f"{value!r} is not an import path 'package.module:name'")
    if _context(info).get("imports"):
        try:
            resolve(value)
        except ImportProblem as error:
            raise problem(
                "import_error", error.message, name=error.name, choices=error.choices
            ) from None
    return value


def _reference(section: str, what: str) -> Callable[[str, ValidationInfo], str]:
    def check(value: str, info: ValidationInfo) -> str:
        names = _context(info).get("names", {}).get(section)
        if names is not None and value not in names:
            hint = f"defined {section}: {', '.join(sorted(names)) or 'none'}"
            message = f"unknown {what} {value!r}"
            raise problem(f"unknown_{what}", message, name=value, choices=names, hint=hint)
        return value

    return check


check_agent = _reference("agents", "agent")
check_model = _reference("models", "model")
check_tool = _reference("tools", "tool")
check_mcp = _reference("mcp_servers", "mcp_server")


def _model_ref(value: str, info: ValidationInfo) -> str:
    if ":" not in value:
        return check_model(value, info)
    if not re.fullmatch(MODEL_STRING_PATTERN, value):
        raise problem("model_string", f"model {value!r} must look like 'provider:model'")
    return value


def _tool_ref(value: str, info: ValidationInfo) -> str:
    return check_import(value, info) if ":" in value else check_tool(value, info)


def _output_type(value: str, info: ValidationInfo) -> str:
    if ":" in value:
        return check_import(value, info)
    if value not in BUILTIN_TYPES:
        message = f"unknown output type {value!r}"
        hint = "a builtin name or 'package.module:Class'"
        raise problem("unknown_output_type", message, name=value, choices=BUILTIN_TYPES, hint=hint)
    return value


def _router(value: str, info: ValidationInfo) -> str:
    return check_import(value, info) if ":" in value else check_agent(value, info)


def _selector(value: str, info: ValidationInfo) -> str:
    if value == ROUND_ROBIN:
        return value
    if ":" in value:
        return check_import(value, info)
    agents = _context(info).get("names", {}).get("agents")
    if agents is not None and value not in agents:
        hint = f"'{ROUND_ROBIN}', an agent or 'module:function'"
        choices = {*agents, ROUND_ROBIN}
        raise problem(
            "unknown_selector",
            f"unknown selector {value!r}",
            name=value,
            choices=choices,
            hint=hint,
        )
    return value


HISTORIES = ("full", "conversation", "input")


def _history(value: str, info: ValidationInfo) -> str:
    if value in HISTORIES:
        return value
    if ":" in value:
        return check_import(value, info)
    hint = "'full', 'conversation', 'input' or 'module:function'"
    raise problem("history", f"unknown history {value!r}", name=value, choices=HISTORIES, hint=hint)


def check_escalation(on_expiry: str | None, escalate_to: str | None, expires: Any) -> None:
    """``on_expiry: escalate`` needs someone to escalate to and a time to wait (ApprovalRule)."""
    if on_expiry == "escalate" and (escalate_to is None or expires is None):
        missing = " and ".join(
            key
            for key, value in (("escalate_to", escalate_to), ("expires_after", expires))
            if value is None
        )
        message = f"on_expiry 'escalate' needs {missing}"
        raise problem("escalation", message, field="on_expiry")


def _doc(text: str) -> Any:
    return Field(description=text)


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits, '_', '.', '-'")]
ImportPath = Annotated[
    str,
    Field(pattern=IMPORT_PATTERN, description="An import path 'package.module:attribute'"),
    AfterValidator(check_import),
]
AgentName = Annotated[str, _doc("The name of an agent in `agents`"), AfterValidator(check_agent)]
ModelRef = Annotated[
    str,
    _doc("A name in `models`, or a model string 'provider:model'"),
    AfterValidator(_model_ref),
]
ToolRef = Annotated[
    str, _doc("A name in `tools`, or an import path 'module:tool'"), AfterValidator(_tool_ref)
]
MCPServerRef = Annotated[
    str, _doc("The name of a server in `mcp_servers`"), AfterValidator(check_mcp)
]
OutputType = Annotated[
    str,
    _doc("A builtin type (" + ", ".join(BUILTIN_TYPES) + ") or an import path 'module:Class'"),
    AfterValidator(_output_type),
]
Router = Annotated[
    str, _doc("An agent name, or an import path 'module:function'"), AfterValidator(_router)
]
History = Annotated[
    str,
    _doc("What a specialist sees: 'full', 'conversation', 'input', or 'module:function'"),
    AfterValidator(_history),
]
Role = Annotated[
    str, Field(pattern=ROLE_PATTERN, description="A role: letters, digits, '_', '.', ':', '@', '-'")
]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False, description="Seconds, > 0")]
Selector = Annotated[
    str,
    _doc("'round_robin', an agent name, or an import path 'module:function'"),
    AfterValidator(_selector),
]

__all__ = [
    "BUILTIN_TYPES",
    "END",
    "MODEL_STRING_PATTERN",
    "NAME_PATTERN",
    "ROLE_PATTERN",
    "ROUND_ROBIN",
    "AgentName",
    "History",
    "ImportPath",
    "MCPServerRef",
    "ModelRef",
    "Name",
    "OutputType",
    "Role",
    "Router",
    "Seconds",
    "Selector",
    "SpecModel",
    "ToolRef",
    "check_agent",
    "check_escalation",
    "check_import",
    "exact_int",
    "kind_of",
    "problem",
]
