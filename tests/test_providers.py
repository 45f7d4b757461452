"""OpenAIModel and AnthropicModel through the official SDKs against the fake LLM server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from podium.errors import (
    ModelConnectionError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeoutError,
    RealModelRequestBlocked,
    SpecError,
)
from podium.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamItem,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)
from podium.models import (
    AttemptFailure,
    FallbackModel,
    Model,
    RetryModel,
    RetryPolicy,
    infer_model,
    listen,
)
from podium.providers.anthropic import AnthropicModel
from podium.providers.openai import OpenAIModel
from podium.testing.fake_llm import FakeLLMServer, Fault, Reply

pytestmark = pytest.mark.anyio

ProviderModel = OpenAIModel | AnthropicModel
MakeModel = Callable[..., ProviderModel]

_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "PODIUM_OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "PODIUM_ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
)
HELLO = ModelRequest(messages=(UserMessage(content="Hello"),))
WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PODIUM_ALLOW_MODEL_REQUESTS", "0")  # only the loopback fake server


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_model(server: FakeLLMServer, provider: str) -> AsyncIterator[MakeModel]:
    """Build models of the parametrized provider against ``server``; close them afterwards."""
    created: list[ProviderModel] = []

    def make(fake: FakeLLMServer | None = None, **kwargs: Any) -> ProviderModel:
        fake = fake or server
        model: ProviderModel
        if provider == "openai":
            model = OpenAIModel("gpt-test", base_url=fake.openai_base_url, **kwargs)
        else:
            model = AnthropicModel("claude-test", base_url=fake.anthropic_base_url, **kwargs)
        created.append(model)
        return model

    yield make
    for model in created:
        await model.aclose()


async def collect(model: Model, request: ModelRequest) -> list[StreamItem]:
    return [item async for item in model.stream(request)]


# --- answers ----------------------------------------------------------------------------------


async def test_plain_text(server: FakeLLMServer, make_model: MakeModel, provider: str) -> None:
    server.script([Reply(text="Hello there", input_tokens=12, output_tokens=3, cached_tokens=4)])
    model = make_model()

    response = await model.request(HELLO)

    assert response.text == "Hello there"
    assert response.tool_calls == ()
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
    assert response.usage.cached_tokens == 4
    assert response.finish_reason == "stop"
    assert response.provider == provider
    assert response.model_name == model.model_name
    assert model.name == f"{provider}:{model.model_name}"
    server.assert_complete()


async def test_tool_calls(server: FakeLLMServer, make_model: MakeModel) -> None:
    calls = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})]
    server.script([Reply(tool_calls=calls)])

    response = await make_model().request(ModelRequest(messages=HELLO.messages, tools=(WEATHER,)))

    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == calls
    assert len({call.id for call in response.tool_calls}) == 2
    assert response.finish_reason == "tool_calls"
    assert response.text == ""


async def test_finish_reason_length(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Reply(text="cut", finish_reason="length")] * 2)
    model = make_model()
    assert (await model.request(HELLO)).finish_reason == "length"
    final = (await collect(model, HELLO))[-1]
    assert isinstance(final, ModelResponse)
    assert final.finish_reason == "length"


async def test_streaming_text_tool_calls_and_usage(
    server: FakeLLMServer, make_model: MakeModel, provider: str
) -> None:
    arguments = {"query": "a long argument that the server streams in several pieces"}
    reply = Reply(
        text="one two three",
        tool_calls=[("lookup", arguments)],
        input_tokens=20,
        output_tokens=7,
        cached_tokens=5,
    )
    server.script([reply])

    items = await collect(make_model(), ModelRequest(messages=HELLO.messages, tools=(WEATHER,)))

    deltas = [item.text for item in items[:-1] if isinstance(item, TextDelta)]
    assert len(deltas) == len(items) - 1 > 1
    assert "".join(deltas) == "one two three"
    final = items[-1]
    assert isinstance(final, ModelResponse)
    assert final.text == "one two three"
    assert [(c.name, json.loads(c.arguments)) for c in final.tool_calls] == [("lookup", arguments)]
    assert final.tool_calls[0].id
    assert (final.usage.input_tokens, final.usage.output_tokens) == (20, 7)
    assert final.usage.cached_tokens == 5
    assert final.finish_reason == "tool_calls"
    assert final.provider == provider
    if provider == "openai":  # usage comes in its own chunk only when asked for
        assert server.requests[0].body["stream_options"] == {"include_usage": True}


# --- request shape ----------------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}


async def test_structured_output_request_shape(
    server: FakeLLMServer, make_model: MakeModel, provider: str
) -> None:
    server.script([Reply(text='{"answer": "42"}')])
    request = ModelRequest(
        messages=(SystemMessage(content="Be terse."), UserMessage(content="Answer?")),
        output_schema=SCHEMA,
    )

    response = await make_model().request(request)

    assert json.loads(response.text) == {"answer": "42"}
    body = server.requests[0].body
    if provider == "openai":
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": SCHEMA},
        }
    else:
        assert body["system"].startswith("Be terse.\n\n")
        assert "single JSON object" in body["system"]
        assert json.dumps(SCHEMA) in body["system"]
        assert "response_format" not in body


async def test_settings_reach_the_wire(
    server: FakeLLMServer, make_model: MakeModel, provider: str
) -> None:
    server.script([Reply(), Reply()])
    model = make_model()
    await model.request(HELLO)
    settings = ModelSettings(temperature=0.25, max_tokens=99)
    await model.request(ModelRequest(messages=HELLO.messages, settings=settings))

    plain, tuned = (request.body for request in server.requests)
    assert tuned["temperature"] == 0.25
    assert "temperature" not in plain
    if provider == "openai":
        assert tuned["max_completion_tokens"] == 99
        assert "max_completion_tokens" not in plain
    else:
        assert (plain["max_tokens"], tuned["max_tokens"]) == (4096, 99)


CONVERSATION = ModelRequest(
    messages=(
        SystemMessage(content="You are helpful."),
        UserMessage(content="Weather in Paris and Rome?"),
        AssistantMessage(
            content="Checking.",
            tool_calls=(
                ToolCall(id="c1", name="get_weather", arguments='{"city": "Paris"}'),
                ToolCall(id="c2", name="get_weather", arguments='{"city": "Rome"}'),
            ),
        ),
        ToolMessage(tool_call_id="c1", name="get_weather", content="sunny"),
        ToolMessage(tool_call_id="c2", name="get_weather", content="no such city", is_error=True),
    ),
    tools=(WEATHER,),
)


async def test_openai_message_mapping(server: FakeLLMServer) -> None:
    server.script([Reply(text="Sunny in Paris.")])
    async with OpenAIModel("gpt-test", base_url=server.openai_base_url) as model:
        await model.request(CONVERSATION)

    body = server.requests[0].body
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "no such city"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]


async def test_anthropic_message_mapping(server: FakeLLMServer) -> None:
    server.script([Reply(text="Sunny in Paris.")])
    async with AnthropicModel("claude-test", base_url=server.anthropic_base_url) as model:
        await model.request(CONVERSATION)

    body = server.requests[0].body
    assert body["system"] == "You are helpful."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "c2",
                    "content": "no such city",
                    "is_error": True,
                },
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER.parameters,
        }
    ]


# --- failures ---------------------------------------------------------------------------------


async def test_429_with_retry_after(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(status=429, retry_after=2)])
    model = make_model()

    with pytest.raises(ModelHTTPError) as caught:
        await model.request(HELLO)

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 2.0
    assert caught.value.retryable
    assert caught.value.model == model.name


async def test_500_is_retryable_and_the_sdk_does_not_retry(
    server: FakeLLMServer, make_model: MakeModel
) -> None:
    server.script([Fault(status=500)])

    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(HELLO)

    assert caught.value.status_code == 500
    assert caught.value.retryable
    assert caught.value.retry_after is None
    assert server.request_count == 1  # max_retries=0: one failure, one request


async def test_400_is_not_retryable(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(status=400)])

    with pytest.raises(ModelHTTPError) as caught:
        await make_model().request(HELLO)

    assert caught.value.status_code == 400
    assert not caught.value.retryable
    assert "scripted HTTP 400" in str(caught.value)  # the vendor error message is kept


async def test_error_before_stream_starts(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(status=503, retry_after=1.5)])

    with pytest.raises(ModelHTTPError) as caught:
        await collect(make_model(), HELLO)

    assert (caught.value.status_code, caught.value.retry_after) == (503, 1.5)
    assert server.request_count == 1


async def test_slow_response_times_out(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(delay=5, then=Reply(text="too late"))] * 2)

    with pytest.raises(ModelTimeoutError) as caught:
        await make_model(timeout=0.3).request(HELLO)
    assert caught.value.retryable

    quick = ModelRequest(messages=HELLO.messages, settings=ModelSettings(timeout=0.3))
    with pytest.raises(ModelTimeoutError):
        await collect(make_model(), quick)  # the per-request timeout wins over 60 s
    assert server.request_count == 2


async def test_slow_response_within_timeout(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(delay=0.2, then=Reply(text="worth the wait"))])
    assert (await make_model(timeout=5).request(HELLO)).text == "worth the wait"


async def test_dropped_stream(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(drop_stream_after=3, then=Reply(text="alpha beta gamma delta epsilon"))])
    received: list[StreamItem] = []

    async def consume() -> None:
        async for item in make_model().stream(HELLO):
            received.append(item)

    with pytest.raises(ModelConnectionError) as caught:
        await consume()

    assert caught.value.retryable
    assert received  # some text arrived before the drop, and no final response
    assert all(isinstance(item, TextDelta) for item in received)


async def test_dropped_response_body(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(drop_stream_after=0, then=Reply(text="half of me"))])
    with pytest.raises(ModelConnectionError):
        await make_model().request(HELLO)


async def test_stream_ending_without_final_event(
    server: FakeLLMServer, make_model: MakeModel
) -> None:
    server.script([Fault(raw_body="")])
    with pytest.raises(ModelConnectionError, match="stream ended"):
        await collect(make_model(), HELLO)


@pytest.mark.parametrize("body", ["this is not json", '{"id": "x"}', "[1, 2]"])
async def test_malformed_response(server: FakeLLMServer, make_model: MakeModel, body: str) -> None:
    server.script([Fault(raw_body=body)])
    with pytest.raises(ModelResponseError) as caught:
        await make_model().request(HELLO)
    assert not caught.value.retryable


async def test_malformed_stream_event(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(raw_body="event: message_start\ndata: {broken\n\n")])
    with pytest.raises(ModelResponseError):
        await collect(make_model(), HELLO)


async def test_unreachable_server(make_model: MakeModel) -> None:
    with FakeLLMServer() as gone:
        model = make_model(gone)
    with pytest.raises(ModelConnectionError):
        await model.request(HELLO)


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", [OpenAIModel, AnthropicModel])
async def test_non_loopback_base_url_is_blocked(
    model_class: type[ProviderModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_ALLOW_MODEL_REQUESTS", "0")
    async with model_class("m", base_url="https://api.example.com/v1", api_key="k") as model:
        with pytest.raises(RealModelRequestBlocked):
            await model.request(HELLO)
        with pytest.raises(RealModelRequestBlocked):
            await collect(model, HELLO)
    async with model_class("m", api_key="k") as default_endpoint:
        with pytest.raises(RealModelRequestBlocked):
            await default_endpoint.request(HELLO)


@pytest.mark.parametrize(
    ("model_class", "prefix"), [(OpenAIModel, "OPENAI"), (AnthropicModel, "ANTHROPIC")]
)
async def test_base_url_and_key_from_the_environment(
    model_class: type[ProviderModel],
    prefix: str,
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SpecError, match=f"{prefix}_API_KEY"):
        model_class("m", base_url="https://api.example.com")

    base = server.openai_base_url if prefix == "OPENAI" else server.anthropic_base_url
    monkeypatch.setenv(f"{prefix}_BASE_URL", "https://api.example.com")
    monkeypatch.setenv(f"PODIUM_{prefix}_BASE_URL", base)  # takes precedence
    server.script([Reply(text="local"), Reply(text="keyed")])
    async with model_class("m") as local:  # loopback: no key needed
        assert (await local.request(HELLO)).text == "local"
    monkeypatch.setenv(f"{prefix}_API_KEY", "sk-from-env")
    async with model_class("m") as keyed:
        assert (await keyed.request(HELLO)).text == "keyed"

    first, second = (" ".join(r.headers.values()) for r in server.requests)
    assert "podium-local" in first
    assert "sk-from-env" in second


async def test_a_given_sdk_client_is_used_without_retries(server: FakeLLMServer) -> None:
    server.script([Fault(status=500), Fault(status=500)])
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k") as oa_client:
        with pytest.raises(ModelHTTPError):
            await OpenAIModel("gpt-test", client=oa_client).request(HELLO)
    async with anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="k") as client:
        with pytest.raises(ModelHTTPError):
            await AnthropicModel("claude-test", client=client).request(HELLO)
    assert server.request_count == 2


# --- retry and failover over real HTTP --------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.failures: list[AttemptFailure] = []

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def failure(self, failure: AttemptFailure) -> None:
        self.failures.append(failure)


@pytest.fixture
def backup_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


async def test_retry_then_failover(server: FakeLLMServer, backup_server: FakeLLMServer) -> None:
    server.script([Fault(status=429, retry_after=2), Fault(status=500)])
    backup_server.script([Reply(text="from the backup")])
    recorder = Recorder()
    async with (
        OpenAIModel("gpt-primary", base_url=server.openai_base_url) as primary,
        AnthropicModel("claude-backup", base_url=backup_server.anthropic_base_url) as backup,
    ):
        retrying = RetryModel(primary, RetryPolicy(max_attempts=2), sleep=recorder.sleep)
        with listen(recorder.failure):
            response = await FallbackModel(retrying, backup).request(HELLO)

    assert response.text == "from the backup"
    assert response.provider == "anthropic"
    assert len(recorder.delays) == 1
    assert recorder.delays[0] >= 2
    assert [
        (f.model, f.attempt, f.error_type, f.status_code, f.retry_after, f.retryable)
        for f in recorder.failures
    ] == [
        ("openai:gpt-primary", 1, "ModelHTTPError", 429, 2.0, True),
        ("openai:gpt-primary", 2, "ModelHTTPError", 500, None, True),
    ]
    assert (server.request_count, backup_server.request_count) == (2, 1)
    server.assert_complete()


async def test_bad_request_does_not_fail_over(
    server: FakeLLMServer, backup_server: FakeLLMServer
) -> None:
    server.script([Fault(status=400)])
    recorder = Recorder()
    async with (
        OpenAIModel("gpt-primary", base_url=server.openai_base_url) as primary,
        AnthropicModel("claude-backup", base_url=backup_server.anthropic_base_url) as backup,
    ):
        retrying = RetryModel(primary, RetryPolicy(max_attempts=2), sleep=recorder.sleep)
        with listen(recorder.failure), pytest.raises(ModelHTTPError) as caught:
            await FallbackModel(retrying, backup).request(HELLO)

    assert caught.value.status_code == 400
    assert backup_server.request_count == 0
    assert recorder.delays == []
    assert [(f.attempt, f.status_code, f.retryable) for f in recorder.failures] == [(1, 400, False)]


async def test_retried_stream(server: FakeLLMServer, make_model: MakeModel) -> None:
    server.script([Fault(status=429, retry_after=1), Reply(text="second time lucky")])
    recorder = Recorder()
    model = RetryModel(make_model(), RetryPolicy(max_attempts=3), sleep=recorder.sleep)

    items = await collect(model, HELLO)

    final = items[-1]
    assert isinstance(final, ModelResponse)
    assert final.text == "second time lucky"
    assert recorder.delays == [1.0]  # Retry-After wins over the smaller backoff
    assert server.request_count == 2


async def test_anthropic_error_event_mid_stream(server: FakeLLMServer) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.script([Fault(raw_body=f"event: error\ndata: {json.dumps(error)}\n\n")])
    async with AnthropicModel("claude-test", base_url=server.anthropic_base_url) as model:
        with pytest.raises(ModelHTTPError) as caught:
            await collect(model, HELLO)
    assert (caught.value.status_code, caught.value.retryable) == (529, True)
    assert "Overloaded" in str(caught.value)


async def test_openai_error_chunk_mid_stream(server: FakeLLMServer) -> None:
    server.script([Fault(raw_body='data: {"error": {"message": "boom"}}\n\n')])
    async with OpenAIModel("gpt-test", base_url=server.openai_base_url) as model:
        with pytest.raises(ModelResponseError, match="boom"):
            await collect(model, HELLO)


@pytest.mark.parametrize(
    ("spec", "prefix"), [("openai:gpt-x", "OPENAI"), ("anthropic:cl-x", "ANTHROPIC")]
)
async def test_model_strings_resolve_to_providers(
    spec: str, prefix: str, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = server.openai_base_url if prefix == "OPENAI" else server.anthropic_base_url
    monkeypatch.setenv(f"PODIUM_{prefix}_BASE_URL", base)
    server.script([Fault(status=500), Reply(text="resolved")])

    model = infer_model(spec, retry=RetryPolicy(initial_delay=0.01))
    assert isinstance(model, RetryModel)
    provider_model = model.wrapped
    assert isinstance(provider_model, OpenAIModel | AnthropicModel)
    try:
        response = await model.request(HELLO)
    finally:
        await provider_model.aclose()

    assert (model.name, response.text, server.request_count) == (spec, "resolved", 2)
