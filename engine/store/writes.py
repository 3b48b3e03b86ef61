"""The store's writes, as callers hand them in, and the rows they become.

Every state change also becomes a structured `transition` row in ly2_job_logs (machine, trigger,
source, dest), so the diagram view can replay the path a run took from its log alone. How a group of
writes is executed is elsewhere: `batch` (the common path, straight through the driver) and
`one_by_one` (one write at a time, after a batch failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import msgspec

from nomaflow.actors.events import LogLine
from nomaflow.actors.jsonable import escape_unstorable
from nomaflow.actors.ports import Change, RunMoved, RunRecord, StepMoved, StepRecord
from nomaflow.states import RUN_TABLE, STEP_TABLE, TRANSITION, RunState, RunTrigger, StepState

# Plain text, for rows (see run_row).
_PENDING, _RUNNING, _SUCCEEDED = StepState.PENDING.value, StepState.RUNNING.value, StepState.SUCCEEDED.value
_RUN_FINAL = frozenset(state.value for state in RUN_TABLE.final)
_STEP_FINAL = frozenset(state.value for state in STEP_TABLE.final)

Row = dict[str, Any]

# --- the writes callers hand in ---


class Admit(NamedTuple):
    run: RunRecord
    steps: Sequence[StepRecord]
    seq: int
    # Step moves made before admission (the first step's start, steps reused from a resumed run):
    # the step rows are inserted already moved, so admitting and starting is one transaction.
    moves: Sequence[StepMoved] = ()


class InsertSkipped(NamedTuple):
    run: RunRecord
    seq: int


class Apply(NamedTuple):
    changes: Sequence[Change]


class AppendLogs(NamedTuple):
    rows: list[Row]

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


class EndRun(NamedTuple):
    """End a run its actor could not carry through (RunStore.end_run). Rare, and it reads the run's
    rows before moving them: always executed one by one."""

    run_id: str
    first_seq: int
    at: datetime
    error: str


Write = Admit | InsertSkipped | Apply | AppendLogs | EndRun

R = TypeVar("R", RunRecord, StepMoved, Change)


def _escaped_record(record: R) -> R:
    values = {
        name: escape_unstorable(value)
        for name in record.__struct_fields__
        if isinstance(value := getattr(record, name), str | dict | list)
    }
    return msgspec.structs.replace(record, **values)


def escaped(write: Write) -> Write:
    """`write` with every NUL and lone surrogate in its text and JSON written out as `\\u0000` /
    `\\udXXX`: for a write the database refused for holding text it cannot store."""
    if isinstance(write, Admit):
        moves = [_escaped_record(move) for move in write.moves]
        return Admit(_escaped_record(write.run), write.steps, write.seq, moves)
    if isinstance(write, InsertSkipped):
        return InsertSkipped(_escaped_record(write.run), write.seq)
    if isinstance(write, Apply):
        return Apply([_escaped_record(change) for change in write.changes])
    if isinstance(write, AppendLogs):
        return AppendLogs(
            [{key: escape_unstorable(value) for key, value in row.items()} for row in write.rows]
        )
    return write._replace(error=escape_unstorable(write.error))


# --- rows ---


def transition_row(
    *,
    run_id: str,
    seq: int,
    at: datetime,
    step: str | None,
    trigger: str,
    source: str,
    dest: str,
    attempt: int | None,
    error: str | None,
    delay_seconds: float | None = None,
) -> Row:
    """The ly2_job_logs row recording one transition of the run machine (step None) or a step's. A
    `retry` row also says how long the step waits and when its next attempt is due (`due_at`, ISO 8601),
    so a page opened later can still show it."""
    fields: Row = {
        "event": TRANSITION,
        "machine": "run" if step is None else "step",
        "step": step,
        "trigger": trigger,
        "source": source,
        "dest": dest,
        "attempt": attempt,
    }
    if error is not None:
        fields["error"] = error
    if delay_seconds is not None:
        fields["delay_seconds"] = delay_seconds
        fields["due_at"] = (at + timedelta(seconds=delay_seconds)).isoformat()
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


def admission_row(run: RunRecord, seq: int, trigger: RunTrigger, dest: RunState, error: str | None) -> Row:
    return transition_row(
        run_id=run.id,
        seq=seq,
        at=run.started_at,
        step=None,
        trigger=str(trigger),  # plain text in the row (see run_row)
        source=_PENDING,
        dest=str(dest),
        attempt=None,
        error=error,
    )


def change_row(change: Change) -> Row:
    if isinstance(change, StepMoved):
        step, attempt, delay = change.step_name, change.attempts, change.delay_seconds
    else:
        step, attempt, delay = None, None, None
    return transition_row(
        run_id=change.run_id,
        seq=change.seq,
        at=change.at,
        step=step,
        # Plain text in the row, as everywhere the store writes a status (see run_row).
        trigger=str(change.trigger),
        source=str(change.source),
        dest=str(change.dest),
        attempt=attempt,
        error=change.error,
        delay_seconds=delay,
    )


def run_row(run: RunRecord, status: RunState) -> Row:
    running = status is RunState.RUNNING
    return {
        "id": run.id,
        "job_name": run.job_name,
        "app": run.app,
        "status": str(status),  # as plain text: sqlite3 looks up an adapter for a str subclass
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


def move_instants(change: Change) -> tuple[datetime | None, datetime | None]:
    """What a move sets of its row's `started_at` and `finished_at` (None: left as it is). The first
    attempt starts a step; a resumed attempt keeps the original start. A final state ends the row."""
    if isinstance(change, StepMoved):
        started = change.at if change.dest == _RUNNING and change.source == _PENDING else None
        return started, change.at if change.dest in _STEP_FINAL else None
    return None, change.at if change.dest in _RUN_FINAL else None


def clears_error(change: StepMoved) -> bool:
    """Whether the move empties its step's `error`: a step that succeeds (after failed attempts) holds
    no error; each failed attempt's error stays in its `retry` transition row."""
    return change.dest == _SUCCEEDED


