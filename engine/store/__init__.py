"""The job store: ly2_* tables on SQLite or PostgreSQL, their migrations, and `SqlStore`, which the
actors write runs through and the CLI, API and UI read them from."""

from nomaflow.engine.store.database import create_engine, normalise_url
from nomaflow.engine.store.migrate import current_revision, head_revision, upgrade
from nomaflow.engine.store.opening import StoreUnusable, open_store
from nomaflow.engine.store.reads import RunReader
from nomaflow.engine.store.rows import BadCursor, LogRow, RunPage, RunRow, StepRow
from nomaflow.engine.store.sql_store import SqlStore
from nomaflow.engine.store.writer import StoreClosed, WriterStats

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
