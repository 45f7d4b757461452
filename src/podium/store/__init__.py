"""Stores: the journal contract and its backends."""

from podium.store.base import (
    AuditRow,
    AuditTrail,
    Erasure,
    Lease,
    RunErasedError,
    RunFilter,
    RunRecord,
    Store,
    StoredEvent,
)
from podium.store.holds import SpendCheck, SpendHold
from podium.store.memory import MemoryStore
from podium.store.sqlite import SQLiteStore

__all__ = [
    "AuditRow",
    "AuditTrail",
    "Erasure",
    "Lease",
    "MemoryStore",
    "RunErasedError",
    "RunFilter",
    "RunRecord",
    "SQLiteStore",
    "SpendCheck",
    "SpendHold",
    "Store",
    "StoredEvent",
]
