"""A group of writes on PostgreSQL, straight through asyncpg: one statement, whatever the group's size.

Rows travel as one array per column and are unpacked by `unnest`; the inserts and compare-and-set
updates of every table are data-modifying CTEs of a single statement, which returns each one's row
count. So a group costs three round trips (BEGIN, the statement, COMMIT) whether it holds one
admission or five hundred, and each statement shape is prepared once per connection. JSON goes as
text and is cast in SQL, so the driver's codecs play no part.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from actors.ports import RunMoved, StepMoved
from engine.store.together import (
    JSON_COLUMNS,
    LOG_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    NotTogether,
    json_text,
    plan_group,
    split_moves,
)
from engine.store.writes import Row, Write, move_instants

# No ON CONFLICT here: a run another process holds the job for (or its fire) fails the statement, and
# the careful re-run sorts out which run it was; arbitrating every unique index on every insert would
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
                           finished_at, input, output, error)
SELECT run_id, position, step_name, type, status, attempts, started_at,
       finished_at, input::jsonb, output::jsonb, error
FROM unnest({0}::text[], {1}::int[], {2}::text[], {3}::text[], {4}::text[], {5}::int[], {6}::timestamptz[],
            {7}::timestamptz[], {8}::text[], {9}::text[], {10}::text[])
     AS v(run_id, position, step_name, type, status, attempts, started_at,
          finished_at, input, output, error)
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
    error = COALESCE(v.error, s.error)
FROM unnest({0}::text[], {1}::int[], {2}::text[], {3}::text[], {4}::int[], {5}::timestamptz[],
            {6}::timestamptz[], {7}::text[], {8}::text[], {9}::text[])
     AS v(run_id, position, source, dest, attempts, started_at, finished_at, input, output, error)
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
    instants = [move_instants(m) for m in moves]
    return [
        [m.run_id for m in moves],
        [m.position for m in moves],
        [m.source for m in moves],
        [m.dest for m in moves],
        [m.attempts for m in moves],
        [_instant(started) for started, _ in instants],
        [_instant(finished) for _, finished in instants],
        [json_text(m.input) for m in moves],
        [json_text(m.output) for m in moves],
        [m.error for m in moves],
    ]


def _run_arrays(moves: Sequence[RunMoved]) -> list[list[Any]]:
    return [
        [m.run_id for m in moves],
        [m.source for m in moves],
        [m.dest for m in moves],
        [_instant(move_instants(m)[1]) for m in moves],
        [m.error for m in moves],
    ]


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


class PostgresTogether:
    """Executes whole groups on connections of `engine` that it keeps checked out between groups.

    Kept, not checked out per group: the pool's pre-ping costs three round trips (BEGIN, a no-op,
    ROLLBACK), more than the group itself. A connection idle for a while is pinged before use instead,
    and one that failed is thrown away, so a server restart costs one careful re-run at most.
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
            if time.monotonic() - used < self.IDLE_PING_SECONDS:
                return connection
            try:
                await _driver(connection).execute(";")
            except Exception:
                await _discard(connection)
                continue
            return connection
        return await self._engine.connect()

    async def __call__(self, writes: Sequence[Write]) -> list[Any]:
        try:
            connection = await self._checkout()
        except Exception as exc:
            raise NotTogether(f"could not connect: {exc}") from exc
        try:
            driver = _driver(connection)
            transaction = driver.transaction()
            await transaction.start()
        except Exception as exc:
            # A connection the server dropped is noticed here: never hand it out again.
            await _discard(connection)
            raise NotTogether(f"could not begin: {exc}") from exc
        try:
            results = await self._execute(driver, writes)
        except Exception as exc:
            try:
                await transaction.rollback()
            except Exception:
                await _discard(connection)
            else:
                self._idle.append((connection, time.monotonic()))
            raise NotTogether(str(exc)) from exc
        try:
            await transaction.commit()
        except BaseException:
            await _discard(connection)
            raise
        self._idle.append((connection, time.monotonic()))
        return results

    async def _execute(self, driver: Any, writes: Sequence[Write]) -> list[Any]:
        plan = plan_group(writes)
        for row in plan.runs:
            for column in ("scheduled_for", "started_at", "finished_at"):
                _instant(row[column])
        statement = _Statement()
        statement.add(_INSERT_RUNS, _columns(plan.runs, RUN_COLUMNS), len(plan.runs))
        statement.add(_INSERT_STEPS, _columns(plan.steps, STEP_COLUMNS), None)
        later = plan.moves[1:]
        if plan.moves:
            steps, runs = split_moves(plan.moves[0])
            statement.add(_MOVE_STEPS, _step_arrays(steps), len(steps))
            statement.add(_MOVE_RUNS, _run_arrays(runs), len(runs))
        statement.add(_INSERT_LOGS, _columns(plan.logs, LOG_COLUMNS), None)
        await statement.execute(driver)
        for batch in later:  # rows moved twice in one group: rare
            steps, runs = split_moves(batch)
            again = _Statement()
            again.add(_MOVE_STEPS, _step_arrays(steps), len(steps))
            again.add(_MOVE_RUNS, _run_arrays(runs), len(runs))
            await again.execute(driver)
        return plan.results


class _Statement:
    """Several inserts and updates as one statement of data-modifying CTEs: one round trip for the
    whole group. Each part counts its rows; a count that misses fails the group."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._arguments: list[list[Any]] = []
        self._expected: list[int] = []

    def add(self, template: str, arrays: list[list[Any]], expected: int | None) -> None:
        if not arrays or not arrays[0]:
            return
        first = len(self._arguments)
        self._arguments.extend(arrays)
        sql = template.format(*(f"${first + n + 1}" for n in range(len(arrays))))
        name = f"w{len(self._parts)}"
        self._parts.append(f"{name} AS ({sql.strip()})")
        self._expected.append(-1 if expected is None else expected)

    async def execute(self, driver: Any) -> None:
        if not self._parts:
            return
        counts = ", ".join(f"(SELECT count(*) FROM w{n})" for n in range(len(self._parts)))
        sql = f"WITH {', '.join(self._parts)} SELECT {counts}"
        found = await driver.fetchrow(sql, *self._arguments)
        for count, expected in zip(found, self._expected, strict=True):
            if expected >= 0 and count != expected:
                raise NotTogether(f"{expected - count} of {expected} rows were not where the group expected")
