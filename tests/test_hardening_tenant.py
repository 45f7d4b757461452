"""Issue 12, items 2 and 8, through the Python API and the CLI in a subprocess, on every backend.

- Item 2: a decision after an approval expired is refused, on the STORE's clock, and the request
  is routed to its expiry exactly as a resuming run routes it (escalated to ``escalate_to``, or
  denied). The runtime that asked is back-dated, so its requests are already past their expiry
  on the store's clock; one test moves the store's clock alone.
- Item 8: an executor verifies the hash chain of what it replays: a journal edited in the
  database ("rejected" -> "approved") is refused with a typed error naming the run and the first
  bad seq, and nothing executes (the payment ledger stays empty).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from podium import Runtime
from podium.errors import ApprovalExpired, TamperedJournalError
from podium.events import ApprovalDecided, ApprovalRequested, ExecutionStarted
from podium.observability.audit import verify_run
from podium.policy import Principal
from podium.runtime import load_target
from podium.store import MemoryStore, Store, StoredEvent
from podium.testing.clock import FakeClock
from podium.types import RunStatus
from tenancy_kit import APP, Backend, backend, edit_body, ledger, podium, sql

pytestmark = pytest.mark.anyio
MARIA = Principal("maria", frozenset({"finance"}))
CARL = Principal("carl", frozenset({"cfo"}))
PAYER = f"{APP}:payer"
REFUNDER = f"{APP}:refunder"
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


def _late(store: Store) -> Runtime:
    """A runtime whose clock is two hours behind: its hour-long approvals have expired."""
    return Runtime(store, clock=FakeClock(time.time() - 7200))


async def _asked(runtime: Runtime, target: str) -> tuple[str, str]:
    result = await runtime.run(load_target(target), "invoice 17", ref=target)
    assert result.status is RunStatus.SUSPENDED
    [item] = [i for i in await runtime.approvals() if i.run_id == result.run_id]
    return result.run_id, item.approval_id


def _after(stored: list[StoredEvent], seq: int) -> list[dict[str, Any]]:
    """Events after ``seq`` as dicts, with the run id left out of approval ids."""
    out = []
    for item in stored[seq:]:
        data = dataclasses.asdict(item.event)
        out.append(
            {k: str(v).rsplit(".", 1)[0] if k == "approval_id" else v for k, v in data.items()}
        )
    return out


# -- item 2: expiry at decision time -------------------------------------------------------------


async def test_a_late_approval_is_escalated_not_accepted(
    store_of: tuple[Backend, Store], tmp_path: Path
) -> None:
    _, store = store_of
    runtime = _late(store)
    run_id, approval = await _asked(runtime, PAYER)
    before = len(await store.read(run_id))
    with pytest.raises(ApprovalExpired) as caught:
        await runtime.decide(approval, "approve", by=MARIA)
    new_id = caught.value.escalated_to
    assert new_id is not None
    assert new_id != approval
    assert f"escalated to the role 'cfo' as {new_id}" in str(caught.value)
    added = [s.event for s in (await store.read(run_id))[before:]]
    assert [type(e).__name__ for e in added] == ["ApprovalDecided", "ApprovalRequested"]
    escalated, again = added
    assert isinstance(escalated, ApprovalDecided)
    assert escalated.decision == "escalated"
    assert isinstance(again, ApprovalRequested)
    assert again.role == "cfo"
    assert again.approval_id == new_id
    # maria's approval is not in the journal, and asking again says the same
    assert not any(getattr(e, "by", "") == "maria" for e in added)
    with pytest.raises(ApprovalExpired, match=new_id):
        await runtime.decide(approval, "approve", by=MARIA)
    # the inbox now holds the escalated request for the cfo; a finance approver cannot take it
    [item] = await runtime.approvals()
    assert (item.approval_id, item.request.role) == (new_id, "cfo")
    await runtime.decide(new_id, "approve", by=CARL)
    done = await runtime.resume(run_id)
    assert done.status is RunStatus.COMPLETED
    assert ledger(tmp_path / "ledger.txt") == ["pay\tACME Ltd\t2500.0"]


async def test_a_late_decision_is_routed_like_a_resume_would(
    store_of: tuple[Backend, Store],
) -> None:
    _, store = store_of
    runtime = _late(store)
    by_decision, approval = await _asked(runtime, PAYER)
    by_resume, _ = await _asked(runtime, PAYER)
    seq = len(await store.read(by_decision))
    with pytest.raises(ApprovalExpired):
        await runtime.decide(approval, "approve", by=MARIA)
    runtime.clock.advance(7200)  # type: ignore[attr-defined]
    resumed = await runtime.resume(by_resume)
    assert resumed.status is RunStatus.SUSPENDED
    decided = _after(await store.read(by_decision), seq)
    replayed = [
        e
        for e in _after(await store.read(by_resume), seq)
        if e["type"] in ("approval_decided", "approval_requested")
    ]
    assert decided == replayed
    assert len(decided) == 2


async def test_a_late_refund_decision_is_denied(
    store_of: tuple[Backend, Store], tmp_path: Path
) -> None:
    _, store = store_of
    runtime = _late(store)
    run_id, approval = await _asked(runtime, REFUNDER)
    with pytest.raises(ApprovalExpired, match="it was denied") as caught:
        await runtime.decide(approval, "approve", by=MARIA)
    assert caught.value.escalated_to is None
    done = await runtime.resume(run_id)
    assert done.status is RunStatus.COMPLETED
    assert "not approved (expired" in str(done.output)
    assert ledger(tmp_path / "ledger.txt") == []


async def test_an_approval_in_time_is_accepted(store_of: tuple[Backend, Store]) -> None:
    _, store = store_of
    runtime = Runtime(store)
    run_id, approval = await _asked(runtime, PAYER)
    decision = await runtime.decide(approval, "approve", by=MARIA)
    assert decision.decision == "approved"
    assert (await runtime.resume(run_id)).status is RunStatus.COMPLETED


class _StoreWithClock(MemoryStore):
    """A store whose clock a test moves (the runtime's clock stays the real one)."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(time.time())

    async def now(self) -> float:
        return self.clock.now()


async def test_expiry_is_checked_on_the_stores_clock_not_the_runtimes() -> None:
    store = _StoreWithClock()
    runtime = Runtime(store)  # its own clock: the real time, an hour before the expiry
    _run_id, approval = await _asked(runtime, PAYER)
    store.clock.advance(3599)
    assert (await runtime.decide(approval, "approve", by=MARIA)).decision == "approved"
    _second, late = await _asked(runtime, PAYER)
    store.clock.advance(3601)
    with pytest.raises(ApprovalExpired):
        await runtime.decide(late, "reject", by=MARIA)


async def test_the_store_clock_is_the_databases(store_of: tuple[Backend, Store]) -> None:
    _, store = store_of
    first = await store.now()
    assert abs(first - time.time()) < 60  # the same epoch as this machine's clock
    assert await store.now() >= first


def test_cli_approve_after_expiry_escalates(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    env = {"TENANT_LEDGER": str(tmp_path / "ledger.txt")}

    async def ask() -> tuple[str, str]:
        async with Backend("sqlite", db).open() as store:
            return await _asked(_late(store), PAYER)

    run_id, approval = anyio.run(ask)
    late = podium(db, "approve", approval, "--as", "maria", "--role", "finance", env=env)
    assert late.returncode == 8, late.stderr
    [line] = late.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert "expired" in line
    assert "'cfo'" in line
    new_id = line.split(" as ")[1].split(";")[0]
    again = podium(db, "approve", approval, "--as", "maria", "--role", "finance", env=env)
    assert again.returncode == 8
    assert new_id in again.stderr
    wrong = podium(db, "approve", new_id, "--as", "maria", "--role", "finance", env=env)
    assert wrong.returncode == 8
    assert "needs the role 'cfo'" in wrong.stderr
    ok = podium(db, "approve", new_id, "--as", "carl", "--role", "cfo", env=env)
    assert ok.returncode == 0, ok.stderr
    done = podium(db, "resume", run_id, env=env)
    assert done.returncode == 0, done.stderr
    assert ledger(tmp_path / "ledger.txt") == ["pay\tACME Ltd\t2500.0"]


# -- item 8: executors verify the chain ----------------------------------------------------------


async def _rejected(runtime: Runtime) -> tuple[str, int]:
    run_id, approval = await _asked(runtime, PAYER)
    await runtime.decide(approval, "reject", by=MARIA, comment="not this month")
    stored = await runtime.store.read(run_id)
    [seq] = [s.seq for s in stored if isinstance(s.event, ApprovalDecided)]
    return run_id, seq


async def test_resume_refuses_an_edited_decision_and_pays_nothing(
    store_of: tuple[Backend, Store], tmp_path: Path
) -> None:
    where, store = store_of
    runtime = Runtime(store)
    run_id, seq = await _rejected(runtime)
    edit_body(where, store, run_id, seq, '"rejected"', '"approved"')
    before = await store.read(run_id)
    assert any(getattr(s.event, "decision", "") == "approved" for s in before)  # it would pay
    with pytest.raises(TamperedJournalError) as caught:
        await runtime.resume(run_id)
    assert (caught.value.run_id, caught.value.seq) == (run_id, seq)
    assert f"run {run_id}: the journal's hash chain breaks at seq {seq}" in str(caught.value)
    assert ledger(tmp_path / "ledger.txt") == []
    after = await store.read(run_id)
    assert len(after) == len(before)  # not even an execution_started was appended
    assert (await verify_run(store, run_id)).first_bad_seq == seq
    # deciding on a tampered journal is refused too
    with pytest.raises(TamperedJournalError):
        await runtime.resolve(run_id, "x", "retry")


async def test_an_untampered_journal_resumes(
    store_of: tuple[Backend, Store], tmp_path: Path
) -> None:
    _, store = store_of
    runtime = Runtime(store)
    run_id, _ = await _rejected(runtime)
    done = await runtime.resume(run_id)
    assert done.status is RunStatus.COMPLETED
    assert "not approved" in str(done.output)
    assert ledger(tmp_path / "ledger.txt") == []


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE events SET ts = ts + 1 WHERE run_id = ? AND seq = 2",
        "DELETE FROM events WHERE run_id = ? AND seq = (SELECT max(seq) FROM events)",
        "UPDATE events SET digest = hash WHERE run_id = ? AND seq = 3",
    ],
)
async def test_other_edits_are_refused_too(store_of: tuple[Backend, Store], edit: str) -> None:
    where, store = store_of
    if where.db is None:
        pytest.skip("SQL edits")
    runtime = Runtime(store)
    run_id, _ = await _rejected(runtime)
    if "DELETE" in edit:
        sql(where.db, "UPDATE runs SET last_seq = last_seq - 1 WHERE run_id = ?", run_id)
        edit = edit.replace("(SELECT max(seq) FROM events)", str(len(await store.read(run_id))))
    assert sql(where.db, edit, run_id) == 1
    with pytest.raises(TamperedJournalError):
        await runtime.resume(run_id)


