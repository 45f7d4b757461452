"""Stores: the journal contract and its backends."""

from podium.store.base import RunFilter, RunRecord, Store, StoredEvent
from podium.store.memory import MemoryStore
from podium.store.sqlite import SQLiteStore

__all__ = ["MemoryStore", "RunFilter", "RunRecord", "SQLiteStore", "Store", "StoredEvent"]
