"""The store conformance suite: every :class:`~podium.store.Store` backend runs these tests.

Subclass :class:`StoreConformance` in a test module, provide a ``store_factory`` fixture and the
two row-tampering hooks, and pytest (with the anyio plugin) runs the whole contract::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_factory(self, tmp_path: Path) -> StoreFactory:
            async def make(*, max_event_bytes: int) -> Store:
                return MyStore(tmp_path / "db", max_event_bytes=max_event_bytes)
            return make

        async def corrupt_row(self, store: Store, run_id: str, seq: int, body: str) -> None: ...
        async def delete_row(self, store: Store, run_id: str, seq: int) -> None: ...

Every store a test opens is closed after it. This module needs pytest; library code never
imports it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator
from typing import Any, Protocol, get_args

import anyio
import pytest

from podium.errors import (
    ConcurrencyError,
    CorruptJournalError,
    PayloadTooLargeError,
    RunNotFound,
    StoreError,
)
from podium.events import (
    ErrorInfo,
    Event,
    ExecutionStarted,
    ModelCallCompleted,
    ModelCallFailed,
    NodeFinished,
    NodeStarted,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunSuspended,
    SignalReceived,
    StepCompleted,
    StepFailed,
    StepResolved,
    StepUnknown,
    ToolAttemptFailed,
    ToolCallCompleted,
    ToolCallIntent,
)
from podium.messages import ModelResponse, ToolCall, Usage
from podium.store.base import DEFAULT_MAX_EVENT_BYTES, RunFilter, RunRecord, Store
from podium.types import Effect, Resolution, RunStatus

__all__ = ["OpenStore", "StoreConformance", "StoreFactory", "event_types", "sample_events"]


class StoreFactory(Protocol):
    """What a backend's ``store_factory`` fixture returns: a fresh, empty store per call."""

    async def __call__(self, *, max_event_bytes: int) -> Store: ...


class OpenStore(Protocol):
    async def __call__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Store: ...


def event_types() -> tuple[type[Any], ...]:
    """Every member of the :data:`~podium.events.Event` union."""
    union = get_args(Event)[0]
    return get_args(union)


def sample_events() -> dict[type[Any], Event]:
    """One instance of every event type, with nested, unicode and large-ish JSON payloads."""
    err = ErrorInfo(type="ValueError", message="bad — ünïcødé ✓ 日本")
    rows = [{"i": i, "text": "día 🌍", "even": i % 2 == 0, "f": i / 7} for i in range(300)]
    response = ModelResponse(
        text="Hello ✓ 🌍",
        tool_calls=(ToolCall(id="c1", name="search", arguments='{"q": "straße"}'),),
        usage=Usage(input_tokens=12, output_tokens=3, cached_tokens=1),
        finish_reason="tool_calls",
        model_name="model-1",
        provider="fake",
    )
    samples: list[Event] = [
        RunStarted(
            workflow="pkg.mod:flow",
            input={"q": "héllo", "n": [1, 2.5, None, True, {"deep": [[]]}]},
            namespace="team-ß",
            tags=("a", "b"),
            parent_run_id="parent-1",
        ),
        ExecutionStarted(owner="worker-1", resumed=True),
        RunSuspended(reason="waiting", waiting_for="signal:approve", wake_at=1_700_000_000.25),
        SignalReceived(name="approve", payload={"ok": True, "note": "✓"}, by="alice"),
        RunCompleted(output={"rows": rows, "blob": "ü" * 50_000, "none": None}),
        RunFailed(error=err),
        RunCancelled(reason="user asked", by="bob"),
        NodeStarted(path="root/agent", kind="agent"),
        NodeFinished(path="root/agent", output="done", error=err),
        StepCompleted(key="s1", kind="function", result=[1, "two", {"3": 3.0}, -0.5]),
        StepFailed(key="s2", kind="function", error=err),
        ModelCallCompleted(
            key="m1", model="gpt", request_digest="abc123", response=response, duration_ms=12.5
        ),
        ModelCallFailed(
            key="m1", model="gpt", attempt=2, error=err, status_code=429, retry_after=1.5,
            retryable=True,
        ),  # fmt: skip
        ToolCallIntent(
            key="t1", tool="send", call_id="c1", arguments={"to": "x"}, idempotency_key="k1"
        ),
        ToolAttemptFailed(key="t1", tool="send", attempt=1, error=err),
        ToolCallCompleted(
            key="t1", tool="send", call_id="c1", effect=Effect.AT_MOST_ONCE,
            arguments={"to": "x"}, result={"id": 7}, is_error=True, error_type="Boom",
            attempts=3, duration_ms=3.25,
        ),  # fmt: skip
        StepUnknown(key="t1", tool="send"),
        StepResolved(key="t1", action=Resolution.SKIP, result={"skipped": 1}, by="carol"),
    ]
    return {type(event): event for event in samples}


