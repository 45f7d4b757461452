"""The audit part of the store conformance suite: the hash chain, import, retention, erasure.

:class:`~podium.testing.conformance.StoreConformance` inherits these tests; a backend gets them
by subclassing it as usual (the ``store``, ``open_store`` fixtures and the ``corrupt_row`` and
``delete_row`` hooks come from there).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import anyio
import pytest

from podium import events as ev
from podium.errors import RunNotFound, RunStateError, StoreError
from podium.messages import ModelResponse, Usage
from podium.observability.audit import verify
from podium.store import RunErasedError, Store
from podium.store.chain import GENESIS, link, tombstone
from podium.types import JsonValue, Resolution

if TYPE_CHECKING:
    from podium.testing.conformance import OpenStore

__all__ = ["AuditConformance"]

SECRET = "Jane Doe, 12 Rue des Lilas — ✓ 4242"


def _start(namespace: str = "default", input: JsonValue = None) -> ev.RunStarted:
    return ev.RunStarted(workflow="wf", input=input, namespace=namespace)


def _nodes(count: int, prefix: str = "n") -> list[ev.Event]:
    return [ev.NodeStarted(path=f"{prefix}{i}", kind="function") for i in range(count)]


def _model_call(tokens: int) -> ev.ModelCallCompleted:
    usage = Usage(input_tokens=tokens - 1, output_tokens=1)
    response = ModelResponse(text=SECRET, usage=usage)
    return ev.ModelCallCompleted(
        key="a/model#1", model="m", request_digest="d", response=response, cost_usd=0.5
    )


def _personal_run() -> list[ev.Event]:
    return [
        _start(input={"customer": SECRET}),
        ev.ExecutionStarted(owner="w"),
        ev.StepCompleted(key="s", kind="function", result=SECRET),
        _model_call(10),
        ev.RunCompleted(output=SECRET),
    ]


class AuditConformance:
    """Audit tests every :class:`~podium.store.Store` backend must pass."""

    async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None:
        raise NotImplementedError

    async def delete_row(self, store: Store, run_id: str, seq: int) -> None:
        raise NotImplementedError

    # -- the chain ------------------------------------------------------------------------------

    async def test_every_row_is_chained(self, store: Store) -> None:
        await store.append("r", [_start(), *_nodes(2)], expected_seq=0)
        await store.append("r", _nodes(3, "m"), expected_seq=3)
        trail = await store.audit_trail("r")
        assert (trail.run_id, trail.last_seq, trail.erasure) == ("r", 6, None)
        prev = GENESIS
        for seq, row in enumerate(trail.rows, 1):
            body = row.body.encode() if isinstance(row.body, str) else row.body
            assert (row.seq, row.erased) == (seq, False)
            assert row.digest == hashlib.sha256(body).hexdigest()
            prev = link(prev, "r", seq, row.ts, row.type, bytes.fromhex(row.digest))
            assert row.hash == prev.hex()
        assert trail.head == prev.hex()
        stored = await store.read("r")
        assert [(s.digest, s.hash) for s in stored] == [(r.digest, r.hash) for r in trail.rows]
        assert [s.event.type for s in stored] == [r.type for r in trail.rows]
        result = verify(trail)
        assert (result.ok, result.events, result.head) == (True, 6, trail.head)

    async def test_audit_trail_of_an_unknown_run(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            await store.audit_trail("nope")

    async def test_a_modified_row_fails_at_its_seq(self, store: Store) -> None:
        await store.append("r", [_start(), *_nodes(4)], expected_seq=0)
        forged = ev.encode(ev.NodeStarted(path="forged", kind="function"))
        await self.corrupt_row(store, "r", 3, forged)
        result = verify(await store.audit_trail("r"))
        assert (result.ok, result.first_bad_seq, result.events) == (False, 3, 2)
        assert "digest" in result.problem

    @pytest.mark.parametrize("missing", [1, 3, 5], ids=["first", "middle", "last"])
    async def test_a_deleted_row_fails_at_its_seq(self, store: Store, missing: int) -> None:
        await store.append("r", [_start(), *_nodes(4)], expected_seq=0)
        await self.delete_row(store, "r", missing)
        result = verify(await store.audit_trail("r"))
        assert (result.ok, result.first_bad_seq) == (False, missing)
        assert "missing" in result.problem

    # -- import ---------------------------------------------------------------------------------

    async def test_import_keeps_timestamps_and_reproduces_the_chain(
        self, open_store: OpenStore
    ) -> None:
        source, target = await open_store(), await open_store()
        seq = await source.append("r", _personal_run()[:3], expected_seq=0)
        await anyio.sleep(0.01)
        await source.append("r", _personal_run()[3:], expected_seq=seq)
        trail = await source.audit_trail("r")
        rows = [(stored.ts, stored.event) for stored in await source.read("r")]
        assert await target.import_run("r", rows, expect_head=trail.head) == trail.head
        assert await target.audit_trail("r") == trail
        assert await target.get_run("r") == await source.get_run("r")
        assert await target.spend("default") == await source.spend("default")

    async def test_a_refused_import_writes_nothing(self, store: Store) -> None:
        await store.append("r", [_start()], expected_seq=0)
        rows: list[tuple[float, ev.Event]] = [
            (1.0, _start()),
            (2.0, ev.ExecutionStarted(owner="w")),
        ]
        with pytest.raises(RunStateError, match="exists"):
            await store.import_run("r", rows)
        assert (await store.get_run("r")).last_seq == 1
        for bad, kwargs in (
            (rows, {"expect_head": "00" * 32}),
            (rows[1:], {}),
            ([], {}),
        ):
            with pytest.raises(StoreError):
                await store.import_run("new", bad, **kwargs)
            with pytest.raises(RunNotFound):
                await store.audit_trail("new")
        assert await store.import_run("new", rows)  # the same rows, nothing in the way

    # -- retention ------------------------------------------------------------------------------

    async def test_delete_runs_takes_only_old_finished_runs_of_the_namespace(
        self, store: Store
    ) -> None:
        ends: dict[str, list[ev.Event]] = {
            "completed": [ev.RunCompleted(output=1)],
            "failed": [ev.RunFailed(error=ev.ErrorInfo(type="E", message="m"))],
            "cancelled": [ev.RunCancelled()],
            "pending": [],
            "running": [ev.ExecutionStarted(owner="w")],
            "suspended": [ev.RunSuspended(reason="wait")],
            "attention": [ev.StepUnknown(key="k", tool="t")],
            "resolved": [ev.StepUnknown(key="k", tool="t"), ev.StepResolved(
                key="k", action=Resolution.RETRY)],
        }  # fmt: skip
        for name, end in ends.items():
            await store.append(
                f"old-{name}", [_start("team"), _model_call(10), *end], expected_seq=0
            )
            await store.append(f"other-{name}", [_start("other"), *end], expected_seq=0)
        await store.erase("old-completed", reason="gdpr")
        await anyio.sleep(0.01)
        cutoff = (await store.get_run("other-resolved")).updated_at + 0.001
        await anyio.sleep(0.01)
        await store.append("new-completed", [_start("team"), *ends["completed"]], expected_seq=0)
        spent = await store.spend("team")
        assert await store.delete_runs("team", cutoff) == 3
        for gone in ("old-completed", "old-failed", "old-cancelled"):
            with pytest.raises(RunNotFound):
                await store.get_run(gone)
            with pytest.raises(RunNotFound):
                await store.audit_trail(gone)
        kept = {r.run_id for r in await store.list_runs()}
        live = ("pending", "running", "suspended", "attention", "resolved")
        assert kept == {f"old-{n}" for n in live} | {f"other-{n}" for n in ends} | {"new-completed"}
        assert await store.spend("team") == spent  # deleted runs still count for budgets
        assert await store.delete_runs("team", cutoff) == 0

    # -- erasure --------------------------------------------------------------------------------

    async def test_erase_keeps_a_verifiable_tombstone(self, store: Store) -> None:
        await store.append("r", _personal_run(), expected_seq=0)
        before, record = await store.audit_trail("r"), await store.get_run("r")
        assert await store.erase("r", reason="GDPR request 17", by="dpo") is True
        after = await store.audit_trail("r")
        assert after.erasure is not None
        assert (after.erasure.by, after.erasure.reason) == ("dpo", "GDPR request 17")
        assert [(r.seq, r.ts, r.type, r.digest, r.hash) for r in after.rows] == [
            (r.seq, r.ts, r.type, r.digest, r.hash) for r in before.rows
        ]
        assert all(r.erased and r.body == tombstone(r.type) for r in after.rows)
        assert (after.head, after.last_seq) == (before.head, before.last_seq)
        assert verify(after).ok
        assert await store.get_run("r") == record  # status, error, tokens: the index stays
        with pytest.raises(RunErasedError, match="erased") as caught:
            await store.read("r")
        assert caught.value.erasure == after.erasure
        assert await store.erase("r", reason="again", by="x") is False
        assert (await store.audit_trail("r")).erasure == after.erasure

    async def test_only_a_finished_run_can_be_erased(self, store: Store) -> None:
        await store.append("r", [_start(input=SECRET), ev.RunSuspended(reason="w")], expected_seq=0)
        before = await store.audit_trail("r")
        with pytest.raises(RunStateError, match="suspended"):
            await store.erase("r", reason="gdpr")
        assert await store.audit_trail("r") == before
        assert len(await store.read("r")) == 2
        with pytest.raises(RunNotFound):
            await store.erase("nope", reason="gdpr")

    async def test_a_modified_tombstone_fails(self, store: Store) -> None:
        await store.append("r", _personal_run(), expected_seq=0)
        await store.erase("r", reason="gdpr")
        await self.corrupt_row(store, "r", 2, '{"type":"execution_started","owner":"smuggled"}')
        result = verify(await store.audit_trail("r"))
        assert (result.ok, result.first_bad_seq) == (False, 2)
