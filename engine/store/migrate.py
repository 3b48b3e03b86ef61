"""Bringing a database's job store schema up to date with Alembic, driven from code (no alembic.ini).

Used at engine start and by `nomaflow db upgrade`; safe to run from several processes at once. A store
already at the newest revision (every start but the first after an upgrade) is told by one SELECT,
without importing Alembic: a fifth of a second of `nomaflow job run` (issue 15).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from nomaflow.engine.store.database import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions/: a new migration changes it (test_store_migrations.py
# checks it against Alembic's own head).
HEAD = "0003"

# Not Alembic's default `alembic_version`: the host application may keep its own Alembic history in
# the same database, and the two must not overwrite each other's revision.
VERSION_TABLE = "ly2_alembic_version"
TABLE_PREFIX = "ly2_"

# PostgreSQL advisory lock held for the length of the migration transaction, so concurrent engine
# starts migrate one after the other ("nomamigr" in ASCII). SQLite needs none: the migration
# transaction begins IMMEDIATE, which already queues other writers.
_MIGRATION_LOCK_KEY = 0x6E6F6D616D696772


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Only the job store's tables are ours to compare or change; the host app's are left alone."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX) and name != VERSION_TABLE
    return True


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the job store's migrations, bound to `connection` if one is given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def upgrade(target: AsyncEngine | str | URL, revision: str = "head") -> None:
    """Migrate the job store at `target` (an engine, or a URL for a one-off engine) to `revision`.

    One transaction; a database already at `revision` is left untouched.
    """
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        if revision == "head" and await _recorded_revision(engine) == HEAD:
            return
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)
    finally:
        if engine is not target:
            await engine.dispose()


async def current_revision(target: AsyncEngine | str | URL) -> str | None:
    """The revision the job store at `target` is at; None for a database never migrated."""
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        if engine is not target:
            await engine.dispose()


async def _recorded_revision(engine: AsyncEngine) -> str | None:
    """The revision the store records, read plainly; None if it records none (or not just one)."""
    try:
        async with engine.connect() as connection:
            found = (
                (await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalars().all()
            )
    except DBAPIError:  # no version table yet: a new store, for Alembic to make
        return None
    return found[0] if len(found) == 1 else None


def head_revision() -> str | None:
    """The newest revision this version of Nomaflow ships, as Alembic reads the migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
