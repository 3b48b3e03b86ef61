"""A group of writes on PostgreSQL, straight through asyncpg: one statement, whatever the group's size.

Rows travel as one array per column and are unpacked by `unnest`; the inserts and compare-and-set
updates of every table are data-modifying CTEs of a single statement, which checks each one's row
count. A single statement is atomic on its own, so a group costs one round trip, with no BEGIN and
COMMIT around it, whether it holds one admission or five hundred; each statement shape is prepared
once per connection. JSON goes as text and is cast in SQL, so the driver's codecs play no part.

What a lost connection costs: with no COMMIT of our own, the statement's outcome is unknown when the
connection fails during it (as it is with a COMMIT in flight). The group is then re-run one write at a time,
looking first for each write's first log row, so a write already committed is neither written twice
nor reported as failed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.actors.ports import RunMoved, StepMoved
from nomaflow.engine.store.batch import (
    JSON_COLUMNS,
    LOG_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    BatchFailed,
    GroupPlan,
    json_text,
    plan_group,
    split_moves,
)
from nomaflow.engine.store.writes import Row, Write, run_update, step_update

# No ON CONFLICT here: a run another process holds the job for (or its fire) fails the statement, and
# the one-by-one re-run sorts out which run it was; arbitrating every unique index on every insert would
# cost each group for the rare case.
_INSERT_RUNS = """
INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run, scheduled_for,
                          started_at, finished_at, error, owner, heartbeat_at, resumed_from)
SELECT id, job_name, app, status, triggered_by, params::jsonb, dry_run, scheduled_for,
       started_at, finished_at, error, owner, heartbeat_at, resumed_from
FROM unnest({0}::text[], {1}::text[], {2}::text[], {3}::text[], {4}::text[], {5}::text[], {6}::boolean[],
            {7}::timestamptz[], {8}::timestamptz[], {9}::timestamptz[], {10}::text[], {11}::text[],
            {12}::timestamptz[], {13}::text[])
     AS v(id, job_name, app, status, triggered_by, params, dry_run, scheduled_for,
          started_at, finished_at, error, owner, heartbeat_at, resumed_from)
RETURNING 1
"""
_INSERT_STEPS = """
INSERT INTO ly2_step_runs (run_id, position, step_name, type, status, attempts, started_at,
                           finished_at, input, output, error, dry_run)
SELECT run_id, position, step_name, type, status, attempts, started_at,
       finished_at, input::jsonb, output::jsonb, error, dry_run
FROM unnest({0}::text[], {1}::int[], {2}::text[], {3}::text[], {4}::text[], {5}::int[], {6}::timestamptz[],
            {7}::timestamptz[], {8}::text[], {9}::text[], {10}::text[], {11}::boolean[])
     AS v(run_id, position, step_name, type, status, attempts, started_at,
          finished_at, input, output, error, dry_run)
RETURNING 1
"""
_INSERT_LOGS = """
INSERT INTO ly2_job_logs (run_id, seq, step_name, ts, level, message, fields)
SELECT run_id, seq, step_name, ts, level, message, fields::jsonb
FROM unnest({0}::text[], {1}::int[], {2}::text[], {3}::timestamptz[], {4}::text[], {5}::text[], {6}::text[])
     AS v(run_id, seq, step_name, ts, level, message, fields)
RETURNING 1
"""

# A compare-and-set per row: only rows still in the move's source state change. COALESCE keeps a
# column when the move does not set it.
_MOVE_STEPS = """
UPDATE ly2_step_runs AS s
SET status = v.dest, attempts = v.attempts,
    started_at = COALESCE(v.started_at, s.started_at), finished_at = COALESCE(v.finished_at, s.finished_at),
    input = COALESCE(v.input::jsonb, s.input), output = COALESCE(v.output::jsonb, s.output),
    error = CASE WHEN v.clear_error THEN NULL ELSE COALESCE(v.error, s.error) END
FROM unnest({0}::text[], {1}::int[], {2}::text[], {3}::text[], {4}::int[], {5}::timestamptz[],
            {6}::timestamptz[], {7}::text[], {8}::text[], {9}::text[], {10}::boolean[])
     AS v(run_id, position, source, dest, attempts, started_at, finished_at, input, output, error,
          clear_error)
