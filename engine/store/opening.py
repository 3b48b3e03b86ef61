"""Opening the job store at start-up: migrate it and make sure it takes writes, or say in one paragraph
why it cannot and what to do.

An engine that starts on a store it cannot write to would only be degraded from its first moment, so a
read-only SQLite file (or folder), or a store that cannot be reached, fails start-up with StoreUnusable
instead, and `nomaflow serve` exits with its message (engine/cli/preflight.py).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from sqlalchemy import column, table, update
from sqlalchemy.ext.asyncio import AsyncEngine

from nomaflow.engine.store.database import StoreUnusable
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.migrate import VERSION_TABLE, upgrade

__all__ = ["PROBE", "StoreUnusable", "open_store"]

_VERSION = table(VERSION_TABLE, column("version_num"))
# A write that changes nothing: the schema version, set to itself.
PROBE = update(_VERSION).values(version_num=_VERSION.c.version_num)


async def open_store(database: AsyncEngine) -> None:
    """Bring the store's schema up to date and check that it takes a write; raise StoreUnusable if it
    cannot be reached, read or written."""
    try:
        await upgrade(database)
        async with database.begin() as connection:
            await connection.execute(PROBE)
    except Exception as exc:
        reason = transient_reason(exc)
        if reason is None:
            raise
        raise StoreUnusable(_explain(database, reason)) from exc


def _explain(database: AsyncEngine, reason: str) -> str:
    if database.dialect.name == "sqlite" and database.url.database:
        path = Path(database.url.database).resolve()
        try:
            user = f"{getpass.getuser()}, uid {os.geteuid()}"
        except (KeyError, OSError):  # no name for this uid
            user = f"uid {os.geteuid()}"
        return (
            f"the job store {path} cannot be written ({reason}): the file, or the folder holding it "
            f"(where SQLite also writes {path.name}-wal and {path.name}-shm), is read-only for this "
            f"process ({user}), or on a read-only or full file system. Make both writable for that user, "
            "or point [connectors.default] url in app.toml (or NOMAFLOW_DATABASE_URL) at a writable place."
        )
    where = database.url.render_as_string(hide_password=True)
    return (
        f"the job store at {where} cannot be used ({reason}): check that the database server is running "
        "and reachable from here and that this user may write to it, or point [connectors.default] url in "
        "app.toml (or NOMAFLOW_DATABASE_URL) at one that is."
    )
