"""Per-provider rate limits shared by every worker: the bucket algorithm, the three stores,
the official OpenAI SDK against a fake server that answers 429 past its limit, and two real
worker processes on PostgreSQL drawing from one allowance."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from podium import Agent, RateLimit, Runtime
from podium.errors import UserError
from podium.models.limits import parse_rate_limit
from podium.providers.openai import OpenAIModel
from podium.runtime import load_target
from podium.store import MemoryStore, SQLiteStore, Store
from podium.store.open import open_store
from podium.store.rates import Bucket, take
from podium.testing.fake_llm import FakeLLMServer, Reply
from podium.types import RunStatus

APP = Path(__file__).parent / "apps" / "rate_app.py"

# -- the bucket ---------------------------------------------------------------------------------


def _take(bucket: Bucket | None, now: float, **kw: Any) -> tuple[Bucket, float]:
    args: dict[str, Any] = {"requests": 1, "tokens": 0, "tokens_per_minute": None}
    args.update(kw)
    return take(bucket, now, requests_per_minute=args.pop("rpm", 60), **args)


def test_a_new_bucket_is_full_and_refills_continuously() -> None:
    bucket = None
    for _ in range(60):
        bucket, wait = _take(bucket, 100.0)
        assert wait == 0
    assert bucket is not None
    bucket, wait = _take(bucket, 100.0)
    assert wait == pytest.approx(1.0)  # 60 per minute: one more in a second
    assert bucket.requests == pytest.approx(0.0)  # nothing taken by a refusal
    bucket, wait = _take(bucket, 100.5)
    assert wait == pytest.approx(0.5)
    bucket, wait = _take(bucket, 101.0)
    assert wait == 0
    bucket, _ = _take(bucket, 10_000.0, requests=0)
    assert bucket.requests == 60  # never more than a minute's allowance


def test_tokens_wait_for_the_scarcer_dimension_and_can_be_corrected() -> None:
    bucket, wait = take(
        None, 0.0, requests=1, tokens=900, requests_per_minute=100, tokens_per_minute=1000
    )
    assert wait == 0
    assert (bucket.requests, bucket.tokens) == (99, 100)
    _, wait = take(
        bucket, 0.0, requests=1, tokens=400, requests_per_minute=100, tokens_per_minute=1000
    )
    assert wait == pytest.approx(300 * 60 / 1000)
    # the call used 1,500 tokens, not 900: the estimate is corrected into debt
    bucket, wait = take(
        bucket, 0.0, requests=0, tokens=600, requests_per_minute=100, tokens_per_minute=1000,
        force=True,
    )  # fmt: skip
    assert (wait, bucket.tokens) == (0.0, -500)
    # a request larger than the whole allowance waits for a full bucket, then goes
    _, wait = take(bucket, 0.0, requests=0, tokens=5000, requests_per_minute=None,
                   tokens_per_minute=1000)  # fmt: skip
    assert wait == pytest.approx(1500 * 60 / 1000)
    assert math.isnan(take(None, 0.0, requests=0, tokens=1, requests_per_minute=None,
                           tokens_per_minute=10)[0].requests)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openai=500rpm", ("openai", RateLimit(500, None))),
        ("openai:gpt-4o=500rpm,30000tpm", ("openai:gpt-4o", RateLimit(500, 30000))),
        ("anthropic = 40000tpm", ("anthropic", RateLimit(None, 40000))),
    ],
)
def test_parse_rate_limit(text: str, expected: tuple[str, RateLimit]) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openai", "expected KEY=Nrpm"),
        ("openai=500", "is not Nrpm or Ntpm"),
        ("openai=xrpm", "'x' is not a number"),
        ("openai=5rpm,6rpm", "once each"),
        ("openai=0rpm", "must be a positive number"),
    ],
)
def test_bad_rate_limits_are_refused(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_rate_limit(text)


# -- the stores ---------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        async with SQLiteStore(tmp_path / "p.db") as sqlite:
            yield sqlite
    else:
        url: str = request.getfixturevalue("postgres_url")
        schema = f"podium_rates_{uuid.uuid4().hex[:10]}"
        async with open_store(f"{url}?schema={schema}") as pg:
            yield pg
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.mark.anyio
async def test_every_store_keeps_shared_buckets(store: Store) -> None:
    limits: dict[str, Any] = {"requests_per_minute": 3, "tokens_per_minute": None}
    waits = [await store.take_rate("openai", requests=1, tokens=0, **limits) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 19.0 < waits[3] <= 20.0  # 3 per minute: the next one in ~20 s
    assert await store.take_rate("anthropic", requests=1, tokens=0, **limits) == 0.0  # own key
    # a forced correction goes into debt; the wait grows accordingly
    await store.take_rate("openai", requests=2, tokens=0, force=True, **limits)
    assert 59.0 < await store.take_rate("openai", requests=1, tokens=0, **limits) <= 60.0


@pytest.mark.anyio
async def test_concurrent_takers_never_overdraw(store: Store) -> None:
    granted = 0

    async def taker() -> None:
        nonlocal granted
        for _ in range(5):
            wait = await store.take_rate(
                "k", requests=1, tokens=0, requests_per_minute=10, tokens_per_minute=None
            )
            granted += wait == 0

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(taker)
    assert granted == 10


# -- the runtime with the official SDK against a provider that enforces its limit ----------------


@pytest.fixture
def provider() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        server.on_request(lambda request: Reply(text="ok"))
        server.limit_rate(requests_per_minute=60)  # a bucket of 60, then one a second
        yield server


async def _ask_many(runtime: Runtime, url: str, count: int) -> list[RunStatus]:
    statuses: list[RunStatus] = []
    async with OpenAIModel("gpt-test", base_url=url, api_key="sk-x") as model:
        agent = Agent(name="asker", model=model)

        async def one(i: int) -> None:
            statuses.append((await runtime.run(agent, f"q{i}")).status)

        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, i)
    return statuses


@pytest.mark.anyio
async def test_without_limits_the_provider_answers_429(provider: FakeLLMServer) -> None:
    statuses = await _ask_many(Runtime(), provider.openai_base_url, 64)
    assert provider.rejected >= 4
    assert statuses.count(RunStatus.FAILED) == provider.rejected


@pytest.mark.slow
@pytest.mark.anyio
async def test_with_limits_every_request_waits_its_turn(provider: FakeLLMServer) -> None:
    # a little under the provider's own limit: the two buckets did not start at the same instant
    runtime = Runtime(rate_limits={"openai": RateLimit(requests_per_minute=57)})
    began = time.monotonic()
    statuses = await _ask_many(runtime, provider.openai_base_url, 64)
    assert statuses == [RunStatus.COMPLETED] * 64
    assert provider.rejected == 0
    assert provider.request_count == 64
    assert time.monotonic() - began >= 5.0  # 57 at once, then 0.95 a second
    assert runtime.rate_limits is not None
    assert runtime.rate_limits.waited > 0


# -- two worker processes on PostgreSQL share one allowance ------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_share_one_allowance(
    postgres_url: str, provider: FakeLLMServer, tmp_path: Path
) -> None:
    db = f"{postgres_url}?schema=podium_rates_{uuid.uuid4().hex[:10]}"
    target = f"{APP}:ask"

    async def create() -> None:
        async with open_store(db) as store:
            runtime, flow = Runtime(store), load_target(target)
            for i in range(70):
                await runtime.start(flow, i, ref=target)

    anyio.run(create)
    env = {**os.environ, "FAKE_LLM_URL": provider.openai_base_url}
    command = [sys.executable, "-m", "podium", "--db", db, "worker", "--until-idle", "-c", "20"]
    command += ["--rate-limit", "openai=57rpm", "--quiet"]
    began = time.monotonic()
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = []
    for log in logs:
        with log.open("wb") as out:  # the child keeps its own copy
            workers.append(subprocess.Popen(command, env=env, stderr=out))
    try:
        codes = [proc.wait(timeout=90) for proc in workers]
    finally:
        for proc in workers:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - began
    assert codes == [0, 0], [log.read_text() for log in logs]
    assert provider.rejected == 0
    assert provider.request_count == 70
    assert elapsed >= 10.0  # 57 at once, then 13 more at 0.95 a second, across both workers
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        schema = db.rsplit("=", 1)[1]
        statuses = conn.execute(f"SELECT status, count(*) FROM {schema}.runs GROUP BY 1").fetchall()
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert statuses == [("completed", 70)]


def test_the_worker_refuses_a_malformed_rate_limit(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "podium", "--db", str(tmp_path / "p.db"), "worker"]
    done = subprocess.run(
        [*command, "--rate-limit", "openai=fast", "--until-idle"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "rate limit 'openai=fast'" in done.stderr
    assert not (tmp_path / "p.db").exists()  # refused before the store was opened
