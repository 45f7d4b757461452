"""Issue 12, item 9: the namespace is a tenant boundary.

A runtime, a CLI invocation and a worker act within their namespaces only; another namespace's
run or approval answers EXACTLY like a missing one (same error type and message, exit 3), for
every method and verb that takes a run or approval id, and lists show nothing of it. Acting in
every namespace is an explicit opt-in ('*'). Through the Python API on every backend, and with
real processes — the CLI, a worker and an embedded runtime — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from podium import Runtime
from podium.cli import app as cli_app
from podium.errors import RunIdTaken, RunNotFound, UserError
from podium.events import RunStarted
from podium.policy import Principal
from podium.runtime import load_target
from podium.store import RunErasedError, RunFilter, Store
from podium.types import RunStatus
from tenancy_kit import APP, Backend, backend, edit_body, ledger, podium

pytestmark = pytest.mark.anyio
MARIA = Principal("maria", frozenset({"finance"}))
PAYER = f"{APP}:payer"
WAITER = f"{APP}:waiter"
MISSING = "run_0000000000000000000000000000"
BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def store_of(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Backend, Store]]:
    monkeypatch.setenv("TENANT_LEDGER", str(tmp_path / "ledger.txt"))
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with backend(request.param, tmp_path, url) as where:
        async with where.open() as store:
            yield where, store


async def _globex_runs(store: Store) -> dict[str, str]:
    """globex's runs: a payment waiting for approval, a run waiting for a signal, a finished
    one; and the approval id."""
    globex = Runtime(store, namespace="globex")
    paying = await globex.run(load_target(PAYER), "invoice 9", ref=PAYER)
    waiting = await globex.run(load_target(WAITER), "w", ref=WAITER)
    done = await globex.run(load_target(WAITER), "d", ref=WAITER)
    await globex.signal(done.run_id, "go", 1)
    await globex.resume(done.run_id)
    [item] = await globex.approvals()
    return {
        "paying": paying.run_id,
        "waiting": waiting.run_id,
        "done": done.run_id,
        "approval": item.approval_id,
    }


async def _same_as_missing(
    call: Callable[[str], Awaitable[Any]], foreign: str, missing: str = MISSING
) -> None:
    """``call(foreign)`` fails exactly like ``call(missing)``, up to the id itself."""
    with pytest.raises(RunNotFound) as gone:
        await call(missing)
    with pytest.raises(RunNotFound) as hidden:
        await call(foreign)
    run, nothing = foreign.rsplit(".", 1)[-1], missing.rsplit(".", 1)[-1]  # approvals name runs
    assert type(hidden.value) is type(gone.value) is RunNotFound
    assert str(hidden.value) == str(gone.value).replace(nothing, run)
    assert str(hidden.value) == f"no run with id {run!r}"


async def test_a_runtime_cannot_see_or_touch_another_namespaces_runs(
    store_of: tuple[Backend, Store], tmp_path: Path
) -> None:
    _, store = store_of
    ids = await _globex_runs(store)
    journals = {k: len(await store.read(v)) for k, v in ids.items() if k != "approval"}
    acme = Runtime(store, namespace="acme")
    mine = await acme.run(load_target(WAITER), "mine", ref=WAITER)
    paying, waiting = ids["paying"], ids["waiting"]
    apv_missing = ids["approval"].replace(paying, MISSING)
    checks: list[tuple[Callable[[str], Awaitable[Any]], str, str]] = [
        (acme.result, paying, MISSING),
        (acme.resume, paying, MISSING),
        (lambda r: acme.signal(r, "go", 1), waiting, MISSING),
        (lambda r: acme.cancel(r, reason="no"), waiting, MISSING),
        (lambda r: acme.resolve(r, "k", "retry"), paying, MISSING),
        (acme.get_run, paying, MISSING),
        (acme.read, paying, MISSING),
        (lambda r: acme.read(r, after_seq=2), paying, MISSING),
        (lambda a: acme.decide(a, "approve", by=MARIA), ids["approval"], apv_missing),
    ]
    for call, foreign, missing in checks:
        await _same_as_missing(call, foreign, missing)
    assert await acme.approvals() == []
    assert await acme.approvals(namespace="globex") == []
    assert [r.run_id for r in await acme.list_runs()] == [mine.run_id]
    assert await acme.list_runs(RunFilter(namespace="globex")) == []
    # globex's journals are untouched, its payment not made; globex itself still can
    assert {k: len(await store.read(ids[k])) for k in journals} == journals
    assert _payments(tmp_path) == []
    globex = Runtime(store, namespace="globex")
    await globex.decide(ids["approval"], "approve", by=MARIA)
    assert (await globex.resume(paying)).status is RunStatus.COMPLETED
    assert _payments(tmp_path) == ["pay\tACME Ltd\t2500.0"]


def _payments(tmp_path: Path) -> list[str]:
    return [line for line in ledger(tmp_path / "ledger.txt") if line.startswith("pay")]


async def test_a_broken_or_erased_foreign_run_still_looks_missing(
    store_of: tuple[Backend, Store],
) -> None:
    where, store = store_of
    ids = await _globex_runs(store)
    acme, globex = Runtime(store, namespace="acme"), Runtime(store, namespace="globex")
    await store.erase(ids["done"], reason="gdpr")
    with pytest.raises(RunErasedError):
        await globex.result(ids["done"])
    await _same_as_missing(acme.result, ids["done"])
    edit_body(where, store, ids["paying"], 1, '"globex"', '"acme"')  # moved into acme?
    await _same_as_missing(acme.resume, ids["paying"])
    await _same_as_missing(lambda r: acme.resolve(r, "k", "retry"), ids["paying"])


async def test_starting_a_run_says_nothing_of_another_namespaces_runs(
    store_of: tuple[Backend, Store],
) -> None:
    _, store = store_of
    ids = await _globex_runs(store)
    acme = Runtime(store, namespace="acme")
    mine = await acme.start(load_target(WAITER), "m", ref=WAITER)
    taken = []
    for run_id in (ids["paying"], mine):  # another tenant's id, and its own: the same answer
        with pytest.raises(RunIdTaken) as caught:
            await acme.start(load_target(WAITER), "x", run_id=run_id)
        taken.append(str(caught.value).replace(run_id, "ID"))
    assert taken == ["run id 'ID' is already taken: nothing was started"] * 2
    await _same_as_missing(
        lambda r: acme.start(load_target(WAITER), "x", parent_run_id=r), ids["paying"]
    )
    assert len(await acme.list_runs()) == 1  # nothing was started by the refusals


async def test_every_namespace_is_an_explicit_opt_in(store_of: tuple[Backend, Store]) -> None:
    _, store = store_of
    ids = await _globex_runs(store)
    await Runtime(store, namespace="acme").run(load_target(WAITER), "a", ref=WAITER)
    operator = Runtime(store, namespace="*")
    assert len(await operator.list_runs()) == 4
    assert [i.approval_id for i in await operator.approvals()] == [ids["approval"]]
    assert (await operator.result(ids["done"])).status is RunStatus.COMPLETED
    with pytest.raises(UserError, match="starts no runs"):
        await operator.start(load_target(WAITER), "x")
    both = Runtime(store, namespace="acme", namespaces=["acme", "globex"])
    assert len(await both.list_runs()) == 4
    await both.signal(ids["waiting"], "go", 2)
    ops = Runtime(store, namespace="ops", namespaces="*")
    started = await ops.start(load_target(WAITER), "o", ref=WAITER)
    event = (await store.read(started))[0].event
    assert isinstance(event, RunStarted)
    assert event.namespace == "ops"
    for bad in ("", " "):
        with pytest.raises(UserError, match="is not a namespace name"):
            Runtime(store, namespace=bad)
    with pytest.raises(UserError, match="not among the namespaces"):
        Runtime(store, namespace="acme", namespaces=["globex"])


# -- real processes: the CLI, a worker and an embedded runtime ------------------------------------

VERBS = [
    ("show", "{run}"),
    ("logs", "{run}"),
    ("logs", "{run}", "--follow"),
    ("resume", "{run}"),
    ("signal", "{run}", "go", "--payload", "1"),
    ("cancel", "{run}"),
    ("resolve", "{run}", "k", "--action", "retry"),
    ("approve", "{apv}", "--as", "maria", "--role", "finance"),
    ("reject", "{apv}", "--by", "maria", "--role", "finance"),
    ("answer", "{apv}", "42", "--as", "maria", "--role", "finance"),
    ("export", "{run}"),
    ("erase", "{run}", "--reason", "x"),
    ("audit", "verify", "{run}"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with backend(request.param, tmp_path, url) as where:
        assert where.db is not None
        yield where.db


def _setup(db: str) -> dict[str, str]:
    """globex's runs, made by a runtime embedded in this process, plus one queued for a worker
    (signalled before it ever ran: runnable)."""

    async def embedded() -> dict[str, str]:
        async with Backend("", db).open() as store:
            ids = await _globex_runs(store)
            globex = Runtime(store, namespace="globex")
            ids["queued"] = await globex.start(load_target(WAITER), "q", ref=WAITER)
            await globex.signal(ids["queued"], "go", "from globex")
            return ids

    return anyio.run(embedded)


@pytest.mark.slow
@pytest.mark.timeout(300)  # 13 CLI processes: on a loaded 2-core machine, past 120 s
def test_every_cli_verb_answers_a_foreign_run_like_a_missing_one(db: str) -> None:
    ids = _setup(db)
    paying, approval = ids["paying"], ids["approval"]
    lengths = _lengths(db, ids)
    as_acme = {"PODIUM_NAMESPACE": "acme"}
    missing_apv = approval.replace(paying, MISSING)
    runner = CliRunner()

    def as_acme_on(verb: tuple[str, ...]) -> Any:
        return podium(db, *[a.format(run=paying, apv=approval) for a in verb], env=as_acme)

    with ThreadPoolExecutor(3) as pool:  # real processes, a few at a time
        foreign = list(pool.map(as_acme_on, VERBS))
    for verb, hidden in zip(VERBS, foreign, strict=True):
        unknown = [a.format(run=MISSING, apv=missing_apv) for a in verb]
        gone = runner.invoke(cli_app, ["--db", db, *unknown], env=as_acme)
        assert (hidden.returncode, gone.exit_code) == (3, 3), (verb, hidden.stderr)
        assert hidden.stderr == gone.stderr.replace(MISSING, paying), verb
        assert hidden.stderr.strip() == f"error: no run with id {paying!r}", verb
        assert hidden.stdout == gone.stdout == ""
    assert _lengths(db, ids) == lengths  # nothing was written to globex's runs


@pytest.mark.slow
@pytest.mark.timeout(300)  # 12 CLI and worker processes
def test_cli_worker_and_runtime_keep_tenants_apart(db: str, tmp_path: Path) -> None:
    env = {"TENANT_LEDGER": str(tmp_path / "ledger.txt")}
    as_acme = {**env, "PODIUM_NAMESPACE": "acme"}
    ids = _setup(db)  # globex's runs, by an embedded runtime
    paying, approval = ids["paying"], ids["approval"]
    lengths = _lengths(db, ids)
    # acme, through the CLI: cannot decide, signal or resume globex's runs, lists show nothing
    decided = podium(db, "approve", approval, "--as", "maria", "--role", "finance", env=as_acme)
    assert (decided.returncode, decided.stderr.strip()) == (3, f"error: no run with id {paying!r}")
    assert podium(db, "signal", ids["waiting"], "go", env=as_acme).returncode == 3
    assert "no runs" in podium(db, "runs", env=as_acme).stderr
    assert json.loads(podium(db, "approvals", "--json", env=as_acme).stdout) == []
    # an acme worker leaves globex's runnable runs alone
    acme_worker = podium(db, "worker", "--until-idle", "--poll", "0.05", env=as_acme)
    assert acme_worker.returncode == 0, acme_worker.stderr
    assert "claimed 0" in acme_worker.stderr
    assert _lengths(db, ids) == lengths
    assert ledger(tmp_path / "ledger.txt") == []
    # globex, through the CLI: it sees, decides and works its own runs
    as_globex = {**env, "PODIUM_NAMESPACE": "globex"}
    assert paying in podium(db, "runs", env=as_globex).stdout
    approved = podium(db, "approve", approval, "--as", "maria", "--role", "finance",
                      env=as_globex)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    globex_worker = podium(db, "worker", "--until-idle", "--poll", "0.05", env=as_globex)
    assert globex_worker.returncode == 0, globex_worker.stderr
    assert sorted(ledger(tmp_path / "ledger.txt")) == [
        "pay\tACME Ltd\t2500.0",
        "waiter\tq\tfrom globex",
    ]
    # an operator opts in to every namespace; '*' starts nothing
    assert paying in podium(db, "runs", "--namespace", "*", env=env).stdout
    refused = podium(db, "run", WAITER, "--namespace", "*", env=env)
    assert refused.returncode == 2
    assert "starts no runs" in refused.stderr


def _lengths(db: str, ids: dict[str, str]) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with Backend("", db).open() as store:
            return {k: (await store.get_run(v)).last_seq for k, v in ids.items() if k != "approval"}

    return anyio.run(go)