# What a move writes, in one order for every executor (the batches, the one-by-one path): the row it
# targets, the compare-and-set's source, and the values the update sets (None: the column is kept).
STEP_UPDATE = (
    "run_id",
    "position",
    "source",
    "dest",
    "attempts",
    "started_at",
    "finished_at",
    "input",
    "output",
    "error",
    "clear_error",
)
RUN_UPDATE = ("run_id", "source", "dest", "finished_at", "error")


def step_update(move: StepMoved) -> tuple[Any, ...]:
    """The values of STEP_UPDATE for `move`."""
    started, finished = move_instants(move)
    return (
        move.run_id,
        move.position,
        str(move.source),  # plain text: see run_row
        str(move.dest),
        move.attempts,
        started,
        finished,
        move.input,
        move.output,
        move.error,
        clears_error(move),
    )


def run_update(move: RunMoved) -> tuple[Any, ...]:
    """The values of RUN_UPDATE for `move`."""
    return (move.run_id, str(move.source), str(move.dest), move_instants(move)[1], move.error)


def step_rows(admit: Admit) -> list[Row]:
    """The admitted run's step rows, each already moved by the admission's moves (a first step that
    starts is inserted `running`), as the moves' compare-and-set would have left a `pending` row."""
    moves: dict[int, list[StepMoved]] = {}
    for move in admit.moves:
        moves.setdefault(move.position, []).append(move)
    rows = []
    for step in admit.steps:
        row: Row = {
            "run_id": admit.run.id,
            "position": step.position,
            "step_name": step.step_name,
            "type": step.type,
            "status": _PENDING,
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "input": None,
            "output": None,
            "error": None,
            "dry_run": step.dry_run,
        }
        for move in moves.pop(step.position, ()):
            if move.source != row["status"]:
                raise ValueError(f"step {move.step_name!r}: cannot {move.trigger} from {row['status']!r}")
            row["status"], row["attempts"] = str(move.dest), move.attempts
            started, finished = move_instants(move)
            row["started_at"] = started or row["started_at"]
            row["finished_at"] = finished or row["finished_at"]
            for column in ("input", "output", "error"):
                if (value := getattr(move, column)) is not None:
                    row[column] = value
            if clears_error(move):
                row["error"] = None
        rows.append(row)
    if moves:
        raise ValueError(f"run {admit.run.id}: moves for steps it does not have: {sorted(moves)}")
    return rows


def admitted_logs(admit: Admit) -> list[Row]:
    """The transition rows of an admitted run: its `admit`, then each move its steps made before it."""
    return [
        admission_row(admit.run, admit.seq, RunTrigger.ADMIT, RunState.RUNNING, None),
        *map(change_row, admit.moves),
    ]
