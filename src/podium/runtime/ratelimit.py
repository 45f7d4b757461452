"""Rate limits drawn from buckets in the store, so every worker of a database shares them.

``Runtime(rate_limits={"openai": RateLimit(500, 200_000), "openai:gpt-4o": ...})``: a key is
a provider (``openai``) or a model (``openai:gpt-4o``); a request counts against every key
that matches its model. Before each provider request (each attempt) the runtime takes one
request and the estimated tokens (input estimate + ``max_tokens``) from each bucket, waiting
as long as the store says; after it, the estimate is corrected to the reported usage. Waiting
happens before the request is sent, so the provider never sees the excess: 429s are avoided
rather than retried. Buckets live in the store (``rate_buckets``) on its clock — PostgreSQL's
for many machines, the file's for processes on one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import anyio

from podium.models.limits import RateLimit, Settle
from podium.store import Store

__all__ = ["SharedRateLimits"]

_MAX_PAUSE = 2.0  # re-ask the store at least this often while waiting


class SharedRateLimits:
    """An :class:`~podium.models.limits.Admission` backed by ``store.take_rate``."""

    def __init__(self, store: Store, limits: Mapping[str, RateLimit]) -> None:
        self.store = store
        self.limits = dict(limits)
        self.waited = 0.0  # seconds spent waiting for an allowance, for metrics and tests

    def matching(self, model: str) -> list[tuple[str, RateLimit]]:
        provider = model.split(":", 1)[0]
        return [(key, limit) for key, limit in self.limits.items() if key in (model, provider)]

    async def admit(self, model: str, tokens: int) -> Settle | None:
        limits = self.matching(model)
        if not limits:
            return None
        for key, limit in limits:
            await self._take(key, limit, 1, tokens)

        async def settle(used: int) -> None:
            if used == tokens:
                return
            for key, limit in limits:
                if limit.tokens_per_minute is not None:
                    await self._take(key, limit, 0, used - tokens, force=True)

        return settle

    async def _take(
        self, key: str, limit: RateLimit, requests: int, tokens: int, *, force: bool = False
    ) -> None:
        while True:
            wait = await self.store.take_rate(
                key, requests=requests, tokens=tokens, force=force,
                requests_per_minute=limit.requests_per_minute,
                tokens_per_minute=limit.tokens_per_minute,
            )  # fmt: skip
            if wait <= 0:
                return
            pause = min(wait, _MAX_PAUSE) * random.uniform(1.0, 1.1)
            self.waited += pause
            await anyio.sleep(pause)
