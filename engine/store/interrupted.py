"""What crash recovery asks of the store: heartbeats on running runs, and ending runs whose engine died.

Every engine stamps `heartbeat_at` on its running runs. A running run whose stamp is older than the
cutoff belongs to an engine that stopped (killed, crashed, lost its host): it is marked `failed` as
interrupted, with its running step, by a compare-and-set so that only one engine reports it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.engine.store.tables import job_logs, job_runs, step_runs
from nomaflow.engine.store.writes import transition_row
from nomaflow.states import STEP_TABLE, RunState, RunTrigger, StepState, StepTrigger


class InterruptedRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    job_name: str
    owner: str | None
    params: dict[str, Any]
    dry_run: bool
    interrupted_step: int | None  # position of the step that was in flight


# Run ids per heartbeat statement: well under every database's limit on bound parameters.
_IDS_PER_STATEMENT = 500


async def heartbeat(engine: AsyncEngine, owner: str, at: datetime, run_ids: Sequence[str]) -> int:
    """Stamp the runs this engine carries (`run_ids`, its runs in flight); returns how many rows.

    Only those: a running row of this engine that no actor carries any more (its end could not be
    recorded; its admission was refused with its outcome unknown) goes unstamped, so crash recovery
    ends it like the run of an engine that died."""
    stamped = 0
    ids = list(run_ids)
    if not ids:
        return 0
    async with engine.begin() as connection:
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            result = await connection.execute(
                update(job_runs)
                .where(
                    job_runs.c.id.in_(ids[start : start + _IDS_PER_STATEMENT]),
                    job_runs.c.owner == owner,
                    job_runs.c.status == RunState.RUNNING.value,
                )
                .values(heartbeat_at=at)
            )
            stamped += int(result.rowcount or 0)
    return stamped


async def fail_interrupted(
    engine: AsyncEngine, *, cutoff: datetime, at: datetime, me: str, carried: Collection[str] = ()
) -> list[InterruptedRun]:
    """Mark failed every running run whose last heartbeat (or start) is before `cutoff` and that this
    engine (`me`) does not carry (`carried`: its runs in flight): another engine's that died, or one
    of this engine's own that its actor let go of without recording its end."""
    last_sign = func.coalesce(job_runs.c.heartbeat_at, job_runs.c.started_at)
    stale = and_(job_runs.c.status == RunState.RUNNING.value, last_sign < cutoff)
    async with engine.connect() as connection:
        candidates = (await connection.execute(select(job_runs).where(stale))).mappings().all()
    found: list[InterruptedRun] = []
    for run in candidates:
        if run["owner"] == me and run["id"] in carried:
            continue  # alive here; its stamp is late only because the store was not taking writes
        seen = (run["heartbeat_at"] or run["started_at"]).isoformat()
        if run["owner"] == me:
            error = f"interrupted: this engine ({me}) lost track of the run (last sign of life {seen})"
        else:
            error = f"interrupted: engine {run['owner']} stopped heartbeating (last sign of life {seen})"
        async with engine.begin() as connection:
            seq = int(
                (
                    await connection.execute(
                        select(func.coalesce(func.max(job_logs.c.seq), 0)).where(
                            job_logs.c.run_id == run["id"]
                        )
                    )
                ).scalar_one()
            )
            ended = await end_running_run(
                connection, run["id"], error=error, at=at, first_seq=seq + 1, only_if=stale
            )
        if ended is None:
            continue  # another engine reported it first, or it ended after all
        found.append(
            InterruptedRun(
                run_id=run["id"],
                job_name=run["job_name"],
                owner=run["owner"],
                params=run["params"],
                dry_run=run["dry_run"],
                interrupted_step=None if ended == NO_STEP else ended,
            )
        )
    return found


# A step in these states is still in flight or waiting: ending its run ends it too.
_UNFINISHED = tuple(state.value for state in StepState if state not in STEP_TABLE.final)
NO_STEP = -1  # what end_running_run answers for a run that had no step in flight


async def end_running_run(
    connection: AsyncConnection,
    run_id: str,
    *,
    error: str,
    at: datetime,
    first_seq: int,
    only_if: ColumnElement[bool] | None = None,
) -> int | None:
    """Mark a running run failed with `error` in `connection`'s transaction, whatever its steps' rows
    say: a step in flight is failed (aborted if it was waiting to retry: the table has no retrying ->
    failed move), a pending one skipped. Each move is logged as a transition, numbered from
    `first_seq`. Returns the position of the step that was in flight (NO_STEP if none), or None if
    the run was not running (or `only_if` no longer held): then nothing is written."""
    condition = job_runs.c.status == RunState.RUNNING.value
    if only_if is not None:
        condition = and_(condition, only_if)
    moved = await connection.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id, condition)
        .values(status=RunState.FAILED.value, finished_at=at, error=error)
    )
    if moved.rowcount != 1:
        return None
    steps = (
        await connection.execute(
            select(step_runs.c.position, step_runs.c.step_name, step_runs.c.status, step_runs.c.attempts)
            .where(step_runs.c.run_id == run_id, step_runs.c.status.in_(_UNFINISHED))
            .order_by(step_runs.c.position)
        )
    ).all()
    logs: list[dict[str, Any]] = []
    in_flight = NO_STEP
    seq = first_seq
    for step in steps:
        interrupted = step.status in (StepState.RUNNING, StepState.RETRYING)
        dest, trigger = (
            (StepState.FAILED, StepTrigger.FAIL) if interrupted else (StepState.SKIPPED, StepTrigger.SKIP)
        )
        if step.status == StepState.RETRYING:  # the table has no retrying -> failed move
            dest, trigger = StepState.ABORTED, StepTrigger.ABORT
        if interrupted:
            in_flight = step.position
        await connection.execute(
            update(step_runs)
            .where(step_runs.c.run_id == run_id, step_runs.c.position == step.position)
            .values(status=dest.value, finished_at=at, error=error if interrupted else None)
        )
        logs.append(
            transition_row(
                run_id=run_id,
                seq=seq,
                at=at,
                step=step.step_name,
                trigger=trigger.value,
                source=step.status,
                dest=dest.value,
                attempt=step.attempts,
                error=error if interrupted else None,
            )
        )
        seq += 1
    logs.append(
        transition_row(
            run_id=run_id,
            seq=seq,
            at=at,
            step=None,
            trigger=RunTrigger.FAIL.value,
            source=RunState.RUNNING.value,
            dest=RunState.FAILED.value,
            attempt=None,
            error=error,
        )
    )
    await connection.execute(job_logs.insert(), logs)
    return in_flight
