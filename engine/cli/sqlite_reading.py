"""The CLI's read commands on a SQLite job store: the store's own queries (RunReader's), run through
SQLAlchemy's plain sync engine and the stdlib sqlite3 driver instead of its asyncio layer and aiosqlite.

That layer imports SQLAlchemy's ORM, a tenth of a second or more of a command that reads a few rows
(issue 15). A command is one task that reads and exits, so a blocking read costs it nothing. Like the
engine's readers, these never take SQLite's write lock, and wait up to the same busy timeout.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import CompoundSelect, Engine, Select, create_engine, event

from nomaflow.engine.store.database import SQLITE_BUSY_TIMEOUT_MS, normalise_url
from nomaflow.engine.store.reads import RunReader


def sqlite_engine(url: str) -> Engine:
    """A sync engine on the store's SQLite file at `url` (either driver's spelling)."""
    engine = create_engine(
        normalise_url(url).set(drivername="sqlite+pysqlite"),
        json_serializer=lambda value: msgspec.json.encode(value).decode(),
        json_deserializer=msgspec.json.decode,
    )

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


class SqliteReader(RunReader):
    """RunReader's queries, each on a connection of a sync engine (SELECTs only: no write lock)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _all(self, query: Select[Any] | CompoundSelect[Any]) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]
