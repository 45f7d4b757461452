"""Model routing: rules, capabilities, a classifier, escalation on a validator's or an
evaluator's rejection; every decision journaled and costed, and replayed, not re-decided."""

from __future__ import annotations

from typing import Any

import pytest

from podium import Agent, Context, Router, Rule, Runtime, tool, workflow
from podium.errors import UserError
from podium.events import ModelCallCompleted, StepCompleted
from podium.messages import ModelRequest, ModelResponse, UserMessage
from podium.prices import PriceTable
from podium.testing import FunctionModel

pytestmark = pytest.mark.anyio

PRICES = PriceTable.from_dict(
    {
        "version": "test",
        "prices": {
            "scripted:cheap": {"input_per_mtok": 0.1, "output_per_mtok": 0.4},
            "scripted:strong": {"input_per_mtok": 2.0, "output_per_mtok": 8.0},
            "scripted:judge": {"input_per_mtok": 0.1, "output_per_mtok": 0.4},
        },
    }
)


def _models(cheap_answer: str = "cheap answer") -> tuple[FunctionModel, FunctionModel]:
    return (
        FunctionModel(lambda r: cheap_answer, name="scripted:cheap"),
        FunctionModel(lambda r: "strong answer", name="scripted:strong"),
    )


async def _journal(runtime: Runtime, run_id: str) -> list[Any]:
    return [stored.event for stored in await runtime.store.read(run_id)]


def _routes(events: list[Any]) -> list[dict[str, Any]]:
    return [e.result for e in events if isinstance(e, StepCompleted) and e.kind == "route"]


async def test_rules_pick_by_task_tag_and_input_size_and_are_journaled_with_cost() -> None:
    cheap, strong = _models()
    router = Router(
        models=[cheap, strong],
        rules=[Rule(model="scripted:strong", tags=frozenset({"legal"})),
               Rule(model="scripted:cheap", max_input_tokens=200)],
        default="scripted:strong",
    )  # fmt: skip
    runtime = Runtime(prices=PRICES)
    faq = await runtime.run(Agent(name="faq", model=router.for_task("faq")), "Opening hours?")
    legal = await runtime.run(Agent(name="legal", model=router.for_task("legal")), "Liability?")
    long = await runtime.run(Agent(name="faq", model=router.for_task("faq")), "word " * 400)
    assert (faq.output, legal.output, long.output) == (
        "cheap answer",
        "strong answer",
        "strong answer",
    )
    events = await _journal(runtime, faq.run_id)
    assert _routes(events) == [
        {"router": router.name, "task": "faq", "attempt": 1, "model": "scripted:cheap",
         "reason": "rule 2", "input_tokens": _routes(events)[0]["input_tokens"]},
    ]  # fmt: skip
    calls = [e for e in events if isinstance(e, ModelCallCompleted)]
    assert [c.model for c in calls] == ["scripted:cheap"]
    assert calls[0].cost_usd is not None
    assert calls[0].cost_usd > 0
    assert _routes(await _journal(runtime, legal.run_id))[0]["reason"] == "rule 1"
    assert _routes(await _journal(runtime, long.run_id))[0]["reason"] == "default"


