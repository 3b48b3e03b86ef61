"""The job store: ly2_* tables on SQLite or PostgreSQL, their migrations, and `SqlStore`, which the
actors write runs through and the CLI, API and UI read them from.

Names are loaded on first use, so a reader (the CLI's `runs list`) does not pay for Alembic and the
writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomaflow._exports import lazy_exports

# name -> the module that defines it
_PUBLIC = {
    "BadCursor": "nomaflow.engine.store.rows",
    "LogRow": "nomaflow.engine.store.rows",
    "RunPage": "nomaflow.engine.store.rows",
    "RunReader": "nomaflow.engine.store.reads",
    "RunRow": "nomaflow.engine.store.rows",
    "SqlStore": "nomaflow.engine.store.sql_store",
    "StepRow": "nomaflow.engine.store.rows",
    "StoreClosed": "nomaflow.engine.store.writer",
    "StoreUnusable": "nomaflow.engine.store.database",
    "WriterStats": "nomaflow.engine.store.writer",
    "create_engine": "nomaflow.engine.store.database",
    "current_revision": "nomaflow.engine.store.migrate",
    "head_revision": "nomaflow.engine.store.migrate",
    "normalise_url": "nomaflow.engine.store.database",
    "open_store": "nomaflow.engine.store.opening",
    "upgrade": "nomaflow.engine.store.migrate",
}

if TYPE_CHECKING:
    from nomaflow.engine.store.database import StoreUnusable, create_engine, normalise_url
    from nomaflow.engine.store.migrate import current_revision, head_revision, upgrade
    from nomaflow.engine.store.opening import open_store
    from nomaflow.engine.store.reads import RunReader
    from nomaflow.engine.store.rows import BadCursor, LogRow, RunPage, RunRow, StepRow
    from nomaflow.engine.store.sql_store import SqlStore
    from nomaflow.engine.store.writer import StoreClosed, WriterStats


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = [
    "BadCursor",
    "LogRow",
    "RunPage",
    "RunReader",
    "RunRow",
    "SqlStore",
    "StepRow",
    "StoreClosed",
    "StoreUnusable",
    "WriterStats",
    "create_engine",
    "current_revision",
    "head_revision",
    "normalise_url",
    "open_store",
    "upgrade",
]
