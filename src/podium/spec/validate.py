"""Validate located YAML against the spec schema; every pydantic error becomes a located issue.

A pydantic ``loc`` holds union tags (``<parallel>``) and key markers (``[key]``) besides keys
and indexes; it is walked against the document to find the path that was actually written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from podium.spec.errors import Path, SpecIssue, format_path, nearest
from podium.spec.fields import NAME_PATTERN, ROLE_PATTERN, kind_of
from podium.spec.governance import GUARD_TYPES
from podium.spec.locate import Located
from podium.spec.nodes import NODE_TYPES
from podium.spec.resolve import IMPORT_PATTERN
from podium.spec.schema import SpecDocument

_SECTIONS = ("agents", "models", "tools", "mcp_servers")
_QUOTED = re.compile(r"'([^']*)'")
Keys = dict[int, tuple[str, ...]]  # id of a validated mapping -> the keys its model allows
Translator = Callable[["ErrorDetails", Path, Any, Keys], "Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """What an error says, before it is given a position."""

    path: Path
    message: str
    suggestion: str | None = None
    at_key: bool = False


def validate(
    located: Located, file: str, *, imports: bool
) -> tuple[SpecDocument | None, list[SpecIssue]]:
    """The validated document, or ``None`` and every problem found in it."""
    keys: Keys = {}
    data = located.data
    tool_paths = data.get("tools") if isinstance(data, dict) else None
    context = {"keys": keys, "names": _names(data), "imports": imports, "tool_paths": tool_paths}
    try:
        return SpecDocument.model_validate(data, context=context), []
    except ValidationError as error:
        findings = _explained(_finding(e, data, keys) for e in error.errors())
        return None, [issue(located, file, f) for f in findings]


def issue(located: Located, file: str, finding: Finding) -> SpecIssue:
    line, column = located.position(finding.path, at_key=finding.at_key)
    return SpecIssue(
        file=file,
        line=line,
        column=column,
        path=format_path(finding.path),
        message=finding.message,
        suggestion=finding.suggestion,
    )


def _names(data: Any) -> dict[str, set[str] | None]:
    if not isinstance(data, dict):
        return {}
    typos = {nearest(str(key), _SECTIONS) for key in data if key not in _SECTIONS}
    sections = {s: data.get(s, None if s in typos else {}) for s in _SECTIONS}
    # absent: nothing is defined; misspelt or not a mapping: references are not checked
    return {s: set(v) if isinstance(v, dict) else None for s, v in sections.items()}


def written_path(loc: tuple[int | str, ...], data: Any, *, missing: bool) -> Path:
    """The part of ``loc`` that names keys and indexes of ``data`` (plus a missing last key)."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if _has(current, part):
            current = current[part]
        elif not (missing and index == len(loc) - 1 and isinstance(part, str)):
            continue  # a union tag or a key marker, not something written
        path.append(part)
    return tuple(path)


def _explained(findings: Iterable[Finding]) -> list[Finding]:
    """Drop "missing 'model'" where an unknown key next to it is a typo of 'model'."""
    found = list(findings)
    typos = {(*f.path[:-1], f.suggestion) for f in found if f.at_key and f.suggestion}
    return [f for f in found if not (f.message.startswith("missing") and f.path in typos)]


def _has(data: Any, part: int | str) -> bool:
    if isinstance(data, dict):
        return isinstance(part, str) and part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def value_at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _finding(error: ErrorDetails, data: Any, keys: Keys) -> Finding:
    loc = tuple(error["loc"])
    path = written_path(loc, data, missing=error["type"] == "missing")
    at_key = bool(loc) and loc[-1] == "[key]"
    translate = _TRANSLATORS.get(error["type"])
    if translate is not None:
        return translate(error, path, data, keys)
    context = error.get("ctx") or {}
    if "message" in context:
        return _custom(context, path, at_key)
    return Finding(path, _generic(error), at_key=at_key)


def _custom(context: dict[str, Any], path: Path, at_key: bool) -> Finding:
    if context.get("field"):  # a rule on several fields, shown at the one named
        path, at_key = (*path, str(context["field"])), True
    name, choices = str(context.get("name", "")), context.get("choices", ())
    suggestion = nearest(name, choices) if name and choices else None
    hint = str(context.get("hint", ""))
    message = str(context["message"]) + (f" ({hint})" if hint and not suggestion else "")
    return Finding(path, message, suggestion, at_key)


