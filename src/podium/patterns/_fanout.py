"""Shared machinery of the patterns: names, branch contexts, and running branches concurrently.

A branch runs at ``{node path}[{label}]`` (``onboarding/checks[credit]``), so its steps have
keys of their own and a replay finds each branch's work no matter how the branches were
scheduled. Branch outcomes are collected in branch order, never in completion order.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
import pydantic_core

from podium.errors import (
    FatalError,
    NonDeterminismError,
    QuorumNotReached,
    SpecError,
    StepFailedError,
    Suspend,
)
from podium.runtime import Context, Node, as_node, budgeting
from podium.runtime.context import run_node

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def check_name(name: str, what: str = "node") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"{what} name {name!r} must be 1-64 characters of letters, digits and _ . : -"
        )
    return name


def did_you_mean(value: Any, options: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or nothing."""
    close = difflib.get_close_matches(str(value), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def node_of(value: Any, where: str) -> Node:
    try:
        return as_node(value)
    except SpecError:
        raise
    except Exception as error:
        raise SpecError(f"{where}: {error}") from None


def unique_labels(nodes: Sequence[Node]) -> list[str]:
    """Node names, with ``name[2]``... for repeats, so every child has its own path."""
    seen: dict[str, int] = {}
    labels = []
    for node in nodes:
        n = seen[node.name] = seen.get(node.name, 0) + 1
        labels.append(node.name if n == 1 else f"{node.name}[{n}]")
    return labels


def branch_context(ctx: Context, label: str) -> Context:
    return ctx.branch(label)


def to_json(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value)


@dataclass(frozen=True, slots=True)
class Quorum:
    """Succeed as soon as ``k`` branches have; the rest are cancelled."""

    k: int

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise SpecError(f"quorum k must be a positive integer, not {self.k!r}")


Policy = Literal["fail_fast", "collect"] | Quorum


def check_policy(policy: Any, branches: int | None) -> Policy:
    if isinstance(policy, Quorum):
        if branches is not None and policy.k > branches:
            raise SpecError(f"quorum {policy.k} is more than the {branches} branches")
        return policy
    if policy not in ("fail_fast", "collect"):
        raise SpecError(f"policy must be 'fail_fast', 'collect' or Quorum(k), not {policy!r}")
    return policy  # type: ignore[no-any-return]


@pydantic.dataclasses.dataclass(frozen=True)
class BranchFailure:
    """What a failed branch yields under the ``collect`` policy."""

    branch: str
    error_type: str
    message: str


def failure_of(label: str, error: Exception) -> BranchFailure:
    """A failed step reports what the user's code raised, not the step wrapper."""
    if isinstance(error, StepFailedError):
        return BranchFailure(label, error.error_type, error.error_message)
    return BranchFailure(label, type(error).__name__, str(error))


@dataclass(frozen=True, slots=True)
class Branch:
    label: str
    node: Node
    input: Any


SKIPPED: Any = object()
"""The outcome of a branch a quorum did not need (cancelled, or not run on replay)."""


async def fan_out(
    ctx: Context, branches: Sequence[Branch], policy: Policy, limit: int | None
) -> list[Any]:
    """Run branches concurrently. Returns one outcome per branch, in branch order.

    ``fail_fast`` raises the first failure (siblings are cancelled); ``collect`` yields a
    :class:`BranchFailure` in place of a failed branch; ``Quorum(k)`` returns once ``k``
    branches succeeded — the winners are journaled, so a replay runs exactly those — and
    the outcomes of the others are :data:`SKIPPED`.
    """
    ledger = budgeting.current(ctx)
    if ledger is not None:
        ledger.check_fan_out(len(branches))  # BudgetExceeded: a fan-out bomb stops the run
    if isinstance(policy, Quorum):
        return await _quorum(ctx, branches, policy.k, limit)
    contexts = [branch_context(ctx, b.label) for b in branches]

    async def one(index: int) -> Any:
        branch = branches[index]
        if policy == "collect":
            return (await _settle(contexts[index], branch))[1]
        return await run_node(contexts[index], branch.node, branch.input)

    gathered = await ctx.gather(len(branches), one, limit=limit)
    gathered.raise_suspended()
    return gathered.values


async def _settle(ctx: Context, branch: Branch) -> tuple[bool, Any]:
    """Run a branch whose failure is an outcome (``collect``, a quorum): (succeeded, value).

    The failure is journaled, so a replay returns it without running the branch again — its
    failed model call would otherwise be retried and could answer differently this time.
    """
    key = ctx.fixed_key("failed", 0)  # counter 0: never allocated by next_key
    done = ctx.recorded(key)
    if done is not None and isinstance(done.result, dict):
        return False, BranchFailure(**done.result)
    try:
        return True, await run_node(ctx, branch.node, branch.input)
    except (Suspend, FatalError):
        raise
    except Exception as error:
        failure = failure_of(branch.label, error)
        await ctx.record_step(key, "branch_failed", failure)
        return False, failure


async def _quorum(ctx: Context, branches: Sequence[Branch], k: int, limit: int | None) -> list[Any]:
    decision_key = ctx.next_key("quorum")  # allocated first: stable on replay
    decided = ctx.recorded(decision_key)
    labels = [b.label for b in branches]
    if decided is not None:
        winners = _winners(decision_key, decided, labels)
        chosen = [b for b in branches if b.label in winners]
        outcomes = await fan_out(ctx, chosen, "fail_fast", limit)
        by_label = dict(zip((b.label for b in chosen), outcomes, strict=True))
        return [by_label.get(label, SKIPPED) for label in labels]
    race = _Race(len(branches), k)
    contexts = [branch_context(ctx, b.label) for b in branches]

    async def one(index: int) -> tuple[bool, Any]:
        return await _settle(contexts[index], branches[index])

    gathered = await ctx.gather(len(branches), one, limit=limit, stop=race.settled)
    succeeded = {labels[i]: value for i, (ok, value) in gathered.finished() if ok}
    if len(succeeded) < k:
        if gathered.suspended and len(branches) - len(race.failed) >= k:
            gathered.raise_suspended()
        detail = "; ".join(f"{f.branch}: {f.error_type}: {f.message}" for f in race.failed)
        raise QuorumNotReached(
            f"{ctx.path}: {len(succeeded)} of {k} needed branches succeeded ({detail})"
        )
    winners = [label for label in labels if label in succeeded][:k]
    await ctx.record_step(decision_key, "decision", winners)
    return [succeeded[label] if label in winners else SKIPPED for label in labels]


class _Race:
    """Branches racing to a quorum: the first ``k`` successes win, the rest are cancelled."""

    def __init__(self, total: int, k: int) -> None:
        self.total = total
        self.k = k
        self.won = 0
        self.failed: list[BranchFailure] = []

    def settled(self, index: int, outcome: tuple[bool, Any]) -> bool:
        """Note a finished branch; True (stop the others) once the quorum is decided."""
        succeeded, value = outcome
        if not succeeded:
            self.failed.append(value)
            return self.total - len(self.failed) < self.k
        self.won += 1
        return self.won >= self.k


def _winners(key: str, decided: Any, labels: list[str]) -> list[str]:
    result = getattr(decided, "result", None)
    if not isinstance(result, list) or not set(result) <= set(labels):
        raise NonDeterminismError(key, f"the journaled quorum {result!r} names unknown branches")
    return [str(label) for label in result]


Reducer = Callable[[Any], Any] | Node
