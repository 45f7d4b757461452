"""The lease conformance suite on the built-in backends, plus what only SQLite promises."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from podium.store import MemoryStore, SQLiteStore, Store
from podium.testing.conformance import StoreFactory
from podium.testing.lease_conformance import LeaseConformance


class TestMemoryLeases(LeaseConformance):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        async def make(*, max_event_bytes: int) -> Store:
            return MemoryStore(max_event_bytes=max_event_bytes)

        return make


class TestSQLiteLeases(LeaseConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        names = itertools.count()

        async def make(*, max_event_bytes: int) -> Store:
            return SQLiteStore(
                tmp_path / f"store-{next(names)}.db", max_event_bytes=max_event_bytes
            )

        return make

    async def reconnect(self, store: Store) -> Store:
        assert isinstance(store, SQLiteStore)
        return SQLiteStore(store.path)
