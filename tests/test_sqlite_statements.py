"""What a sequential run costs SQLite: the statements of its appends, counted."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from podium import Agent, Context, Runtime, SQLiteStore, Workflow
from podium.testing import ScriptedModel

pytestmark = pytest.mark.anyio


async def test_appends_on_the_event_loop_set_no_busy_timeout_each(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    agents = [
        Agent(name=f"a{i}", model=ScriptedModel(["ok"], by_turn=True, name=f"scripted:a{i}"))
        for i in range(3)
    ]

    async def chain(ctx: Context, text: str) -> str:
        for agent in agents:
            text = await ctx.run(agent, text)
        return text

    runtime = Runtime(store)
    await runtime.run(Workflow(chain, "chain"), "hi")  # the first run sets it once
    seen: Counter[str] = Counter()
    store._conn.set_trace_callback(lambda sql: seen.update([re.split(r"[\s=]", sql)[0]]))
    result = await runtime.run(Workflow(chain, "chain"), "hi")
    store._conn.set_trace_callback(None)
    assert result.output == "ok"
    assert seen["BEGIN"] >= 5  # the appends ran, on this thread (the trace sees them)
    # a pair at most where the run's one thread-path call switches to the 30 s timeout and back,
    # not a pair around each of its appends (there were 14 for these 7)
    assert seen["PRAGMA"] <= 2, seen
    await store.close()
