"""Audit: tampering with a real SQLite journal is found at the right sequence; export and
import; retention; erasure (down to the bytes of the database file); the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from podium import events as ev
from podium.errors import RunStateError
from podium.observability.audit import AuditFailure, export_jsonl, import_jsonl, verify
from podium.store import MemoryStore, SQLiteStore, Store
from podium.store.chain import digest, link
from podium.store.sqlite import MIGRATIONS, _statements
from podium.testing.conformance import sample_events

pytestmark = pytest.mark.anyio
APP = str(Path(__file__).parent / "apps" / "simple_app.py")
SECRET = "Jane Doe lives at 12 Rue des Lilas"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _events() -> list[ev.Event]:
    return [
        ev.RunStarted(workflow="wf", input={"who": SECRET}),
        ev.ExecutionStarted(owner="w"),
        ev.StepCompleted(key="a", kind="function", result=SECRET),
        ev.StepCompleted(key="b", kind="function", result={"long": SECRET * 300}),
        ev.NodeStarted(path="n", kind="agent"),
        ev.RunCompleted(output=SECRET),
    ]


async def _seeded(db: Path) -> SQLiteStore:
    store = SQLiteStore(db)
    seq = await store.append("r", _events()[:3], expected_seq=0)
    await store.append("r", _events()[3:], expected_seq=seq)  # two batches, two timestamps
    return store


def _sql(db: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with closing(sqlite3.connect(db)) as conn:
        for sql, args in statements:
            conn.execute(sql, args)
        conn.commit()


def _row(db: Path, seq: int) -> tuple[Any, ...]:
    with closing(sqlite3.connect(db)) as conn:
        sql = "SELECT ts, type, body, digest, hash FROM events WHERE run_id='r' AND seq=?"
        row: tuple[Any, ...] = conn.execute(sql, (seq,)).fetchone()
        return row


def _forged(db: Path) -> tuple[str, bytes, bytes]:
    """A new body for seq 3, its digest, and a hash that links it after seq 2."""
    ts, body = _row(db, 3)[0], ev.encode(ev.StepCompleted(key="a", kind="function", result="x"))
    return body, digest(body), link(_row(db, 2)[4], "r", 3, ts, "step_completed", digest(body))


_SHIFT_UP = [  # make room at seq 3 (two steps: the primary key must stay unique)
    ("UPDATE events SET seq = -seq - 1 WHERE run_id='r' AND seq >= 3", ()),
    ("UPDATE events SET seq = -seq WHERE run_id='r' AND seq < 0", ()),
]


def _tampering(db: Path) -> dict[str, tuple[list[tuple[str, tuple[Any, ...]]], int, str]]:
    """name -> (SQL, first bad seq, words of the reason)."""
    body, body_digest, forged_hash = _forged(db)
    ts3, hash3 = _row(db, 3)[0], _row(db, 3)[4]
    inserted = ev.encode(ev.StepCompleted(key="x", kind="function", result="inserted"))
    hash_ins = link(_row(db, 2)[4], "r", 3, ts3, "step_completed", digest(inserted))
    after_6 = link(_row(db, 6)[4], "r", 7, ts3, "step_completed", digest(inserted))
    upd = "UPDATE events SET {} WHERE run_id='r' AND seq=3"
    insert = "INSERT INTO events VALUES ('r', ?, ?, 'step_completed', 1, ?, ?, ?)"
    return {
        "modify body": ([(upd.format("body=?"), (body,))], 3, "digest"),
        "modify body and digest": (
            [(upd.format("body=?, digest=?"), (body, body_digest))], 3, "hash does not match"
        ),
        "rewrite row with its hash": (
            [(upd.format("body=?, digest=?, hash=?"), (body, body_digest, forged_hash))],
            4, "does not follow seq 3",
        ),
        "change time": ([(upd.format("ts=ts+1"), ())], 3, "time"),
        "change type": ([(upd.format("type='step_failed'"), ())], 3, "type"),
        "delete": ([("DELETE FROM events WHERE run_id='r' AND seq=3", ())], 3, "missing"),
        "delete last": ([("DELETE FROM events WHERE run_id='r' AND seq=6", ())], 6, "missing"),
        "delete and renumber": (
            [
                ("DELETE FROM events WHERE run_id='r' AND seq=3", ()),
                ("UPDATE events SET seq = -seq + 1 WHERE run_id='r' AND seq > 3", ()),
                ("UPDATE events SET seq = -seq WHERE run_id='r' AND seq < 0", ()),
            ],
            3, "does not follow",
        ),
        "reorder": (
            [
                ("UPDATE events SET seq=-1 WHERE run_id='r' AND seq=3", ()),
                ("UPDATE events SET seq=3 WHERE run_id='r' AND seq=4", ()),
                ("UPDATE events SET seq=4 WHERE run_id='r' AND seq=-1", ()),
            ],
            3, "reordered",
        ),
        "insert": (
            [*_SHIFT_UP, (insert, (3, ts3, inserted, digest(inserted), hash3))],
            3, "hash does not match",
        ),
        "insert with a valid hash": (
            [*_SHIFT_UP, (insert, (3, ts3, inserted, digest(inserted), hash_ins))],
            3, "seq 3 was inserted",
        ),
        "append past the index": (
            [(insert, (7, ts3, inserted, digest(inserted), after_6))], 7, "past the index"
        ),
        "change the head": (
            [("UPDATE runs SET head=? WHERE run_id='r'", (b"\0" * 32,))], 6, "head"
        ),
    }  # fmt: skip


async def test_an_untouched_journal_verifies(tmp_path: Path) -> None:
    store = await _seeded(tmp_path / "p.db")
    result = verify(await store.audit_trail("r"))
    await store.close()
    assert (result.ok, result.events, result.first_bad_seq) == (True, 6, None)
    assert result.describe().startswith("ok: 6 events, head ")


TAMPERING = [
    "modify body", "modify body and digest", "rewrite row with its hash", "change time",
    "change type", "delete", "delete last", "delete and renumber", "reorder", "insert",
    "insert with a valid hash", "append past the index", "change the head",
]  # fmt: skip


@pytest.mark.parametrize("case", TAMPERING)
async def test_tampering_is_found_at_the_right_seq(tmp_path: Path, case: str) -> None:
    db = tmp_path / "p.db"
    store = await _seeded(db)
    statements, bad_seq, words = _tampering(db)[case]
    _sql(db, *statements)
    result = verify(await store.audit_trail("r"))
    await store.close()
    assert (result.ok, result.first_bad_seq) == (False, bad_seq), result.problem
    assert words in result.problem
    assert result.describe().startswith(f"bad at seq {bad_seq}: ")


def test_the_chain_is_the_documented_formula() -> None:
    body = '{"type":"node_started","path":"n","kind":"agent"}'
    body_digest = hashlib.sha256(body.encode()).digest()
    prev = bytes(range(32))
    fields = [prev.hex(), "run-ü", "12", "1700000000.25", "node_started", body_digest.hex()]
    netstrings = b"".join(b"%d:%s," % (len(f.encode()), f.encode()) for f in fields)
    assert digest(body) == body_digest
    assert link(prev, "run-ü", 12, 1700000000.25, "node_started", body_digest) == (
        hashlib.sha256(netstrings).digest()
    )
    first = link(b"", "r", 1, 1.0, "run_started", body_digest)
    assert (
        first
        == hashlib.sha256(
            b"0:,1:r,1:1,3:1.0,11:run_started,64:" + body_digest.hex().encode() + b","
        ).digest()
    )


# -- export and import ----------------------------------------------------------------------------


async def test_every_event_type_survives_export_and_import() -> None:
    source, target = MemoryStore(), MemoryStore()
    samples = sample_events()
    start = samples.pop(ev.RunStarted)
    for index, event in enumerate(samples.values()):
        run_id = f"run-{index}"
        await source.append(run_id, [start, event], expected_seq=0)
        buffer = io.StringIO()
        exported = await export_jsonl(source, run_id, buffer)
        imported = await import_jsonl(target, io.StringIO(buffer.getvalue()))
        assert imported == exported
        assert await target.audit_trail(run_id) == await source.audit_trail(run_id)
        assert await target.read(run_id) == await source.read(run_id)


async def _export(store: Store) -> list[str]:
    buffer = io.StringIO()
    await export_jsonl(store, "r", buffer)
    return buffer.getvalue().splitlines()


def _edit(lines: list[str], number: int, **changes: Any) -> list[str]:
    data = json.loads(lines[number])
    for key, value in changes.items():
        if key == "event_result":
            data["event"]["result"] = value
        else:
            data[key] = value
    return [*lines[:number], json.dumps(data), *lines[number + 1 :]]


FILE_TAMPERING: dict[str, tuple[Callable[[list[str]], list[str]], int]] = {
    # line 0 is the header, line N is seq N
    "modify an event": (lambda ls: _edit(ls, 3, event_result="forged"), 3),
    "modify an event and its digest": (
        lambda ls: _edit(
            _edit(ls, 3, event_result="x"),
            3,
            digest=digest(ev.encode(ev.StepCompleted(key="a", kind="function", result="x"))).hex(),
        ),
        3,
    ),
    "change a time": (lambda ls: _edit(ls, 4, ts=json.loads(ls[4])["ts"] + 60), 4),
    "delete a line": (lambda ls: ls[:3] + ls[4:], 3),
    "delete the last line": (lambda ls: ls[:-1], 6),
    "swap two lines": (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], 3),
    "swap two lines and their seqs": (
        lambda ls: [*ls[:3], _edit(ls, 4, seq=3)[4], _edit(ls, 3, seq=4)[3], *ls[5:]],
        3,
    ),
    "insert a line": (lambda ls: [*ls[:3], _edit(ls, 2, seq=3)[2], *ls[3:]], 3),
    "change the head": (
        lambda ls: [json.dumps({**json.loads(ls[0]), "head": "00" * 32}), *ls[1:]],
        6,
    ),
}


@pytest.mark.parametrize("case", FILE_TAMPERING)
async def test_a_tampered_export_is_refused_and_nothing_written(tmp_path: Path, case: str) -> None:
    source = await _seeded(tmp_path / "a.db")
    lines = await _export(source)
    await source.close()
    tamper, bad_seq = FILE_TAMPERING[case]
    target = SQLiteStore(tmp_path / "b.db")
    with pytest.raises(AuditFailure) as caught:
        await import_jsonl(target, tamper(lines))
    assert caught.value.result.first_bad_seq == bad_seq, caught.value
    assert f"bad at seq {bad_seq}" in str(caught.value)
    assert await target.list_runs() == []
    await target.close()


async def test_import_refuses_an_existing_run_and_an_erased_export(tmp_path: Path) -> None:
    store = await _seeded(tmp_path / "p.db")
    lines = await _export(store)
    before = await store.audit_trail("r")
    with pytest.raises(RunStateError, match="already exists"):
        await import_jsonl(store, lines)
    assert await store.audit_trail("r") == before
    await store.erase("r", reason="gdpr", by="dpo")
    erased = await _export(store)
    assert SECRET not in "\n".join(erased)
    other = MemoryStore()
    assert (await import_jsonl(other, erased, check_only=True)).ok
    with pytest.raises(RunStateError, match="erased"):
        await import_jsonl(other, erased)
    assert await other.list_runs() == []
    await store.close()


# -- migration ------------------------------------------------------------------------------------


async def test_rows_written_before_the_chain_are_chained_on_migration(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    folder = resources.files("podium.store.migrations")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
        )
        for version, name in enumerate(MIGRATIONS[:2], 1):
            for statement in _statements(folder.joinpath(name).read_text()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO runs (run_id, workflow, namespace, status, created_at, updated_at, "
            "last_seq) VALUES ('r', 'wf', 'default', 'running', 1.0, 2.0, 2)"
        )
        for seq, event in enumerate(_events()[:2], 1):
            conn.execute(
                "INSERT INTO events VALUES ('r', ?, ?, ?, 1, ?)",
                (seq, float(seq), event.type, ev.encode(event)),
            )
        conn.commit()
    async with SQLiteStore(db) as store:
        assert verify(await store.audit_trail("r")).ok
        await store.append("r", _events()[2:], expected_seq=2)
        result = verify(await store.audit_trail("r"))
        assert (result.ok, result.events) == (True, 6)
        assert [s.event for s in await store.read("r")] == _events()


# -- erasure and retention ------------------------------------------------------------------------


async def _reopened(db: Path) -> SQLiteStore:
    """The seeded run, checkpointed into the file, reopened without the build's secure_delete
    default (Debian turns it on, most builds do not)."""
    await (await _seeded(db)).close()
    store = SQLiteStore(db)
    store._conn.execute("PRAGMA secure_delete=0")
    return store


def _raw(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


async def test_erased_content_leaves_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    store = await _reopened(db)
    await store.append("other", [ev.RunStarted(workflow="wf", input="keep me")], expected_seq=0)
    assert SECRET.encode() in _raw(db)
    assert await store.erase("r", reason="GDPR art. 17", by="dpo")
    assert verify(await store.audit_trail("r")).ok
    assert SECRET[:12].encode() not in _raw(db)  # the database and its WAL, while open
    assert store._conn.execute("PRAGMA secure_delete").fetchone() == (0,)  # restored
    await store.close()
    assert SECRET[:12].encode() not in _raw(db)
    assert b"keep me" in _raw(db)  # the other run is untouched


async def test_deleted_runs_leave_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    store = await _reopened(db)
    assert await store.delete_runs("default", older_than=2e9) == 1
    assert SECRET[:12].encode() not in _raw(db)
    await store.close()
