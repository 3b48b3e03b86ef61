"""Runs, steps, log lines and jobs in the shapes the REST API answers them (engine/server/api/schemas.py),
as plain dicts: what the in-process CLI prints with `--output json`, and what every table is drawn from,
local or remote alike.

Plain functions, not the API's pydantic models: the CLI must start in a fraction of a second, and
pydantic and the server stack are not worth loading to read a few rows. tests/engine/cli/test_shapes.py
holds the two to the same shape (the same keys, and each dict validates as its model).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nomaflow.engine.config import JobDefinition
    from nomaflow.engine.store.job_state import JobState
    from nomaflow.engine.store.rows import LogRow, RunRow, StepRow

Shape = dict[str, Any]


def run_summary(run: RunRow) -> Shape:
    """RunSummary: a job's last run."""
    return {
        "id": run.id,
        "status": run.status,
        "triggered_by": run.triggered_by,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def run_out(run: RunRow) -> Shape:
    """RunOut: one row of `GET /admin/runs`."""
    return {
        "id": run.id,
        "job": run.job_name,
        "app": run.app,
        "status": run.status,
        "triggered_by": run.triggered_by,
        "params": run.params,
        "dry_run": run.dry_run,
        "scheduled_for": run.scheduled_for,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "owner": run.owner,
        "resumed_from": run.resumed_from,
    }


def step_out(step: StepRow) -> Shape:
    """StepOut: one step of a run."""
    return {
        "position": step.position,
        "name": step.step_name,
        "type": step.type,
        "status": step.status,
        "attempts": step.attempts,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "input": step.input,
        "output": step.output,
        "error": step.error,
        "dry_run": step.dry_run,
    }


def run_detail(run: RunRow, steps: Iterable[StepRow]) -> Shape:
    """RunDetail: `GET /admin/runs/{id}`, the run with its steps."""
    return {**run_out(run), "steps": [step_out(step) for step in steps]}


def run_page(runs: Iterable[RunRow], next_cursor: str | None) -> Shape:
    """RunPageOut: `GET /admin/runs`."""
    return {"runs": [run_out(run) for run in runs], "next_cursor": next_cursor}


def log_line(row: LogRow) -> Shape:
    """LogLineOut: one line of `GET /admin/runs/{id}/logs`."""
    return {
        "seq": row.seq,
        "at": row.ts,
        "step": row.step_name,
        "level": row.level,
        "message": row.message,
        "fields": row.fields,
    }


def logs_out(lines: list[Shape], run_status: str) -> Shape:
    """LogsOut: a run's whole log at once."""
    return {"lines": lines, "last_seq": lines[-1]["seq"] if lines else 0, "run_status": run_status}


def job_state_out(state: JobState) -> Shape:
    return {
        "paused": state.paused,
        "changed_by": state.changed_by,
        "changed_at": state.changed_at,
        "reason": state.reason,
    }


def job_out(
    job: JobDefinition,
    *,
    state: JobState | None,
    next_fire: datetime | None,
    last_run: RunRow | None,
    running: str | None,
) -> Shape:
    """JobOut: one job of `GET /admin/jobs`."""
    return {
        "name": job.name,
        "app": job.app,
        "description": job.description,
        "schedule": job.schedule.expression if job.schedule else None,
        "timezone": job.timezone,
        "enabled": job.enabled,
        "paused": state is not None and state.paused,
        "state": job_state_out(state) if state else None,
        "next_fire": next_fire,
        "running": running,
        "last_run": run_summary(last_run) if last_run else None,
        "params": dict(job.params),
        "steps": [
            {"name": step.name, "type": step.type, "description": step.description, "dry_run": step.dry_run}
            for step in job.steps
        ],
    }


def parse_instant(text: str | None) -> datetime | None:
    """A datetime of a REST answer, read back."""
    return datetime.fromisoformat(text) if text else None


def instant(value: Any) -> datetime | None:
    """A shape's datetime field, whether it was built here (a datetime) or read from JSON (a string)."""
    if value is None or isinstance(value, datetime):
        return value
    return parse_instant(str(value))
