"""Runs, steps, log lines and jobs in the shapes the REST API answers them (engine/server/api/schemas.py),
as plain dicts: what the in-process CLI prints with `--output json`, and what every table is drawn from,
local or remote alike.

The rows' own shapes come from engine/store/shapes.py, as the API's models do. Plain functions, not the
API's pydantic models: the CLI must start in a fraction of a second, and
pydantic and the server stack are not worth loading to read a few rows. tests/engine/cli/test_shapes.py
holds the two to the same shape (the same keys, and each dict validates as its model).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

# Re-exported: the CLI reads every shape from here.
from nomaflow.engine.store.shapes import Shape as Shape
from nomaflow.engine.store.shapes import job_state_out as job_state_out
from nomaflow.engine.store.shapes import log_line as log_line
from nomaflow.engine.store.shapes import run_out as run_out
from nomaflow.engine.store.shapes import run_summary as run_summary
from nomaflow.engine.store.shapes import step_out as step_out

if TYPE_CHECKING:
    from nomaflow.engine.config import JobDefinition
    from nomaflow.engine.store.rows import JobState, RunRow, StepRow


def run_detail(run: RunRow, steps: Iterable[StepRow]) -> Shape:
    """RunDetail: `GET /admin/runs/{id}`, the run with its steps."""
    return {**run_out(run), "steps": [step_out(step) for step in steps]}


def run_page(runs: Iterable[RunRow], next_cursor: str | None) -> Shape:
    """RunPageOut: `GET /admin/runs`."""
    return {"runs": [run_out(run) for run in runs], "next_cursor": next_cursor}


def logs_out(lines: list[Shape], run_status: str) -> Shape:
    """LogsOut: a run's whole log at once."""
    return {"lines": lines, "last_seq": lines[-1]["seq"] if lines else 0, "run_status": run_status}


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
