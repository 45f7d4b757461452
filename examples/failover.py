"""Retries and failover, with every failed attempt in the journal.

The primary model is rate limited (HTTP 429 with Retry-After), then overloaded (HTTP 503).
RetryModel retries it once, waiting at least what Retry-After asks; then FallbackModel moves on
to the backup, which answers. Each failed attempt is a ``model_call_failed`` event under the same
step key as the ``model_call_completed`` that follows. A 400 (a bad request) is neither retried
nor failed over: the run fails.

Offline: both models are scripted. Run it with ``python examples/failover.py``.
"""

from __future__ import annotations

import os
import sys
import time

import anyio

from podium import (
    Agent,
    FallbackModel,
    RetryModel,
    RetryPolicy,
    Runtime,
    SQLiteStore,
)
from podium.errors import ModelHTTPError
from podium.events import ModelCallCompleted, ModelCallFailed
from podium.testing import ScriptedModel


async def main() -> int:
    db = os.environ.get("PODIUM_DB", ".podium/podium.db")
    primary = ScriptedModel(
        [
            ModelHTTPError(429, "rate limited", retry_after=0.2),
            ModelHTTPError(503, "overloaded"),
        ],
        name="scripted:primary",
    )
    backup = ScriptedModel(["Paris."], name="scripted:backup")
    retrying = RetryModel(primary, RetryPolicy(max_attempts=2, initial_delay=0.01))
    agent = Agent(
        name="geo",
        model=FallbackModel(retrying, backup),
        instructions="Answer in one word.",
    )

    async with SQLiteStore(db) as store:
        started = time.monotonic()
        result = await Runtime(store).run(agent, "What is the capital of France?")
        elapsed = time.monotonic() - started
        journal = [stored.event for stored in await store.read(result.run_id)]

        print(f"run {result.run_id}: {result.status.value} -> {result.output!r}")
        print(f"  took {elapsed:.2f}s (Retry-After asked for 0.2s)")
        for event in journal:
            if isinstance(event, ModelCallFailed):
                print(
                    f"  model_call_failed     {event.key}  {event.model} attempt {event.attempt}: "
                    f"{event.error.message} (retryable={event.retryable}, "
                    f"retry_after={event.retry_after})"
                )
            elif isinstance(event, ModelCallCompleted):
                print(
                    f"  model_call_completed  {event.key}  answered by {event.response.model_name}"
                )
        print(f"  primary asked {len(primary.requests)}x, backup asked {len(backup.requests)}x")

        # A bad request is the caller's fault: no retry, no failover.
        bad_backup = ScriptedModel(["never used"], name="scripted:backup")
        strict = Agent(
            name="geo",
            model=FallbackModel(
                RetryModel(ScriptedModel([ModelHTTPError(400, "prompt too long")])), bad_backup
            ),
        )
        failed = await Runtime(store).run(strict, "What is the capital of France?")
        print(f"run {failed.run_id}: {failed.status.value} -> {failed.error}")
        print(f"  backup asked {len(bad_backup.requests)}x")

    ok = (
        result.output == "Paris."
        and elapsed >= 0.2
        and failed.status.value == "failed"
        and not bad_backup.requests
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
