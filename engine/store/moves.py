"""Compare-and-set moves of runs and steps, for a whole group of callers at once.

The fast path updates set-wise and only counts: every move applied, or the group is re-run carefully
(by the writer, one caller per savepoint), where each caller's rows are read under lock first so a
miss can be refused with what the row really holds, before anything of that caller is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Integer, String, Text, bindparam, cast, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from actors.ports import Change, RunMoved, StaleState, StepMoved
from engine.store.columns import UTCDateTime, json_type
from engine.store.tables import job_runs, step_runs
from states import RUN_TABLE, STEP_TABLE

_RUN_FINAL = frozenset(state.value for state in RUN_TABLE.final)
_STEP_FINAL = frozenset(state.value for state in STEP_TABLE.final)

# Keys per `IN (...)` lookup: well under the bound-parameter limits of SQLite and asyncpg.
_LOOKUP_CHUNK = 2000


class MovesMissed(Exception):
    """Some move of the group found its row in another state; which one is for the careful re-run."""


# --- one row per execution: SQLite's fast path (executemany) and everyone's careful path ---

# One statement shape per table (COALESCE keeps a column when its parameter is NULL), so a whole
# group's moves are one executemany of one prepared statement.
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
        error=func.coalesce(bindparam("b_error", type_=Text()), step_runs.c.error),
    )
)
_MOVE_RUN = (
    update(job_runs)
    .where(job_runs.c.id == bindparam("b_id"), job_runs.c.status == bindparam("b_source"))
    .values(
        status=bindparam("b_dest"),
        finished_at=func.coalesce(bindparam("b_finished_at", type_=UTCDateTime()), job_runs.c.finished_at),
        error=func.coalesce(bindparam("b_error", type_=Text()), job_runs.c.error),
    )
)


def _step_params(change: StepMoved) -> dict[str, Any]:
    return {
        "b_run_id": change.run_id,
        "b_position": change.position,
        "b_source": change.source,
        "b_dest": change.dest,
        "b_attempts": change.attempts,
        # The first attempt starts the step; a resumed attempt keeps the original start.
        "b_started_at": change.at if change.dest == "running" and change.source == "pending" else None,
        "b_finished_at": change.at if change.dest in _STEP_FINAL else None,
        "b_input": change.input,
        "b_output": change.output,
        "b_error": change.error,
    }


def _run_params(change: RunMoved) -> dict[str, Any]:
    return {
        "b_id": change.run_id,
        "b_source": change.source,
        "b_dest": change.dest,
        "b_finished_at": change.at if change.dest in _RUN_FINAL else None,
        "b_error": change.error,
    }


# --- set-wise on PostgreSQL: one UPDATE ... FROM unnest(arrays) per table, the same SQL for any size ---


_STEP_ARRAYS: dict[str, Any] = {
    "b_run_id": String(),
    "b_position": Integer(),
    "b_source": String(),
    "b_dest": String(),
    "b_attempts": Integer(),
    "b_started_at": UTCDateTime(),
    "b_finished_at": UTCDateTime(),
    # JSON goes as text, cast back in SQL: an ARRAY of JSON would take a list value for a dimension.
    "b_input": Text(),
    "b_output": Text(),
    "b_error": Text(),
}
_RUN_ARRAYS: dict[str, Any] = {
    "b_id": String(),
    "b_source": String(),
    "b_dest": String(),
    "b_finished_at": UTCDateTime(),
    "b_error": Text(),
}


def _arrays(columns: dict[str, Any]) -> Any:
    return (
        func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in columns.items()))
        .table_valued(*columns)
        .render_derived(name="v")
    )


_s = _arrays(_STEP_ARRAYS)
_PG_MOVE_STEPS = (
    update(step_runs)
    .where(
        step_runs.c.run_id == _s.c.b_run_id,
        step_runs.c.position == _s.c.b_position,
        step_runs.c.status == _s.c.b_source,
    )
    .values(
        status=_s.c.b_dest,
        attempts=_s.c.b_attempts,
        started_at=func.coalesce(_s.c.b_started_at, step_runs.c.started_at),
        finished_at=func.coalesce(_s.c.b_finished_at, step_runs.c.finished_at),
        input=func.coalesce(cast(_s.c.b_input, JSONB), step_runs.c.input),
        output=func.coalesce(cast(_s.c.b_output, JSONB), step_runs.c.output),
        error=func.coalesce(_s.c.b_error, step_runs.c.error),
    )
    .returning(step_runs.c.id)
)
_r = _arrays(_RUN_ARRAYS)
_PG_MOVE_RUNS = (
    update(job_runs)
    .where(job_runs.c.id == _r.c.b_id, job_runs.c.status == _r.c.b_source)
    .values(
        status=_r.c.b_dest,
        finished_at=func.coalesce(_r.c.b_finished_at, job_runs.c.finished_at),
        error=func.coalesce(_r.c.b_error, job_runs.c.error),
    )
    .returning(job_runs.c.id)
)


def _columns_of(rows: list[dict[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def _json_text(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


# --- the two paths ---


async def apply_fast(connection: AsyncConnection, changes: Sequence[Change]) -> None:
    """Apply every change, in order; raise MovesMissed (leaving some applied) if any found its row in
    another state than its source. The transaction must then be rolled back."""
    if connection.dialect.name == "postgresql":
        await _apply_set_wise(connection, changes)
        return
    steps = [_step_params(c) for c in changes if isinstance(c, StepMoved)]
    runs = [_run_params(c) for c in changes if isinstance(c, RunMoved)]
    for statement, params in ((_MOVE_STEP, steps), (_MOVE_RUN, runs)):
        if params:
            # SQLite sums an executemany's row counts, and each move matches at most one row.
            applied = (await connection.execute(statement, params)).rowcount
            if applied != len(params):
                raise MovesMissed(f"{len(params) - applied} of {len(params)} moves found their row moved")


async def _apply_set_wise(connection: AsyncConnection, changes: Sequence[Change]) -> None:
    # A row moved twice in one group (step started, then skipped) goes in two rounds: one UPDATE
    # statement changes a row at most once.
    rounds: list[list[Change]] = []
    seen: dict[_RowKey, int] = {}
    for change in changes:
        key = _key(change)
        turn = seen[key] = seen.get(key, -1) + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(change)
    for batch in rounds:
        steps = [
            _step_params(c) | {"b_input": _json_text(c.input), "b_output": _json_text(c.output)}
            for c in batch
            if isinstance(c, StepMoved)
        ]
        runs = [_run_params(c) for c in batch if isinstance(c, RunMoved)]
        for statement, arrays, params in (
            (_PG_MOVE_STEPS, _STEP_ARRAYS, steps),
            (_PG_MOVE_RUNS, _RUN_ARRAYS, runs),
        ):
            if params:
                applied = len((await connection.execute(statement, _columns_of(params, arrays))).all())
                if applied != len(params):
                    raise MovesMissed(f"{len(params) - applied} of {len(params)} moves found their row moved")


async def apply_careful(connection: AsyncConnection, changes: Sequence[Change]) -> None:
    """Apply one caller's changes only if all of them find their rows in their source states, read
    under lock first; otherwise raise StaleState, naming the first that does not, having written none."""
    status = await _current_steps(connection, {_key(c) for c in changes if isinstance(c, StepMoved)})
    status.update(await _current_runs(connection, {_key(c) for c in changes if isinstance(c, RunMoved)}))
    for change in changes:
        key = _key(change)
        if status.get(key) != change.source:
            raise _stale(change, status.get(key))
        status[key] = change.dest
    for change in changes:
        if isinstance(change, StepMoved):
            await connection.execute(_MOVE_STEP, _step_params(change))
        else:
            await connection.execute(_MOVE_RUN, _run_params(change))


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


def _stale(change: Change, current: str | None) -> StaleState:
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
