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
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import msgspec

from nomaflow.actors.errors import PermanentStepFailure
from nomaflow.actors.ports import StepContext
from nomaflow.engine.steps.base import StepType
from nomaflow.states import FINISHED, RunState

if TYPE_CHECKING:  # loading app.toml declares this job: it must not load the store (SQLAlchemy)
    from nomaflow.engine.store.cleanup import Removed
    from nomaflow.engine.store.sql_store import SqlStore

CLEANUP_JOB = "nomaflow-cleanup"
CLEANUP_APP = "nomaflow"
CLEANUP_SCHEDULE = "0 3 * * *"

# The shortest rest between two batches, even when a batch was instant.
MIN_PAUSE_SECONDS = 0.005

_FAILED = (RunState.FAILED.value,)
_FINISHED_NOT_FAILED = tuple(state.value for state in FINISHED if state.value not in _FAILED)


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

    def add(self, removed: Removed) -> None:
        self.runs += removed.runs
        self.steps += removed.steps
        self.logs += removed.logs


class RetentionStep(StepType[RetentionOptions]):
    name = "retention"
    options = RetentionOptions

    async def run(self, ctx: StepContext, options: RetentionOptions) -> Any:
        store: SqlStore | None = self.env.resources.get("job_store")
        if store is None:
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
                totals.add(await store.count_old_runs(statuses, before))
            else:
                await _delete(store, statuses, before, options.batch_size, totals)
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


async def _delete(
    store: SqlStore, statuses: tuple[str, ...], before: datetime, batch_size: int, totals: _Totals
) -> None:
    while True:
        began = anyio.current_time()
        removed = await store.delete_old_runs(statuses, before, batch_size)
        if not any(removed):  # nothing left to delete
            return
        totals.add(removed)
        took = anyio.current_time() - began
        totals.batches += 1
        totals.longest_batch = max(totals.longest_batch, took)
        # Rest as long as the batch took: other writers (cron admissions, log lines) get their turn.
        await anyio.sleep(max(MIN_PAUSE_SECONDS, took))
