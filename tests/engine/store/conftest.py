"""The store tests' `store`: a running SqlStore on the test's database, or the fake store when a contract
test module (see contract.py) asks for "memory"."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nomaflow.engine.store import SqlStore, create_engine
from tests.fakes import MemoryStore


@pytest.fixture
async def store(database_kind: str, database_url: str) -> AsyncIterator[SqlStore | MemoryStore]:
    if database_kind == "memory":
        yield MemoryStore()  # `database_url` is then an unused SQLite file, which costs a few ms
        return
    engine = create_engine(database_url)
    try:
        async with SqlStore(engine) as running:
            yield running
    finally:
        await engine.dispose()
