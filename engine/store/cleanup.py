"""Deleting old finished runs with their steps and logs (the `retention` step's SQL), one batch per
transaction, and counting what a dry run would delete.

A running run is never deleted: each batch tests the status again in its own transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import Select, delete, func, select

from nomaflow.engine.store.database import for_reading
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs
from nomaflow.states import RunState

if TYPE_CHECKING:  # loading app.toml reaches this module (the cleanup job): no asyncio layer for that
    from sqlalchemy.ext.asyncio import AsyncEngine


class Removed(NamedTuple):
    """How many runs, steps and log lines a batch deleted (or a dry run would delete)."""

    runs: int = 0
    steps: int = 0
    logs: int = 0


def _old_runs(statuses: Collection[str], before: datetime) -> Select[tuple[str]]:
    return select(job_runs.c.id).where(job_runs.c.status.in_(statuses), job_runs.c.started_at < before)


async def delete_old_runs(
    database: AsyncEngine, statuses: Collection[str], before: datetime, limit: int
) -> Removed:
    """Delete up to `limit` runs in `statuses` started before `before`, with their steps and logs, in
    one transaction. Removed() when there were none left."""
    async with database.begin() as connection:
        ids = list((await connection.execute(_old_runs(statuses, before).limit(limit))).scalars())
        if not ids:
            return Removed()
        logs = (await connection.execute(delete(job_logs).where(job_logs.c.run_id.in_(ids)))).rowcount
        steps = (await connection.execute(delete(step_runs).where(step_runs.c.run_id.in_(ids)))).rowcount
        # The status test again, in the same transaction: a running run is never deleted.
        runs = await connection.execute(
            delete(job_runs).where(job_runs.c.id.in_(ids), job_runs.c.status != RunState.RUNNING.value)
        )
        return Removed(runs=runs.rowcount, steps=steps, logs=logs)


async def count_old_runs(database: AsyncEngine, statuses: Collection[str], before: datetime) -> Removed:
    """What `delete_old_runs` would delete, all batches together."""
    old = _old_runs(statuses, before)
    async with for_reading(database).connect() as connection:
        runs = select(func.count()).select_from(old.subquery())
        steps = select(func.count()).select_from(step_runs).where(step_runs.c.run_id.in_(old))
        logs = select(func.count()).select_from(job_logs).where(job_logs.c.run_id.in_(old))
        return Removed(
            runs=(await connection.execute(runs)).scalar_one(),
            steps=(await connection.execute(steps)).scalar_one(),
            logs=(await connection.execute(logs)).scalar_one(),
        )
