"""What a run executes with: the services of a runtime, and the state of one execution pass.

- :class:`Services` are built once per :class:`~podium.runtime.Runtime` and shared by every
  run it executes: the clock, secrets, prices, rate limits and the runtime's options.
- :class:`Execution` is one pass over a run's workflow code: its step kernel (journal and
  replay state), the run's ledger, the secret values it learned, and the model clients it
  built from strings. :meth:`Execution.close` ends it; the engine calls it after every pass,
  so owned model clients (and their connections) never outlive the pass that opened them.

Workflow and pattern code never sees either: it talks to the runtime through
:class:`~podium.runtime.context.Context`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from podium.agents import Agent
from podium.budget import Ledger
from podium.clock import Clock
from podium.messages import TextDelta
from podium.models import Model
from podium.models.limits import Admission
from podium.policy import EnvSecrets, Redactor, SecretsProvider
from podium.prices import DEFAULT_PRICES, PriceTable
from podium.runtime.step import Kernel
from podium.runtime.tenant_budget import NamespaceBudget

DeltaSink = Callable[[str, TextDelta], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Services:
    """Built once per runtime; never holds the state of a run."""

    clock: Clock
    secrets: SecretsProvider = field(default_factory=EnvSecrets)
    prices: PriceTable = DEFAULT_PRICES
    admission: Admission | None = None  # rate limits for provider requests (runtime.ratelimit)
    max_inline_sleep: float = 5.0
    on_delta: DeltaSink | None = None
    agent_override: Callable[[Agent], Agent] | None = None  # e.g. replay: recorded models


@dataclass(slots=True)
class Execution:
    """One pass over a run's workflow code; created and closed by the engine."""

    services: Services
    kernel: Kernel
    namespace: str = "default"  # the run's own (idempotency keys), whoever executes it
    ledger: Ledger | None = None  # the run's budget (podium.runtime.budgeting)
    namespace_budget: NamespaceBudget | None = None  # holds in the store (runtime.tenant_budget)
    started_at: float = 0.0  # when the run started, on the services' clock
    cache: dict[int, Any] = field(default_factory=dict)  # per-pass objects (model clients)
    owned_models: list[Model] = field(default_factory=list)  # built from strings; closed after
    redactor: Redactor = field(default_factory=Redactor)  # known secret values, this pass

    @property
    def clock(self) -> Clock:
        return self.services.clock

    def own(self, key: int, build: Callable[[], Model]) -> Model:
        """The model this pass built for ``key`` (once), closed when the pass ends."""
        model = self.cache.get(key)
        if model is None:
            model = self.cache[key] = build()
            self.owned_models.append(model)
        return model

    async def close(self) -> None:
        """Close the model clients this pass built from strings (user-given models stay open).
        Shielded: a cancelled pass still closes them; one failing close does not stop the rest."""
        owned, self.owned_models = self.owned_models, []
        self.cache.clear()
        with anyio.CancelScope(shield=True):
            for model in owned:
                with contextlib.suppress(Exception):  # a client failing to close is dropped
                    await model.aclose()
