"""Opening the job store's database: URL normalisation and the per-connection setup SQLite needs.

SQLite is tuned for several processes sharing one file: WAL, a generous busy timeout, and writes that
take the write lock up front (BEGIN IMMEDIATE) so a second writer waits instead of failing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url

from nomaflow.engine.resources.drivers import missing_driver
from nomaflow.engine.store.sqlite_file import SQLITE_BUSY_TIMEOUT_MS

# Imported where used: the CLI reads SQLite without SQLAlchemy's asyncio layer (which loads its ORM).
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# Execution option naming how a SQLite transaction begins. Writers use IMMEDIATE (the default here):
# taking the write lock at BEGIN means a waiting writer is queued by busy_timeout, whereas a DEFERRED
# transaction that reads and then writes can fail at once with "database is locked" on the upgrade.
# Read-only work asks for DEFERRED so it never queues behind writers (WAL lets it read concurrently).
SQLITE_BEGIN_OPTION = "nomaflow_sqlite_begin"

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
}


class StoreUnusable(Exception):
    """The job store cannot be used: the message says which, why, and what to do."""


def normalise_url(url: str | URL) -> URL:
    """The async form of a store URL: `sqlite:///f` -> `sqlite+aiosqlite:///f`, `postgresql://` ->
    `postgresql+asyncpg://`. Raises ValueError for anything the store cannot run on."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in _SQLITE_DRIVERS:
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            # One in-memory database is one connection: the writer and readers would share a
            # transaction. A file (even in a temporary folder) keeps them apart.
            raise ValueError(f"the job store needs a SQLite file, not an in-memory database: {url!s}")
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"unsupported job store URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _json_dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An async engine for the job store at `url`; `options` go to SQLAlchemy's create_async_engine."""
    from sqlalchemy.ext.asyncio import create_async_engine

    target = normalise_url(url)
    options.setdefault("json_serializer", _json_dumps)
    options.setdefault("json_deserializer", msgspec.json.decode)
    if target.drivername == "postgresql+asyncpg":
        shown = target.render_as_string(hide_password=True)
        if (problem := missing_driver("asyncpg", f"the job store at {shown}")) is not None:
            # Said now, in the words of the install, instead of SQLAlchemy's ModuleNotFoundError.
            raise StoreUnusable(problem)
        options.setdefault("pool_pre_ping", True)
        return create_async_engine(target, **options)
    engine = create_async_engine(target, **options)
    _tune_sqlite(engine)
    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a setting kept in the file, so usually already done).

    The switch needs an exclusive lock and SQLite does not always wait for it through busy_timeout:
    two engines creating the file at once can see "database is locked". Retry it for a few seconds.
    This runs in the driver's connection thread, so the short waits block no event loop."""
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the "begin" hook below): the driver's own would
        # begin too late (DEFERRED, only before DML) and not around DDL or SAVEPOINTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL itself may wait for another process.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            # NORMAL is durable across application crashes in WAL mode; only an OS crash or power
            # loss can lose the last commits, never corrupt the file.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def for_reading(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool), beginning its transactions as readers: on SQLite they neither take
    nor wait for the write lock. No effect on PostgreSQL."""
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
