"""A workflow with a step that waits until a marker file exists (Ctrl-C tests, offline)."""

from __future__ import annotations

import os
from typing import Any

import anyio

from podium import Context, workflow


async def wait_for_marker() -> str:
    """Like a long model or tool call: the event loop stays free while it waits (60 s at most)."""
    marker = anyio.Path(os.environ["PODIUM_TEST_MARKER"])
    for _ in range(1200):
        if await marker.exists():
            return "released"
        await anyio.sleep(0.05)
    return "timed out"


@workflow(name="slow")
async def slow(ctx: Context, input: Any) -> Any:
    first = await ctx.step("first", lambda: "one")
    second = await ctx.step("wait", wait_for_marker)
    return {"first": first, "second": second}
