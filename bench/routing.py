"""Routing benchmark (issue 18): a scripted 70% easy / 30% hard workload, three strategies.

- always-cheap: every task on the cheap model;
- always-strong: every task on the strong model;
- routed: a :class:`~podium.Router` tries the cheap model first and escalates to the strong
  one when a validator rejects the answer (the cheap model says it is unsure).

The models are scripted (deterministic, no network): the strong model answers every task
correctly; the cheap one answers easy tasks correctly, and on hard tasks says "UNSURE", except
on tasks numbered 2 modulo 50 (4 of 200), where it gives a confident wrong answer that the
validator cannot catch. Quality is
the pass rate of an exact-answer evaluator. Cost is the sum of ``cost_usd`` over the journal's
model calls, priced per million tokens at cheap $0.15 in / $0.60 out, strong $2.50 in /
$10.00 out (GPT-4o-mini / GPT-4o list prices). Not a timed test.

    .venv/bin/python bench/routing.py [--tasks 200]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from podium import Agent, Model, Router, Runtime
from podium.events import ModelCallCompleted
from podium.messages import ModelRequest, ModelResponse
from podium.prices import PriceTable
from podium.testing import FunctionModel

PRICES = PriceTable.from_dict(
    {
        "version": "bench",
        "prices": {
            "bench:cheap": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
            "bench:strong": {"input_per_mtok": 2.50, "output_per_mtok": 10.00},
        },
    }
)
CONTEXT = "Background for the task: " + "the customer record and the policy excerpt. " * 30


def workload(count: int) -> list[tuple[str, str, bool]]:
    """(question, expected answer, hard) with 30% hard tasks, spread evenly."""
    tasks = []
    for i in range(count):
        hard = i % 10 in (2, 5, 8)
        tasks.append((f"Task {i} ({'hard' if hard else 'easy'}). {CONTEXT}", f"answer-{i}", hard))
    return tasks


def _task(request: ModelRequest) -> tuple[int, bool]:
    text = request.messages[-1].content  # type: ignore[union-attr]
    number = int(text.split()[1])
    return number, "(hard)" in text


def cheap(request: ModelRequest) -> str:
    number, hard = _task(request)
    if not hard:
        return f"answer-{number}"
    return f"wrong-{number}" if number % 50 == 2 else "UNSURE: this needs more reasoning"


def strong(request: ModelRequest) -> str:
    number, _hard = _task(request)
    return f"answer-{number}. " + "Reasoned step by step. " * 6


def sure(request: ModelRequest, response: ModelResponse) -> bool | str:
    return not response.text.startswith("UNSURE") or "the cheap model is unsure"


async def measure(name: str, model: Callable[[], Model], tasks: list[Any]) -> dict[str, Any]:
    runtime = Runtime(prices=PRICES)
    agent = Agent(name="worker", model=model())
    cost, passed, calls = 0.0, 0, {"bench:cheap": 0, "bench:strong": 0}
    for question, expected, _hard in tasks:
        result = await runtime.run(agent, question)
        passed += str(result.output).startswith(expected)
        for stored in await runtime.store.read(result.run_id):
            event = stored.event
            if isinstance(event, ModelCallCompleted):
                cost += event.cost_usd or 0.0
                calls[event.model] += 1
    return {"strategy": name, "cost": cost, "pass": passed / len(tasks), "calls": calls}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    tasks = workload(parser.parse_args().tasks)
    c = lambda: FunctionModel(cheap, name="bench:cheap")  # noqa: E731
    s = lambda: FunctionModel(strong, name="bench:strong")  # noqa: E731
    rows = [
        await measure("always-cheap", c, tasks),
        await measure("always-strong", s, tasks),
        await measure(
            "routed (cheap, escalate)", lambda: Router(models=[c(), s()], validator=sure), tasks
        ),
    ]
    base = rows[1]["cost"]
    print(f"{len(tasks)} tasks, {sum(t[2] for t in tasks)} hard\n")
    print("| strategy | cost (USD) | vs always-strong | evaluator pass rate | cheap | strong |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['strategy']} | {row['cost']:.6f} | {row['cost'] / base:.0%} | "
            f"{row['pass']:.1%} | {row['calls']['bench:cheap']} | {row['calls']['bench:strong']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
