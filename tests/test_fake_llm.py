"""The fake LLM server, driven through the official SDKs and plain HTTP."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import anyio
import openai
import pytest
from anthropic.types import MessageParam, RawMessageDeltaEvent, RawMessageStartEvent
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from podium.testing.fake_llm import FakeLLMServer, Fault, RecordedRequest, Reply, load_script

pytestmark = pytest.mark.anyio

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
USER_AC: list[MessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def oa(server: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def ac(server: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


async def ask_openai(client: openai.AsyncOpenAI, model: str = "gpt-test") -> str:
    completion = await client.chat.completions.create(model=model, messages=USER)
    return completion.choices[0].message.content or ""


def post(server: FakeLLMServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """A raw HTTP request: status, headers (lower-case) and the JSON body."""
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        headers = {key.lower(): value for key, value in response.getheaders()}
        return response.status, headers, json.loads(response.read() or b"null")
    finally:
        connection.close()


# --- scripting --------------------------------------------------------------------------------


async def test_replies_in_order_and_counts(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    server.script([Reply(text="first"), Reply(text="second"), Reply(text="third")])

    assert [await ask_openai(oa), await ask_openai(oa)] == ["first", "second"]
    assert server.request_count == 2
    with pytest.raises(AssertionError, match="shared queue: 1 left"):
        server.assert_complete()
    assert await ask_openai(oa) == "third"
    server.assert_complete()


async def test_per_model_queue_falls_back_to_shared(
    server: FakeLLMServer, oa: openai.AsyncOpenAI
) -> None:
    server.script([Reply(text="shared")])
    server.script([Reply(text="for big")], model="big")

    assert await ask_openai(oa, "small") == "shared"
    assert await ask_openai(oa, "big") == "for big"
    server.script([Reply(text="left over")], model="big")
    with pytest.raises(AssertionError, match="model 'big': 1 left"):
        server.assert_complete()
    assert [request.model for request in server.requests] == ["small", "big"]


async def test_function_mode(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    seen: list[RecordedRequest] = []

    def answer(request: RecordedRequest) -> Reply | Fault:
        seen.append(request)
        return Reply(text=f"echo {request.body['messages'][-1]['content']}")

    server.script([Reply(text="scripted first")])
    server.on_request(answer)

    assert await ask_openai(oa) == "scripted first"
    assert await ask_openai(oa) == "echo hi"
    assert [request.protocol for request in seen] == ["openai"]
    server.on_request(lambda request: 1 / 0)  # type: ignore[arg-type, return-value]
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        await ask_openai(oa)


async def test_unscripted_request_is_a_500_naming_the_model(
    server: FakeLLMServer, oa: openai.AsyncOpenAI, ac: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(openai.InternalServerError, match="no scripted reply for model 'gpt-x'"):
        await ask_openai(oa, "gpt-x")
    with pytest.raises(anthropic.InternalServerError, match="no scripted reply for model 'cl'"):
        await ac.messages.create(model="cl", max_tokens=5, messages=USER_AC)
    assert server.request_count == 2
    assert [(r.protocol, r.path, r.model) for r in server.requests] == [
        ("openai", "/v1/chat/completions", "gpt-x"),
        ("anthropic", "/v1/messages", "cl"),
    ]


async def test_recorded_request(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    server.script([Reply()])
    await ask_openai(oa)

    (request,) = server.requests
    assert request.body == {"model": "gpt-test", "messages": USER}
    assert request.headers["authorization"] == "Bearer sk-test"
    server.requests.clear()  # a copy: the server's record is untouched
    assert server.request_count == 1


def test_unknown_path_is_404_and_not_counted(server: FakeLLMServer) -> None:
    status, _, body = post(server, "/v1/embeddings", {"model": "e"})
    assert status == 404
    assert "unknown path" in body["error"]["message"]
    assert server.request_count == 0


# --- wire formats -----------------------------------------------------------------------------


async def test_ids_are_counters_per_server(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    server.script([Reply(tool_calls=[("a", {}), ("b", {"x": 1})]), Reply(tool_calls=[("c", {})])])
    first = await oa.chat.completions.create(model="m", messages=USER)
    second = await oa.chat.completions.create(model="m", messages=USER)

    assert (first.id, second.id) == ("chatcmpl-1", "chatcmpl-2")
    calls = [
        *(first.choices[0].message.tool_calls or ()),
        *(second.choices[0].message.tool_calls or ()),
    ]
    assert [call.id for call in calls] == ["call_1", "call_2", "call_3"]
    with FakeLLMServer() as fresh:
        fresh.script([Reply()])
        _, _, body = post(fresh, "/v1/chat/completions", {"model": "m", "messages": USER})
        assert body["id"] == "chatcmpl-1"


async def test_concurrent_requests(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    server.on_request(lambda request: Reply(tool_calls=[("f", {})]))
    ids: list[str] = []

    async def one() -> None:
        completion = await oa.chat.completions.create(model="m", messages=USER)
        ids.extend(call.id for call in completion.choices[0].message.tool_calls or ())

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)

    assert server.request_count == 20
    assert sorted(ids) == sorted(f"call_{n}" for n in range(1, 21))


async def test_openai_stream_chunks(server: FakeLLMServer, oa: openai.AsyncOpenAI) -> None:
    server.script([Reply(text="a b", tool_calls=[("f", {"k": "v" * 40})], cached_tokens=2)] * 2)

    async def chunks(include_usage: bool) -> list[ChatCompletionChunk]:
        stream = await oa.chat.completions.create(
            model="m",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True} if include_usage else openai.omit,
        )
        async with stream:
            return [chunk async for chunk in stream]

    with_usage = await chunks(include_usage=True)
    usage = with_usage[-1].usage
    assert with_usage[-1].choices == []
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 2
    assert with_usage[-2].choices[0].finish_reason == "tool_calls"
    pieces = [
        call.function.arguments or ""
        for chunk in with_usage
        for choice in chunk.choices
        for call in choice.delta.tool_calls or ()
        if call.function is not None
    ]
    assert len(pieces) > 2
    assert json.loads("".join(pieces)) == {"k": "v" * 40}
    without_usage = await chunks(include_usage=False)
    assert all(chunk.usage is None for chunk in without_usage)


async def test_anthropic_stream_events(server: FakeLLMServer, ac: anthropic.AsyncAnthropic) -> None:
    server.script([Reply(text="hi there", tool_calls=[("f", {"k": 1})], cached_tokens=3)])
    stream = await ac.messages.create(
        model="cl",
        max_tokens=5,
        messages=USER_AC,
        stream=True,
    )
    async with stream:
        events = [event async for event in stream]

    assert [event.type for event in events] == [
        "message_start",
        *["content_block_start", "content_block_delta", "content_block_delta"],
        "content_block_stop",
        *["content_block_start", "content_block_delta", "content_block_stop"],
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert isinstance(start, RawMessageStartEvent)
    assert (start.message.usage.input_tokens, start.message.usage.cache_read_input_tokens) == (7, 3)
    assert isinstance(delta, RawMessageDeltaEvent)
    assert (delta.delta.stop_reason, delta.usage.output_tokens) == ("tool_use", 5)


async def test_finish_reason_in_either_vocabulary(
    server: FakeLLMServer, oa: openai.AsyncOpenAI, ac: anthropic.AsyncAnthropic
) -> None:
    server.script([Reply(text="x", finish_reason="length")] * 2)
    completion = await oa.chat.completions.create(model="m", messages=USER)
    message = await ac.messages.create(model="c", max_tokens=1, messages=USER_AC)
    assert (completion.choices[0].finish_reason, message.stop_reason) == ("length", "max_tokens")


@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        ("/v1/chat/completions", 429, "rate_limit_exceeded"),
        ("/v1/messages", 429, "rate_limit_error"),
        ("/v1/messages", 529, "overloaded_error"),
    ],
)
def test_error_bodies_and_retry_after(
    server: FakeLLMServer, path: str, status: int, kind: str
) -> None:
    server.script([Fault(status=status, retry_after=2.5)])
    got, headers, body = post(server, path, {"model": "m", "messages": USER})
    assert got == status
    assert headers["retry-after"] == "2.5"
    assert body["error"]["type"] == kind


def test_stop_does_not_wait_for_a_delayed_answer() -> None:
    fake = FakeLLMServer().start()
    fake.script([Fault(delay=30)])
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(fake, "/v1/chat/completions", {"model": "m"})
        except (OSError, http.client.HTTPException) as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while fake.request_count == 0:
        time.sleep(0.01)
    fake.stop()
    caller.join(25)  # the scripted delay is 30 s: finishing at all means stop() cut it short
    assert not caller.is_alive()
    assert len(errors) == 1  # the connection was closed without an answer


# --- JSON scripts and the command line --------------------------------------------------------

SCRIPT = [
    {"text": "hello from a file", "output_tokens": 3},
    {"tool_calls": [["get", {"id": 1}], {"name": "put", "arguments": {"id": 2}}]},
    {"status": 429, "retry_after": 1},
    {"delay": 0.1, "then": {"text": "late"}},
]


def test_load_script(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))

    assert load_script(path) == [
        Reply(text="hello from a file", output_tokens=3),
        Reply(tool_calls=[("get", {"id": 1}), ("put", {"id": 2})]),
        Fault(status=429, retry_after=1),
        Fault(delay=0.1, then=Reply(text="late")),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "x"}', "must be a JSON list"),
        ("[1]", "expected an object"),
        ('[{"txt": "typo"}]', "txt"),
        ('[{"tool_calls": ["x"]}]', "bad tool call"),
    ],
)
def test_load_script_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "script.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_script(path)


@pytest.mark.slow
def test_command_line_server(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT[:1]))
    command = [
        sys.executable,
        "-m",
        "podium.testing.fake_llm",
        "--port",
        "0",
        "--script",
        str(path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            with openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as client:
                completion = client.chat.completions.create(model="m", messages=USER)
            assert completion.choices[0].message.content == "hello from a file"
        finally:
            process.terminate()
            process.wait(10)
