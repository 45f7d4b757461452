"""Patterns for the kill -9 tests: a fan-out of 8 and an evaluator loop that die mid-way once.

Environment: STATE_DIR (logs and markers). Every function logs each time it really runs, so a
test can count what a resume did again.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Context, workflow
from podium.patterns import Loop, Map

STATE = Path(os.environ.get("STATE_DIR", "."))


def _log(name: str, line: str) -> None:
    with (STATE / f"{name}.log").open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _lines(name: str) -> list[str]:
    path = STATE / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def _die_once(point: str) -> None:
    marker = STATE / f"crashed-{point}"
    if not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)


async def work(i: int) -> str:
    _log("work", str(i))
    if i >= 5:  # the last three wait until five branches are journaled, then the process dies
        deadline = time.monotonic() + 20
        # polling a file another branch writes: there is no event to wait on across the kill
        while len(_lines("committed")) < 5 and time.monotonic() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        _die_once("fanout")
    return f"result {i}"


def committed(i: int) -> int:
    _log("committed", str(i))  # runs only after the step before it was committed
    return i


@workflow
async def branch(ctx: Context, i: Any) -> Any:
    result = await ctx.step("work", work, i)
    await ctx.step("committed", committed, i)
    return result


fanout = Map("fanout", branch, items=lambda _: list(range(8)))


def draft(input: Any) -> str:
    n = len(_lines("draft")) + 1
    _log("draft", str(n))
    return f"draft {n}"


def review(input: dict[str, Any]) -> dict[str, Any]:
    iteration = input["iteration"]
    _log("review", str(iteration))
    if iteration == 3:
        _die_once("loop")
    return {"passed": iteration >= 4, "score": iteration, "feedback": f"fix {iteration}"}


loop = Loop("contract", draft, review, max_iterations=6)