async def test_events_read_during_an_execution_are_verified(
    store_of: tuple[Backend, Store],
) -> None:
    where, store = store_of
    runtime = Runtime(store)
    run_id, seq = await _rejected(runtime)
    # what an executor catches up on (events others appended) is checked from the row before
    assert [s.seq for s in await store.read(run_id, after_seq=seq - 1, verify=True)] == [seq]
    edit_body(where, store, run_id, seq, '"rejected"', '"approved"')
    with pytest.raises(TamperedJournalError) as caught:
        await store.read(run_id, after_seq=seq - 1, verify=True)
    assert caught.value.seq == seq
    assert len(await store.read(run_id)) == seq  # a plain read (show, logs) still works


def test_cli_resume_and_worker_refuse_a_tampered_journal(tmp_path: Path) -> None:
    db = str(tmp_path / "podium.db")
    env = {"TENANT_LEDGER": str(tmp_path / "ledger.txt")}
    started = podium(db, "run", PAYER, "-i", "invoice 17", env=env)
    assert started.returncode == 4, started.stderr
    run_id = next(w for w in started.stderr.split() if w.startswith("run_"))
    listed = podium(db, "approvals", "--json", env=env)
    approval = listed.stdout.split('"approval_id": "')[1].split('"')[0]
    rejected = podium(db, "reject", approval, "--as", "maria", "--role", "finance", env=env)
    assert rejected.returncode == 0, rejected.stderr
    where = Backend("sqlite", db)

    async def decision_seq() -> int:
        async with where.open() as store:
            stored = await store.read(run_id)
        return next(s.seq for s in stored if isinstance(s.event, ApprovalDecided))

    seq = anyio.run(decision_seq)
    sql(db, "UPDATE events SET body = replace(body, '\"rejected\"', '\"approved\"') "
        "WHERE run_id = ? AND seq = ?", run_id, seq)  # fmt: skip
    resumed = podium(db, "resume", run_id, env=env)
    assert resumed.returncode == 6, resumed.stderr
    [line] = resumed.stderr.strip().splitlines()
    assert line == (
        f"error: run {run_id}: the journal's hash chain breaks at seq {seq}: the body does not "
        "match its digest (the event was modified); nothing was executed (`podium audit verify` "
        "checks the whole run)"
    )
    worker = podium(db, "worker", "--until-idle", "--poll", "0.05", env=env)
    assert worker.returncode == 0, worker.stderr
    assert f"breaks at seq {seq}" in worker.stderr
    assert ledger(tmp_path / "ledger.txt") == []

    async def executions() -> list[str]:
        async with where.open() as store:
            return [
                s.event.owner
                for s in await store.read(run_id)
                if isinstance(s.event, ExecutionStarted)
            ]

    assert len(anyio.run(executions)) == 1  # the first `podium run`, nothing since
