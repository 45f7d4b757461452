"""The guardrail contract: stages, findings, verdicts, running a list, walking JSON values."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, get_args

import pydantic

from podium.errors import PodiumError, SpecError

Stage: TypeAlias = Literal["input", "output", "message", "tool_args"]
Action: TypeAlias = Literal["block", "redact", "flag"]
Outcome: TypeAlias = Literal["pass", "block", "redact", "flag"]

STAGES: frozenset[Stage] = frozenset(get_args(Stage))

# The name a value is reported under at each stage: ``arguments.to``, ``output.items[2]``.
_ROOTS: dict[Stage, str] = {
    "input": "input",
    "output": "output",
    "message": "message",
    "tool_args": "arguments",
}
_RANK: dict[str, int] = {"pass": 0, "flag": 1, "redact": 2, "block": 3}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class GuardrailSpecError(SpecError):
    """A guardrail was given an option it cannot use; ``suggestion`` is the nearest valid one."""

    def __init__(
        self, message: str, *, option: str = "", value: Any = None, suggestion: str = ""
    ) -> None:
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        super().__init__(message + hint)
        self.option = option
        self.value = value
        self.suggestion = suggestion


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One thing a guardrail noticed. ``message`` says what and where, never the matched text.

    ``path`` is where in the value (``arguments.to``, ``input.items[2]``); ``span`` the
    character range inside the string at ``path``, when the finding is about part of a string;
    ``rule`` the detector or heuristic that matched (``luhn``, ``ignore_instructions``);
    ``action`` what its guardrail did about it (filled in by :meth:`Verdict.from_findings`
    and :func:`run_guardrails`).
    """

    guardrail: str
    kind: str
    message: str
    path: str = ""
    span: tuple[int, int] | None = None
    rule: str = ""
    action: Outcome | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """What a guardrail (or a list of them) decided, and the value to continue with."""

    action: Outcome
    value: Any
    findings: tuple[Finding, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    @classmethod
    def from_findings(
        cls,
        findings: Iterable[Finding],
        value: Any,
        *,
        action: Action,
        redacted: Any = None,
    ) -> Verdict:
        """``pass`` without findings; otherwise ``action``, continuing with ``redacted`` if
        the action is ``redact``."""
        found = _stamped(findings, action)
        if not found:
            return cls(action="pass", value=value)
        return cls(action=action, value=redacted if action == "redact" else value, findings=found)

    def by_guardrail(self) -> list[tuple[str, Outcome, tuple[str, ...]]]:
        """``(guardrail, action, messages)`` for each guardrail that found something, in
        order: one journal entry each."""
        grouped: dict[tuple[str, Outcome], list[str]] = {}
        for finding in self.findings:
            grouped.setdefault((finding.guardrail, finding.action or self.action), []).append(
                finding.message
            )
        return [(name, action, tuple(messages)) for (name, action), messages in grouped.items()]

    def summary(self) -> str:
        """One line for logs and error messages: the outcome and every finding's message."""
        if not self.findings:
            return self.action
        return f"{self.action}: " + "; ".join(f"[{f.guardrail}] {f.message}" for f in self.findings)


class GuardrailTripped(PodiumError):
    """A guardrail blocked a value; ``verdict`` holds the findings (never the matched text)."""

    def __init__(self, verdict: Verdict, *, stage: Stage | None = None) -> None:
        where = f" at the {stage} stage" if stage else ""
        names = sorted({f.guardrail for f in verdict.findings})
        who = ", ".join(names) or "a guardrail"
        reasons = "; ".join(f.message for f in verdict.findings) or "no reason given"
        super().__init__(f"guardrail {who} blocked the value{where}: {reasons}")
        self.verdict = verdict
        self.stage = stage


class Guardrail(Protocol):
    """A check run at some stages. ``check`` is pure: no I/O, no model calls."""

    @property
    def name(self) -> str: ...

    @property
    def stages(self) -> frozenset[Stage]: ...

    def check(self, value: Any, stage: Stage) -> Verdict: ...


def run_guardrails(guardrails: Sequence[Guardrail], value: Any, stage: Stage) -> Verdict:
    """Apply each guardrail that runs at ``stage``, in order.

    A redaction hands its redacted value to the next guardrail; a block stops at once. The
    combined verdict has the strongest action seen (block > redact > flag > pass), the value
    to continue with and every finding in order.
    """
    check_stage(stage)
    current = value
    outcome: Outcome = "pass"
    findings: list[Finding] = []
    for guard in guardrails:
        if stage not in guard.stages:
            continue
        verdict = guard.check(current, stage)
        findings.extend(_stamped(verdict.findings, verdict.action))
        if verdict.action == "block":
            return Verdict(action="block", value=current, findings=tuple(findings))
        if verdict.action == "redact":
            current = verdict.value
        if _RANK[verdict.action] > _RANK[outcome]:
            outcome = verdict.action
    return Verdict(action=outcome, value=current, findings=tuple(findings))


def _stamped(findings: Iterable[Finding], action: Outcome) -> tuple[Finding, ...]:
    return tuple(f if f.action else dataclasses.replace(f, action=action) for f in findings)


# -- options -------------------------------------------------------------------------------


def nearest(value: object, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(value), sorted(options), n=1, cutoff=0.5)
    return close[0] if close else ""


def check_stage(stage: object) -> Stage:
    if stage not in STAGES:
        raise GuardrailSpecError(
            f"unknown guardrail stage {stage!r}; expected one of {', '.join(sorted(STAGES))}",
            option="stage",
            value=stage,
            suggestion=nearest(stage, STAGES),
        )
    return stage


def parse_stages(stages: Stage | Iterable[Stage] | None) -> frozenset[Stage]:
    """``None`` is every stage; a single name is that stage."""
    if stages is None:
        return STAGES
    items = [stages] if isinstance(stages, str) else list(stages)
    parsed = frozenset(check_stage(item) for item in items)
    if not parsed:
        raise GuardrailSpecError("a guardrail needs at least one stage", option="stages")
    return parsed


def parse_action(action: object, allowed: Sequence[Action], guardrail: str) -> Action:
    if action not in allowed:
        raise GuardrailSpecError(
            f"guardrail {guardrail!r} cannot {action!r}; it can {', '.join(allowed)}",
            option="action",
            value=action,
            suggestion=nearest(action, allowed),
        )
    return action  # type: ignore[return-value]  # checked against allowed just above


# -- walking JSON-able values --------------------------------------------------------------


def root_path(stage: Stage) -> str:
    return _ROOTS[stage]


def child_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key)
    if _IDENTIFIER.match(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text)}]"


def leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every non-container inside ``value`` with its path. Dict keys are not leaves; a
    pydantic model is walked as its JSON form."""
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, child_path(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from leaves(item, child_path(path, index))
    else:
        yield path, value


def map_leaves(value: Any, path: str, fn: Callable[[str, Any], Any]) -> Any:
    """A copy of ``value`` with each leaf replaced by ``fn(path, leaf)``.

    Containers whose leaves are all unchanged are returned as they were, and a pydantic model
    is rebuilt from its redacted JSON form (or left as that form if it no longer validates).
    """
    if isinstance(value, pydantic.BaseModel):
        dumped = value.model_dump(mode="json")
        mapped = map_leaves(dumped, path, fn)
        if mapped is dumped:
            return value
        try:
            return type(value).model_validate(mapped)
        except pydantic.ValidationError:
            return mapped
    if isinstance(value, dict):
        items = {key: map_leaves(item, child_path(path, key), fn) for key, item in value.items()}
        same = all(items[key] is item for key, item in value.items())
        return value if same else items
    if isinstance(value, list | tuple):
        mapped_items = [map_leaves(item, child_path(path, i), fn) for i, item in enumerate(value)]
        if all(new is old for new, old in zip(mapped_items, value, strict=True)):
            return value
        return type(value)(mapped_items)
    return fn(path, value)


def select(value: Any, field: str | None, path: str) -> Iterator[tuple[str, Any]]:
    """The leaves under a dotted ``field`` (``to``, ``recipient.email``); lists met on the way
    are entered item by item. ``None`` is the whole value. A missing field yields nothing."""
    if field is None:
        yield from leaves(value, path)
        return
    yield from _select(value, field.split("."), path)


def _select(value: Any, keys: list[str], path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    if not keys:
        yield from leaves(value, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _select(item, keys, child_path(path, index))
    elif isinstance(value, dict) and keys[0] in value:
        yield from _select(value[keys[0]], keys[1:], child_path(path, keys[0]))


# -- scanning strings ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """A match inside one string: where, what kind, which rule, and how to name it."""

    start: int
    end: int
    kind: str
    rule: str
    label: str


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def redact_hits(text: str, hits: Sequence[Hit]) -> str:
    """``text`` with each (non-overlapping) hit replaced by its placeholder."""
    out: list[str] = []
    last = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < last:  # overlaps the previous placeholder: widen it
            last = max(last, hit.end)
            continue
        out.append(text[last : hit.start])
        out.append(placeholder(hit.kind))
        last = hit.end
    out.append(text[last:])
    return "".join(out)


def scan_strings(
    guardrail: str,
    value: Any,
    stage: Stage,
    detect: Callable[[str], Sequence[Hit]],
    *,
    numbers: bool = False,
    paths: Collection[str] | None = None,
) -> tuple[list[Finding], Any]:
    """Run ``detect`` on every string in ``value``: the findings and the redacted value.

    With ``numbers``, integers are scanned as their decimal text too (a card number sent as a
    JSON number); a hit replaces the whole number with the placeholder string. With ``paths``,
    only the leaves at those paths are scanned.
    """
    findings: list[Finding] = []

    def visit(path: str, leaf: Any) -> Any:
        is_number = numbers and isinstance(leaf, int) and not isinstance(leaf, bool)
        if not isinstance(leaf, str) and not is_number:
            return leaf
        if paths is not None and path not in paths:
            return leaf
        text = str(leaf)
        hits = detect(text)
        for hit in hits:
            findings.append(
                Finding(
                    guardrail=guardrail,
                    kind=hit.kind,
                    message=f"{hit.label} at {path}",
                    path=path,
                    span=(hit.start, hit.end),
                    rule=hit.rule,
                )
            )
        return redact_hits(text, hits) if hits else leaf

    redacted = map_leaves(value, root_path(stage), visit)
    return findings, redacted
