"""Parallel fan-out/fan-in: static branches (:class:`Parallel`) or a map over a list (:class:`Map`).

Each branch is a child node with its own path and journal entries, so after a crash only the
branches that had not finished do any work again. A reducer (a function or an agent) turns the
branch outputs into one value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from podium.errors import SpecError, UserError
from podium.patterns._fanout import (
    SKIPPED,
    Branch,
    Policy,
    check_name,
    check_policy,
    fan_out,
    node_of,
    unique_labels,
)
from podium.runtime import Context, Node
from podium.runtime.context import run_node


class Parallel:
    """Run every branch on the same input concurrently; the output maps branch name -> output.

    ``policy``: ``"fail_fast"`` (the first failure cancels the siblings and is raised),
    ``"collect"`` (a failed branch yields a :class:`BranchFailure`), or ``Quorum(k)`` (done
    once ``k`` branches succeeded; the others are cancelled and absent from the output).
    ``max_concurrency`` caps how many branches run at once.
    """

    kind = "parallel"

    def __init__(
        self,
        name: str,
        branches: Mapping[str, Any] | Sequence[Any],
        *,
        reducer: Any = None,
        policy: Policy = "fail_fast",
        max_concurrency: int | None = None,
    ) -> None:
        self.name = check_name(name)
        if not isinstance(branches, Mapping) and (
            isinstance(branches, str | bytes) or not isinstance(branches, Sequence)
        ):
            raise SpecError(
                f"parallel {name!r}: branches must be a list or a mapping of nodes, "
                f"not {branches!r}"
            )
        if not branches:
            raise SpecError(f"parallel {name!r} needs at least one branch")
        if isinstance(branches, Mapping):
            self.labels = [check_name(str(k), "branch") for k in branches]
            self.branches: tuple[Node, ...] = tuple(
                node_of(v, f"parallel {name!r} branch {k!r}") for k, v in branches.items()
            )
        else:
            self.branches = tuple(
                node_of(v, f"parallel {name!r} branch {i + 1}") for i, v in enumerate(branches)
            )
            self.labels = unique_labels(self.branches)
        self.policy = check_policy(policy, len(self.branches))
        self.max_concurrency = _check_limit(f"parallel {name!r}", max_concurrency)
        self.reducer = node_of(reducer, f"parallel {name!r} reducer") if reducer else None

    async def execute(self, ctx: Context, input: Any) -> Any:
        branches = [
            Branch(label, node, input)
            for label, node in zip(self.labels, self.branches, strict=True)
        ]
        outcomes = await fan_out(ctx, branches, self.policy, self.max_concurrency)
        merged = {
            label: outcome
            for label, outcome in zip(self.labels, outcomes, strict=True)
            if outcome is not SKIPPED
        }
        return await _reduce(ctx, self.reducer, merged)

    def __repr__(self) -> str:
        return f"Parallel({self.name!r}, branches={self.labels})"


class Map:
    """Run ``node`` once per item of the input list (or of ``items(input)``), concurrently.

    The output is the list of branch outputs in item order; branch paths are ``name[0]``,
    ``name[1]``... Policies, reducer and ``max_concurrency`` work as in :class:`Parallel`.
    ``items`` must be deterministic (it runs again on replay).
    """

    kind = "map"

    def __init__(
        self,
        name: str,
        node: Any,
        *,
        items: Callable[[Any], Sequence[Any]] | None = None,
        reducer: Any = None,
        policy: Policy = "fail_fast",
        max_concurrency: int | None = None,
    ) -> None:
        self.name = check_name(name)
        self.node = node_of(node, f"map {name!r} node")
        if items is not None and not callable(items):
            raise SpecError(f"map {name!r}: items must be a function of the input, not {items!r}")
        self.items = items
        self.policy = check_policy(policy, None)
        self.max_concurrency = _check_limit(f"map {name!r}", max_concurrency)
        self.reducer = node_of(reducer, f"map {name!r} reducer") if reducer else None

    async def execute(self, ctx: Context, input: Any) -> Any:
        values = self.items(input) if self.items is not None else input
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise UserError(
                f"map {self.name!r} at {ctx.path}: expected a list to map over, "
                f"got {type(values).__name__}"
            )
        branches = [Branch(str(i), self.node, v) for i, v in enumerate(values)]
        outcomes = await fan_out(ctx, branches, self.policy, self.max_concurrency)
        return await _reduce(ctx, self.reducer, [o for o in outcomes if o is not SKIPPED])

    def __repr__(self) -> str:
        return f"Map({self.name!r}, node={self.node.name!r})"


async def _reduce(ctx: Context, reducer: Node | None, outcomes: Any) -> Any:
    if reducer is None:
        return outcomes
    return await run_node(ctx.child("reduce"), reducer, outcomes)


def _check_limit(where: str, limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SpecError(f"{where}: max_concurrency must be a positive integer, not {limit!r}")
    return limit
