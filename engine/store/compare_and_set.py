"""Compare-and-set moves of runs and steps on the one-by-one path, one caller at a time.

The common path moves whole groups set-wise (engine.store.batch_*) and only counts. When a count
misses, the writer re-runs the group here, one caller per savepoint: each caller's rows are read under
lock first, so a miss is refused with what the row really holds, before anything of it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Boolean, Text, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from nomaflow.actors.ports import Change, RunMoved, StaleState, StepMoved
from nomaflow.engine.store.columns import UTCDateTime, json_type
from nomaflow.engine.store.tables import job_runs, step_runs
from nomaflow.engine.store.writes import RUN_UPDATE, STEP_UPDATE, run_update, step_update

# Keys per `IN (...)` lookup: well under the bound-parameter limits of SQLite and asyncpg.
_LOOKUP_CHUNK = 2000


# One statement shape per table (COALESCE keeps a column when its parameter is NULL).
_MOVE_STEP = (
    update(step_runs)
    .where(
        step_runs.c.run_id == bindparam("b_run_id"),
        step_runs.c.position == bindparam("b_position"),
        step_runs.c.status == bindparam("b_source"),
    )
    .values(
        status=bindparam("b_dest"),
        attempts=bindparam("b_attempts"),
        started_at=func.coalesce(bindparam("b_started_at", type_=UTCDateTime()), step_runs.c.started_at),
        finished_at=func.coalesce(bindparam("b_finished_at", type_=UTCDateTime()), step_runs.c.finished_at),
        input=func.coalesce(bindparam("b_input", type_=json_type()), step_runs.c.input),
        output=func.coalesce(bindparam("b_output", type_=json_type()), step_runs.c.output),
        error=case(
            (bindparam("b_clear_error", type_=Boolean()), None),
            else_=func.coalesce(bindparam("b_error", type_=Text()), step_runs.c.error),
        ),
    )
)
_MOVE_RUN = (
    update(job_runs)
    .where(job_runs.c.id == bindparam("b_run_id"), job_runs.c.status == bindparam("b_source"))
    .values(
        status=bindparam("b_dest"),
        finished_at=func.coalesce(bindparam("b_finished_at", type_=UTCDateTime()), job_runs.c.finished_at),
        error=func.coalesce(bindparam("b_error", type_=Text()), job_runs.c.error),
    )
)


_STEP_PARAMS = tuple(f"b_{name}" for name in STEP_UPDATE)
_RUN_PARAMS = tuple(f"b_{name}" for name in RUN_UPDATE)


async def compare_and_set(connection: AsyncConnection, changes: Sequence[Change]) -> None:
    """Apply one caller's changes only if all of them find their rows in their source states, read
    under lock first; otherwise raise StaleState, naming the first that does not, having written none."""
    status = await _current_steps(connection, {_key(c) for c in changes if isinstance(c, StepMoved)})
    status.update(await _current_runs(connection, {_key(c) for c in changes if isinstance(c, RunMoved)}))
    for change in changes:
        key = _key(change)
        if status.get(key) != change.source:
            raise stale_state(change, status.get(key))
        status[key] = change.dest
    for change in changes:
        if isinstance(change, StepMoved):
            await connection.execute(_MOVE_STEP, dict(zip(_STEP_PARAMS, step_update(change), strict=True)))
        else:
            await connection.execute(_MOVE_RUN, dict(zip(_RUN_PARAMS, run_update(change), strict=True)))


# --- reading rows under lock ---

# A row a move targets: ("step", run_id, position) or ("run", run_id).
_RowKey = tuple[str, str] | tuple[str, str, int]

K = TypeVar("K")


def _key(change: Change) -> _RowKey:
    if isinstance(change, StepMoved):
        return ("step", change.run_id, change.position)
    return ("run", change.run_id)


def _chunks(items: Iterable[K], size: int) -> Iterator[list[K]]:
    chunk: list[K] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stale_state(change: Change, current: str | None) -> StaleState:
    if isinstance(change, StepMoved):
        found = "there is no such step" if current is None else f"it is {current!r}"
        return StaleState(
            f"step {change.step_name!r} (position {change.position}) of run {change.run_id}: cannot "
            f"{change.trigger} ({change.source} -> {change.dest}), {found}"
        )
    found = "there is no such run" if current is None else f"it is {current!r}"
    return StaleState(
        f"run {change.run_id}: cannot {change.trigger} ({change.source} -> {change.dest}), {found}"
    )


async def _current_steps(connection: AsyncConnection, keys: set[_RowKey]) -> dict[_RowKey, str]:
    found: dict[_RowKey, str] = {}
    for chunk in _chunks(sorted(keys), _LOOKUP_CHUNK):
        # Two plain INs, not a row-value IN: PostgreSQL plans `(run_id, position) IN (...)` as a scan
        # of every row at that position. These select a superset (the cross product), dropped below.
        query = (
            select(step_runs.c.run_id, step_runs.c.position, step_runs.c.status)
            .where(
                step_runs.c.run_id.in_({key[1] for key in chunk}),
                step_runs.c.position.in_({key[2] for key in chunk if len(key) == 3}),
            )
            # Locked in key order, so two engines touching the same rows cannot deadlock each other.
            .order_by(step_runs.c.run_id, step_runs.c.position)
            .with_for_update()
        )
        for run_id, position, status in await connection.execute(query):
            found[("step", run_id, position)] = status
    return {key: status for key, status in found.items() if key in keys}


async def _current_runs(connection: AsyncConnection, keys: set[_RowKey]) -> dict[_RowKey, str]:
    found: dict[_RowKey, str] = {}
    for chunk in _chunks(sorted(keys), _LOOKUP_CHUNK):
        query = (
            select(job_runs.c.id, job_runs.c.status)
            .where(job_runs.c.id.in_([key[1] for key in chunk]))
            .order_by(job_runs.c.id)
            .with_for_update()
        )
        for run_id, status in await connection.execute(query):
            found[("run", run_id)] = status
    return found
