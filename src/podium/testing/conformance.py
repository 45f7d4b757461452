"""The store conformance suite: every :class:`~podium.store.Store` backend runs these tests.

Subclass :class:`StoreConformance`, give it a ``store_factory`` fixture (an async callable
``(*, max_event_bytes) -> Store`` returning a fresh store) and the two row-tampering hooks
``corrupt_row`` and ``delete_row``; ``tests/test_store.py`` shows both built-in backends. Every
store a test opens is closed after it. Needs pytest and anyio; library code never imports it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from typing import Any, Protocol, get_args

import anyio
import anyio.lowlevel
import pytest

from podium import events as ev
from podium.errors import (
    ConcurrencyError,
    CorruptJournalError,
    InvalidPayloadError,
    PayloadTooLargeError,
    RunNotFound,
    StoreError,
)
from podium.messages import ModelResponse, ToolCall, Usage
from podium.store.base import DEFAULT_MAX_EVENT_BYTES, RunFilter, RunRecord, Store
from podium.testing.audit_conformance import AuditConformance
from podium.testing.hold_conformance import HoldConformance
from podium.types import Effect, JsonValue, Resolution, RunStatus

__all__ = ["OpenStore", "StoreConformance", "StoreFactory", "event_types", "sample_events"]


class StoreFactory(Protocol):
    """What a backend's ``store_factory`` fixture returns: a fresh, empty store per call."""

    async def __call__(self, *, max_event_bytes: int) -> Store: ...


class OpenStore(Protocol):
    async def __call__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Store: ...


def event_types() -> tuple[type[Any], ...]:
    """Every member of the :data:`~podium.events.Event` union."""
    union = get_args(ev.Event)[0]
    return get_args(union)


def sample_events() -> dict[type[Any], ev.Event]:
    """One instance of every event type, with nested, unicode and large-ish JSON payloads."""
    err = ev.ErrorInfo(type="ValueError", message="bad — ünïcødé ✓ 日本")
    rows: list[JsonValue] = [
        {"i": i, "s": "día 🌍", "b": i % 2 == 0, "f": i / 7} for i in range(300)
    ]
    call = ToolCall(id="c1", name="search", arguments='{"q": "straße"}')
    usage = Usage(input_tokens=12, output_tokens=3, cached_tokens=1)
    # fmt: off
    response = ModelResponse(
        text="Hello ✓ 🌍", tool_calls=(call,), usage=usage, finish_reason="tool_calls",
        model_name="model-1", provider="fake",
    )
    samples: list[ev.Event] = [
        ev.RunStarted(
            workflow="pkg.mod:flow", input={"q": "héllo", "n": [1, 2.5, None, True, {"d": [[]]}]},
            namespace="team-ß", tags=("a", "b"), parent_run_id="parent-1",
            forked_from="run-0", fork_point="flow/agent/model#2", carried=7,
        ),
        ev.ExecutionStarted(owner="worker-1", resumed=True),
        ev.RunSuspended(reason="waiting", waiting_for="signal:approve", wake_at=1_700_000_000.25),
        ev.SignalReceived(name="approve", payload={"ok": True, "note": "✓"}, by="alice"),
        ev.RunCompleted(output={"rows": rows, "blob": "ü" * 50_000, "none": None}),
        ev.RunFailed(error=err),
        ev.RunCancelled(reason="user asked", by="bob"),
        ev.NodeStarted(path="root/agent", kind="agent"),
        ev.NodeFinished(path="root/agent", output="done", error=err),
        ev.StepCompleted(key="s1", kind="function", result=[1, "two", {"3": 3.0}, -0.5]),
        ev.StepFailed(key="s2", kind="function", error=err),
        ev.ModelCallCompleted(
            key="m1", model="gpt", request_digest="abc", response=response, duration_ms=12.5,
            cost_usd=0.0125,
        ),
        ev.ModelCallFailed(
            key="m1", model="gpt", attempt=2, error=err, status_code=429, retry_after=1.5,
            retryable=True,
        ),
        ev.ToolCallIntent(
            key="t1", tool="send", call_id="c1", arguments={"to": "x"}, idempotency_key="k1"
        ),
        ev.ToolAttemptFailed(key="t1", tool="send", attempt=1, error=err),
        ev.ToolCallCompleted(
            key="t1", tool="send", call_id="c1", effect=Effect.AT_MOST_ONCE, arguments={"to": "x"},
            result={"id": 7}, is_error=True, error_type="Boom", attempts=3, duration_ms=3.25,
        ),
        ev.StepUnknown(key="t1", tool="send"),
        ev.StepResolved(key="t1", action=Resolution.SKIP, result={"skipped": 1}, by="carol"),
        ev.ApprovalRequested(
            key="a/tool:pay#2", approval_id="apv_1", kind="tool", subject="pay",
            action={"tool": "pay", "arguments": {"amount": 1200}}, digest="d1", role="finance",
            requested_by="payer", reason="amount > 1000", provenance=("tool:fetch#1",),
            expires_at=1_700_000_100.5, on_expiry="escalate", escalate_to="cfo",
            answer_schema={"type": "object"},
        ),
        ev.ApprovalDecided(
            approval_id="apv_1", decision="approved", digest="d1", by="dana", role="finance",
            comment="ok ✓", answer={"x": 1},
        ),
        ev.GuardrailTripped(
            key="a/model#1", guardrail="pii", stage="output", action="redact",
            reasons=("email at text",),
        ),
    ]
    # fmt: on
    return {type(event): event for event in samples}


