"""Guardrails written as functions, and the configuration of agent-as-judge guardrails."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias, overload

from podium.guardrails._core import (
    Action,
    Finding,
    GuardrailSpecError,
    Stage,
    Verdict,
    parse_action,
    parse_stages,
    root_path,
)

GuardResult: TypeAlias = bool | str | Verdict | None
"""What a guardrail function returns: ``True``/``None`` pass, ``False`` trips, a string trips
with that reason, a :class:`Verdict` is used as it is."""


def _wants_stage(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    return sum(p.kind in positional for p in parameters) >= 2


class FunctionGuardrail:
    """A guardrail from a plain function ``fn(value)`` or ``fn(value, stage)``.

    The function returns ``True`` or ``None`` to pass, ``False`` or a reason string to trip
    (with ``action``: ``block`` or ``flag``), or a whole :class:`Verdict` (to redact, say).
    It must be pure and synchronous; checks that call a model are :class:`JudgeGuardrail`.
    """

    def __init__(
        self,
        fn: Callable[..., GuardResult],
        *,
        name: str | None = None,
        stages: Stage | Iterable[Stage] | None = None,
        action: Action = "block",
        kind: str = "custom",
    ) -> None:
        if not callable(fn):
            raise GuardrailSpecError(f"a guardrail function must be callable, not {fn!r}")
        if inspect.iscoroutinefunction(fn):
            raise GuardrailSpecError(
                f"guardrail function {getattr(fn, '__name__', fn)!r} is async; guardrails are "
                "pure and synchronous (a check that needs a model call is a JudgeGuardrail)"
            )
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "guardrail"))
        self.stages = parse_stages(stages)
        self.action = parse_action(action, ("block", "flag"), self.name)
        self.kind = kind
        self._pass_stage = _wants_stage(fn)

    def __repr__(self) -> str:
        return f"FunctionGuardrail({self.name!r}, action={self.action!r})"

    def check(self, value: Any, stage: Stage) -> Verdict:
        result = self.fn(value, stage) if self._pass_stage else self.fn(value)
        if isinstance(result, Verdict):
            return result
        if result is None or result is True:
            return Verdict(action="pass", value=value)
        if result is False or isinstance(result, str):
            root = root_path(stage)
            reason = result or f"{self.name} rejected {root}"
            finding = Finding(guardrail=self.name, kind=self.kind, message=reason, path=root)
            return Verdict.from_findings([finding], value, action=self.action)
        raise GuardrailSpecError(
            f"guardrail {self.name!r} returned {type(result).__name__}; return None, a bool, "
            "a reason string or a Verdict"
        )


@overload
def guardrail(fn: Callable[..., GuardResult], /) -> FunctionGuardrail: ...


@overload
def guardrail(
    *,
    name: str | None = None,
    stages: Stage | Iterable[Stage] | None = None,
    action: Action = "block",
    kind: str = "custom",
) -> Callable[[Callable[..., GuardResult]], FunctionGuardrail]: ...


def guardrail(
    fn: Callable[..., GuardResult] | None = None,
    /,
    *,
    name: str | None = None,
    stages: Stage | Iterable[Stage] | None = None,
    action: Action = "block",
    kind: str = "custom",
) -> FunctionGuardrail | Callable[[Callable[..., GuardResult]], FunctionGuardrail]:
    """Make a function a :class:`FunctionGuardrail`, bare (``@guardrail``) or with options.

    >>> @guardrail(stages="tool_args")
    ... def small_refunds(arguments: dict[str, int]) -> bool | str:
    ...     return arguments.get("amount", 0) <= 100 or "refund over 100"
    >>> small_refunds.check({"amount": 250}, "tool_args").action
    'block'
    """

    def wrap(function: Callable[..., GuardResult]) -> FunctionGuardrail:
        return FunctionGuardrail(function, name=name, stages=stages, action=action, kind=kind)

    return wrap if fn is None else wrap(fn)


@dataclass(frozen=True, init=False)
class JudgeGuardrail:
    """An agent that judges the value; the runtime runs it (a model call), not this module.

    The agent is held as an opaque reference. The runtime asks it about the value and turns
    its answer into a verdict with :meth:`verdict`. It is not a :class:`Guardrail`: it has no
    ``check``, so it cannot be passed to :func:`run_guardrails` by mistake.
    """

    agent: Any
    stages: frozenset[Stage]
    action: Action
    name: str

    def __init__(
        self,
        agent: Any,
        *,
        stages: Stage | Iterable[Stage] | None = None,
        action: Action = "block",
        name: str = "judge",
    ) -> None:
        if agent is None:
            raise GuardrailSpecError("JudgeGuardrail needs an agent", option="agent")
        object.__setattr__(self, "agent", agent)
        object.__setattr__(self, "stages", parse_stages(stages))
        object.__setattr__(self, "action", parse_action(action, ("block", "flag"), name))
        object.__setattr__(self, "name", name)

    def verdict(self, value: Any, stage: Stage, *, tripped: bool, reason: str = "") -> Verdict:
        """The verdict for the judge's answer: pass, or ``action`` with the judge's reason."""
        if not tripped:
            return Verdict(action="pass", value=value)
        root = root_path(stage)
        message = reason or f"{self.name} rejected {root}"
        finding = Finding(guardrail=self.name, kind="judge", message=message, path=root)
        return Verdict.from_findings([finding], value, action=self.action)