WHERE s.run_id = v.run_id AND s.position = v.position AND s.status = v.source
RETURNING 1
"""
_MOVE_RUNS = """
UPDATE ly2_job_runs AS r
SET status = v.dest, finished_at = COALESCE(v.finished_at, r.finished_at), error = COALESCE(v.error, r.error)
FROM unnest({0}::text[], {1}::text[], {2}::text[], {3}::timestamptz[], {4}::text[])
     AS v(id, source, dest, finished_at, error)
WHERE r.id = v.id AND r.status = v.source
RETURNING 1
"""


def _instant(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the job store; pass an aware one")
    return value


def _columns(rows: Sequence[Row], names: Sequence[str]) -> list[list[Any]]:
    arrays = []
    for name in names:
        if name in JSON_COLUMNS:
            arrays.append([json_text(row[name]) for row in rows])
        else:
            arrays.append([row[name] for row in rows])
    return arrays


def _step_arrays(moves: Sequence[StepMoved]) -> list[list[Any]]:
    """STEP_UPDATE's columns as arrays, in _MOVE_STEPS' order: instants checked, JSON as text."""
    if not moves:
        return []  # no part of the statement (see _Statement.add)
    (run_ids, positions, sources, dests, attempts, started, finished, inputs, outputs, errors, clears) = (
        list(column) for column in zip(*map(step_update, moves), strict=True)
    )
    return [
        run_ids,
        positions,
        sources,
        dests,
        attempts,
        [_instant(value) for value in started],
        [_instant(value) for value in finished],
        [json_text(value) for value in inputs],
        [json_text(value) for value in outputs],
        errors,
        clears,
    ]


def _run_arrays(moves: Sequence[RunMoved]) -> list[list[Any]]:
    """RUN_UPDATE's columns as arrays, in _MOVE_RUNS' order."""
    if not moves:
        return []
    run_ids, sources, dests, finished, errors = (
        list(column) for column in zip(*map(run_update, moves), strict=True)
    )
    return [run_ids, sources, dests, [_instant(value) for value in finished], errors]


def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a checked-out SQLAlchemy one."""
    raw = connection.sync_connection.connection if connection.sync_connection else None
    driver = raw.driver_connection if raw is not None else None
    if driver is None:
        raise RuntimeError("the connection is closed")
    return driver


