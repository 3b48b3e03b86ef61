"""The job store's tables in memory, for the fake store (tests/fakes.py): the same rows, built by the same
functions as the SQL store's (engine/store/writes.py), under the same rules (compare-and-set, one
running run per job, one run per cron fire, aware instants), so the store contract tests run on it too."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from nomaflow.actors.events import LogLine
from nomaflow.actors.ports import Change, RunMoved, RunRecord, StaleState, StepMoved, StepRecord
from nomaflow.engine.store.compare_and_set import stale_state
from nomaflow.engine.store.one_by_one import ALREADY_RUNNING
from nomaflow.engine.store.rows import LogRow, RunRow, StepRow
from nomaflow.engine.store.writes import (
    Admit,
    AppendLogs,
    Row,
    admission_row,
    admitted_logs,
    change_row,
    clears_error,
    move_instants,
    run_row,
    step_rows,
    transition_row,
)
from nomaflow.states import RunState, RunTrigger


def _aware(value: Any) -> None:
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the job store; pass an aware one")


def _utc(row: Row) -> Row:
    """The row as read back: every instant in UTC, as the SQL store's columns give them."""
    return {
        key: value.astimezone(UTC) if isinstance(value, datetime) else value for key, value in row.items()
    }


class MemoryTables:
    def __init__(self) -> None:
        self.runs: dict[str, Row] = {}
        self.steps: dict[tuple[str, int], Row] = {}
        self.logs: dict[tuple[str, int], Row] = {}

    # --- writes (each all or nothing, as a transaction) ---

    def admit(
        self, run: RunRecord, steps: Sequence[StepRecord], seq: int, moves: Sequence[StepMoved]
    ) -> bool:
        for value in (run.started_at, run.scheduled_for, *(move.at for move in moves)):
            _aware(value)
        if run.id in self.runs:
            raise ValueError(f"run {run.id} is already recorded in the job store")
        write = Admit(run, steps, seq, moves)
        new_steps = step_rows(write)  # raises ValueError for moves that do not fit
        reason = self._why_not_admitted(run)
        if reason is not None:
            row = run_row(run, RunState.SKIPPED) | {"finished_at": run.started_at, "error": reason}
            self._insert_skipped(row)
            self._log([admission_row(run, seq, RunTrigger.SKIP, RunState.SKIPPED, reason)])
            return False
        self.runs[run.id] = run_row(run, RunState.RUNNING)
        for step in new_steps:
            self.steps[(run.id, step["position"])] = step
        self._log(admitted_logs(write))
        return True

    def insert_skipped(self, run: RunRecord, seq: int) -> None:
        _aware(run.started_at)
        if run.id in self.runs:
            raise ValueError(f"run {run.id} is already recorded in the job store")
        self._insert_skipped(run_row(run, RunState.SKIPPED))
        self._log([admission_row(run, seq, RunTrigger.SKIP, RunState.SKIPPED, run.error)])

    def apply(self, changes: Sequence[Change]) -> None:
        status = {self._key(change): self._status(change) for change in changes}
        for change in changes:
            _aware(change.at)
            key = self._key(change)
            if status[key] != change.source:
                raise stale_state(change, status[key])
            status[key] = change.dest
        for change in changes:
            started, finished = move_instants(change)
            if isinstance(change, StepMoved):
                row = self.steps[(change.run_id, change.position)]
                # Plain text, as the SQL store writes it.
                row.update(status=str(change.dest), attempts=change.attempts)
                for column in ("input", "output", "error"):
                    if (value := getattr(change, column)) is not None:
                        row[column] = value
                if clears_error(change):
                    row["error"] = None
                row["started_at"] = started or row["started_at"]
            else:
                row = self.runs[change.run_id]
                row["status"] = str(change.dest)
                if change.error is not None:
                    row["error"] = change.error
            row["finished_at"] = finished or row["finished_at"]
        self._log([change_row(change) for change in changes])

    def append_logs(self, lines: Sequence[LogLine]) -> None:
        self._log(AppendLogs.of(lines).rows)

    def end_run(self, run_id: str, *, first_seq: int, at: datetime, error: str) -> bool:
        run = self.runs.get(run_id)
        if run is None or run["status"] != "running":
            return False
        run.update(status="failed", finished_at=at, error=error)
        logs, seq = [], first_seq
        for (owner, _), step in sorted(self.steps.items()):
            if owner != run_id or step["status"] not in ("running", "retrying", "pending"):
                continue
            interrupted = step["status"] != "pending"
            dest, trigger = ("failed", "fail") if interrupted else ("skipped", "skip")
            if step["status"] == "retrying":  # the table has no retrying -> failed move
                dest, trigger = "aborted", "abort"
            logs.append(
                transition_row(
                    run_id=run_id,
                    seq=seq,
                    at=at,
                    step=step["step_name"],
                    trigger=trigger,
                    source=step["status"],
                    dest=dest,
                    attempt=step["attempts"],
                    error=error if interrupted else None,
                )
            )
            step.update(status=dest, finished_at=at, error=error if interrupted else None)
            seq += 1
        logs.append(
            transition_row(
                run_id=run_id,
                seq=seq,
                at=at,
                step=None,
                trigger="fail",
                source="running",
                dest="failed",
                attempt=None,
                error=error,
            )
        )
        self._log(logs)
        return True

    # --- reads ---

    def list_runs(self, *, job: str | None, status: str | None) -> list[RunRow]:
        rows = [
            row
            for row in self.runs.values()
            if (job is None or row["job_name"] == job) and (status is None or row["status"] == status)
        ]
        rows.sort(key=lambda row: (row["started_at"], row["id"]), reverse=True)
        return [RunRow(**_utc(row)) for row in rows]

    def get_run(self, run_id: str) -> RunRow | None:
        row = self.runs.get(run_id)
        return None if row is None else RunRow(**_utc(row))

    def get_steps(self, run_id: str) -> list[StepRow]:
        rows = [row for (owner, _), row in sorted(self.steps.items()) if owner == run_id]
        return [StepRow(**_utc(row)) for row in rows]

    def get_logs(self, run_id: str, after_seq: int, limit: int) -> list[LogRow]:
        rows = sorted(
            (row for (owner, seq), row in self.logs.items() if owner == run_id and seq > after_seq),
            key=lambda row: row["seq"],
        )
        return [LogRow(**_utc(row)) for row in rows[:limit]]

    # --- the rules ---

    def _why_not_admitted(self, run: RunRecord) -> str | None:
        for other in self.runs.values():
            if other["job_name"] == run.job_name and other["status"] == "running":
                return ALREADY_RUNNING
        if run.scheduled_for is not None and (taken := self._fire_taken(run.job_name, run.scheduled_for)):
            fire = run.scheduled_for.astimezone(UTC).isoformat()
            return f"the fire at {fire} was already run by another engine process (run {taken})"
        return None

    def _fire_taken(self, job: str, fire: datetime) -> str | None:
        for other in self.runs.values():
            if other["job_name"] == job and other["scheduled_for"] == fire:
                return str(other["id"])
        return None

    def _insert_skipped(self, row: Row) -> None:
        if row["scheduled_for"] is not None and self._fire_taken(row["job_name"], row["scheduled_for"]):
            # The fire belongs to another run: the skip is recorded as a run standing for no fire.
            row = {**row, "scheduled_for": None}
        self.runs[row["id"]] = row

    def _log(self, rows: Sequence[Row]) -> None:
        for row in rows:
            self.logs[(row["run_id"], row["seq"])] = row

    @staticmethod
    def _key(change: Change) -> tuple[str, int | None]:
        return (change.run_id, change.position if isinstance(change, StepMoved) else None)

    def _status(self, change: Change) -> str | None:
        if isinstance(change, RunMoved):
            run = self.runs.get(change.run_id)
            return None if run is None else str(run["status"])
        step = self.steps.get((change.run_id, change.position))
        return None if step is None else str(step["status"])


__all__ = ["MemoryTables", "StaleState"]
