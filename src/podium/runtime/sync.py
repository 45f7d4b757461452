"""The one sync wrapper over the async core."""

from __future__ import annotations

from typing import Any

import anyio

from podium.runtime.engine import RunResult, Runtime
from podium.store import Store


def run_sync(
    workflow: Any, input: Any = None, *, store: Store | None = None, **options: Any
) -> RunResult:
    """Run a workflow to completion (or suspension) from synchronous code."""

    async def go() -> RunResult:
        return await Runtime(store, **options).run(workflow, input)

    return anyio.run(go)
