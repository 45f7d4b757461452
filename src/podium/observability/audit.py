"""Audit: check a run's hash chain, export a run as JSONL and import it back, retention.

:func:`verify` reads what the store holds (:meth:`~podium.store.Store.audit_trail`, rows not
decoded) and names the first sequence that is not what the chain says: a modified body (its
digest), a deleted row (a gap, or fewer rows than the index), rows moved or reordered, a row
inserted (a link that skips it), a changed time, type or index head. :func:`export_jsonl`
refuses a run that does not verify; :func:`import_jsonl` verifies the whole file before it
writes anything, and the store must compute the same chain again. See ``docs/audit.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from podium.errors import PermissionDenied, RunStateError, StoreError
from podium.events import SCHEMA_VERSION, Event, RunStarted, decode, encode
from podium.runtime.tenancy import Namespaces
from podium.store import AuditRow, AuditTrail, Erasure, RunFilter, RunRecord, Store
from podium.store.chain import digest, link, tombstone
from podium.types import RunStatus

EXPORT_FORMAT = 1
_ALL = 2**62


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyResult:
    run_id: str
    ok: bool
    events: int  # rows in chain order before the first problem (all of them when ok)
    head: str  # hex hash of the last good row
    first_bad_seq: int | None = None
    problem: str = ""
    erasure: Erasure | None = None

    def describe(self) -> str:
        """``ok: N events, head H`` or ``bad at seq N: why`` (one line)."""
        if not self.ok:
            return f"bad at seq {self.first_bad_seq}: {self.problem}"
        erased = ""
        if self.erasure is not None:
            by = f" by {self.erasure.by}" if self.erasure.by else ""
            erased = f" (erased{by}: {self.erasure.reason})"
        return f"ok: {self.events} events, head {self.head[:16]}{erased}"


class AuditFailure(StoreError):
    """A journal or an export does not verify; names the run and the first bad sequence."""

    def __init__(self, what: str, result: VerifyResult) -> None:
        super().__init__(f"{what} run {result.run_id} {result.describe()}")
        self.result = result


# -- verification ------------------------------------------------------------------------------


def verify(trail: AuditTrail) -> VerifyResult:
    """Check every row of ``trail`` against its digest, its link to the row before it, and the
    index (last sequence and head). Reports the first problem in sequence order."""
    prev, before_prev = "", None  # stored hashes of the two rows before the current one
    count = 0
    for row in trail.rows:
        found = _row_problem(trail.run_id, row, count + 1, prev, before_prev)
        if found is not None:
            return _bad(trail, count, prev, *found)
        before_prev, prev, count = prev, row.hash, count + 1
    found = _index_problem(trail, count, prev)
    if found is not None:
        return _bad(trail, count, prev, *found)
    return VerifyResult(
        run_id=trail.run_id, ok=True, events=count, head=prev, erasure=trail.erasure
    )


def _bad(trail: AuditTrail, count: int, head: str, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(
        run_id=trail.run_id, ok=False, events=count, head=head, first_bad_seq=seq,
        problem=problem, erasure=trail.erasure,
    )  # fmt: skip


def _row_problem(
    run_id: str, row: AuditRow, expected: int, prev: str, before_prev: str | None
) -> tuple[int, str] | None:
    if row.seq > expected:
        missing = f"seq {expected}" if row.seq == expected + 1 else f"seqs {expected}-{row.seq - 1}"
        return expected, f"{missing} missing (a row was deleted)"
    if row.seq < expected:
        return row.seq, f"seq {row.seq} appears twice (a row was inserted or copied)"
    if row.erased:
        if row.body != tombstone(row.type):
            return row.seq, "an erased row holds something other than its tombstone"
    elif digest(row.body).hex() != row.digest:
        return row.seq, "the body does not match its digest (the event was modified)"
    if _link(prev, run_id, row.seq, row) == row.hash:
        return None
    if row.hash == prev:
        return row.seq, f"seq {row.seq} is a copy of seq {row.seq - 1} (a row was inserted)"
    if before_prev is not None and _link(before_prev, run_id, row.seq - 1, row) == row.hash:
        return row.seq - 1, f"seq {row.seq - 1} was inserted (seq {row.seq} links past it)"
    return row.seq, (
        "the hash does not match: this row's seq, time, type or digest changed, or it does not "
        f"follow seq {row.seq - 1} (moved, reordered, or seq {row.seq - 1} was rewritten)"
    )


def _link(prev: str, run_id: str, seq: int, row: AuditRow) -> str:
    try:
        raw = link(bytes.fromhex(prev), run_id, seq, row.ts, row.type, bytes.fromhex(row.digest))
    except ValueError:  # a stored hash or digest that is not hex: matches nothing
        return "not hex"
    return raw.hex()


def _index_problem(trail: AuditTrail, count: int, head: str) -> tuple[int, str] | None:
    if count < trail.last_seq:
        return count + 1, f"seq {count + 1} missing (the index has {trail.last_seq} events)"
    if count > trail.last_seq:
        return trail.last_seq + 1, (
            f"seq {trail.last_seq + 1} is past the index's last sequence (a row was added)"
        )
    if head != trail.head:
        return count, "the index's head hash is not the last row's hash"
    return None


async def verify_run(store: Store, run_id: str) -> VerifyResult:
    return verify(await store.audit_trail(run_id))


# -- export and import -------------------------------------------------------------------------


async def export_jsonl(store: Store, run_id: str, out: TextIO) -> VerifyResult:
    """Write ``run_id`` as JSON lines: a header, then one object per event. Refuses (with
    :class:`AuditFailure`, nothing written) a run whose chain does not verify."""
    trail = await store.audit_trail(run_id)
    result = verify(trail)
    if not result.ok:
        raise AuditFailure("cannot export:", result)
    header = {
        "podium_export": EXPORT_FORMAT,
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "events": trail.last_seq,
        "head": trail.head,
        "erased": None if trail.erasure is None else asdict(trail.erasure),
    }
    out.write(_line(header))
    for row in trail.rows:
        body = row.body if isinstance(row.body, str) else row.body.decode()
        out.write(
            _line(
                {
                    "run_id": run_id, "seq": row.seq, "ts": row.ts, "type": row.type,
                    "digest": row.digest, "hash": row.hash, "event": json.loads(body),
                }
            )
        )  # fmt: skip
    return result


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


async def import_jsonl(
    store: Store,
    lines: Iterable[str],
    *,
    check_only: bool = False,
    scope: Namespaces | None = None,
) -> VerifyResult:
    """Verify an export (every digest and link, the count and the head) and, unless
    ``check_only``, create its run with the same timestamps. A file that does not verify is
    refused with :class:`AuditFailure` naming the first bad sequence, and nothing is written;
    so is a run id the store already has (``RunStateError``), and with ``scope`` a run of a
    namespace outside it (``PermissionDenied``)."""
    header, trail, events = _read_export(iter(lines))
    result = verify(trail)
    if not result.ok:
        raise AuditFailure("refused: the export of", result)
    if check_only:
        return result
    if trail.erasure is not None:
        raise RunStateError(f"run {trail.run_id} was erased: its export holds no events")
    rows: list[tuple[float, Event]] = []
    for row, event in zip(trail.rows, events, strict=True):
        if event is None:
            raise StoreError(f"run {trail.run_id}: seq {row.seq} of the export is not an event")
        rows.append((row.ts, event))
    first = rows[0][1] if rows else None
    if scope is not None and isinstance(first, RunStarted) and not scope.allows(first.namespace):
        raise PermissionDenied(
            f"run {trail.run_id} belongs to namespace {first.namespace!r}, not to "
            f"{scope.describe()}: nothing was imported"
        )
    await store.import_run(trail.run_id, rows, expect_head=str(header["head"]))
    return result


def _read_export(
    lines: Iterable[str],
) -> tuple[dict[str, Any], AuditTrail, list[Event | None]]:
    iterator = iter(lines)
    header = _object(next(iterator, ""), "the header")
    if header.get("podium_export") != EXPORT_FORMAT or header.get("schema") != SCHEMA_VERSION:
        raise StoreError(
            f"not a Podium export of format {EXPORT_FORMAT}, schema {SCHEMA_VERSION}: "
            f"header {header!r:.200}"
        )
    run_id, erasure = str(header.get("run_id")), _erasure(header.get("erased"))
    rows: list[AuditRow] = []
    events: list[Event | None] = []
    for number, raw in enumerate(iterator, 2):
        if not raw.strip():
            continue
        row, event = _row(_object(raw, f"line {number}"), run_id, erased=erasure is not None)
        rows.append(row)
        events.append(event)
    trail = AuditTrail(
        run_id=run_id, last_seq=_int(header.get("events")), head=str(header.get("head")),
        rows=tuple(rows), erasure=erasure,
    )  # fmt: skip
    return header, trail, events


def _row(line: dict[str, Any], run_id: str, *, erased: bool) -> tuple[AuditRow, Event | None]:
    try:
        seq, ts, type_ = int(line["seq"]), float(line["ts"]), str(line["type"])
        stored_digest, stored_hash, obj = str(line["digest"]), str(line["hash"]), line["event"]
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"run {run_id}: an exported row is malformed: {error!r}") from None
    if line.get("run_id") != run_id:
        raise StoreError(f"run {run_id}: seq {seq} belongs to run {line.get('run_id')!r}")
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    event: Event | None = None
    body = text
    if not erased:
        try:
            event = decode(text)
            body = encode(event)  # the canonical body: what the store hashed
        except ValueError:
            pass  # verification reports the digest mismatch at this seq
    row = AuditRow(
        seq=seq, ts=ts, type=type_, body=body, digest=stored_digest, hash=stored_hash,
        erased=erased,
    )  # fmt: skip
    return row, event


def _object(raw: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise StoreError(f"{what} of the export is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise StoreError(f"{what} of the export is not a JSON object")
    return data


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _erasure(raw: object) -> Erasure | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise StoreError(f"the export's erasure record is malformed: {raw!r}")
    try:
        return Erasure(at=float(raw["at"]), by=str(raw["by"]), reason=str(raw["reason"]))
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"the export's erasure record is malformed: {error!r}") from None


# -- retention ---------------------------------------------------------------------------------


def cutoff(days: float, *, now: float | None = None) -> float:
    """The epoch time ``days`` ago."""
    if days < 0:
        raise ValueError("days must be zero or more")
    return (time.time() if now is None else now) - days * 86400.0


async def retention_candidates(store: Store, namespace: str, older_than: float) -> list[RunRecord]:
    """The runs :meth:`~podium.store.Store.delete_runs` would delete, newest first."""
    finished = tuple(status for status in RunStatus if status.terminal)
    query = RunFilter(namespace=namespace, statuses=finished, limit=_ALL)
    return [r for r in await store.list_runs(query) if r.updated_at < older_than]


__all__ = [
    "AuditFailure",
    "VerifyResult",
    "cutoff",
    "export_jsonl",
    "import_jsonl",
    "retention_candidates",
    "verify",
    "verify_run",
]
