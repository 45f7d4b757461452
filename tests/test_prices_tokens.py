"""Prices from the genai-prices dataset and token counts from the provider's tokenizer, where a
user meets them: `podium run` of a YAML flow against the official OpenAI SDK and the fake LLM
server, in a subprocess, with tiktoken installed and with it missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import genai_prices
import pytest

from podium.messages import ModelRequest, SystemMessage, ToolCall, UserMessage
from podium.testing.fake_llm import FakeLLMServer, Reply
from podium.tokens import (
    Tiktoken,
    count_tokens,
    estimate_tokens,
    register_tokenizer,
    tokenizer_for,
)

pytestmark = pytest.mark.slow

# Chinese text: about one token per character for cl100k_base, a quarter of that for chars/4
DENSE = "数据库事务日志回放" * 120


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


def _podium(
    tmp_path: Path, server: FakeLLMServer, *args: str, blocked: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.openai_base_url,
        "OPENAI_API_KEY": "test-key",
        "PODIUM_ALLOW_MODEL_REQUESTS": "0",
    }
    if blocked:  # tiktoken not installed: an import of it fails
        shadow = tmp_path / "no_tiktoken" / "tiktoken"
        shadow.mkdir(parents=True, exist_ok=True)
        (shadow / "__init__.py").write_text("raise ImportError('tiktoken is not installed')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(shadow.parent), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "podium", "--db", str(tmp_path / "podium.db"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)


def _flow(tmp_path: Path, model: str, budget: str = "") -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "version: 1\n"
        f"agents:\n  clerk:\n    model: {json.dumps(model)}\n"
        "    instructions: Summarise.\n"
        "    settings: {max_tokens: 50}\n"
        f"{'    budget: ' + budget + chr(10) if budget else ''}"
        "workflow: {agent: clerk}\n"
    )
    return str(path)


def _limit_between_estimate_and_count() -> int:
    tokenizer = tokenizer_for("openai:gpt-4")
    assert tokenizer is not None
    estimate, counted = estimate_tokens(DENSE), tokenizer.count(DENSE)
    assert counted > 2 * estimate + 200  # the estimate is far too low for this text
    return (estimate + counted) // 2


def test_budget_reserves_what_the_tokenizer_counts_before_the_call(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    limit = _limit_between_estimate_and_count()
    flow = _flow(tmp_path, "openai:gpt-4", f"{{tokens: {limit}}}")
    done = _podium(tmp_path, server, "run", flow, "--input", DENSE)
    assert done.returncode == 1, done.stderr
    assert "budget of 'clerk' exceeded: tokens limit is" in done.stderr
    assert "this call to openai:gpt-4 needs" in done.stderr
    needed = int(done.stderr.split(" needs ")[1].split(" tokens")[0].replace(",", ""))
    assert needed > limit
    assert server.request_count == 0  # refused before anything was sent


def test_without_the_tokenizer_the_documented_estimate_is_used(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    limit = _limit_between_estimate_and_count()
    server.script([Reply(text="short", input_tokens=900, output_tokens=3)])
    flow = _flow(tmp_path, "openai:gpt-4", f"{{tokens: {limit}}}")
    done = _podium(tmp_path, server, "run", flow, "--input", DENSE, blocked=True)
    # characters / 4 reserves too little, so the call is sent
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "short"
    assert server.request_count == 1


def test_a_run_is_priced_from_the_dataset(tmp_path: Path, server: FakeLLMServer) -> None:
    # gpt-4-turbo was not in Podium's old hand-kept table: its calls were unpriced
    server.script([Reply(text="ok", input_tokens=12_000, output_tokens=3_000, cached_tokens=0)])
    flow = _flow(tmp_path, "openai:gpt-4-turbo")
    done = _podium(tmp_path, server, "run", flow, "--input", "hello")
    assert done.returncode == 0, done.stderr
    report = _podium(tmp_path, server, "cost", "--by", "model", "--json")
    assert report.returncode == 0, report.stderr
    total = json.loads(report.stdout)["total"]
    usage = genai_prices.Usage(input_tokens=12_000, output_tokens=3_000)
    expected = genai_prices.calc_price(usage, "gpt-4-turbo", provider_id="openai").total_price
    assert total["unpriced"] == 0
    assert total["cost_usd"] == pytest.approx(float(expected))
    assert total["cost_usd"] > 0


def test_cost_what_if_reprices_with_an_override_file(tmp_path: Path, server: FakeLLMServer) -> None:
    server.script([Reply(text="ok", input_tokens=2_000_000, output_tokens=1_000_000)])
    done = _podium(tmp_path, server, "run", _flow(tmp_path, "openai:gpt-4.1-mini"), "-i", "x")
    assert done.returncode == 0, done.stderr
    prices = tmp_path / "ours.toml"
    prices.write_text('version = "ours"\n[prices."openai:gpt-4.1"]\n'
                      "input_per_mtok = 1.0\noutput_per_mtok = 2.0\n")  # fmt: skip
    report = _podium(tmp_path, server, "cost", "--json", "--prices", str(prices))
    assert json.loads(report.stdout)["total"]["cost_usd"] == pytest.approx(2.0 + 2.0)


# -- the counting function itself ---------------------------------------------------------------


def test_openai_models_use_their_encoding_or_a_named_stand_in() -> None:
    exact = tokenizer_for("openai:gpt-4")
    assert exact is not None
    assert exact.name == "cl100k_base"
    newer = tokenizer_for("openai:gpt-4.1-mini")
    assert newer is not None
    assert newer.name == "cl100k_base (for o200k_base)"
    assert tokenizer_for("openai:my-local-llama") is None  # an OpenAI-compatible server's model
    assert tokenizer_for("anthropic:claude-sonnet-4-5") is None
    assert tokenizer_for("scripted:x") is None


def test_request_count_adds_framing_and_tolerates_any_text() -> None:
    request = ModelRequest(
        messages=(SystemMessage(content="Be brief."), UserMessage(content="<|endoftext|> hi")),
    )
    tokenizer = tokenizer_for("openai:gpt-4")
    assert tokenizer is not None
    texts = ("Be brief.", "<|endoftext|> hi")
    assert count_tokens(request, "openai:gpt-4") == sum(map(tokenizer.count, texts)) + 2 * 4
    assert count_tokens(request, "scripted:x") == estimate_tokens(request)
    assert count_tokens(request) == estimate_tokens(request)
    lone = "\ud800 broken"  # a lone surrogate cannot be encoded: that piece is estimated
    assert count_tokens(lone, "openai:gpt-4") == estimate_tokens(lone)
    call = ToolCall(id="c1", name="lookup", arguments='{"q": "1234567890"}')
    assert count_tokens(call.arguments, "openai:gpt-4") > estimate_tokens(call.arguments)


def test_a_registered_tokenizer_wins_for_its_prefix() -> None:
    class Words:
        name = "words"

        def count(self, text: str) -> int:
            return len(text.split())

    register_tokenizer("acme:", Words())
    try:
        assert count_tokens("one two three", "acme:big") == 3
        assert tokenizer_for("acme:big") is not None
    finally:
        register_tokenizer("acme:", None)
    assert tokenizer_for("acme:big") is None
    assert isinstance(tokenizer_for("openai:gpt-4"), Tiktoken)
