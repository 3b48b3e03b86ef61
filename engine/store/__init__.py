"""The job store: ly2_* tables on SQLite or PostgreSQL, their migrations, and `SqlStore`, which the
actors write runs through and the CLI, API and UI read them from."""

from engine.store.database import create_engine, normalise_url
from engine.store.migrate import current_revision, head_revision, upgrade
from engine.store.reads import RunReader
from engine.store.rows import BadCursor, LogRow, RunPage, RunRow, StepRow
from engine.store.runs import SqlStore
from engine.store.writer import StoreClosed, WriterStats

__all__ = [
    "BadCursor",
    "LogRow",
    "RunPage",
    "RunReader",
    "RunRow",
    "SqlStore",
    "StepRow",
    "StoreClosed",
    "WriterStats",
    "create_engine",
    "current_revision",
    "head_revision",
    "normalise_url",
    "upgrade",
]
