"""Workflows for tests/test_hardening_budget.py, run by real processes (CLI, worker, embedded).

- ``pay``: an agent calls the idempotent ``charge`` tool once. The tool writes one line per
  attempt to HARDEN_LEDGER (pid, run, step, idempotency key) and applies its effect once per
  key (a file named by the key in HARDEN_EFFECTS, created with O_EXCL: a provider that
  deduplicates). With HARDEN_DIE=1 the process dies (``os._exit``) right after the attempt,
  before the result is journaled, so the next executor runs the same step again.
- ``spend``: an agent that makes SPEND_TURNS model calls (a ``note`` tool between them); each
  call reports usage equal to its reservation (input estimate + max_tokens), so an exact
  budget is never overshot. With SPEND_SLOW=seconds each call takes that long.
- ``spawn_loop.yaml`` (next to this file) uses the ``*_model`` factories below.

``python budget_app.py resume|run DB NAMESPACE ...`` is the embedded executor: a
``Runtime(namespace=NAMESPACE, namespaces="*", namespace_budget=Budget(tokens=NS_TOKENS))``
resuming the given runs, or running COUNT ``spend`` runs, concurrently in one process; it
prints one ``run status`` line per run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from podium import Agent, Context, Effect, Runtime, ToolContext, tool, workflow
from podium.budget import Budget
from podium.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ToolCall,
    Usage,
)
from podium.models import Model
from podium.store.open import open_store
from podium.testing import FunctionModel, ScriptedModel, call
from podium.tokens import count_tokens

SPEND_MAX_TOKENS = 20
SPEND_MODEL = "function:spend"


def _append(name: str, record: dict[str, Any]) -> None:
    line = json.dumps({"pid": os.getpid(), "at": time.time(), **record}) + "\n"
    fd = os.open(os.environ[name], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@tool(effect=Effect.IDEMPOTENT)
def charge(amount: int, ctx: ToolContext) -> str:
    """Charge a card at a provider that deduplicates by idempotency key."""
    key = ctx.idempotency_key
    effects = Path(os.environ["HARDEN_EFFECTS"])
    effects.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(effects / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        applied = False
    else:
        os.write(fd, f"{ctx.run_id} {amount}".encode())
        os.close(fd)
        applied = True
    _append(
        "HARDEN_LEDGER", {"run": ctx.run_id, "step": ctx.step_key, "key": key, "applied": applied}
    )
    if os.environ.get("HARDEN_DIE") == "1":
        os._exit(17)  # a crash before the result is journaled
    return f"charged {amount}"


cashier = Agent(
    name="cashier",
    model=ScriptedModel([call("charge", amount=42), "paid"], by_turn=True),
    tools=[charge],
)


@workflow(name="pay")
async def pay(ctx: Context, input: Any) -> Any:
    return await ctx.run(cashier, input)


@tool
async def note(n: int) -> str:
    """Write a note."""
    return f"noted {n}"


def _spend_answer(request: ModelRequest) -> ModelResponse:
    """Usage = the reservation (estimate + max_tokens): the budget is exact."""
    slow = float(os.environ.get("SPEND_SLOW", "0") or 0)
    if slow:
        time.sleep(slow)
    turns = sum(isinstance(m, AssistantMessage) for m in request.messages)
    usage = Usage(input_tokens=count_tokens(request, SPEND_MODEL), output_tokens=SPEND_MAX_TOKENS)
    if turns + 1 >= int(os.environ.get("SPEND_TURNS", "3")):
        return ModelResponse(text="spent", usage=usage)
    asked = ToolCall(id=f"c{turns}", name="note", arguments=json.dumps({"n": turns}))
    return ModelResponse(tool_calls=(asked,), usage=usage, finish_reason="tool_calls")


def spend_model() -> Model:
    """A model whose usage is exactly what a budget reserves for it (see ``spend``)."""
    return FunctionModel(_spend_answer, name=SPEND_MODEL)


spender = Agent(
    name="spender",
    model=spend_model(),
    tools=[note],
    settings=ModelSettings(max_tokens=SPEND_MAX_TOKENS),
    max_turns=50,
)


@workflow(name="spend")
async def spend(ctx: Context, input: Any) -> Any:
    return await ctx.run(spender, input)


# -- models for spawn_loop.yaml ----------------------------------------------------------------


def manager_model() -> Model:
    """Every manager turn 0 spawns two sub-agents at once; turn 1 answers."""
    spawns = [call("spawn_agent", name=n, instructions="help", task="part") for n in ("a", "b")]
    return ScriptedModel([spawns, "draft"], by_turn=True, name="scripted:manager")


def helper_model() -> Model:
    return ScriptedModel(["helped"], by_turn=True, name="scripted:helper")


def critic_model() -> Model:
    verdict = '{"passed": false, "score": 0.5, "feedback": "again"}'
    return ScriptedModel([verdict], by_turn=True, name="scripted:critic")


# -- the embedded executor -----------------------------------------------------------------------


async def _embedded(command: str, db: str, namespace: str, args: list[str]) -> None:
    """``resume DB NS RUN...``: resume runs with a Runtime whose namespace is NS (acting in
    every namespace); ``run DB NS COUNT``: start and run COUNT ``spend`` runs in NS at once."""
    tokens = os.environ.get("NS_TOKENS")
    budget = Budget(tokens=int(tokens)) if tokens else None
    async with open_store(db) as store:
        runtime = Runtime(store, namespace=namespace, namespaces="*", namespace_budget=budget)

        async def one(run_id: str | None) -> None:
            if run_id is None:
                result = await runtime.run(spend, "embedded", ref=f"{__file__}:spend")
            else:
                result = await runtime.resume(run_id)
            print(result.run_id, result.status.value, flush=True)

        targets = [None] * int(args[0]) if command == "run" else list(args)
        async with anyio.create_task_group() as tg:
            for target in targets:
                tg.start_soon(one, target)


if __name__ == "__main__":
    anyio.run(_embedded, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