@tool
def lookup(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"


async def test_a_request_needing_tools_skips_a_model_without_them() -> None:
    cheap, strong = _models()
    router = Router(models=[cheap, strong], capabilities={"scripted:cheap": frozenset()})
    runtime = Runtime(prices=PRICES)
    result = await runtime.run(Agent(name="clerk", model=router, tools=[lookup]), "A-1?")
    assert result.output == "strong answer"
    [route] = _routes(await _journal(runtime, result.run_id))
    assert route["model"] == "scripted:strong"
    assert "scripted:cheap lacks ['tools']" in route["reason"]
    assert cheap.requests == []


def _sure(request: ModelRequest, response: ModelResponse) -> bool | str:
    return "UNSURE" not in response.text or "the cheap model was unsure"


@workflow(name="escalating")
async def escalating(ctx: Context, question: str) -> Any:
    answer = await ctx.run(ROUTED, question)
    await ctx.wait_for("go")
    return answer


CHEAP, STRONG = _models("UNSURE")
ROUTED = Agent(name="answerer", model=Router(models=[CHEAP, STRONG], validator=_sure))


async def test_a_rejected_cheap_answer_escalates_and_a_resume_does_not_redecide() -> None:
    CHEAP.requests.clear()
    STRONG.requests.clear()
    runtime = Runtime(prices=PRICES)
    run = await runtime.run(escalating, "Prove it.")
    assert run.status.value == "suspended"
    events = await _journal(runtime, run.run_id)
    routes = _routes(events)
    assert [r.get("model") or r.get("rejected") for r in routes] == [
        "scripted:cheap",
        "scripted:cheap",
        "scripted:strong",
    ]
    assert routes[1]["reason"] == "validator: the cheap model was unsure"
    assert routes[1]["cost_usd"] > 0  # the rejected attempt's cost is on the record
    assert routes[2]["reason"].startswith("escalated after scripted:cheap")
    calls = [e.model for e in events if isinstance(e, ModelCallCompleted)]
    assert calls == ["scripted:cheap", "scripted:strong"]
    await runtime.signal(run.run_id, "go")
    done = await runtime.resume(run.run_id, escalating)
    assert done.output == "strong answer"
    assert (len(CHEAP.requests), len(STRONG.requests)) == (1, 1)  # replayed, not re-asked


async def test_an_evaluator_rejection_escalates_and_its_call_is_journaled() -> None:
    cheap, strong = _models("a sloppy answer")
    judge = FunctionModel(
        lambda r: "PASS" if "strong" in r.messages[0].content else "FAIL: too sloppy",  # type: ignore[union-attr]
        name="scripted:judge",
    )
    router = Router(models=[cheap, strong], evaluator=judge)
    runtime = Runtime(prices=PRICES)
    result = await runtime.run(Agent(name="a", model=router), "Explain.")
    assert result.output == "strong answer"
    events = await _journal(runtime, result.run_id)
    assert [e.model for e in events if isinstance(e, ModelCallCompleted)] == [
        "scripted:cheap",
        "scripted:judge",
        "scripted:strong",
    ]  # the strongest answer is kept without asking the judge
    assert _routes(events)[1]["reason"] == "evaluator: FAIL: too sloppy"


async def test_a_classifier_picks_the_model_and_an_unknown_label_falls_back_to_rules() -> None:
    cheap, strong = _models()
    labels = {"Hard task": "hard", "Easy task": "easy"}

    def classify(request: ModelRequest) -> str:
        text = request.messages[0].content  # type: ignore[union-attr]
        return next((label for key, label in labels.items() if key in text), "no idea")

    classifier = FunctionModel(classify, name="scripted:judge")
    router = Router(
        models=[cheap, strong],
        classifier=classifier,
        labels={"easy": "scripted:cheap", "hard": "scripted:strong"},
        default="scripted:cheap",
    )
    runtime = Runtime(prices=PRICES)
    outputs = [
        (await runtime.run(Agent(name="a", model=router), text)).output
        for text in ("Hard task: prove it", "Easy task: say hi", "Something else")
    ]
    assert outputs == ["strong answer", "cheap answer", "cheap answer"]
    assert len(classifier.requests) == 3


async def test_outside_a_run_the_router_decides_the_same_way() -> None:
    cheap, strong = _models("UNSURE")
    router = Router(models=[cheap, strong], validator=_sure)
    request = ModelRequest(messages=(UserMessage(content="q"),))
    assert (await router.request(request)).text == "strong answer"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": []}, "at least one model"),
        ({"models": ["openai:a", "openai:a"]}, "duplicate model names"),
        ({"models": ["openai:a"], "rules": [Rule(model="openai:b")]}, r"\['openai:b'\] not among"),
        ({"models": ["openai:a"], "default": "openai:z"}, r"\['openai:z'\] not among"),
        ({"models": ["openai:a"], "labels": {"x": "openai:a"}}, "labels need a classifier"),
    ],
)
def test_bad_routers_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Router(**options)
