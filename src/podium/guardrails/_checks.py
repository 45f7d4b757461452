"""Structural checks: size limits, a pydantic schema, allow and deny lists."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pydantic

from podium.guardrails._core import (
    Action,
    Finding,
    GuardrailSpecError,
    Hit,
    Stage,
    Verdict,
    child_path,
    map_leaves,
    parse_action,
    parse_stages,
    placeholder,
    root_path,
    scan_strings,
    select,
)

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

_JSON: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(Any)


def _positive(option: str, limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise GuardrailSpecError(
            f"{option} must be a positive integer, not {limit!r}", option=option, value=limit
        )
    return limit


def _containers(value: Any, path: str) -> Iterator[tuple[str, int]]:
    """Each list or dict inside ``value`` with its number of items."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        yield path, len(value)
        for key, item in value.items():
            yield from _containers(item, child_path(path, key))
    elif isinstance(value, list | tuple):
        yield path, len(value)
        for index, item in enumerate(value):
            yield from _containers(item, child_path(path, index))


def char_size(value: Any) -> int:
    """A string's length, or the length of anything else as compact JSON."""
    if isinstance(value, str):
        return len(value)
    return len(_JSON.dump_json(value, fallback=str).decode("utf-8"))


class MaxSize:
    """Blocks values over ``max_chars`` characters (strings; anything else as compact JSON)
    or holding a list or object of more than ``max_items`` items."""

    def __init__(
        self,
        *,
        max_chars: int | None = None,
        max_items: int | None = None,
        action: Action = "block",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "max_size",
    ) -> None:
        if max_chars is None and max_items is None:
            raise GuardrailSpecError("MaxSize needs max_chars, max_items or both")
        self.max_chars = _positive("max_chars", max_chars)
        self.max_items = _positive("max_items", max_items)
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "flag"), name)

    def __repr__(self) -> str:
        return f"MaxSize(max_chars={self.max_chars!r}, max_items={self.max_items!r})"

    def check(self, value: Any, stage: Stage) -> Verdict:
        root = root_path(stage)
        findings: list[Finding] = []
        if self.max_chars is not None and (size := char_size(value)) > self.max_chars:
            message = f"{root} is {size:,} characters, over the limit of {self.max_chars:,}"
            findings.append(self._finding(message, root, "max_chars"))
        if self.max_items is not None:
            for path, count in _containers(value, root):
                if count > self.max_items:
                    message = f"{path} has {count:,} items, over the limit of {self.max_items:,}"
                    findings.append(self._finding(message, path, "max_items"))
        return Verdict.from_findings(findings, value, action=self.action)

    def _finding(self, message: str, path: str, rule: str) -> Finding:
        return Finding(guardrail=self.name, kind="too_large", message=message, path=path, rule=rule)


class Schema:
    """Validates the value against a pydantic model or any type pydantic understands.

    A string that fails is tried once more as JSON text (a model's output often is). The
    value is passed on as it was, not as the validated object.
    """

    def __init__(
        self,
        model_or_type: Any,
        *,
        action: Action = "block",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "schema",
    ) -> None:
        try:
            self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(model_or_type)
        except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError) as error:
            raise GuardrailSpecError(
                f"Schema cannot validate {model_or_type!r}: {str(error).splitlines()[0]}",
                option="model_or_type",
            ) from None
        self.type = model_or_type
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "flag"), name)

    def __repr__(self) -> str:
        return f"Schema({self.type!r}, action={self.action!r})"

    def errors(self, value: Any) -> list[ErrorDetails]:
        try:
            self.adapter.validate_python(value)
        except pydantic.ValidationError as error:
            errors = error.errors(include_input=False, include_url=False)
        else:
            return []
        if not isinstance(value, str | bytes):
            return errors
        try:
            self.adapter.validate_json(value)
        except pydantic.ValidationError as error:
            json_errors = error.errors(include_input=False, include_url=False)
            return errors if json_errors[0]["type"] == "json_invalid" else json_errors
        return []

    def check(self, value: Any, stage: Stage) -> Verdict:
        findings: list[Finding] = []
        for error in self.errors(value):
            path = root_path(stage)
            for part in error["loc"]:
                path = child_path(path, part)
            findings.append(
                Finding(
                    guardrail=self.name,
                    kind="schema",
                    message=f"{path}: {error['msg']}",
                    path=path,
                    rule=error["type"],
                )
            )
        return Verdict.from_findings(findings, value, action=self.action)


def _compile(patterns: Iterable[str | re.Pattern[str]], ignore_case: bool) -> list[re.Pattern[str]]:
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            compiled.append(pattern)
            continue
        try:
            compiled.append(re.compile(pattern, re.I if ignore_case else 0))
        except re.error as error:
            raise GuardrailSpecError(
                f"pattern {pattern!r} is not a valid regular expression: {error}",
                option="patterns",
                value=pattern,
            ) from None
    return compiled


