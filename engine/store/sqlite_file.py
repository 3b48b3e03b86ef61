"""The store's read queries on a SQLite file through the stdlib sqlite3 module alone, for the CLI.

A reading command (`jobs list`, `runs list`, `runs show`, `job logs`) reads a few rows and exits;
importing SQLAlchemy alone took a quarter of its time (issue 15). So the handful of queries those
commands need are written here in SQLite's SQL: the same queries as engine/store/reads.py's RunReader,
answering in the same row types, whose fields name the columns selected (as RunReader's do).
tests/engine/store/test_sqlite_file.py holds the two readers to the same answers on one store.

Nothing here writes, and every statement is a plain SELECT in autocommit mode, so it never takes the
file's write lock; like the engine's readers it waits up to the store's busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import msgspec

from nomaflow.engine.store.rows import LOOKUPS_PER_QUERY, MAX_PAGE, JobState, LogRow, RunPage, RunRow, StepRow
from nomaflow.states import RunState

# How long a statement waits for another process's lock on the file (the store's engines wait as long).
SQLITE_BUSY_TIMEOUT_MS = 30_000

_PLAIN_PREFIXES = ("sqlite+aiosqlite:///", "sqlite+pysqlite:///", "sqlite:///")


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite store URL (`sqlite:///path`, either driver), or None for any other
    URL, including a SQLite one with options, which is left to SQLAlchemy to understand."""
    for prefix in _PLAIN_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path == ":memory:" or "?" in path or path.startswith("file:"):
                return None
            return Path(path)
    return None


# Per column kind, how SQLAlchemy's column types store a value in SQLite and how it reads back.
def _instant(text: str | None) -> datetime | None:
    # UTCDateTime writes UTC without an offset ("2026-12-03 10:16:46.123456"): put the UTC back.
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _json(text: str | bytes | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def _bool(number: int) -> bool:
    return bool(number)


# The columns SQLAlchemy's JSON type keeps as text on SQLite (the tables' json_type()).
_JSON_COLUMNS = frozenset({"params", "input", "output", "fields"})


def _columns(row_type: type[msgspec.Struct]) -> dict[str, Callable[[Any], Any] | None]:
    """The columns a row type is read from (its fields, in order: the store's reads select exactly
    those), each with how its stored value reads back, or None where it is taken as it is."""
    columns: dict[str, Callable[[Any], Any] | None] = {}
    for field in msgspec.structs.fields(row_type):
        if field.name in _JSON_COLUMNS:
            columns[field.name] = _json
        elif field.type is bool:
            columns[field.name] = _bool
        elif datetime in (field.type, *get_args(field.type)):
            columns[field.name] = _instant
        else:
            columns[field.name] = None
    return columns


_RUN_COLUMNS = _columns(RunRow)
_STEP_COLUMNS = _columns(StepRow)
_LOG_COLUMNS = _columns(LogRow)
_STATE_COLUMNS = _columns(JobState)


def _select(columns: dict[str, Any], table: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"SELECT {', '.join(prefix + name for name in columns)} FROM {table}" + (
        f" AS {alias}" if alias else ""
    )


_RUNS = _select(_RUN_COLUMNS, "ly2_job_runs")


class SqliteFileReader:
    """RunReader's read methods (those the CLI uses) on one sqlite3 connection to the store's file."""

    def __init__(self, path: Path) -> None:
        # Autocommit: each SELECT is its own read transaction and none is left open between them.
        self._connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)

    def close(self) -> None:
        self._connection.close()

    def _rows(
        self, columns: dict[str, Any], sql: str, parameters: Iterable[Any] = ()
    ) -> list[dict[str, Any]]:
        converters = list(columns.items())
        return [
            {
                name: (value if convert is None else convert(value))
                for (name, convert), value in zip(converters, row, strict=True)
            }
            for row in self._connection.execute(sql, tuple(parameters))
        ]

    async def get_run(self, run_id: str) -> RunRow | None:
        rows = self._rows(_RUN_COLUMNS, f"{_RUNS} WHERE id = ?", (run_id,))
        return RunRow(**rows[0]) if rows else None

    async def list_runs(
        self, *, job: str | None = None, status: str | None = None, limit: int = 50
    ) -> RunPage:
        """The newest `limit` runs (by started_at, then id), of one job or status if given. The CLI
        asks for one page, so unlike RunReader this takes no cursor, and answers none."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        where = [
            (column, value) for column, value in (("job_name", job), ("status", status)) if value is not None
        ]
        sql = _RUNS + (" WHERE " + " AND ".join(f"{column} = ?" for column, _ in where) if where else "")
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        runs = [
            RunRow(**row) for row in self._rows(_RUN_COLUMNS, sql, [*(value for _, value in where), limit])
        ]
        return RunPage(runs=runs, next_cursor=None)

    async def get_steps(self, run_id: str) -> list[StepRow]:
        sql = f"{_select(_STEP_COLUMNS, 'ly2_step_runs')} WHERE run_id = ? ORDER BY position"
        return [StepRow(**row) for row in self._rows(_STEP_COLUMNS, sql, (run_id,))]

    async def get_logs(self, run_id: str, *, after_seq: int = 0, limit: int = MAX_PAGE) -> list[LogRow]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        sql = f"{_select(_LOG_COLUMNS, 'ly2_job_logs')} WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return [LogRow(**row) for row in self._rows(_LOG_COLUMNS, sql, (run_id, after_seq, limit))]

    async def job_states(self) -> dict[str, JobState]:
        rows = self._rows(_STATE_COLUMNS, _select(_STATE_COLUMNS, "ly2_job_state"))
        return {row["job_name"]: JobState(**row) for row in rows}

    async def last_runs_by_job(
        self, *, jobs: Iterable[str], include_skipped: bool = True
    ) -> dict[str, RunRow]:
        """Each named job's latest run, keyed by job name (jobs never run are absent): per name, one
        lookup on the (job_name, started_at) index, as RunReader does it."""
        names = list(jobs)
        skipped = "" if include_skipped else f" AND candidate.status != '{RunState.SKIPPED.value}'"
        found: dict[str, RunRow] = {}
        for start in range(0, len(names), LOOKUPS_PER_QUERY):
            chunk = names[start : start + LOOKUPS_PER_QUERY]
            sql = (
                f"WITH wanted(job_name) AS (VALUES {', '.join('(?)' for _ in chunk)}) "
                f"{_select(_RUN_COLUMNS, 'ly2_job_runs', 'run')} JOIN wanted ON run.id = ("
                "SELECT candidate.id FROM ly2_job_runs AS candidate"
                " WHERE candidate.job_name = wanted.job_name"
                f"{skipped} ORDER BY candidate.started_at DESC, candidate.id DESC LIMIT 1)"
            )
            found |= {row["job_name"]: RunRow(**row) for row in self._rows(_RUN_COLUMNS, sql, chunk)}
        return found
