"""A group of writes on SQLite, on the writer's own connection, inline or in one hop to a thread.

aiosqlite hops to its thread and back for every statement. Here a small group, when the file's write
lock is free, runs right on the event loop: a few executemany statements and a COMMIT that does not
fsync (WAL with synchronous = NORMAL) take about as long as the hop to a thread would. A big group, or
one that finds the lock taken (another process writing, a reader checkpointing), goes to a worker
thread, where it may wait in busy_timeout without holding up the loop. The connection is the writer's
own (SQLite has one writer at a time anyway). Its WAL checkpoints also run in the thread, never inline.

Values are stored exactly as SQLAlchemy's SQLite types store them (UTC timestamps as
'YYYY-MM-DD HH:MM:SS.ffffff', JSON as text), so every reader sees one format.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from nomaflow.actors.ports import Change, RunMoved, StepMoved
from nomaflow.engine.store.batch import (
    JSON_COLUMNS,
    LOG_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    BatchFailed,
    json_text,
    plan_group,
    split_moves,
)
from nomaflow.engine.store.sqlite_file import SQLITE_BUSY_TIMEOUT_MS
from nomaflow.engine.store.writes import Row, Write, run_update, step_update


def _insert(table: str, columns: Sequence[str], conflict: str = "") -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}){conflict}"


_INSERT_RUNS = _insert("ly2_job_runs", RUN_COLUMNS, " ON CONFLICT DO NOTHING")
_INSERT_STEPS = _insert("ly2_step_runs", STEP_COLUMNS)
_INSERT_LOGS = _insert("ly2_job_logs", LOG_COLUMNS)
# Parameters numbered in STEP_UPDATE's and RUN_UPDATE's order (engine.store.writes).
_MOVE_STEP = (
    "UPDATE ly2_step_runs SET status = ?4, attempts = ?5, started_at = COALESCE(?6, started_at), "
    "finished_at = COALESCE(?7, finished_at), input = COALESCE(?8, input), output = COALESCE(?9, output), "
    "error = CASE WHEN ?11 THEN NULL ELSE COALESCE(?10, error) END "
    "WHERE run_id = ?1 AND position = ?2 AND status = ?3"
)
_MOVE_RUN = (
    "UPDATE ly2_job_runs SET status = ?3, finished_at = COALESCE(?4, finished_at), "
    "error = COALESCE(?5, error) WHERE id = ?1 AND status = ?2"
)

_TIME_COLUMNS = frozenset({"scheduled_for", "started_at", "finished_at", "heartbeat_at", "ts"})


def _instant(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME storage of a UTC instant (UTCDateTime strips the zone for it)."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the job store; pass an aware one")
    # isoformat with microseconds always shown is that same text, and cheaper than strftime.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _values(rows: Sequence[Row], names: Sequence[str]) -> list[tuple[Any, ...]]:
    convert = [
        json_text if name in JSON_COLUMNS else _instant if name in _TIME_COLUMNS else None for name in names
    ]
    return [
        tuple(row[name] if how is None else how(row[name]) for name, how in zip(names, convert, strict=True))
        for row in rows
    ]


def _step_values(move: StepMoved) -> tuple[Any, ...]:
    run_id, position, source, dest, attempts, started, finished, input, output, error, clear = step_update(
        move
    )
    return (
        run_id,
        position,
        source,
        dest,
        attempts,
        _instant(started),
        _instant(finished),
        json_text(input),
        json_text(output),
        error,
        clear,
    )


def _run_values(move: RunMoved) -> tuple[Any, ...]:
    run_id, source, dest, finished, error = run_update(move)
    return (run_id, source, dest, _instant(finished), error)


class _Busy(Exception):
    """The write lock was taken when an inline group tried to begin."""


class SqliteBatch:
    """Executes whole groups on a connection of its own to the store's file."""

    # A group this small runs inline when the lock is free: a few hundred microseconds of SQLite.
    INLINE_WRITES = 16
    # Commits do not checkpoint on their own (that fsyncs, and may be inline): the thread does, after
    # this many of them.
    CHECKPOINT_EVERY = 500

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._thread = anyio.CapacityLimiter(1)  # the connection is used by one thread at a time
        self._waits = True  # the connection's busy_timeout is on (thread) or off (inline)
        self._commits = 0  # since the last checkpoint

    async def aclose(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await anyio.to_thread.run_sync(connection.close, limiter=self._thread)

    async def __call__(self, writes: Sequence[Write]) -> list[Any]:
        if len(writes) <= self.INLINE_WRITES and self._connection is not None:
            try:
                results = self._run(writes, wait=False)
            except _Busy:
                pass
            else:
                if self._commits >= self.CHECKPOINT_EVERY:
                    await anyio.to_thread.run_sync(self._checkpoint, limiter=self._thread)
                return results
        done: list[Any] = await anyio.to_thread.run_sync(self._run, writes, True, limiter=self._thread)
        return done

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Transactions are begun by hand (BEGIN IMMEDIATE takes the write lock up front, so a busy
            # file waits in busy_timeout, or is noticed at once inline, instead of failing half-way).
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._connection, self._waits = connection, True
        return self._connection

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database file (PASSIVE: never waits for readers)."""
        connection = self._connect()
        self._wait(connection, True)
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._commits = 0

    def _wait(self, connection: sqlite3.Connection, wait: bool) -> None:
        if self._waits != wait:
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS if wait else 0}")
            self._waits = wait

    def _run(self, writes: Sequence[Write], wait: bool) -> list[Any]:
        try:
            connection = self._connect()
            self._wait(connection, wait)
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not wait and "locked" in str(exc):
                raise _Busy from exc
            raise BatchFailed(f"could not begin: {exc}") from exc
        except Exception as exc:
            raise BatchFailed(f"could not begin: {exc}") from exc
        try:
            results = self._execute(connection, writes)
        except Exception as exc:
            connection.execute("ROLLBACK")
            raise BatchFailed(str(exc)) from exc
        try:
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self._commits += 1
        if wait and self._commits >= self.CHECKPOINT_EVERY:
            self._checkpoint()  # already in the thread
        return results

    def _execute(self, connection: sqlite3.Connection, writes: Sequence[Write]) -> list[Any]:
        plan = plan_group(writes)
        if plan.runs:
            # SQLite sums an executemany's row counts; a run turned away counts 0.
            inserted = connection.executemany(_INSERT_RUNS, _values(plan.runs, RUN_COLUMNS)).rowcount
            if inserted != len(plan.runs):
                raise BatchFailed(f"{len(plan.runs) - inserted} of {len(plan.runs)} runs were turned away")
        if plan.steps:
            connection.executemany(_INSERT_STEPS, _values(plan.steps, STEP_COLUMNS))
        for batch in plan.moves:
            self._move(connection, batch)
        if plan.logs:
            connection.executemany(_INSERT_LOGS, _values(plan.logs, LOG_COLUMNS))
        return plan.results

    def _move(self, connection: sqlite3.Connection, batch: Sequence[Change]) -> None:
        steps, runs = split_moves(batch)
        for statement, values in (
            (_MOVE_STEP, [_step_values(move) for move in steps]),
            (_MOVE_RUN, [_run_values(move) for move in runs]),
        ):
            if values and connection.executemany(statement, values).rowcount != len(values):
                raise BatchFailed("a move found its row in another state")
