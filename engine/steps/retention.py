"""The `retention` step: delete old finished runs with their steps and logs, in small batches, and the
built-in job `nomaflow-cleanup` that runs it every night at 03:00 ([jobs] timezone).

A run's age counts from when it started. Finished runs (succeeded, aborted, skipped) older than
`history_days` go, failed ones older than `keep_failed_days` (default: `history_days`); 0 keeps that
kind forever. A running run is never touched, whatever its age. Each batch is one transaction (select a
batch of ids, delete their logs, steps, then the runs), and the step rests between batches as long as
the batch took, so on SQLite, where writers take turns on one file, cron admissions and log writes get
the database at least half of the time (docs/operations.md#retention).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio
import msgspec
from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.steps.base import StepType
from nomaflow.engine.store.database import for_reading
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs

CLEANUP_JOB = "nomaflow-cleanup"
CLEANUP_APP = "nomaflow"
CLEANUP_SCHEDULE = "0 3 * * *"

# The shortest rest between two batches, even when a batch was instant.
MIN_PAUSE_SECONDS = 0.005

_FINISHED_NOT_FAILED = ("succeeded", "aborted", "skipped")
_FAILED = ("failed",)


class RetentionOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    history_days: Annotated[int, msgspec.Meta(ge=0)]
    keep_failed_days: Annotated[int, msgspec.Meta(ge=0)] | None = None
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500


def cleanup_job(
    *, history_days: int, keep_failed_days: int | None, batch_size: int, timezone: str
) -> dict[str, Any]:
    """The built-in cleanup job as a `[[jobs]]` table, validated like any other job. It is declared
    even when it has nothing to delete (then disabled), so the job list says what retention does."""
    step: dict[str, Any] = {
        "name": "delete-old-runs",
        "type": "retention",
        "history_days": history_days,
        "batch_size": batch_size,
    }
    if keep_failed_days is not None:
        step["keep_failed_days"] = keep_failed_days
    failed_days = history_days if keep_failed_days is None else keep_failed_days
    return {
        "name": CLEANUP_JOB,
        "app": CLEANUP_APP,
        "description": "Built in: deletes old runs with their steps and logs ([jobs] history_days).",
        "schedule": CLEANUP_SCHEDULE,
        "timezone": timezone,
        "enabled": history_days > 0 or failed_days > 0,
        "steps": [step],
    }


class _Totals:
    def __init__(self) -> None:
        self.runs = 0
        self.steps = 0
        self.logs = 0
        self.batches = 0
        self.longest_batch = 0.0  # seconds: how long other writers may have waited on SQLite


class RetentionStep(StepType[RetentionOptions]):
    name = "retention"
    options = RetentionOptions

    async def run(self, ctx: StepContext, options: RetentionOptions) -> Any:
        database: AsyncEngine | None = self.env.resources.get("store_engine")
        if database is None:
            raise PermanentStepFailure("the retention step needs the engine's job store (not running)")
        now = ctx.now()
        failed_days = options.history_days if options.keep_failed_days is None else options.keep_failed_days
        cutoff = now - timedelta(days=options.history_days) if options.history_days else None
        failed_cutoff = now - timedelta(days=failed_days) if failed_days else None
        totals = _Totals()
        for statuses, before in ((_FINISHED_NOT_FAILED, cutoff), (_FAILED, failed_cutoff)):
            if before is None:
                continue
            if ctx.dry_run:
                await _count(database, statuses, before, totals)
            else:
                await _delete(database, statuses, before, options.batch_size, totals)
        verb = "would delete" if ctx.dry_run else "deleted"
        ctx.log.info(
            f"{verb} {totals.runs} runs, {totals.steps} steps and {totals.logs} log lines"
            + ("" if ctx.dry_run else f" in {totals.batches} batches"),
            cutoff=cutoff.isoformat() if cutoff else None,
            failed_cutoff=failed_cutoff.isoformat() if failed_cutoff else None,
        )
        return {
            "deleted_runs": totals.runs,
            "deleted_steps": totals.steps,
            "deleted_logs": totals.logs,
            "batches": totals.batches,
            "longest_batch_seconds": round(totals.longest_batch, 3),
            "cutoff": cutoff.isoformat() if cutoff else None,
            "failed_cutoff": failed_cutoff.isoformat() if failed_cutoff else None,
            "dry_run": ctx.dry_run,
        }


def _old_runs(statuses: tuple[str, ...], before: datetime) -> Select[str]:
    return select(job_runs.c.id).where(job_runs.c.status.in_(statuses), job_runs.c.started_at < before)


async def _delete(
    database: AsyncEngine, statuses: tuple[str, ...], before: datetime, batch_size: int, totals: _Totals
) -> None:
    while True:
        began = anyio.current_time()
        async with database.begin() as connection:
            ids = list((await connection.execute(_old_runs(statuses, before).limit(batch_size))).scalars())
            if not ids:
                return
            await _delete_batch(connection, ids, totals)
        took = anyio.current_time() - began
        totals.batches += 1
        totals.longest_batch = max(totals.longest_batch, took)
        # Rest as long as the batch took: other writers (cron admissions, log lines) get their turn.
        await anyio.sleep(max(MIN_PAUSE_SECONDS, took))


async def _delete_batch(connection: AsyncConnection, ids: list[str], totals: _Totals) -> None:
    totals.logs += (await connection.execute(delete(job_logs).where(job_logs.c.run_id.in_(ids)))).rowcount
    totals.steps += (await connection.execute(delete(step_runs).where(step_runs.c.run_id.in_(ids)))).rowcount
    # The status test again, in the same transaction: a running run is never deleted.
    deleted = await connection.execute(
        delete(job_runs).where(job_runs.c.id.in_(ids), job_runs.c.status != "running")
    )
    totals.runs += deleted.rowcount


async def _count(database: AsyncEngine, statuses: tuple[str, ...], before: datetime, totals: _Totals) -> None:
    old = _old_runs(statuses, before)
    async with for_reading(database).connect() as connection:
        runs = select(func.count()).select_from(old.subquery())
        totals.runs += (await connection.execute(runs)).scalar_one()
        steps = select(func.count()).select_from(step_runs).where(step_runs.c.run_id.in_(old))
        totals.steps += (await connection.execute(steps)).scalar_one()
        logs = select(func.count()).select_from(job_logs).where(job_logs.c.run_id.in_(old))
        totals.logs += (await connection.execute(logs)).scalar_one()
