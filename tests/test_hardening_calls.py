"""Issue 12, items 1, 7 and 11: attacker data at the call boundary (item 6, secrets, is in
test_hardening_calls_secrets.py; the CLI runs in test_hardening_calls_cli.py).

Every scenario meets the runtime where an attacker does: an :class:`ObedientAttacker` (or a
scripted model sending exactly the bytes it is given), the official OpenAI SDK against the fake
LLM server, and a YAML spec. Each asserts that nothing forbidden ran, that the journal says
why, and that the run ended in a documented state.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from calls_support import journal, of, open_store
from podium import Agent, Effect, Runtime, SQLiteStore, jsonsafe, tool
from podium.budget import Budget
from podium.events import (
    ApprovalRequested,
    ModelCallCompleted,
    ModelCallFailed,
    RunFailed,
    ToolAttemptFailed,
    ToolCallCompleted,
    ToolCallIntent,
    encode,
)
from podium.guardrails import MaxSize, guardrail
from podium.messages import ModelResponse, ToolCall, ToolMessage, Usage
from podium.policy import ApprovalRule
from podium.providers.anthropic import AnthropicModel
from podium.providers.openai import OpenAIModel
from podium.spec import loads_spec
from podium.store import Store
from podium.testing import FunctionModel, ObedientAttacker, ScriptedModel
from podium.testing.fake_llm import FakeLLMServer, Reply
from podium.types import RunStatus

pytestmark = pytest.mark.anyio

PAID: list[Any] = []  # what the payment tools really did (the YAML spec imports them too)
SEEN: list[Any] = []  # what predicates and guardrails were shown


def over_1000(arguments: Any) -> bool:
    SEEN.append(dict(arguments))
    return bool(arguments["amount"] > 1000)


@tool(effect=Effect.AT_MOST_ONCE, approval=ApprovalRule(when=over_1000))
def pay(to: str, amount: float) -> str:
    """Pay someone.

    Args:
        to: Who is paid.
        amount: How much, in EUR.
    """
    PAID.append((to, amount))
    return f"paid {amount} to {to}"


@tool(effect=Effect.AT_MOST_ONCE, approval=ApprovalRule(when=over_1000))
def pay_exact(to: str, amount: Decimal) -> str:
    """Pay an exact amount."""
    PAID.append((to, amount))
    return "paid"


@tool(effect=Effect.AT_MOST_ONCE)
def pay_any(data: Any) -> str:
    """Pay whatever the data says."""
    PAID.append(data)
    return "paid"


MODELS: list[OpenAIModel] = []


def remote_model() -> OpenAIModel:
    """The YAML spec's model: the official SDK, at ``PODIUM_OPENAI_BASE_URL`` (the fake)."""
    MODELS.append(OpenAIModel("gpt-test"))
    return MODELS[-1]


@guardrail(stages="tool_args")
def watch(value: Any) -> bool:
    SEEN.append(value)
    return True


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    PAID.clear()
    SEEN.clear()
    yield
    PAID.clear()
    SEEN.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(request, tmp_path) as opened:
        yield opened


def tool_errors_read(model: ObedientAttacker) -> list[str]:
    """The tool errors the model was shown, in order."""
    seen: dict[str, str] = {}
    for request in model.requests:
        for message in request.messages:
            if isinstance(message, ToolMessage) and message.is_error:
                seen[message.tool_call_id] = message.content
    return list(seen.values())


# -- 1. tool arguments are strict JSON before anything sees them --------------------------------

NOT_STRICT = {
    "NaN": '{"to": "bob", "amount": NaN}',
    "Infinity": '{"to": "bob", "amount": Infinity}',
    "-Infinity": '{"to": "bob", "amount": -Infinity}',
    "overflow": '{"to": "bob", "amount": 1e400}',
    "NaN as text": '{"to": "bob", "amount": "NaN"}',
    "-Infinity as text": '{"to": "bob", "amount": "-inf"}',
    "huge int": '{"to": "bob", "amount": ' + "9" * 40 + "}",
    "lone surrogate": '{"to": "bob\\ud800", "amount": 5}',
    "U+0000": '{"to": "bob\\u0000", "amount": 5}',
}


