"""The one-by-one path: one write at a time through SQLAlchemy, inside a SAVEPOINT the writer opens.

Taken only after a batch failed as a whole (a compare-and-set miss, a run the one-running-run index
turned away, a constraint): here each write learns its own outcome. An admission that is turned away
becomes a `skipped` run with the reason, a compare-and-set miss becomes the caller's StaleState, and
a genuine database error reaches its own caller only.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from nomaflow.actors.ports import RunRecord, StaleState
from nomaflow.engine.store.compare_and_set import compare_and_set
from nomaflow.engine.store.faults import unstorable_value
from nomaflow.engine.store.interrupted import end_running_run
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs
from nomaflow.engine.store.writer import Refused
from nomaflow.engine.store.writes import (
    Admit,
    AppendLogs,
    Apply,
    EndRun,
    InsertSkipped,
    Row,
    Write,
    admission_row,
    admitted_logs,
    change_row,
    escaped,
    run_row,
    step_rows,
)
from nomaflow.states import RunState, RunTrigger

ALREADY_RUNNING = "job is already running in another engine process"

_INSERT_LOGS = insert(job_logs)
_INSERT_STEPS = insert(step_runs)


class OneByOne:
    """Executes one write in the caller's transaction, for one database dialect."""

    def __init__(self, dialect: str) -> None:
        insert_if_free: Insert
        if dialect == "postgresql":
            insert_if_free = postgresql.insert(job_runs).on_conflict_do_nothing()
        elif dialect == "sqlite":
            insert_if_free = sqlite.insert(job_runs).on_conflict_do_nothing()
        else:
            raise ValueError(f"the job store does not support {dialect!r} databases")
        # ON CONFLICT DO NOTHING without a conflict target: besides the one-running-run index, a taken
        # cron fire (job, scheduled_for) or a known id must not raise; rowcount says whether it went in.
        self._insert_if_free = insert_if_free

    async def __call__(self, connection: AsyncConnection, write: Write, maybe_committed: bool) -> Any:
        """Execute `write`; return its result, or Refused for what its caller alone should hear.

        `maybe_committed`: the group this write was in may have been committed by a statement whose
        outcome was lost with its connection. A write found already written is not written again,
        and gets the result the common path would have given it."""
        if maybe_committed and await _already_written(connection, write):
            return True if isinstance(write, Admit) else None
        logs: list[Row] = []
        result: Any = None
        if isinstance(write, Admit):
            result = await self._admit(connection, write, logs)
        elif isinstance(write, InsertSkipped):
            result = await self._insert_skipped(connection, run_row(write.run, RunState.SKIPPED))
            if result is None:
                logs.append(
                    admission_row(write.run, write.seq, RunTrigger.SKIP, RunState.SKIPPED, write.run.error)
                )
        elif isinstance(write, Apply):
            try:
                await compare_and_set(connection, write.changes)
            except StaleState as exc:
                # Nothing of this caller was written: it can be left out of the group.
                return Refused(exc)
            logs.extend(map(change_row, write.changes))
        elif isinstance(write, AppendLogs):
            logs.extend(write.rows)
        elif isinstance(write, EndRun):
            ended = await end_running_run(
                connection, write.run_id, error=write.error, at=write.at, first_seq=write.first_seq
            )
            return ended is not None
        if logs:
            await connection.execute(_INSERT_LOGS, logs)
        return result

    @staticmethod
    def escape(write: Write, error: BaseException) -> Write | None:
        """If `error` says `write` holds text the database cannot store, the write with that text
        escaped (see actors.jsonable): the writer tries it once more. Else None."""
        return escaped(write) if unstorable_value(error) else None

    async def _admit(self, connection: AsyncConnection, write: Admit, logs: list[Row]) -> Any:
        run = write.run
        if (await connection.execute(self._insert_if_free, run_row(run, RunState.RUNNING))).rowcount == 1:
            if write.steps:
                await connection.execute(_INSERT_STEPS, step_rows(write))
            logs.extend(admitted_logs(write))
            return True
        reason = await _why_not_admitted(connection, run)
        row = run_row(run, RunState.SKIPPED) | {"finished_at": run.started_at, "error": reason}
        refusal = await self._insert_skipped(connection, row)
        if refusal is None:
            logs.append(admission_row(run, write.seq, RunTrigger.SKIP, RunState.SKIPPED, reason))
        return refusal or False

    async def _insert_skipped(self, connection: AsyncConnection, row: dict[str, Any]) -> Refused | None:
        attempts = [row]
        if row["scheduled_for"] is not None:
            # The fire (job, scheduled_for) belongs to another run. The skip is still recorded, as a
            # run standing for no fire, so the history shows that this engine tried.
            attempts.append({**row, "scheduled_for": None})
        for attempt in attempts:
            if (await connection.execute(self._insert_if_free, attempt)).rowcount == 1:
                return None
        return Refused(ValueError(f"run {row['id']} is already recorded in the job store"))


def _first_log(write: Write) -> Row | None:
    """The first log row the common path writes for `write`: every write has one, numbered in its
    run's sequence, which no other write of that run shares."""
    if isinstance(write, EndRun):
        return None  # looked for by its number alone (see _already_written)
    if isinstance(write, Admit):
        return admitted_logs(write)[0]
    if isinstance(write, InsertSkipped):
        return admission_row(write.run, write.seq, RunTrigger.SKIP, RunState.SKIPPED, write.run.error)
    if isinstance(write, Apply):
        return change_row(write.changes[0]) if write.changes else None
    return write.rows[0] if write.rows else None


async def _already_written(connection: AsyncConnection, write: Write) -> bool:
    """Whether the common path's statement for `write` was committed: its first log row is there, with
    the same text and instant (so a run id given twice, for an idempotent trigger, is not mistaken for
    this write). The common path writes a group in one statement, so one row answers for the whole write."""
    if isinstance(write, EndRun):
        # Its rows depend on what it read: the number its caller reserved for its first row says.
        taken = select(job_logs.c.id).where(
            job_logs.c.run_id == write.run_id, job_logs.c.seq == write.first_seq
        )
        return (await connection.execute(taken)).first() is not None
    first = _first_log(write)
    if first is None:
        return False
    query = select(job_logs.c.message, job_logs.c.ts).where(
        job_logs.c.run_id == first["run_id"], job_logs.c.seq == first["seq"]
    )
    found = (await connection.execute(query)).first()
    return found is not None and found.message == first["message"] and found.ts == first["ts"]


async def _why_not_admitted(connection: AsyncConnection, run: RunRecord) -> str:
    """Which rule turned the run away: another running run (the usual case) or its cron fire having
    been taken by another engine process."""
    blocking = job_runs.c.status == RunState.RUNNING.value
    if run.scheduled_for is not None:
        blocking = blocking | (job_runs.c.scheduled_for == run.scheduled_for)
    query = select(job_runs.c.id, job_runs.c.status).where(job_runs.c.job_name == run.job_name, blocking)
    rows = (await connection.execute(query)).all()
    if any(row.status == RunState.RUNNING for row in rows) or not rows or run.scheduled_for is None:
        # Nothing found: the running run ended between our insert and this look; it was running then.
        return ALREADY_RUNNING
    fire = run.scheduled_for.astimezone(UTC).isoformat()
    return f"the fire at {fire} was already run by another engine process (run {rows[0].id})"