async def _discard(connection: AsyncConnection) -> None:
    """Give a connection that failed back to the pool as unusable, so it is never handed out again."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class PostgresBatch:
    """Executes whole groups on connections of `engine` that it keeps checked out between groups.

    Kept, not checked out per group: the pool's pre-ping costs three round trips (BEGIN, a no-op,
    ROLLBACK), more than the group itself. A connection idle for a while is pinged before use instead,
    and one that failed is thrown away, so a server restart costs one one-by-one re-run at most.
    """

    IDLE_PING_SECONDS = 10.0

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._idle: list[tuple[AsyncConnection, float]] = []  # with the moment each was last used

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()

    async def _checkout(self) -> AsyncConnection:
        while self._idle:
            connection, used = self._idle.pop()
            try:
                driver = _driver(connection)
                if driver.is_closed():
                    raise ConnectionError("closed by the server")
                if time.monotonic() - used >= self.IDLE_PING_SECONDS:
                    await driver.execute(";")
            except Exception:
                await _discard(connection)
                continue
            return connection
        return await self._engine.connect()

    async def __call__(self, writes: Sequence[Write]) -> list[Any]:
        try:
            plan = plan_group(writes)
            statements = _statements(plan)
        except BatchFailed:
            raise
        except Exception as exc:
            # One write's bad value (a naive datetime, a move that does not fit), found before anything
            # was sent: the one-by-one re-run gives it to its own caller.
            raise BatchFailed(str(exc)) from exc
        if not statements:
            return plan.results
        try:
            connection = await self._checkout()
        except Exception as exc:
            raise BatchFailed(f"could not connect: {exc}") from exc
        try:
            driver = _driver(connection)
            if len(statements) == 1:
                # One statement is its own transaction: no BEGIN and COMMIT round trips, which cost
                # as much as the statement. It fails as a whole when a row count misses.
                await statements[0].execute(driver)
            else:
                async with driver.transaction():
                    for statement in statements:
                        await statement.execute(driver)
        except asyncpg.PostgresError as exc:
            if (exc.sqlstate or "")[:2] in _REFUSALS and not driver.is_closed():
                # The statement was refused (a constraint, a compare-and-set miss): nothing of the group
                # was committed, and the connection is fine.
                self._idle.append((connection, time.monotonic()))
                raise BatchFailed(_refusal(exc)) from exc
            await _discard(connection)  # e.g. terminated by an operator: it may have committed first
            raise BatchFailed(f"the connection failed: {exc}", maybe_committed=True) from exc
        except Exception as exc:
            # The connection failed (dropped by the server, reset, closed before we began): whether
            # the statement committed is unknown, so the one-by-one re-run looks before it writes.
            await _discard(connection)
            raise BatchFailed(f"the connection failed: {exc}", maybe_committed=True) from exc
        self._idle.append((connection, time.monotonic()))
        return plan.results


def _statements(plan: GroupPlan) -> list[_Statement]:
    """The group as statements: one, unless some row moves twice in the group (rare)."""
    for row in plan.runs:
        for column in ("scheduled_for", "started_at", "finished_at"):
            _instant(row[column])
    first = _Statement()
    first.add(_INSERT_RUNS, _columns(plan.runs, RUN_COLUMNS), len(plan.runs))
    first.add(_INSERT_STEPS, _columns(plan.steps, STEP_COLUMNS), None)
    if plan.moves:
        steps, runs = split_moves(plan.moves[0])
        first.add(_MOVE_STEPS, _step_arrays(steps), len(steps))
        first.add(_MOVE_RUNS, _run_arrays(runs), len(runs))
    first.add(_INSERT_LOGS, _columns(plan.logs, LOG_COLUMNS), None)
    statements = [first]
    for batch in plan.moves[1:]:
        steps, runs = split_moves(batch)
        again = _Statement()
        again.add(_MOVE_STEPS, _step_arrays(steps), len(steps))
        again.add(_MOVE_RUNS, _run_arrays(runs), len(runs))
        statements.append(again)
    return [statement for statement in statements if statement]


# SQLSTATE classes of errors that abort the statement and leave the session usable: data exceptions
# (our count check's division by zero among them), integrity constraints, invalid transaction state,
# rollbacks (serialization, deadlock), syntax and access rules, PL/pgSQL raises. Any other error may
# come with a lost connection, after the commit.
_REFUSALS = frozenset({"22", "23", "25", "40", "42", "P0"})


def _refusal(error: asyncpg.PostgresError) -> str:
    if isinstance(error, asyncpg.DivisionByZeroError):
        return "rows were not where the group expected (a compare-and-set missed)"
    return str(error)


class _Statement:
    """Several inserts and updates as one statement of data-modifying CTEs: one round trip for the
    whole group. Each part that expects a row count is checked inside the statement, so a miss
    fails it (and undoes all of it) even when it commits on its own."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._arguments: list[Any] = []
        self._checks: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._parts)

    def add(self, template: str, arrays: list[list[Any]], expected: int | None) -> None:
        if not arrays or not arrays[0]:
            return
        first = len(self._arguments)
        self._arguments.extend(arrays)
        sql = template.format(*(f"${first + n + 1}" for n in range(len(arrays))))
        name = f"w{len(self._parts)}"
        self._parts.append(f"{name} AS ({sql.strip()})")
        if expected is not None:
            self._arguments.append(expected)
            self._checks.append(f"(SELECT count(*) FROM {name}) = ${len(self._arguments)}::bigint")

    async def execute(self, driver: Any) -> None:
        # PostgreSQL has no RAISE in plain SQL; a division by zero is the error a missed count makes
        # (the CTEs are executed whatever the main query reads, so the check must fail the statement).
        # `_refusal` turns it back into words.
        check = " AND ".join(self._checks) or "true"
        sql = f"WITH {', '.join(self._parts)} SELECT 1 / (CASE WHEN {check} THEN 1 ELSE 0 END)"
        await driver.fetchval(sql, *self._arguments)