class AllowList:
    """Only these values (or strings fully matching these patterns) may appear.

    ``field`` is a dotted path inside the value (``to``, ``recipient.email``); lists met on
    the way are checked item by item, and a missing field passes (use :class:`Schema` to
    require it). Without ``field`` every leaf of the value is checked.

    >>> only_acme = AllowList.email_domains("acme.com", field="to")
    >>> only_acme.check({"to": ["a@acme.com", "x@evil.io"]}, "tool_args").findings[0].message
    'arguments.to[1] is not in the allow list'
    """

    def __init__(
        self,
        values: Iterable[Any] = (),
        *,
        patterns: Iterable[str | re.Pattern[str]] = (),
        field: str | None = None,
        ignore_case: bool = True,
        action: Action = "block",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "allow_list",
    ) -> None:
        values = list(values)
        self.patterns = _compile(patterns, ignore_case)
        if not values and not self.patterns:
            raise GuardrailSpecError("AllowList needs values or patterns", option="values")
        fold = str.casefold if ignore_case else str
        self.strings = frozenset(fold(v) for v in values if isinstance(v, str))
        self.others = [v for v in values if not isinstance(v, str)]
        self.ignore_case = ignore_case
        self.field = field
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "redact", "flag"), name)

    @classmethod
    def email_domains(cls, *domains: str, field: str | None = None, **options: Any) -> AllowList:
        """Email addresses at these domains or their subdomains."""
        if not domains:
            raise GuardrailSpecError("email_domains needs at least one domain", option="domains")
        alternatives = "|".join(re.escape(domain.lstrip("@")) for domain in domains)
        pattern = rf"[^@\s]+@(?:[A-Za-z0-9-]+\.)*(?:{alternatives})"
        return cls(patterns=[pattern], field=field, **options)

    def __repr__(self) -> str:
        return f"AllowList(field={self.field!r}, action={self.action!r})"

    def allows(self, leaf: Any) -> bool:
        if isinstance(leaf, str):
            folded = leaf.casefold() if self.ignore_case else leaf
            return folded in self.strings or any(p.fullmatch(leaf) for p in self.patterns)
        return any(leaf == other and type(leaf) is type(other) for other in self.others)

    def check(self, value: Any, stage: Stage) -> Verdict:
        bad = [
            path
            for path, leaf in select(value, self.field, root_path(stage))
            if not self.allows(leaf)
        ]
        findings = [
            Finding(
                guardrail=self.name,
                kind="not_allowed",
                message=f"{path} is not in the allow list",
                path=path,
                rule="allow_list",
            )
            for path in bad
        ]
        redacted = value
        if bad and self.action == "redact":
            blocked = set(bad)
            redacted = map_leaves(
                value,
                root_path(stage),
                lambda path, leaf: placeholder("not_allowed") if path in blocked else leaf,
            )
        return Verdict.from_findings(findings, value, action=self.action, redacted=redacted)


class DenyList:
    """Terms (whole words, case-insensitive by default) or patterns that must not appear in
    any string of the value, or only under ``field``."""

    def __init__(
        self,
        terms: Iterable[str] = (),
        *,
        patterns: Iterable[str | re.Pattern[str]] = (),
        field: str | None = None,
        ignore_case: bool = True,
        whole_words: bool = True,
        action: Action = "block",
        stages: Stage | Iterable[Stage] | None = None,
        name: str = "deny_list",
    ) -> None:
        terms = [term for term in terms if term]
        escaped = "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True))
        term_pattern = rf"(?<!\w)(?:{escaped})(?!\w)" if whole_words else f"(?:{escaped})"
        self.patterns = _compile([term_pattern] if terms else [], ignore_case)
        self.patterns += _compile(patterns, ignore_case)
        if not self.patterns:
            raise GuardrailSpecError("DenyList needs terms or patterns", option="terms")
        self.has_terms = bool(terms)
        self.field = field
        self.name = name
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "redact", "flag"), name)

    def __repr__(self) -> str:
        return f"DenyList(field={self.field!r}, action={self.action!r})"

    def find(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        for index, pattern in enumerate(self.patterns):
            rule = "term" if index == 0 and self.has_terms else "pattern"
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    hits.append(Hit(match.start(), match.end(), "denied_term", rule, "denied term"))
        return hits

    def check(self, value: Any, stage: Stage) -> Verdict:
        paths = None
        if self.field is not None:
            paths = {path for path, _ in select(value, self.field, root_path(stage))}
        findings, redacted = scan_strings(self.name, value, stage, self.find, paths=paths)
        return Verdict.from_findings(findings, value, action=self.action, redacted=redacted)