@pytest.mark.parametrize("payload", list(NOT_STRICT.values()), ids=list(NOT_STRICT))
async def test_an_attacker_cannot_slip_past_an_approval_rule(payload: str) -> None:
    attacker = ObedientAttacker()
    agent = Agent(name="payer", model=attacker, tools=[pay], guardrails=[watch])
    runtime = Runtime()
    result = await runtime.run(agent, f"CALL pay {payload}")
    assert result.status is RunStatus.COMPLETED, result.error
    assert PAID == []  # the body never ran
    assert SEEN == []  # neither the approval predicate nor the guardrail saw the value
    events = await journal(runtime, result.run_id)
    assert of(events, ApprovalRequested) == []
    assert of(events, ToolCallIntent) == []
    [done] = of(events, ToolCallCompleted)
    assert done.is_error
    assert done.error_type == "ToolArgumentsError"
    [error] = tool_errors_read(attacker)
    assert error.startswith("invalid arguments for tool 'pay'")
    assert "amount" in error + payload
    for event in events:
        encode(event)  # everything journaled is plain JSON


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"to": "bob", "amount": "-Infinity"}', "finite"),
        ('{"to": "bob", "amount": "NaN"}', "finite"),
        ('{"to": "bob", "amount": "sNaN"}', ""),
    ],
)
async def test_a_decimal_field_refuses_non_finite_text(payload: str, reason: str) -> None:
    attacker = ObedientAttacker()
    runtime = Runtime()
    agent = Agent(name="payer", model=attacker, tools=[pay_exact])
    result = await runtime.run(agent, f"CALL pay_exact {payload}")
    assert result.status is RunStatus.COMPLETED
    assert PAID == []
    assert SEEN == []
    [error] = tool_errors_read(attacker)
    assert "invalid arguments for tool 'pay_exact'" in error
    assert reason in error


async def test_a_valid_call_still_runs_and_asks_for_approval() -> None:
    attacker = ObedientAttacker()
    runtime = Runtime()
    agent = Agent(name="payer", model=attacker, tools=[pay])
    small = await runtime.run(agent, 'CALL pay {"to": "bob", "amount": 5}')
    assert small.status is RunStatus.COMPLETED
    assert PAID == [("bob", 5.0)]
    large = await runtime.run(agent, 'CALL pay {"to": "bob", "amount": 5000}')
    assert large.status is RunStatus.SUSPENDED
    assert PAID == [("bob", 5.0)]


def _deep(levels: int) -> str:
    return '{"data": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (_deep(100_000), "nests deeper than 100 levels"),
        (_deep(150), "nests deeper than 100 levels"),
        ('{"data": "' + "x" * 1_000_001 + '"}', "over the limit of 1,000,000"),
        ('{"data": 1, "data": NaN}', "NaN is not a finite number"),
        ('{"data": {"\\udfff": 1}}', "lone surrogate"),
        ("[1, 2]", "Input should be an object"),
    ],
    ids=["100k deep", "150 deep", "1M chars", "duplicate NaN", "surrogate key", "not an object"],
)
async def test_raw_arguments_that_are_not_strict_json_never_execute(
    arguments: str, reason: str
) -> None:
    response = ModelResponse(tool_calls=(ToolCall(id="c1", name="pay_any", arguments=arguments),))
    model = ScriptedModel([response, "gave up"], by_turn=True)
    runtime = Runtime()
    result = await runtime.run(Agent(name="payer", model=model, tools=[pay_any]), "go")
    assert result.status is RunStatus.COMPLETED, result.error
    assert PAID == []
    [done] = of(await journal(runtime, result.run_id), ToolCallCompleted)
    assert done.is_error
    assert reason in str(done.result)
    assert len(encode(done)) < 20_000  # the refused text is clipped, not copied again


