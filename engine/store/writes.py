"""The store's writes and the group executor that carries out a whole group of them set-wise.

A group costs a fixed handful of statements however many callers are in it: one multi-row INSERT for
the runs, executemany for their steps and for the log lines, and the moves set-wise (engine.store.moves).
Every state change also becomes a structured `transition` row in ly2_job_logs (machine, trigger,
source, dest), so the diagram view can replay the path a run took from its log alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, NamedTuple

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from actors.events import LogLine
from actors.ports import Change, RunRecord, StaleState, StepMoved, StepRecord
from engine.store.moves import apply_careful, apply_fast
from engine.store.tables import job_logs, job_runs, step_runs
from engine.store.writer import Refused

ALREADY_RUNNING = "job is already running in another engine process"

_INSERT_LOGS = insert(job_logs)
_INSERT_STEPS = insert(step_runs)

_Row = dict[str, Any]

# --- the writes callers hand in ---


class Admit(NamedTuple):
    run: RunRecord
    steps: Sequence[StepRecord]
    seq: int


class InsertSkipped(NamedTuple):
    run: RunRecord
    seq: int


class Apply(NamedTuple):
    changes: Sequence[Change]


class AppendLogs(NamedTuple):
    rows: list[dict[str, Any]]

    @classmethod
    def of(cls, lines: Sequence[LogLine]) -> AppendLogs:
        return cls(
            [
                {
                    "run_id": line.run_id,
                    "seq": line.seq,
                    "step_name": line.step,
                    "ts": line.at,
                    "level": line.level,
                    "message": line.message,
                    "fields": line.fields,
                }
                for line in lines
            ]
        )


Write = Admit | InsertSkipped | Apply | AppendLogs


# --- rows ---


def transition_row(
    *,
    run_id: str,
    seq: int,
    at: Any,
    step: str | None,
    trigger: str,
    source: str,
    dest: str,
    attempt: int | None,
    error: str | None,
) -> dict[str, Any]:
    """The ly2_job_logs row recording one transition of the run machine (step None) or a step's."""
    fields: dict[str, Any] = {
        "event": "transition",
        "machine": "run" if step is None else "step",
        "step": step,
        "trigger": trigger,
        "source": source,
        "dest": dest,
        "attempt": attempt,
    }
    if error is not None:
        fields["error"] = error
    subject = "run" if step is None else f"step {step!r}"
    return {
        "run_id": run_id,
        "seq": seq,
        "step_name": step,
        "ts": at,
        "level": "error" if trigger == "fail" else "info",
        "message": f"{subject}: {source} -> {dest} ({trigger})",
        "fields": fields,
    }


def _admission_row(run: RunRecord, seq: int, trigger: str, dest: str, error: str | None) -> dict[str, Any]:
    return transition_row(
        run_id=run.id,
        seq=seq,
        at=run.started_at,
        step=None,
        trigger=trigger,
        source="pending",
        dest=dest,
        attempt=None,
        error=error,
    )


def _change_row(change: Change) -> dict[str, Any]:
    step = change.step_name if isinstance(change, StepMoved) else None
    return transition_row(
        run_id=change.run_id,
        seq=change.seq,
        at=change.at,
        step=step,
        trigger=change.trigger,
        source=change.source,
        dest=change.dest,
        attempt=change.attempts if isinstance(change, StepMoved) else None,
        error=change.error,
    )


def _run_row(run: RunRecord, status: str) -> dict[str, Any]:
    running = status == "running"
    return {
        "id": run.id,
        "job_name": run.job_name,
        "app": run.app,
        "status": status,
        "triggered_by": run.triggered_by,
        "params": run.params,
        "dry_run": run.dry_run,
        "scheduled_for": run.scheduled_for,
        "started_at": run.started_at,
        "finished_at": None if running else (run.finished_at or run.started_at),
        "error": None if running else run.error,
        "owner": run.owner,
        "heartbeat_at": None,
        "resumed_from": run.resumed_from,
    }


# --- the group executor ---


