"""The common path of group commit: a whole group of writes as a fixed handful of set-wise statements.

The plan is made in Python from the writes alone, assuming nothing goes wrong: every run goes in, every
move finds its row in its source state. The database executor (`batch_postgres`, `batch_sqlite`) runs
it straight through the driver, with none of SQLAlchemy's per-statement work, and checks those
assumptions by row counts. If one fails, it rolls back and raises `BatchFailed`: the writer then
re-runs the group one write at a time (`one_by_one`), where each write learns its own outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from nomaflow.actors.ports import Change, RunMoved, StepMoved
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
    run_row,
    step_rows,
)
from nomaflow.states import RunState, RunTrigger

# The columns each executor writes, in the order it passes them.
RUN_COLUMNS = (
    "id",
    "job_name",
    "app",
    "status",
    "triggered_by",
    "params",
    "dry_run",
    "scheduled_for",
    "started_at",
    "finished_at",
    "error",
    "owner",
    "heartbeat_at",
    "resumed_from",
)
STEP_COLUMNS = (
    "run_id",
    "position",
    "step_name",
    "type",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "input",
    "output",
    "error",
    "dry_run",
)
LOG_COLUMNS = ("run_id", "seq", "step_name", "ts", "level", "message", "fields")
# Sent as JSON text (SQLite stores it so; PostgreSQL casts it to jsonb). Python None is SQL NULL.
JSON_COLUMNS = frozenset({"params", "input", "output", "fields"})


def json_text(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


class BatchFailed(Exception):
    """The group could not be executed as a whole. Nothing of it was committed, unless
    `maybe_committed`: the connection was lost with the outcome of a statement that commits on its
    own, and the one-by-one re-run must first look for what is already written."""

    def __init__(self, message: str, *, maybe_committed: bool = False) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed


class GroupPlan(NamedTuple):
    runs: list[Row]  # in (job_name, id) order
    steps: list[Row]
    moves: list[list[Change]]  # in rounds: one statement moves a row at most once
    logs: list[Row]
    results: list[Any]


def plan_group(writes: Sequence[Write]) -> GroupPlan:
    runs: list[Row] = []
    steps: list[Row] = []
    changes: list[Change] = []
    logs: list[Row] = []
    results: list[Any] = [None] * len(writes)
    for index, write in enumerate(writes):
        if isinstance(write, Admit):
            runs.append(run_row(write.run, RunState.RUNNING))
            steps.extend(step_rows(write))
            logs.extend(admitted_logs(write))
            results[index] = True
        elif isinstance(write, InsertSkipped):
            runs.append(run_row(write.run, RunState.SKIPPED))
            logs.append(
                admission_row(write.run, write.seq, RunTrigger.SKIP, RunState.SKIPPED, write.run.error)
            )
        elif isinstance(write, Apply):
            changes.extend(write.changes)
            logs.extend(map(change_row, write.changes))
        elif isinstance(write, AppendLogs):
            logs.extend(write.rows)
        elif isinstance(write, EndRun):
            raise BatchFailed("a run is ended one by one")
    if len({row["id"] for row in runs}) != len(runs):
        raise BatchFailed("a run is written twice in one group")
    # In one order for every engine: two engines inserting the same jobs in opposite orders could
    # otherwise deadlock on the one-running-run index.
    runs.sort(key=lambda row: (row["job_name"], row["id"]))
    return GroupPlan(runs, steps, _rounds(changes), logs, results)


def _rounds(changes: Sequence[Change]) -> list[list[Change]]:
    """Split the moves so that no round moves a row twice (a step started, then skipped, in one group)."""
    rounds: list[list[Change]] = []
    seen: dict[tuple[str, int | None], int] = {}
    for change in changes:
        key = (change.run_id, change.position if isinstance(change, StepMoved) else None)
        turn = seen[key] = seen.get(key, -1) + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(change)
    return rounds


def split_moves(batch: Sequence[Change]) -> tuple[list[StepMoved], list[RunMoved]]:
    """A round's step moves and run moves."""
    steps = [change for change in batch if isinstance(change, StepMoved)]
    return steps, [change for change in batch if isinstance(change, RunMoved)]