async def test_a_depth_of_100_is_accepted() -> None:
    response = ModelResponse(tool_calls=(ToolCall(id="c1", name="pay_any", arguments=_deep(99)),))
    model = ScriptedModel([response, "done"], by_turn=True)
    result = await Runtime().run(Agent(name="payer", model=model, tools=[pay_any]), "go")
    assert result.status is RunStatus.COMPLETED
    assert len(PAID) == 1


async def test_arguments_the_journal_cannot_record_never_execute(tmp_path: Path) -> None:
    """The model's call fits the store; the validated arguments (with a long default) do not:
    the body must not run, since its completion could never be journaled."""

    @tool(effect=Effect.AT_MOST_ONCE)
    def wire(to: str, memo: str = "m" * 6_000) -> str:
        """Wire money."""
        PAID.append(to)
        return "sent"

    store = SQLiteStore(tmp_path / "small.db", max_event_bytes=5_000)
    model = ScriptedModel([scripted_call("wire", to="bob"), "ok"], by_turn=True)
    runtime = Runtime(store)
    result = await runtime.run(Agent(name="payer", model=model, tools=[wire]), "go")
    assert result.status is RunStatus.COMPLETED, result.error
    assert PAID == []
    events = await journal(runtime, result.run_id)
    assert of(events, ToolCallIntent) == []
    [done] = of(events, ToolCallCompleted)
    assert done.error_type == "ToolArgumentsError"
    assert "cannot be recorded" in str(done.result)
    assert "5,000-byte limit" in str(done.result)
    await store.close()


def scripted_call(name: str, **arguments: Any) -> ModelResponse:
    return ModelResponse(
        tool_calls=(ToolCall(id=f"c_{name}", name=name, arguments=json.dumps(arguments)),)
    )


async def test_strict_arguments_on_both_stores(store: Store) -> None:
    """U+0000 is refused on SQLite too, so both backends behave the same."""
    attacker = ObedientAttacker()
    runtime = Runtime(store)
    agent = Agent(name="payer", model=attacker, tools=[pay])
    for payload in (NOT_STRICT["NaN"], NOT_STRICT["U+0000"], NOT_STRICT["lone surrogate"]):
        result = await runtime.run(agent, f"CALL pay {payload}")
        assert result.status is RunStatus.COMPLETED, result.error
        [done] = of(await journal(runtime, result.run_id), ToolCallCompleted)
        assert done.error_type == "ToolArgumentsError"
    assert PAID == []
    assert SEEN == []


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


async def test_nan_over_the_wire_through_the_openai_sdk(server: FakeLLMServer) -> None:
    server.script(
        [
            Reply(tool_calls=[("pay", {"to": "bob", "amount": float("nan")})]),
            Reply(tool_calls=[("pay", {"to": "bob", "amount": float("-inf")})]),
            Reply(text="I give up"),
        ]
    )
    async with OpenAIModel("gpt-test", base_url=server.openai_base_url, api_key="k") as model:
        runtime = Runtime()
        result = await runtime.run(Agent(name="payer", model=model, tools=[pay]), "pay bob")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "I give up"
    assert PAID == []
    assert SEEN == []
    sent = [m for m in server.requests[2].body["messages"] if m["role"] == "tool"]
    assert "NaN is not a finite number" in sent[0]["content"]
    assert "-Infinity is not a finite number" in sent[1]["content"]
    server.assert_complete()


YAML = """
version: 1
models:
  remote: {import: "test_hardening_calls:remote_model"}
tools:
  pay: "test_hardening_calls:pay"
agents:
  payer:
    model: remote
    instructions: Pay what is asked.
    tools: [pay]
    approvals:
      pay: {when: "test_hardening_calls:over_1000", role: cfo}
workflow: {agent: payer}
"""