def _start(workflow: str = "wf", namespace: str = "default", *tags: str) -> RunStarted:
    return RunStarted(workflow=workflow, input={"x": 1}, namespace=namespace, tags=tags)


def _nodes(count: int, prefix: str = "n") -> list[Event]:
    return [NodeStarted(path=f"{prefix}{i}", kind="function") for i in range(count)]


class _Opaque:
    """Not JSON: a payload holding this must be refused."""


class StoreConformance:
    """The contract of :class:`~podium.store.Store`, as tests. See the module docstring."""

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

    async def assert_unchanged(self, store: Store, run_id: str, before: RunRecord) -> None:
        assert await store.get_run(run_id) == before
        assert len(await store.read(run_id)) == before.last_seq

    # -- journal --------------------------------------------------------------------------------

    async def test_every_event_type_round_trips(self, store: Store) -> None:
        samples = sample_events()
        assert set(samples) == set(event_types()), "sample_events() misses an event type"
        start = samples.pop(RunStarted)
        for cls, event in samples.items():
            run_id = f"rt-{cls.__name__}"
            assert await store.append(run_id, [start, event], expected_seq=0) == 2
            stored = await store.read(run_id)
            assert [s.event for s in stored] == [start, event]
            assert all(s.run_id == run_id for s in stored)
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
        events: list[Event] = [_start(), *_nodes(5)]
        await store.append("r", events, expected_seq=0)
        assert [s.event for s in await store.read("r", after_seq=3)] == events[3:]
        assert [s.seq for s in await store.read("r", after_seq=3)] == [4, 5, 6]
        assert await store.read("r", after_seq=6) == []
        assert await store.read("r", after_seq=99) == []

    async def test_unknown_run_is_not_found(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            await store.read("nope")
        with pytest.raises(RunNotFound):
            await store.get_run("nope")
        assert await store.list_runs() == []

    # -- append rules -----------------------------------------------------------------------------

    @pytest.mark.parametrize("expected", [0, 1, 5])
    async def test_stale_expected_seq_raises_and_writes_nothing(
        self, store: Store, expected: int
    ) -> None:
        await store.append("r", [_start(), *_nodes(2)], expected_seq=0)
        before = await store.get_run("r")
        with pytest.raises(ConcurrencyError) as caught:
            await store.append("r", _nodes(2, "late"), expected_seq=expected)
        assert (caught.value.run_id, caught.value.expected, caught.value.actual) == ("r", expected, 3)
        await self.assert_unchanged(store, "r", before)

    async def test_new_run_needs_expected_seq_zero(self, store: Store) -> None:
        with pytest.raises(ConcurrencyError):
            await store.append("r", [_start()], expected_seq=2)
        with pytest.raises(RunNotFound):
            await store.get_run("r")

    async def test_first_event_must_be_run_started(self, store: Store) -> None:
        with pytest.raises(StoreError):
            await store.append("r", _nodes(1), expected_seq=0)
        with pytest.raises(RunNotFound):
            await store.read("r")
        assert await store.list_runs() == []

    async def test_empty_append_is_refused(self, store: Store) -> None:
        with pytest.raises(StoreError):
            await store.append("new", [], expected_seq=0)
        with pytest.raises(RunNotFound):
            await store.get_run("new")
        await store.append("r", [_start()], expected_seq=0)
        before = await store.get_run("r")
        with pytest.raises(StoreError):
            await store.append("r", [], expected_seq=1)
        await self.assert_unchanged(store, "r", before)

    @pytest.mark.parametrize(
        "terminal",
        [RunCompleted(output=1), RunFailed(error=ErrorInfo(type="E", message="m")), RunCancelled()],
        ids=["completed", "failed", "cancelled"],
    )
    async def test_terminal_run_refuses_appends(self, store: Store, terminal: Event) -> None:
        await store.append("r", [_start(), terminal], expected_seq=0)
        before = await store.get_run("r")
        assert before.status.terminal
        for late in (SignalReceived(name="s"), RunCompleted(output=2), _start()):
            with pytest.raises(StoreError) as caught:
                await store.append("r", [late], expected_seq=2)
            assert not isinstance(caught.value, ConcurrencyError)
        await self.assert_unchanged(store, "r", before)

    async def test_racing_appenders_one_wins_per_seq(self, store: Store) -> None:
        outcomes: list[str] = []

        async def create(i: int) -> None:
            try:
                await store.append("r", [_start(f"wf{i}")], expected_seq=0)
                outcomes.append(f"create{i}")
            except ConcurrencyError:
                pass

        async def extend(i: int) -> None:
            try:
                await store.append("r", _nodes(2, f"t{i}-"), expected_seq=1)
                outcomes.append(f"extend{i}")
            except ConcurrencyError as error:
                assert (error.expected, error.actual) == (1, 3)

        for task in (create, extend):
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(task, i)
        assert len(outcomes) == 2, outcomes
        stored = await store.read("r")
        assert [s.seq for s in stored] == [1, 2, 3]
        winner = outcomes[1].removeprefix("extend")
        assert stored[1].event == NodeStarted(path=f"t{winner}-0", kind="function")
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
                        await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            for w in range(8):
                tg.start_soon(worker, w)
        stored = await store.read("r")
        assert [s.seq for s in stored] == list(range(1, 34))
        paths = [s.event.path for s in stored if isinstance(s.event, NodeStarted)]
        assert sorted(paths) == sorted(f"w{w}/{n}/0" for w in range(8) for n in range(4))

    # -- payloads -----------------------------------------------------------------------------

    async def test_oversized_event_fails_the_whole_batch(self, open_store: OpenStore) -> None:
        store = await open_store(max_event_bytes=1024)
        big = StepCompleted(key="big", kind="function", result="x" * 2000)
        with pytest.raises(PayloadTooLargeError) as caught:
            await store.append("new", [RunStarted(workflow="wf", input="y" * 2000)], expected_seq=0)
        with pytest.raises(RunNotFound):
            await store.get_run("new")
        medium = [StepCompleted(key=f"m{i}", kind="f", result="z" * 900) for i in range(3)]
        assert await store.append("r", [_start(), *medium], expected_seq=0) == 4  # per event
        before = await store.get_run("r")
        with pytest.raises(PayloadTooLargeError) as caught:
            await store.append("r", [*_nodes(1), big, *_nodes(1, "m")], expected_seq=4)
        assert (caught.value.run_id, caught.value.limit) == ("r", 1024)
        assert caught.value.size > 1024
        await self.assert_unchanged(store, "r", before)

    async def test_size_limit_counts_utf8_bytes(self, open_store: OpenStore) -> None:
        store = await open_store(max_event_bytes=1024)
        await store.append("r", [_start()], expected_seq=0)
        wide = StepCompleted(key="k", kind="function", result="€" * 500)  # ~1500 bytes in UTF-8
        with pytest.raises(PayloadTooLargeError):
            await store.append("r", [wide], expected_seq=1)
        assert len(await store.read("r")) == 1

    async def test_non_json_object_is_refused(self, store: Store) -> None:
        await store.append("r", [_start()], expected_seq=0)
        before = await store.get_run("r")
        for payload in (_Opaque(), {"nested": [_Opaque()]}):
            bad = SignalReceived(name="s", payload=payload)  # type: ignore[arg-type]
            with pytest.raises((StoreError, ValueError, TypeError)):
                await store.append("r", [bad], expected_seq=1)
        await self.assert_unchanged(store, "r", before)

    async def test_non_json_python_values_are_refused(self, store: Store) -> None:
        """Values that an encoder could silently coerce (set -> list, NaN -> null) are refused."""
        await store.append("r", [_start()], expected_seq=0)
        before = await store.get_run("r")
        for payload in ({1, 2}, b"raw", float("nan")):
            bad = StepCompleted(key="k", kind="f", result=payload)  # type: ignore[arg-type]
            with warnings.catch_warnings():  # judge the store, not the warnings filter
                warnings.simplefilter("ignore")
                with pytest.raises((StoreError, ValueError, TypeError)):
                    await store.append("r", [bad], expected_seq=1)
        await self.assert_unchanged(store, "r", before)

    # -- corruption ---------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "body",
        [
            "{not json",
            '{"type": "no_such_event", "x": 1}',
            '{"type": "node_started", "path": 123, "kind": "agent"}',
            "[]",
        ],
        ids=["invalid-json", "unknown-type", "wrong-field-type", "not-an-object"],
    )
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

    @pytest.mark.parametrize("missing", [1, 3])
    async def test_missing_row_is_a_gap(self, store: Store, missing: int) -> None:
        await store.append("gap-run", [_start(), *_nodes(4)], expected_seq=0)
        await self.delete_row(store, "gap-run", missing)
        with pytest.raises(CorruptJournalError) as caught:
            await store.read("gap-run")
        assert (caught.value.run_id, caught.value.seq) == ("gap-run", missing)
        assert "gap-run" in str(caught.value)

    async def test_missing_last_row_is_detected(self, store: Store) -> None:
        await store.append("gap-run", [_start(), *_nodes(4)], expected_seq=0)
        await self.delete_row(store, "gap-run", 5)
        with pytest.raises(CorruptJournalError) as caught:
            await store.read("gap-run")
        assert (caught.value.run_id, caught.value.seq) == ("gap-run", 5)

    # -- status index ---------------------------------------------------------------------------

    async def test_status_is_folded_from_events(self, store: Store) -> None:
        steps: list[tuple[Event, RunStatus]] = [
            (ExecutionStarted(owner="w1"), RunStatus.RUNNING),
            (SignalReceived(name="early"), RunStatus.RUNNING),
            (RunSuspended(reason="timer", wake_at=1234.5), RunStatus.SUSPENDED),
            (SignalReceived(name="go"), RunStatus.PENDING),
            (ExecutionStarted(owner="w2", resumed=True), RunStatus.RUNNING),
            (StepUnknown(key="k", tool="send"), RunStatus.NEEDS_ATTENTION),
            (StepResolved(key="k", action=Resolution.RETRY), RunStatus.PENDING),
            (RunCompleted(output={"ok": True}), RunStatus.COMPLETED),
        ]
        await store.append("r", [_start("wf", "ns", "t1", "t2")], expected_seq=0)
        record = await store.get_run("r")
        assert (record.status, record.workflow, record.namespace) == (RunStatus.PENDING, "wf", "ns")
        assert (record.tags, record.last_seq, record.created_at) == (("t1", "t2"), 1, record.updated_at)
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
        error = ErrorInfo(type="KeyError", message="missing 'x'")
        started = RunStarted(workflow="wf", input=None, parent_run_id="p")
        batch: list[Event] = [started, ExecutionStarted(owner="w"), RunSuspended(reason="r")]
        await store.append("f", batch, expected_seq=0)
        record = await store.get_run("f")
        assert (record.status, record.last_seq, record.parent_run_id) == (RunStatus.SUSPENDED, 3, "p")
        await store.append("f", [SignalReceived(name="s"), RunFailed(error=error)], expected_seq=3)
        record = await store.get_run("f")
        assert (record.status, record.last_seq) == (RunStatus.FAILED, 5)
        assert record.error is not None
        assert "KeyError" in record.error
        assert "missing 'x'" in record.error
        await store.append("c", [_start(), RunCancelled(reason="stop", by="u")], expected_seq=0)
        assert (await store.get_run("c")).status is RunStatus.CANCELLED

    async def _seed_runs(self, store: Store) -> list[RunRecord]:
        specs: list[tuple[str, RunStarted, list[Event]]] = [
            ("r1", _start("wf.a", "default", "x"), []),
            ("r2", _start("wf.b", "team", "x", "y"), [ExecutionStarted(owner="w")]),
            ("r3", _start("wf.a", "team", "xy"), [RunCompleted(output=None)]),
            ("r4", _start("wf.b", "default", "y"), [RunFailed(error=ErrorInfo(type="E", message=""))]),
        ]
        for run_id, start, rest in specs:
            await anyio.sleep(0.01)  # distinct created_at, even on a coarse clock
            await store.append(run_id, [start, *rest], expected_seq=0)
        return [await store.get_run(run_id) for run_id, _, _ in specs]

    async def _ids(self, store: Store, **query: Any) -> list[str]:
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
