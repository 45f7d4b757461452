"""The audit chain: every journal row's hash covers the row before it.

For the event at ``seq`` of run ``run_id``, stored at time ``ts`` with body ``body``::

    digest = SHA-256(body as UTF-8)
    hash   = SHA-256(ns(hex(previous hash)) ns(run_id) ns(str(seq)) ns(repr(ts)) ns(type)
                     ns(hex(digest)))

where ``ns(x)`` is the netstring ``f"{len(x)}:{x},"`` of the UTF-8 bytes of ``x``, the
previous hash of seq 1 is empty (``hex`` of no bytes is ``""``) and ``repr(ts)`` is the shortest
decimal that reads back as the same float (Python's ``repr``). The chain runs over digests, not
bodies, so an erased body (replaced by :func:`tombstone`) keeps every link checkable.

Backends compute both in the transaction of the append, from the run's last hash (its head).
Checking a whole chain is :func:`podium.observability.audit.verify`; a backend's
``read(..., verify=True)`` checks the rows it reads with :class:`Verifier` (what an executor
replays), at the cost of two SHA-256 per row over bytes already in memory.
"""

from __future__ import annotations

import hashlib
import json

from podium.errors import TamperedJournalError

GENESIS = b""  # the "previous hash" of seq 1


def digest(body: str | bytes) -> bytes:
    """SHA-256 of a stored body (UTF-8), as 32 raw bytes."""
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).digest()


# The last time stamp written out: the rows of one append share the same ``ts`` object, so
# repr() (the costliest part of a link after the hash) runs once per append. Keyed by identity,
# so it can only ever answer the repr of that very object.
_last_ts: tuple[object, str] = (None, "")


def link(prev: bytes, run_id: str, seq: int, ts: float, type_: str, digest_: bytes) -> bytes:
    """The hash of one row, from the hash of the row before it (32 raw bytes)."""
    global _last_ts
    # one format string, no helper call: this runs for every appended event
    last = _last_ts  # one read: another thread may replace it, never half of it
    if last[0] is ts:
        ts_ = last[1]
    else:
        ts_ = repr(float(ts))
        _last_ts = (ts, ts_)
    seq_ = str(seq)
    run_len = len(run_id) if run_id.isascii() else len(run_id.encode())
    type_len = len(type_) if type_.isascii() else len(type_.encode())
    text = (
        f"{2 * len(prev)}:{prev.hex()},{run_len}:{run_id},{len(seq_)}:{seq_},{len(ts_)}:{ts_},"
        f"{type_len}:{type_},{2 * len(digest_)}:{digest_.hex()},"
    )
    return hashlib.sha256(text.encode()).digest()


def tombstone(type_: str) -> str:
    """What an erased event's body becomes: its type, and that it was erased."""
    return json.dumps({"type": type_, "erased": True}, separators=(",", ":"), ensure_ascii=False)


class Verifier:
    """Checks rows in order as a backend reads them; raises
    :class:`~podium.errors.TamperedJournalError` naming the run and the first bad seq.

    ``prev`` is the stored hash of the row before the first one checked (``GENESIS`` for
    seq 1). ``type_`` is the type of the event decoded from ``body``: the check covers what
    is replayed.
    """

    __slots__ = ("prev", "run_id")

    def __init__(self, run_id: str, prev: bytes = GENESIS) -> None:
        self.run_id = run_id
        self.prev = prev

    def row(
        self, seq: int, ts: float, type_: str, body: str | bytes, digest_: object, hash_: object
    ) -> None:
        if not isinstance(digest_, bytes) or digest(body) != digest_:
            raise TamperedJournalError(
                self.run_id, seq, "the body does not match its digest (the event was modified)"
            )
        linked = link(self.prev, self.run_id, seq, ts, type_, digest_)
        if not isinstance(hash_, bytes) or linked != hash_:
            raise TamperedJournalError(
                self.run_id, seq,
                "the hash does not match (the row's time or type changed, or it does not follow "
                f"seq {seq - 1})",
            )  # fmt: skip
        self.prev = hash_

    def end(self, head: object, last_seq: int) -> None:
        """After the last row: the index's head must be the last row's hash."""
        if head != self.prev:
            raise TamperedJournalError(
                self.run_id, last_seq, "the index's head hash is not the last row's hash"
            )


__all__ = ["GENESIS", "Verifier", "digest", "link", "tombstone"]
