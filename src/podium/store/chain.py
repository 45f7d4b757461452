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
Checking a chain is :func:`podium.observability.audit.verify`.
"""

from __future__ import annotations

import hashlib
import json

GENESIS = b""  # the "previous hash" of seq 1


def digest(body: str | bytes) -> bytes:
    """SHA-256 of a stored body (UTF-8), as 32 raw bytes."""
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).digest()


def link(prev: bytes, run_id: str, seq: int, ts: float, type_: str, digest_: bytes) -> bytes:
    """The hash of one row, from the hash of the row before it (32 raw bytes)."""
    # one format string: this runs for every appended event
    seq_, ts_ = str(seq), repr(float(ts))
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


__all__ = ["GENESIS", "digest", "link", "tombstone"]
