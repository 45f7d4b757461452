"""A namespace (tenant) budget: what every run of a namespace may spend together.

It limits ``tokens`` and ``cost_usd`` (the other limits of a :class:`~podium.budget.Budget` are
per run). Each model call of a run under it *holds* its estimate in the store before it goes
out — the same estimate its run's ledger reserves — and the store grants the hold atomically
with the check against the namespace's total (:mod:`podium.store.holds`), so the limit holds
for any number of runs, processes, workers and machines sharing the store. The hold is released
once the call's usage is journaled (it is then part of the namespace's spend) or the call
failed. An execution releases the holds its run left (a process that died mid-call) before it
starts: the journal says what was spent.

Where a namespace budget comes from: ``Runtime(namespace_budget=...)`` (the CLI's
``--namespace-budget`` on ``run``, ``resume`` and ``worker``), and the spec's top-level
``namespace_budget`` (:func:`declare`, by the YAML loader); with both, the stricter of each
limit. It applies to the namespace the run was started in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import anyio

from podium.budget import Budget, BudgetExceeded, Spend
from podium.errors import SpecError, UserError
from podium.prices import PriceTable
from podium.store import SpendCheck, SpendHold, Store

__all__ = ["HOLD_SECONDS", "NamespaceBudget", "check", "declare", "declared"]

HOLD_SECONDS = 3600.0
"""How long a hold counts at most (a backstop for a process that died and a run nobody
resumes: normally a hold is released when its call ends or its run is executed again)."""

_PER_RUN = ("wall_seconds", "steps", "fan_out", "depth")
_DECLARED: dict[int, tuple[Any, Budget]] = {}


def check(budget: Budget, where: str = "a namespace budget") -> Budget:
    """``budget`` if it limits only ``tokens`` and ``cost_usd``; else ``UserError``."""
    extra = [name for name in _PER_RUN if getattr(budget, name) is not None]
    if extra:
        raise UserError(
            f"{where} cannot limit wall time, steps, fan-out or depth (runs of a namespace start "
            f"at any time; those limits are per run): it limits tokens and cost_usd, got "
            f"{', '.join(extra)}"
        )
    return budget


def declare(workflow: Any, budget: Budget) -> None:
    """Record that ``workflow`` runs under ``budget`` (a spec's ``namespace_budget``)."""
    _DECLARED[id(workflow)] = (workflow, check(budget))


def declared(workflow: Any) -> Budget | None:
    """The namespace budget ``workflow`` declares, if any (for a node that wraps an agent, the
    agent's: a spec whose root is an agent declares it on the agent)."""
    for candidate in (workflow, getattr(workflow, "agent", None)):
        found = _DECLARED.get(id(candidate))
        if found is not None and found[0] is candidate:
            return found[1]
    return None


@dataclass(frozen=True, slots=True)
class NamespaceBudget:
    """The namespace budget of one execution of ``run_id``."""

    store: Store
    namespace: str
    run_id: str
    budget: Budget
    prices: PriceTable

    async def hold(self, model: str, estimate: Spend) -> str:
        """Hold ``estimate`` of a call to ``model``; :class:`BudgetExceeded` (nothing held)
        if the namespace's limit would be crossed. Returns the hold's id."""
        if self.budget.cost_usd is not None and self.prices.price_of(model) is None:
            raise SpecError(
                f"no price for model {model!r} in price table {self.prices.version!r}, but the "
                f"budget of namespace {self.namespace!r} limits cost_usd: add the model with "
                "PriceTable.with_overrides"
            )
        hold = SpendHold(
            hold_id=uuid.uuid4().hex, namespace=self.namespace, run_id=self.run_id,
            tokens=estimate.tokens, cost_usd=estimate.cost_usd,
        )  # fmt: skip
        with anyio.CancelScope(shield=True):  # granted means held: never lose the answer
            found = await self.store.hold_spend(
                hold, max_tokens=self.budget.tokens, max_cost_usd=self.budget.cost_usd,
                seconds=HOLD_SECONDS,
            )  # fmt: skip
        if not found.granted:
            raise self._exceeded(found, estimate, model)
        return hold.hold_id

    async def release(self, hold_id: str) -> None:
        with anyio.CancelScope(shield=True):
            await self.store.release_spend(hold_id)

    def _exceeded(self, found: SpendCheck, need: Spend, model: str) -> BudgetExceeded:
        budget = self.budget
        tokens = float(found.spent_tokens + found.held_tokens + need.tokens)
        if budget.tokens is not None and tokens > budget.tokens:
            limit, maximum = "tokens", float(budget.tokens)
            spent, held = float(found.spent_tokens), float(found.held_tokens)
            asked = float(need.tokens)
        else:
            limit, maximum = "cost_usd", float(budget.cost_usd or 0.0)
            spent, held, asked = found.spent_cost_usd, found.held_cost_usd, need.cost_usd
        return BudgetExceeded(
            limit, maximum, spent=spent, reserved=held, requested=asked,
            what=f"this call to {model}", scope=f"namespace {self.namespace}",
        )  # fmt: skip