def _start(workflow: str = "wf", namespace: str = "default", *tags: str) -> ev.RunStarted:
    return ev.RunStarted(workflow=workflow, input={"x": 1}, namespace=namespace, tags=tags)


def _nodes(count: int, prefix: str = "n") -> list[ev.Event]:
    return [ev.NodeStarted(path=f"{prefix}{i}", kind="function") for i in range(count)]


_FAILED = ev.RunFailed(error=ev.ErrorInfo(type="E", message="m"))
_CORRUPT_BODIES = {
    "invalid-json": "{not json",
    "unknown-type": '{"type": "no_such_event", "x": 1}',
    "wrong-field-type": '{"type": "node_started", "path": 123, "kind": "agent"}',
    "not-an-object": "[]",
}


class _Opaque:
    """Not JSON: a payload holding this must be refused."""


class StoreConformance(AuditConformance, HoldConformance):
    """The contract of :class:`~podium.store.Store`, as tests. See the module docstring.

    The audit tests (hash chain, import, retention, erasure) come from
    :class:`~podium.testing.audit_conformance.AuditConformance`, the namespace-budget tests
    (spend holds) from :class:`~podium.testing.hold_conformance.HoldConformance`."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError("a conformance subclass provides the store_factory fixture")

    async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None:
        """Overwrite the stored JSON body of one journal row."""
        raise NotImplementedError

    async def delete_row(self, store: Store, run_id: str, seq: int) -> None:
        """Remove one journal row, leaving a gap (``pytest.skip`` if the backend cannot)."""
        raise NotImplementedError

    @pytest.fixture
    async def open_store(
        self, store_factory: StoreFactory, anyio_backend: str
    ) -> AsyncIterator[OpenStore]:
        opened: list[Store] = []

        async def open_(*, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Store:
            opened.append(await store_factory(max_event_bytes=max_event_bytes))
            return opened[-1]

        yield open_
        for store in opened:
            await store.close()

    @pytest.fixture
    async def store(self, open_store: OpenStore) -> Store:
        return await open_store()

    @staticmethod
    async def assert_unchanged(store: Store, run_id: str, before: RunRecord) -> None:
        assert await store.get_run(run_id) == before
        assert [s.seq for s in await store.read(run_id)] == list(range(1, before.last_seq + 1))

    @staticmethod
    async def assert_absent(store: Store, run_id: str) -> None:
        with pytest.raises(RunNotFound):
            await store.get_run(run_id)
        with pytest.raises(RunNotFound):
            await store.read(run_id)
        assert run_id not in [r.run_id for r in await store.list_runs()]

    # -- journal --------------------------------------------------------------------------------

    async def test_every_event_type_round_trips(self, store: Store) -> None:
        samples = sample_events()
        assert set(samples) == set(event_types()), "sample_events() misses an event type"
        start = samples.pop(ev.RunStarted)
        for cls, event in samples.items():
            run_id = f"rt-{cls.__name__}"
            assert await store.append(run_id, [start, event], expected_seq=0) == 2
            stored = await store.read(run_id)
            assert [s.event for s in stored] == [start, event]
            assert [s.run_id for s in stored] == [run_id, run_id]
            assert type(stored[1].event) is cls

    async def test_sequences_are_one_based_and_gap_free(self, store: Store) -> None:
        assert await store.append("r", [_start()], expected_seq=0) == 1
        assert await store.append("r", _nodes(3), expected_seq=1) == 4
        assert await store.append("r", _nodes(1, "m"), expected_seq=4) == 5
        stored = await store.read("r")
        assert [s.seq for s in stored] == [1, 2, 3, 4, 5]
        assert [s.ts for s in stored] == sorted(s.ts for s in stored)
        assert all(abs(s.ts - time.time()) < 3600 for s in stored)
        assert (await store.get_run("r")).last_seq == 5

    async def test_read_after_seq(self, store: Store) -> None:
        events: list[ev.Event] = [_start(), *_nodes(5)]
        await store.append("r", events, expected_seq=0)
        assert [s.event for s in await store.read("r", after_seq=3)] == events[3:]
        assert [s.seq for s in await store.read("r", after_seq=3)] == [4, 5, 6]
        assert await store.read("r", after_seq=6) == []
        assert await store.read("r", after_seq=99) == []

    async def test_unknown_run_is_not_found(self, store: Store) -> None:
        await store.append("other", [_start()], expected_seq=0)
        await self.assert_absent(store, "nope")

    # -- append rules -----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("events", "expected_seq", "error"),
        [([], 0, StoreError), (_nodes(1), 0, StoreError), ([_start()], 2, ConcurrencyError)],
        ids=["empty", "not-run-started-first", "expected-seq-not-zero"],
    )
    async def test_refused_creation_writes_nothing(
        self, store: Store, events: list[ev.Event], expected_seq: int, error: type[Exception]
    ) -> None:
        with pytest.raises(error) as caught:
            await store.append("r", events, expected_seq=expected_seq)
        assert error is ConcurrencyError or not isinstance(caught.value, ConcurrencyError)
        await self.assert_absent(store, "r")

    @pytest.mark.parametrize("expected_seq", [0, 1, 5, None], ids=["0", "1", "5", "empty"])
    async def test_refused_append_writes_nothing(
        self, store: Store, expected_seq: int | None
    ) -> None:
        await store.append("r", [_start(), *_nodes(2)], expected_seq=0)
        before = await store.get_run("r")
        if expected_seq is None:  # right sequence, no events
            with pytest.raises(StoreError):
                await store.append("r", [], expected_seq=3)
        else:
            with pytest.raises(ConcurrencyError) as caught:
                await store.append("r", _nodes(2, "late"), expected_seq=expected_seq)
            error = caught.value
            assert (error.run_id, error.expected, error.actual) == ("r", expected_seq, 3)
        await self.assert_unchanged(store, "r", before)

    @pytest.mark.parametrize(
        "terminal",
        [ev.RunCompleted(output=1), _FAILED, ev.RunCancelled()],
        ids=["completed", "failed", "cancelled"],
    )
    async def test_terminal_run_refuses_appends(self, store: Store, terminal: ev.Event) -> None:
        await store.append("r", [_start(), terminal], expected_seq=0)
        before = await store.get_run("r")
        assert before.status.terminal
        for late in (ev.SignalReceived(name="s"), ev.RunCompleted(output=2), _start()):
            with pytest.raises(StoreError) as caught:
                await store.append("r", [late], expected_seq=2)
            assert not isinstance(caught.value, ConcurrencyError)
        await self.assert_unchanged(store, "r", before)

    async def test_racing_appenders_one_wins_per_seq(self, store: Store) -> None:
        wins: list[str] = []
        losses: list[ConcurrencyError] = []

        async def attempt(name: str, events: list[ev.Event], expected_seq: int) -> None:
            try:
                await store.append("r", events, expected_seq=expected_seq)
                wins.append(name)
            except ConcurrencyError as error:
                losses.append(error)

        for first in (True, False):
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    events: list[ev.Event] = [_start()] if first else _nodes(2, f"t{i}-")
                    tg.start_soon(attempt, f"t{i}-", events, 0 if first else 1)
        assert len(wins) == 2, wins
        assert [(e.expected, e.actual) for e in losses] == [(0, 1)] * 19 + [(1, 3)] * 19
        stored = await store.read("r")
        assert [s.seq for s in stored] == [1, 2, 3]
        assert stored[1].event == ev.NodeStarted(path=f"{wins[1]}0", kind="function")
        assert (await store.get_run("r")).last_seq == 3

    async def test_contended_appends_lose_nothing(self, store: Store) -> None:
        await store.append("r", [_start()], expected_seq=0)

        async def worker(w: int) -> None:
            for n in range(4):
                while True:
                    seq = (await store.get_run("r")).last_seq
                    try:
                        await store.append("r", _nodes(1, f"w{w}/{n}/"), expected_seq=seq)
                        break
                    except ConcurrencyError:
                        await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for w in range(8):
                tg.start_soon(worker, w)
        stored = await store.read("r")
        assert [s.seq for s in stored] == list(range(1, 34))
        paths = [s.event.path for s in stored if isinstance(s.event, ev.NodeStarted)]
        assert sorted(paths) == sorted(f"w{w}/{n}/0" for w in range(8) for n in range(4))

    # -- payloads -----------------------------------------------------------------------------

    async def test_oversized_event_fails_the_whole_batch(self, open_store: OpenStore) -> None:
        store = await open_store(max_event_bytes=1024)
        with pytest.raises(PayloadTooLargeError):
            await store.append(
                "new", [ev.RunStarted(workflow="w", input="y" * 2000)], expected_seq=0
            )
        await self.assert_absent(store, "new")
        medium = [ev.StepCompleted(key=f"m{i}", kind="f", result="z" * 900) for i in range(3)]
        assert await store.append("r", [_start(), *medium], expected_seq=0) == 4  # per event
        before = await store.get_run("r")
        big = ev.StepCompleted(key="big", kind="function", result="x" * 2000)
        with pytest.raises(PayloadTooLargeError) as caught:
            await store.append("r", [*_nodes(1), big, *_nodes(1, "m")], expected_seq=4)
        assert (caught.value.run_id, caught.value.limit) == ("r", 1024)
        assert caught.value.size > 1024
        await self.assert_unchanged(store, "r", before)

    async def test_size_limit_counts_utf8_bytes(self, open_store: OpenStore) -> None:
        store = await open_store(max_event_bytes=1024)
        await store.append("r", [_start()], expected_seq=0)
        wide = ev.StepCompleted(key="k", kind="function", result="€" * 500)  # ~1500 UTF-8 bytes
        with pytest.raises(PayloadTooLargeError):
            await store.append("r", [wide], expected_seq=1)
        assert len(await store.read("r")) == 1

    @staticmethod
    async def assert_refused(store: Store, payloads: tuple[object, ...]) -> None:
        await store.append("r", [_start()], expected_seq=0)
        before = await store.get_run("r")
        for payload in payloads:
            bad = ev.SignalReceived(name="s", payload=payload)  # type: ignore[arg-type]
            with warnings.catch_warnings():  # judge the store, not the test's warning filter
                warnings.simplefilter("ignore")
                with pytest.raises(InvalidPayloadError) as caught:
                    await store.append("r", [bad], expected_seq=1)
            assert caught.value.run_id == "r"
        await StoreConformance.assert_unchanged(store, "r", before)

    async def test_non_json_object_is_refused(self, store: Store) -> None:
        await self.assert_refused(store, (_Opaque(), {"nested": [_Opaque()]}))

    async def test_non_json_python_values_are_refused(self, store: Store) -> None:
        """Values an encoder could silently coerce (set -> list, NaN -> null) are refused."""
        await self.assert_refused(store, ({1, 2}, b"raw", float("nan")))

    # -- corruption ---------------------------------------------------------------------------

    @pytest.mark.parametrize("body", _CORRUPT_BODIES.values(), ids=_CORRUPT_BODIES.keys())
    async def test_corrupt_row_names_run_and_seq(self, store: Store, body: str) -> None:
        await store.append("corrupt-run", [_start(), *_nodes(4)], expected_seq=0)
        await self.corrupt_row(store, "corrupt-run", 4, body)
        for after in (0, 3):
            with pytest.raises(CorruptJournalError) as caught:
                await store.read("corrupt-run", after_seq=after)
            assert (caught.value.run_id, caught.value.seq) == ("corrupt-run", 4)
            assert "corrupt-run" in str(caught.value)
            assert "4" in str(caught.value)
        assert [s.seq for s in await store.read("corrupt-run", after_seq=4)] == [5]

    @pytest.mark.parametrize("missing", [1, 3, 5], ids=["first", "middle", "last"])
    async def test_missing_row_is_a_gap(self, store: Store, missing: int) -> None:
        await store.append("gap-run", [_start(), *_nodes(4)], expected_seq=0)
        await self.delete_row(store, "gap-run", missing)
        with pytest.raises(CorruptJournalError) as caught:
            await store.read("gap-run")
        assert (caught.value.run_id, caught.value.seq) == ("gap-run", missing)
        assert "gap-run" in str(caught.value)

    # -- status index ---------------------------------------------------------------------------

    async def test_status_is_folded_from_events(self, store: Store) -> None:
        steps: list[tuple[ev.Event, RunStatus]] = [
            (ev.ExecutionStarted(owner="w1"), RunStatus.RUNNING),
            (ev.SignalReceived(name="early"), RunStatus.RUNNING),
            (ev.RunSuspended(reason="timer", wake_at=1234.5), RunStatus.SUSPENDED),
            (ev.SignalReceived(name="go"), RunStatus.PENDING),
            (ev.ExecutionStarted(owner="w2", resumed=True), RunStatus.RUNNING),
            (ev.StepUnknown(key="k", tool="send"), RunStatus.NEEDS_ATTENTION),
            (ev.StepResolved(key="k", action=Resolution.RETRY), RunStatus.PENDING),
            (ev.RunCompleted(output={"ok": True}), RunStatus.COMPLETED),
        ]
        await store.append("r", [_start("wf", "ns", "t1", "t2")], expected_seq=0)
        record = await store.get_run("r")
        assert (record.status, record.last_seq, record.tags) == (RunStatus.PENDING, 1, ("t1", "t2"))
        assert (record.workflow, record.namespace, record.parent_run_id) == ("wf", "ns", None)
        assert record.created_at == record.updated_at
        for seq, (event, status) in enumerate(steps, 2):
            await anyio.sleep(0.002)
            await store.append("r", [event], expected_seq=seq - 1)
            previous, record = record, await store.get_run("r")
            assert (record.status, record.last_seq) == (status, seq), event
            assert record.wake_at == (1234.5 if status is RunStatus.SUSPENDED else None)
            assert record.updated_at > previous.updated_at
            assert record.created_at == previous.created_at
        assert record.error is None
        assert await store.list_runs() == [record]

    async def test_batch_is_folded_and_failure_keeps_error(self, store: Store) -> None:
        error = ev.ErrorInfo(type="KeyError", message="missing 'x'")
        started = ev.RunStarted(workflow="wf", input=None, parent_run_id="p")
        await store.append(
            "f",
            [started, ev.ExecutionStarted(owner="w"), ev.RunSuspended(reason="r")],
            expected_seq=0,
        )
        record = await store.get_run("f")
        assert (record.status, record.last_seq) == (RunStatus.SUSPENDED, 3)
        assert record.parent_run_id == "p"
        await store.append(
            "f", [ev.SignalReceived(name="s"), ev.RunFailed(error=error)], expected_seq=3
        )
        record = await store.get_run("f")
        assert (record.status, record.last_seq) == (RunStatus.FAILED, 5)
        assert record.error is not None
        assert "KeyError" in record.error
        assert "missing 'x'" in record.error
        await store.append("c", [_start(), ev.RunCancelled(reason="stop")], expected_seq=0)
        assert (await store.get_run("c")).status is RunStatus.CANCELLED

    @staticmethod
    async def _seed_runs(store: Store) -> list[RunRecord]:
        specs: list[tuple[str, ev.RunStarted, list[ev.Event]]] = [
            ("r1", _start("wf.a", "default", "x"), []),
            ("r2", _start("wf.b", "team", "x", "y"), [ev.ExecutionStarted(owner="w")]),
            ("r3", _start("wf.a", "team", "xy"), [ev.RunCompleted(output=None)]),
            ("r4", _start("wf.b", "default", "y"), [_FAILED]),
        ]
        for run_id, start, rest in specs:
            await anyio.sleep(0.01)  # distinct created_at, even on a coarse clock
            await store.append(run_id, [start, *rest], expected_seq=0)
        return [await store.get_run(run_id) for run_id, _, _ in specs]

    @staticmethod
    async def _ids(store: Store, **query: Any) -> list[str]:
        return [record.run_id for record in await store.list_runs(RunFilter(**query))]

    async def test_list_runs_filters(self, store: Store) -> None:
        r1, r2, r3, r4 = await self._seed_runs(store)
        assert await store.list_runs() == [r4, r3, r2, r1]
        assert await self._ids(store, statuses=(RunStatus.PENDING,)) == ["r1"]
        statuses = (RunStatus.COMPLETED, RunStatus.PENDING, RunStatus.FAILED)
        assert await self._ids(store, statuses=statuses) == ["r4", "r3", "r1"]
        assert await self._ids(store, workflow="wf.a") == ["r3", "r1"]
        assert await self._ids(store, namespace="team") == ["r3", "r2"]
        assert await self._ids(store, tag="x") == ["r2", "r1"]
        assert await self._ids(store, tag="y") == ["r4", "r2"]
        assert await self._ids(store, tag="nope") == []
        assert await self._ids(store, workflow="wf.b", namespace="default") == ["r4"]
        assert await self._ids(store, workflow="wf.c") == []

    async def test_list_runs_time_window_and_limit(self, store: Store) -> None:
        _, r2, _, r4 = await self._seed_runs(store)
        assert await self._ids(store, created_after=r2.created_at) == ["r4", "r3", "r2"]
        assert await self._ids(store, created_before=r2.created_at) == ["r1"]
        window = {"created_after": r2.created_at, "created_before": r4.created_at}
        assert await self._ids(store, **window) == ["r3", "r2"]
        assert await self._ids(store, limit=2) == ["r4", "r3"]
        assert await self._ids(store, limit=1, workflow="wf.a") == ["r3"]
        assert await self._ids(store, limit=1, **window) == ["r3"]

    async def test_list_runs_keyset_cursor_is_stable_under_inserts(self, store: Store) -> None:
        for n in range(5):  # two share a created_at only by chance: the run id breaks ties
            await store.append(f"c{n}", [_start("wf")], expected_seq=0)
        page = await store.list_runs(RunFilter(limit=2))
        assert [r.run_id for r in page] == ["c4", "c3"]
        await store.append("c9", [_start("wf")], expected_seq=0)  # newer: never on a later page
        cursor = (page[-1].created_at, page[-1].run_id)
        assert await self._ids(store, limit=2, before=cursor) == ["c2", "c1"]
        last = await store.get_run("c1")
        assert await self._ids(store, before=(last.created_at, last.run_id)) == ["c0"]
        tie = await store.get_run("c2")
        assert "c2" not in await self._ids(store, before=(tie.created_at, tie.run_id))

    async def test_spend_is_folded_per_run_and_summed_per_namespace(self, store: Store) -> None:
        def call(tokens: int, cost: float | None) -> ev.ModelCallCompleted:
            usage = Usage(input_tokens=tokens - 1, output_tokens=1)
            response = ModelResponse(text="x", usage=usage)
            return ev.ModelCallCompleted(
                key="a/model#1", model="m", request_digest="d", response=response, cost_usd=cost
            )

        await store.append("s1", [_start("wf", "team"), call(10, 0.5)], expected_seq=0)
        await store.append("s1", [call(5, None)], expected_seq=2)
        await store.append("s2", [_start("wf", "team"), call(7, 0.25)], expected_seq=0)
        await store.append("s3", [_start("wf", "other"), call(100, 9.0)], expected_seq=0)
        record = await store.get_run("s1")
        assert (record.tokens, record.cost_usd) == (15, 0.5)
        assert await store.spend("team") == (22, 0.75)
        assert await store.spend("other") == (100, 9.0)
        assert await store.spend("nobody") == (0, 0.0)