class GroupExecutor:
    """Executes a group of writes in the caller's transaction, for one database dialect."""

    def __init__(self, dialect: str) -> None:
        insert_if_free: Insert
        if dialect == "postgresql":
            insert_if_free = postgresql.insert(job_runs).on_conflict_do_nothing()
        elif dialect == "sqlite":
            insert_if_free = sqlite.insert(job_runs).on_conflict_do_nothing()
        else:
            raise ValueError(f"the job store does not support {dialect!r} databases")
        # ON CONFLICT DO NOTHING without a conflict target: besides the one-running-run index, a taken
        # cron fire (job, scheduled_for) or a known id must not raise either, since an error would abort
        # the whole group's transaction on PostgreSQL. RETURNING says which rows went in.
        self._insert_if_free = insert_if_free
        self._insert_runs = insert_if_free.returning(job_runs.c.id)

    async def __call__(
        self, connection: AsyncConnection, writes: Sequence[Write], careful: bool
    ) -> list[Any]:
        """Execute `writes`, returning each one's result or Refused. `careful` (the re-run of a group
        that failed, one write at a time) makes compare-and-set misses refusals instead of errors."""
        results: list[Any] = [None] * len(writes)
        logs: list[_Row] = []
        await self._insert_runs_of(connection, writes, results, logs)
        await self._apply_moves(connection, writes, results, logs, careful)
        for write in writes:
            if isinstance(write, AppendLogs):
                logs.extend(write.rows)
        if logs:
            await connection.execute(_INSERT_LOGS, logs)
        return results

    async def _insert_runs_of(
        self,
        connection: AsyncConnection,
        writes: Sequence[Write],
        results: list[Any],
        logs: list[dict[str, Any]],
    ) -> None:
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, write in enumerate(writes):
            if isinstance(write, Admit | InsertSkipped):
                if write.run.id in seen:
                    results[index] = Refused(ValueError(f"run {write.run.id} is written twice at once"))
                    continue
                seen.add(write.run.id)
                rows.append(_run_row(write.run, "running" if isinstance(write, Admit) else "skipped"))
        if not rows:
            return
        # In one order for every engine: two engines inserting the same jobs in opposite orders could
        # otherwise deadlock on the one-running-run index.
        rows.sort(key=lambda row: (row["job_name"], row["id"]))
        inserted = set((await connection.execute(self._insert_runs, rows)).scalars())
        steps: list[dict[str, Any]] = []
        for index, write in enumerate(writes):
            if results[index] is not None:
                continue
            if isinstance(write, Admit):
                run = write.run
                if run.id in inserted:
                    steps.extend(
                        {
                            "run_id": run.id,
                            "position": step.position,
                            "step_name": step.step_name,
                            "type": step.type,
                            "status": "pending",
                            "attempts": 0,
                        }
                        for step in write.steps
                    )
                    logs.append(_admission_row(run, write.seq, "admit", "running", None))
                    results[index] = True
                    continue
                reason = await _why_not_admitted(connection, run)
                row = _run_row(run, "skipped") | {"finished_at": run.started_at, "error": reason}
                refusal = await self._insert_skipped(connection, row)
                results[index] = refusal or False
                if refusal is None:
                    logs.append(_admission_row(run, write.seq, "skip", "skipped", reason))
            elif isinstance(write, InsertSkipped):
                refusal = None
                if write.run.id not in inserted:
                    refusal = await self._insert_skipped(connection, _run_row(write.run, "skipped"))
                results[index] = refusal
                if refusal is None:
                    logs.append(_admission_row(write.run, write.seq, "skip", "skipped", write.run.error))
        if steps:
            await connection.execute(_INSERT_STEPS, steps)

    async def _insert_skipped(self, connection: AsyncConnection, row: dict[str, Any]) -> Refused | None:
        """Insert a skipped run that the group's INSERT could not take (the rare path)."""
        attempts = [row]
        if row["scheduled_for"] is not None:
            # The fire (job, scheduled_for) belongs to another run. The skip is still recorded, as a
            # run standing for no fire, so the history shows that this engine tried.
            attempts.append({**row, "scheduled_for": None})
        for attempt in attempts:
            if (await connection.execute(self._insert_if_free, attempt)).rowcount == 1:
                return None
        return Refused(ValueError(f"run {row['id']} is already recorded in the job store"))

    async def _apply_moves(
        self,
        connection: AsyncConnection,
        writes: Sequence[Write],
        results: list[Any],
        logs: list[_Row],
        careful: bool,
    ) -> None:
        applies = [(index, write) for index, write in enumerate(writes) if isinstance(write, Apply)]
        if not applies:
            return
        if careful:
            for index, write in applies:
                try:
                    await apply_careful(connection, write.changes)
                except StaleState as exc:
                    # Nothing of this caller was written: it can be left out of the group.
                    results[index] = Refused(exc)
                    continue
                logs.extend(_change_row(change) for change in write.changes)
            return
        changes = [change for _, write in applies for change in write.changes]
        await apply_fast(connection, changes)
        logs.extend(_change_row(change) for change in changes)


async def _why_not_admitted(connection: AsyncConnection, run: RunRecord) -> str:
    """Which rule turned the run away: another running run (the usual case) or its cron fire having
    been taken by another engine process."""
    blocking = job_runs.c.status == "running"
    if run.scheduled_for is not None:
        blocking = blocking | (job_runs.c.scheduled_for == run.scheduled_for)
    query = select(job_runs.c.id, job_runs.c.status).where(job_runs.c.job_name == run.job_name, blocking)
    rows = (await connection.execute(query)).all()
    if any(row.status == "running" for row in rows) or not rows or run.scheduled_for is None:
        # Nothing found: the running run ended between our insert and this look; it was running then.
        return ALREADY_RUNNING
    fire = run.scheduled_for.astimezone(UTC).isoformat()
    return f"the fire at {fire} was already run by another engine process (run {rows[0].id})"