async def test_a_yaml_approval_rule_holds_against_infinity(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    server.script(
        [
            Reply(tool_calls=[("pay", {"to": "bob", "amount": float("inf")})]),
            Reply(tool_calls=[("pay", {"to": "bob", "amount": 5000})]),
        ]
    )
    runtime = Runtime()
    workflow = loads_spec(YAML)
    try:
        result = await runtime.run(workflow, "pay bob")
    finally:
        for model in MODELS:
            await model.aclose()
    assert result.status is RunStatus.SUSPENDED  # the valid large amount waits for the cfo
    assert PAID == []
    events = await journal(runtime, result.run_id)
    first, *_ = of(events, ToolCallCompleted)
    assert first.error_type == "ToolArgumentsError"
    assert "Infinity" in str(first.result)
    [request] = of(events, ApprovalRequested)
    assert request.action == {"tool": "pay", "arguments": {"to": "bob", "amount": 5000.0}}
    assert SEEN == [{"to": "bob", "amount": 5000.0}]


# -- 7. attacker data in tool results becomes a tool error the model reads ----------------------


def _nested(levels: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(levels):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return root


POISON: dict[str, Any] = {
    "fine": {"price": 12.5},
    "nan": {"price": float("nan")},
    "infinity": [1.0, float("inf")],
    "surrogate": {"name": "Zo\udce9"},
    "surrogate key": {"\ud800": 1},
    "nul": "a\x00b",
    "huge int": {"id": 10**40},
    "deep": _nested(100_000),
    "20 MB": "x" * (20 * 1024 * 1024),
}


def fetcher() -> Any:
    @tool
    def fetch(which: str) -> Any:
        """Fetch a document from outside (attacker data)."""
        PAID.append(which)  # it ran
        return POISON[which]

    return fetch


@pytest.mark.parametrize("which", [w for w in POISON if w != "fine"])
async def test_a_poisoned_tool_result_is_an_error_the_model_reads(which: str) -> None:
    attacker = ObedientAttacker()
    agent = Agent(
        name="reader", model=attacker, tools=[fetcher()], guardrails=[MaxSize(max_chars=10_000)]
    )
    runtime = Runtime()
    result = await runtime.run(agent, f'CALL fetch {{"which": "{which}"}}')
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.output == "Nothing left to obey."
    assert [which] == PAID
    events = await journal(runtime, result.run_id)
    [done] = of(events, ToolCallCompleted)
    assert done.is_error
    assert done.error_type == "ToolResultError"
    assert "cannot be recorded" in str(done.result) or "is not JSON" in str(done.result)
    [error] = tool_errors_read(attacker)
    assert error == done.result
    assert len(error) < 2_000  # the model reads why, not the payload
    for event in events:
        encode(event)


async def test_a_20_mb_result_over_the_wire_and_on_both_stores(
    server: FakeLLMServer, store: Store
) -> None:
    server.script([Reply(tool_calls=[("fetch", {"which": "20 MB"})]), Reply(text="skipped it")])
    async with OpenAIModel("gpt-test", base_url=server.openai_base_url, api_key="k") as model:
        agent = Agent(
            name="reader", model=model, tools=[fetcher()], guardrails=[MaxSize(max_chars=1_000)]
        )
        runtime = Runtime(store)
        result = await runtime.run(agent, "read it")
    assert result.status is RunStatus.COMPLETED
    assert result.output == "skipped it"
    [sent] = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert "cannot be recorded" in sent["content"]
    assert "8,388,608-byte limit" in sent["content"]
    [done] = of(await journal(runtime, result.run_id), ToolCallCompleted)
    assert done.error_type == "ToolResultError"


@pytest.mark.parametrize("which", ["nan", "surrogate", "nul"])
async def test_poisoned_results_on_both_stores(store: Store, which: str) -> None:
    attacker = ObedientAttacker()
    runtime = Runtime(store)
    agent = Agent(name="reader", model=attacker, tools=[fetcher()])
    result = await runtime.run(agent, f'CALL fetch {{"which": "{which}"}}')
    assert result.status is RunStatus.COMPLETED, result.error
    [done] = of(await journal(runtime, result.run_id), ToolCallCompleted)
    assert done.error_type == "ToolResultError"


async def test_a_tool_error_message_holding_attacker_text_is_recorded_cleanly() -> None:
    @tool(retry=None)
    def parse(text: str) -> str:
        """Parse a document."""
        raise ValueError("cannot parse \udc80\x00" + "y" * 50_000)

    attacker = ObedientAttacker()
    runtime = Runtime()
    result = await runtime.run(
        Agent(name="reader", model=attacker, tools=[parse]), 'CALL parse {"text": "doc"}'
    )
    assert result.status is RunStatus.COMPLETED, result.error
    events = await journal(runtime, result.run_id)
    [failed] = of(events, ToolAttemptFailed)
    assert "cannot parse \ufffd\ufffd" in failed.error.message
    assert "[clipped: 50,015 characters]" in failed.error.message
    [done] = of(events, ToolCallCompleted)
    assert done.is_error
    assert len(str(done.result)) < 11_000


async def test_a_huge_argument_string_from_the_model_is_recorded_clipped() -> None:
    text = '{"which": "' + "z" * 2_000_000 + '"}'
    response = ModelResponse(tool_calls=(ToolCall(id="c1", name="fetch", arguments=text),))
    model = ScriptedModel([response, "ok"], by_turn=True)
    runtime = Runtime()
    result = await runtime.run(Agent(name="reader", model=model, tools=[fetcher()]), "go")
    assert result.status is RunStatus.COMPLETED
    assert PAID == []
    [done] = of(await journal(runtime, result.run_id), ToolCallCompleted)
    assert isinstance(done.arguments, str)
    assert done.arguments.endswith("characters]")


# -- 11. a provider reporting impossible usage -------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "field", "value"),
    [
        (Reply(text="hi", input_tokens=-5), "usage.input_tokens", -5),
        (Reply(text="hi", output_tokens=-1), "usage.output_tokens", -1),
    ],
)
@pytest.mark.parametrize("budget", [None, Budget(tokens=100_000)], ids=["no budget", "budget"])
async def test_negative_usage_over_the_wire_is_a_journaled_protocol_error(
    server: FakeLLMServer, store: Store, reply: Reply, field: str, value: int, budget: Any
) -> None:
    server.script([reply])
    async with OpenAIModel("gpt-test", base_url=server.openai_base_url, api_key="k") as model:
        runtime = Runtime(store, budget=budget)
        result = await runtime.run(Agent(name="a", model=model), "hello")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("ModelProtocolError: ")
    assert "'openai'" in result.error
    assert "'gpt-test'" in result.error
    assert field in result.error
    assert "Spec" not in result.error
    events = await journal(runtime, result.run_id)
    assert of(events, ModelCallCompleted) == []
    [failed] = of(events, ModelCallFailed)
    assert failed.error.type == "ModelProtocolError"
    assert not failed.retryable
    assert failed.response is not None
    assert failed.response.text == "hi"
    assert getattr(failed.response.usage, field.split(".")[1]) == value  # the raw usage, kept
    [ended] = of(events, RunFailed)
    assert ended.error.type == "ModelProtocolError"
    record = await store.get_run(result.run_id)
    assert record.tokens == 0  # nothing charged from an impossible report


@pytest.mark.parametrize(
    "usage",
    [Usage(input_tokens=10, output_tokens=-3), Usage(input_tokens=1, cached_tokens=-1)],
)
async def test_negative_usage_from_any_model_fails_closed(usage: Usage) -> None:
    model = FunctionModel(lambda request: ModelResponse(text="ok", usage=usage, provider="acme"))
    runtime = Runtime()
    result = await runtime.run(Agent(name="a", model=model), "hi")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "provider 'acme'" in result.error
    [failed] = of(await journal(runtime, result.run_id), ModelCallFailed)
    assert failed.response is not None
    assert failed.response.usage == usage


async def test_a_model_answer_the_journal_cannot_hold_is_a_typed_failure() -> None:
    model = FunctionModel(lambda request: ModelResponse(text="bad \ud800 text"))
    runtime = Runtime()
    result = await runtime.run(Agent(name="a", model=model), "hi")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("ModelResponseError: ")
    [failed] = of(await journal(runtime, result.run_id), ModelCallFailed)
    assert failed.response is None
    assert "cannot be recorded" in failed.error.message


async def test_a_poisoned_result_does_not_spoil_its_parallel_siblings(store: Store) -> None:
    attacker = ObedientAttacker()
    runtime = Runtime(store)
    agent = Agent(name="reader", model=attacker, tools=[fetcher()])
    orders = "\n".join(f'CALL fetch {{"which": "{w}"}}' for w in ("fine", "nan", "nul", "fine"))
    result = await runtime.run(agent, orders)
    assert result.status is RunStatus.COMPLETED, result.error
    done = of(await journal(runtime, result.run_id), ToolCallCompleted)
    assert sorted(d.error_type or "ok" for d in done) == [
        "ToolResultError", "ToolResultError", "ok", "ok",
    ]  # fmt: skip
    assert sorted(PAID) == ["fine", "fine", "nan", "nul"]


class Quote(pydantic.BaseModel):
    amount: float
    currency: str


async def test_structured_output_with_nan_is_asked_again_not_journaled() -> None:
    model = ScriptedModel(
        ['{"amount": NaN, "currency": "EUR"}', '{"amount": 1e999, "currency": "EUR"}',
         '{"amount": 12.5, "currency": "EUR"}'],
    )  # fmt: skip
    runtime = Runtime()
    agent = Agent(name="quoter", model=model, output_type=Quote, output_retries=2)
    result = await runtime.run(agent, "quote")
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.output == {"amount": 12.5, "currency": "EUR"}
    asked = [r.messages[-1].content for r in model.requests[1:]]
    assert "output.amount: NaN is not a finite number" in asked[0]
    assert "output.amount: Infinity is not a finite number" in asked[1]


async def test_structured_output_that_stays_non_finite_fails_with_a_typed_error() -> None:
    model = ScriptedModel(['{"amount": -Infinity, "currency": "EUR"}'] * 2)
    runtime = Runtime()
    agent = Agent(name="quoter", model=model, output_type=Quote, output_retries=1)
    result = await runtime.run(agent, "quote")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("OutputValidationError: ")
    assert "-Infinity is not a finite number" in result.error


async def test_negative_usage_through_the_anthropic_sdk(server: FakeLLMServer) -> None:
    server.script([Reply(text="hi", output_tokens=-7)])
    async with AnthropicModel(
        "claude-test", base_url=server.anthropic_base_url, api_key="k"
    ) as model:
        runtime = Runtime()
        result = await runtime.run(Agent(name="a", model=model), "hello")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "provider 'anthropic' (model 'claude-test')" in result.error
    assert "usage.output_tokens is -7" in result.error
    [failed] = of(await journal(runtime, result.run_id), ModelCallFailed)
    assert failed.response is not None
    assert failed.response.usage.output_tokens == -7


# -- the strict-JSON rule itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [1, {"b": float("nan")}]}, "value.a[1].b"),
        ({"a": -(2**63) - 1}, "value.a"),
        ({"k": "ok", "s": "x\ud800"}, "value.s"),
        ({"bad key\x00": 1}, "value (a key)"),
        (_nested(101), "value" + "[0]" * 100),
        (Quote.model_construct(amount=float("inf"), currency="EUR"), "value.amount"),
        ({"d": Decimal("-Infinity")}, "value.d"),
    ],
)
def test_strict_json_names_where_a_value_breaks_the_rule(value: Any, where: str) -> None:

    with pytest.raises(jsonsafe.JsonValueError) as caught:
        jsonsafe.check_python(value)
    assert caught.value.where == where
    assert jsonsafe.strict_size(value) is None


def test_strict_json_accepts_what_the_journal_holds() -> None:

    fine = {"n": 2**63 - 1, "f": 1.5e308, "s": "NaN is a word \U0001f600", "deep": _nested(98)}
    jsonsafe.check(fine)
    assert jsonsafe.loads(json.dumps(fine)) == fine
    size = jsonsafe.strict_size({"a": "b"})
    assert size == len(b'{"a":"b"}')
