"""Before `nomaflow serve` starts: can the job store be opened, migrated and written? A store that
cannot (a read-only SQLite file or folder, a PostgreSQL standby, a wrong URL) is one clear message and
exit code 1, instead of a traceback out of the server's start-up or a server that fails its first run."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from nomaflow.engine.store import create_engine, upgrade
from nomaflow.engine.store.tables import jobs_lock


async def store_problem(url: str) -> str | None:
    """What stops the engine from writing to the job store at `url`, or None."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            # A write that changes nothing: the database still refuses it when it cannot write
            # (SQLite takes its write lock for it, PostgreSQL checks a read-only transaction).
            await connection.execute(sa.update(jobs_lock).where(sa.false()).values(holder=jobs_lock.c.holder))
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        shown = make_url(url).render_as_string(hide_password=True)
        return f"cannot use the job store {shown}: {reason}"
    finally:
        await engine.dispose()
    return None
