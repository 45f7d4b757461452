"""Issue 12 items 3, 4 and 5, through the surfaces where users meet them.

3. The idempotency key of a step is derived from the run's own recorded namespace: a worker, a
   `podium resume` and an embedded `Runtime` configured with another namespace — three real
   processes, each dying right after the attempt — pass the provider the same key.
4. A namespace budget is reserved in the store, atomically: workers, CLI processes and an
   embedded runtime executing runs of one namespace at once never spend past it.
5. `max_spawn` counts the sub-agents a supervisor spawned in the whole run (from the journal).

Items 3 and 4 run on a SQLite file and on the real PostgreSQL (a schema per test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet import postgres_schema
from podium import Agent, Context, Runtime, SQLiteStore, workflow
from podium.budget import Budget
from podium.errors import UserError
from podium.events import NodeStarted, RunCompleted, ToolCallCompleted
from podium.patterns import Loop, Parallel, Sequential, Supervisor
from podium.prices import DEFAULT_PRICES, ModelPrice
from podium.runtime import load_target
from podium.runtime.context import idempotency_key
from podium.store import RunFilter, StoredEvent
from podium.store.open import open_store
from podium.testing import ScriptedModel, call
from podium.types import RunStatus

APPS = Path(__file__).parent / "apps"
APP = APPS / "budget_app.py"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "podium.db")
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HARDEN_LEDGER": str(tmp_path / "ledger.jsonl"),
        "HARDEN_EFFECTS": str(tmp_path / "effects"),
        "PODIUM_ALLOW_MODEL_REQUESTS": "0",
        **extra,
    }


def _podium(db: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "podium", "--db", db, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)


def _embedded(
    db: str, namespace: str, *run_ids: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(APP), "resume", db, namespace, *run_ids]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, env=env)


def _events(db: str, run_id: str) -> list[StoredEvent]:
    async def go() -> list[StoredEvent]:
        async with open_store(db) as store:
            return await store.read(run_id)

    return anyio.run(go)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- 3. the idempotency key --------------------------------------------------------------------


def _start(db: str, target: str, namespace: str, count: int = 1) -> list[str]:
    async def go() -> list[str]:
        async with open_store(db) as store:
            runtime = Runtime(store, namespace=namespace)
            flow = load_target(target)
            return [await runtime.start(flow, f"job {i}", ref=target) for i in range(count)]

    return anyio.run(go)


@pytest.mark.slow
def test_worker_cli_and_embedded_runtime_pass_the_same_idempotency_key(
    db: str, tmp_path: Path
) -> None:
    (run_id,) = _start(db, f"{APP}:pay", "acme")
    dying = _env(tmp_path, HARDEN_DIE="1")
    worker = _podium(
        db, "worker", "--namespace", "acme", "--until-idle", "--lease", "1", "--poll", "0.05",
        env=dying,
    )  # fmt: skip
    assert worker.returncode == 17, worker.stdout + worker.stderr  # died inside the charge
    time.sleep(1.2)  # the dead worker's lease runs out
    resumed = _resume_when_free(db, run_id, dying)
    assert resumed.returncode == 17, resumed.stdout + resumed.stderr
    # an embedded runtime configured with ANOTHER namespace finishes it
    finished = _embedded(db, "default", run_id, env=_env(tmp_path))
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == [run_id, "completed"]

    attempts = _lines(tmp_path / "ledger.jsonl")
    assert len(attempts) == 3
    assert len({a["pid"] for a in attempts}) == 3  # three processes
    step = attempts[0]["step"]
    expected = idempotency_key("acme", run_id, step)
    assert [a["key"] for a in attempts] == [expected] * 3
    assert expected != idempotency_key("default", run_id, step)
    assert [a["applied"] for a in attempts] == [True, False, False]
    assert os.listdir(tmp_path / "effects") == [expected]  # charged once
    events = _events(db, run_id)
    assert isinstance(events[-1].event, RunCompleted)
    assert events[0].event.namespace == "acme"  # type: ignore[attr-defined]


def _resume_when_free(db: str, run_id: str, env: dict[str, str]) -> Any:
    """`podium resume`, again while it is refused because the dead worker's lease is still
    seen as live (exit 9; a loaded machine)."""
    deadline = time.monotonic() + 60
    while True:
        resumed = _podium(db, "resume", run_id, "--namespace", "acme", env=env)
        if resumed.returncode != 9 or time.monotonic() > deadline:
            return resumed
        time.sleep(0.5)


@pytest.mark.anyio
async def test_a_runtime_of_any_namespace_derives_the_key_from_the_run(tmp_path: Path) -> None:
    seen: list[str] = []

    @workflow(name="keyed")
    async def keyed(ctx: Context, input: Any) -> Any:
        seen.append(ctx.idempotency_key("k"))
        await ctx.wait_for("go")
        seen.append(ctx.idempotency_key("k"))
        return "ok"

    store = SQLiteStore(tmp_path / "db.sqlite")
    first = await Runtime(store, namespace="acme").run(keyed, None)
    other = Runtime(SQLiteStore(tmp_path / "db.sqlite"), namespace="globex", namespaces="*")
    await other.signal(first.run_id, "go")
    done = await other.resume(first.run_id, keyed)
    assert done.status is RunStatus.COMPLETED
    assert seen == [idempotency_key("acme", first.run_id, "k")] * 3  # one pass, then two


# -- 5. max_spawn per run ----------------------------------------------------------------------


def _spawned(events: list[StoredEvent]) -> list[str]:
    return [
        s.event.path
        for s in events
        if isinstance(s.event, NodeStarted) and "/spawned." in s.event.path
    ]


def _refusals(events: list[StoredEvent]) -> int:
    return sum(
        isinstance(s.event, ToolCallCompleted)
        and s.event.tool == "spawn_agent"
        and "spawn limit reached" in str(s.event.result)
        for s in events
    )


def test_max_spawn_holds_for_the_run_in_a_yaml_loop_run_by_the_cli(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    ran = _podium(db, "run", str(APPS / "spawn_loop.yaml"), "-i", "write", env=_env(tmp_path))
    assert ran.returncode == 0, ran.stderr
    run_id = ran.stderr.split()[1]
    events = _events(db, run_id)
    # 3 iterations x 2 spawn requests: 2 granted (the cap), 4 refused
    assert len(_spawned(events)) == 2, _spawned(events)
    assert all(p.startswith("refine/team[1]/") for p in _spawned(events))
    assert _refusals(events) == 4


@pytest.mark.anyio
async def test_the_spawn_count_survives_a_resume_in_another_runtime(tmp_path: Path) -> None:
    def build() -> Loop:
        spawns = [call("spawn_agent", name=n, instructions="i", task="t") for n in "ab"]
        lead = Agent(name="lead", model=ScriptedModel([spawns, "draft"], by_turn=True))
        helper = Agent(name="helper", model=ScriptedModel(["helped"], by_turn=True))

        @workflow(name="critic")
        async def critic(ctx: Context, verdict: Any) -> bool:
            if verdict["iteration"] == 1:
                await ctx.wait_for("next")  # the run suspends after the first iteration
            return False

        team = Supervisor("team", lead, template=helper, max_spawn=3)
        return Loop("refine", team, critic, max_iterations=3)

    first = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).run(build(), "x")
    assert first.status is RunStatus.SUSPENDED
    later = Runtime(SQLiteStore(tmp_path / "db.sqlite"))  # fresh objects, as in a new process
    await later.signal(first.run_id, "next")
    done = await later.resume(first.run_id, build())
    assert done.status is RunStatus.COMPLETED
    events = await later.store.read(first.run_id)
    spawned = _spawned(events)
    assert len(spawned) == 3  # 2 in iteration 1, 1 in iteration 2, none in 3
    assert sum(p.startswith("refine/team[2]/") for p in spawned) == 1
    assert _refusals(events) == 3


# -- 4. namespace budgets, held in the store -----------------------------------------------------

LIMIT = 600


def _namespace_totals(db: str, namespace: str) -> tuple[int, int, list[Any]]:
    async def go() -> tuple[int, int, list[Any]]:
        async with open_store(db) as store:
            tokens, _cost = await store.spend(namespace)
            held, _ = await store.held_spend(namespace)
            records = await store.list_runs(RunFilter(namespace=namespace, limit=1000))
            return tokens, held, records

    return anyio.run(go)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_workers_cli_and_embedded_runtime_share_one_namespace_budget(
    db: str, tmp_path: Path
) -> None:
    """Two workers, two `podium run` processes and an embedded runtime spend from one budget
    of 600 tokens at once (each call holds its estimate, which is exactly what it uses)."""
    pending = _start(db, f"{APP}:spend", "acme", count=8)
    env = _env(tmp_path, SPEND_SLOW="0.05", SPEND_TURNS="3", NS_TOKENS=str(LIMIT))
    limit = f"tokens={LIMIT}"
    podium = [sys.executable, "-m", "podium", "--db", db]
    worker = [*podium, "worker", "--namespace", "acme", "--until-idle", "--poll", "0.05", "-c", "3"]
    run = [*podium, "run", f"{APP}:spend", "-i", "cli", "--namespace", "acme"]
    commands = {
        "w1": [*worker, "--namespace-budget", limit],
        "w2": [*worker, "--namespace-budget", limit],
        "cli1": [*run, "--namespace-budget", limit],
        "cli2": [*run, "--namespace-budget", limit],
        "embedded": [sys.executable, str(APP), "run", db, "acme", "3"],
    }
    procs = {name: _spawn(cmd, env, tmp_path / f"{name}.log") for name, cmd in commands.items()}
    codes = {name: proc.wait(timeout=100) for name, proc in procs.items()}
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    assert codes["w1"] == codes["w2"] == codes["embedded"] == 0, logs
    # completed, or failed on the budget: runs are created leased, so no worker takes a CLI run
    # over between its creation and its execution
    assert {codes["cli1"], codes["cli2"]} <= {0, 1}, logs

    spent, held, records = _namespace_totals(db, "acme")
    assert spent <= LIMIT, (spent, logs)
    assert held == 0  # every hold was released
    assert spent > LIMIT // 2  # the budget was used, not refused from the start
    statuses = {r.run_id: r.status for r in records}
    assert len(statuses) == 8 + 2 + 3
    assert all(s in (RunStatus.COMPLETED, RunStatus.FAILED) for s in statuses.values()), logs
    failed = [r for r in records if r.status is RunStatus.FAILED]
    assert failed, "some runs must have been refused"
    assert all("budget of 'namespace acme' exceeded" in (r.error or "") for r in failed)
    assert {r.run_id for r in records} >= set(pending)
    without_budget = _podium(db, "run", f"{APP}:spend", "-i", "x", "--namespace", "other", env=env)
    assert without_budget.returncode == 0, without_budget.stderr  # another namespace: its own


def _spent(db: str, namespace: str) -> tuple[int, int]:
    tokens, held, _ = _namespace_totals(db, namespace)
    return tokens, held


@pytest.mark.slow
def test_a_yaml_namespace_budget_holds_for_concurrent_cli_runs(db: str, tmp_path: Path) -> None:
    spec = str(APPS / "ns_budget.yaml")  # namespace_budget: {tokens: 300}; a run spends 225
    command = [sys.executable, "-m", "podium", "--db", db, "run", spec, "--namespace", "acme"]
    procs = [
        _spawn([*command, "-i", f"job {i}"], _env(tmp_path, SPEND_SLOW="0.05"), tmp_path / f"{i}")
        for i in range(3)
    ]
    codes = sorted(proc.wait(timeout=90) for proc in procs)
    logs = [(tmp_path / f"{i}").read_text() for i in range(3)]
    assert set(codes) <= {0, 1}, logs  # completed, or failed on the budget
    assert 1 in codes, logs  # 3 x 225 tokens wanted: at least one was refused
    assert any("budget of 'namespace acme' exceeded" in log for log in logs), logs
    spent, held = _spent(db, "acme")
    assert 150 < spent <= 300
    assert held == 0
    # a stricter flag wins over the spec's budget
    strict = _podium(
        db, "run", spec, "-i", "x", "--namespace", "fresh", "--namespace-budget", "tokens=100",
        env=_env(tmp_path),
    )  # fmt: skip
    assert strict.returncode == 1, strict.stderr
    assert "tokens limit is 100 tokens" in strict.stderr
    assert _spent(db, "fresh")[0] <= 100


@pytest.mark.slow
def test_a_hold_left_by_a_killed_process_is_released_when_the_run_resumes(
    db: str, tmp_path: Path
) -> None:
    hanging = subprocess.Popen(
        [sys.executable, str(APP), "run", db, "acme", "1"],
        env=_env(tmp_path, SPEND_SLOW="60", NS_TOKENS="1000"),
    )
    try:
        deadline = time.monotonic() + 60
        while _spent(db, "acme")[1] == 0:  # wait until its first call holds its estimate
            assert time.monotonic() < deadline, "the call never held anything"
            time.sleep(0.05)
    finally:
        hanging.kill()
        hanging.wait()
    spent, held = _spent(db, "acme")
    assert (spent, held > 0) == (0, True)  # the dead process's hold is still in the store
    (record,) = _namespace_totals(db, "acme")[2]
    resumed = _podium(
        db, "resume", record.run_id, "--namespace", "acme", "--namespace-budget", "tokens=1000",
        env=_env(tmp_path),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    spent, held = _spent(db, "acme")
    assert 0 < spent <= 1000
    assert held == 0  # released on resume, then each call's own released after it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "X.py", "--namespace-budget", "steps=3"], "cannot limit wall time, steps"),
        (["run", "X.py", "--namespace-budget", "tokens=lots"], "tokens must be a whole number"),
        (["resume", "run_x", "--namespace-budget", "tokens"], "is not NAME=VALUE"),
        (["worker", "--namespace-budget", "cost_usd=-1"], "cost_usd must be finite and >= 0"),
    ],
)
def test_a_bad_namespace_budget_flag_exits_2_before_the_store_opens(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "never.db"
    done = _podium(str(db), *args, env=_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --namespace-budget"), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_a_spec_namespace_budget_accepts_tokens_and_cost_only(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = (APPS / "ns_budget.yaml").read_text().replace("{tokens: 300}", "{tokens: 3, steps: 2}")
    spec.write_text(text)
    done = _podium(str(tmp_path / "db"), "validate", str(spec), env=_env(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "namespace_budget.steps" in done.stdout + done.stderr


def test_a_runtime_refuses_a_namespace_budget_of_per_run_limits() -> None:
    for budget in (Budget(steps=3), Budget(wall_seconds=1), Budget(fan_out=2)):
        with pytest.raises(UserError, match="per run"):
            Runtime(namespace_budget=budget)


@pytest.mark.anyio
async def test_the_spawn_cap_holds_across_concurrent_branches_and_replays(tmp_path: Path) -> None:
    def build() -> Sequential:
        def team() -> Supervisor:
            spawns = [call("spawn_agent", name=n, instructions="i", task="t") for n in "abc"]
            lead = Agent(name="lead", model=ScriptedModel([spawns, "draft"], by_turn=True))
            helper = Agent(name="helper", model=ScriptedModel(["helped"], by_turn=True))
            return Supervisor("team", lead, template=helper, max_spawn=2)

        @workflow(name="later")
        async def later(ctx: Context, drafts: Any) -> Any:
            await ctx.wait_for("go")  # suspends: the resume replays the fan-out from the journal
            return drafts

        return Sequential("flow", [Parallel("par", {"x": team(), "y": team(), "z": team()}), later])

    first = await Runtime(SQLiteStore(tmp_path / "db.sqlite")).run(build(), "go")
    assert first.status is RunStatus.SUSPENDED
    later = Runtime(SQLiteStore(tmp_path / "db.sqlite"))
    await later.signal(first.run_id, "go")
    done = await later.resume(first.run_id, build())  # a divergence would fail closed here
    assert done.status is RunStatus.COMPLETED
    events = await later.store.read(first.run_id)
    assert len(_spawned(events)) == 2  # 3 branches x 3 requests at once: 2 granted in the run
    assert _refusals(events) == 7


@pytest.mark.anyio
async def test_a_cost_limit_holds_for_runtimes_on_separate_connections(tmp_path: Path) -> None:
    prices = DEFAULT_PRICES.with_overrides({"function:spend": ModelPrice(1000.0, 1000.0)})
    budget = Budget(cost_usd=0.5)  # a run wants about $0.23 (225 tokens at $0.001)
    spender = load_target(f"{APP}:spender")
    path = tmp_path / "db.sqlite"
    runtimes = [
        Runtime(SQLiteStore(path), namespace="acme", namespace_budget=budget, prices=prices)
        for _ in range(3)
    ]
    results: list[Any] = []

    async def one(runtime: Runtime) -> None:
        results.append(await runtime.run(spender, "go"))

    async with anyio.create_task_group() as tg:
        for i in range(9):
            tg.start_soon(one, runtimes[i % 3])
    _tokens, cost = await runtimes[0].store.spend("acme")
    assert 0.25 < cost <= 0.5 + 1e-9
    failed = [r for r in results if r.status is RunStatus.FAILED]
    assert len(failed) >= 6
    assert all("cost_usd limit is $0.5" in (r.error or "") for r in failed), failed[0].error
    assert await runtimes[0].store.held_spend("acme") == (0, 0.0)