def _extra(error: ErrorDetails, path: Path, data: Any, keys: Keys) -> Finding:
    key = str(path[-1]) if path else ""
    allowed = keys.get(id(value_at(data, path[:-1])), ())
    suggestion = nearest(key, allowed)
    hint = "" if suggestion or not allowed else f" (allowed: {', '.join(allowed)})"
    return Finding(path, f"unknown key {key!r}{hint}", suggestion, at_key=True)


def _missing(error: ErrorDetails, path: Path, data: Any, keys: Keys) -> Finding:
    return Finding(path, f"missing required key {path[-1]!r}" if path else "missing")


def _one_kind(what: str, kinds: Iterable[str]) -> Translator:
    """Explain a mapping that is not exactly one of ``kinds`` (a node, a guardrail)."""
    names = ", ".join(kinds)

    def explain(error: ErrorDetails, path: Path, data: Any, keys: Keys) -> Finding:
        value = value_at(data, path)
        if not isinstance(value, dict):
            return Finding(
                path, f"a {what} must be a mapping with one of: {names}; got {kind_of(value)}"
            )
        found = [key for key in value if key in kinds]
        if len(found) > 1:
            message = f"a {what} has exactly one kind, found {found[0]!r} and {found[1]!r}"
            return Finding((*path, found[1]), message, at_key=True)
        if not value:
            return Finding(path, f"empty {what}: expected one of {names}")
        key = next((k for k in value if nearest(k, kinds)), next(iter(value)))
        suggestion = nearest(key, kinds)
        hint = "" if suggestion else f" (kinds: {names})"
        message = f"unknown {what} kind {key!r}{hint}"
        return Finding((*path, key), message, suggestion, at_key=True)

    return explain


def _literal(error: ErrorDetails, path: Path, data: Any, keys: Keys) -> Finding:
    expected = _QUOTED.findall(str((error.get("ctx") or {}).get("expected", "")))
    value = error["input"]
    if path == ("version",):
        return Finding(path, f"unsupported version {value!r}: this Podium reads version 1")
    choices = ", ".join(map(repr, expected))
    suggestion = nearest(value, expected) if isinstance(value, str) else None
    return Finding(path, f"{value!r} is not one of {choices}", suggestion)


def _pattern(error: ErrorDetails, path: Path, data: Any, keys: Keys) -> Finding:
    pattern = (error.get("ctx") or {}).get("pattern")
    value = error["input"]
    at_key = bool(error["loc"]) and error["loc"][-1] == "[key]"
    if pattern == IMPORT_PATTERN:
        return Finding(path, f"{value!r} is not an import path 'package.module:name'")
    if pattern == NAME_PATTERN:
        rule = "1-64 letters, digits, '_', '.' or '-'"
        return Finding(path, f"{value!r} is not a valid name ({rule})", at_key=at_key)
    if pattern == ROLE_PATTERN:
        rule = "1-64 letters, digits, '_', '.', ':', '@' or '-'"
        return Finding(path, f"{value!r} is not a valid role ({rule})", at_key=at_key)
    return Finding(path, f"{value!r} must look like 'provider:model'", at_key=at_key)


_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}
_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def _generic(error: ErrorDetails) -> str:
    kind, value, context = error["type"], error.get("input"), error.get("ctx") or {}
    if not error["loc"] and kind in ("model_type", "model_attributes_type"):
        return f"a spec must be a mapping of version, agents, workflow...; got {kind_of(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {kind_of(value)} {value!r}"
    if kind in _BOUNDS:
        name, sign = _BOUNDS[kind]
        return f"must be {sign} {context[name]}, got {value!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind == "string_too_short":
        return "must not be empty" if context.get("min_length") == 1 else f"too short: {value!r}"
    if kind == "too_short":
        return f"needs at least {context.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"takes at most {context.get('max_length')} item(s)"
    return f"{error['msg']} (got {value!r})"


_TRANSLATORS: dict[str, Translator] = {
    "extra_forbidden": _extra,
    "missing": _missing,
    "node_kind": _one_kind("node", NODE_TYPES),
    "guardrail_kind": _one_kind("guardrail", GUARD_TYPES),
    "literal_error": _literal,
    "string_pattern_mismatch": _pattern,
}

__all__ = ["Finding", "issue", "validate", "value_at", "written_path"]
