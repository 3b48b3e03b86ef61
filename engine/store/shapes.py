"""Stored runs, steps, log lines and pause states as the plain dicts the REST API answers them with.

One mapping from rows to their JSON shape, shared by the API's pydantic models (engine/server/api/
schemas.py builds each model from these) and the CLI's `--output json` and tables, which must not load
pydantic to read a few rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nomaflow.engine.store.rows import JobState, LogRow, RunRow, StepRow

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


def job_state_out(state: JobState) -> Shape:
    return {
        "paused": state.paused,
        "changed_by": state.changed_by,
        "changed_at": state.changed_at,
        "reason": state.reason,
    }
