"""Operator-set job state (paused or not, by whom, when, why), kept in ly2_job_state.

These writes are rare and small, so they go straight to the database rather than through the run
writer's group commit; on SQLite they queue on the file's write lock like any other writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from sqlalchemy.dialects import postgresql, sqlite

from nomaflow.engine.store.rows import JobState
from nomaflow.engine.store.tables import job_state

if TYPE_CHECKING:  # the CLI's reading commands load this module without SQLAlchemy's asyncio layer
    from sqlalchemy.ext.asyncio import AsyncEngine


async def save_job_state(engine: AsyncEngine, state: JobState) -> None:
    """Insert or replace the job's state row."""
    values = msgspec.structs.asdict(state)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(job_state).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[job_state.c.job_name],
        set_={key: statement.excluded[key] for key in values if key != "job_name"},
    )
    async with engine.begin() as connection:
        await connection.execute(statement)
