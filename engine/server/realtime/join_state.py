"""The state a Socket.IO client is sent when it joins a room: from the in-memory tracker for runs in
flight in this process, else from the store (a finished run, or one running in another process).

Every state carries `last_seq`: the client applies the live events whose seq is greater.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nomaflow.actors.events import LogLine
from nomaflow.engine.engine import Engine
from nomaflow.engine.events.bus import event_as_dict
from nomaflow.engine.events.tracker import LOG_TAIL, RunView
from nomaflow.engine.store import LogRow, RunRow, StepRow
from nomaflow.states import RunState, is_transition

IN_FLIGHT_LIMIT = 500  # runs listed in the jobs room's state


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _line_of_event(line: LogLine) -> dict[str, Any]:
    data = event_as_dict(line)
    return {key: data[key] for key in ("seq", "at", "step", "level", "message", "fields")}


def _line_of_row(row: LogRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": _iso(row.ts),
        "step": row.step_name,
        "level": row.level,
        "message": row.message,
        "fields": row.fields,
    }


def state_of_view(view: RunView) -> dict[str, Any]:
    return {
        "run": {
            "id": view.run_id,
            "job": view.job,
            "status": view.status,
            "triggered_by": view.triggered_by,
            "params": view.params,
            "dry_run": view.dry_run,
            "started_at": _iso(view.started_at),
            "finished_at": None,
            "error": None,
        },
        "steps": [
            {
                "name": step.name,
                "position": step.position,
                "status": step.status,
                "attempts": step.attempts,
                "started_at": _iso(step.started_at),
                "finished_at": _iso(step.finished_at),
                "error": step.error,
            }
            for step in view.steps
        ],
        "log_tail": [_line_of_event(line) for line in view.log_tail],
        "last_seq": view.last_seq,
    }


def state_of_rows(run: RunRow, steps: list[StepRow], tail: list[LogRow], last_seq: int) -> dict[str, Any]:
    return {
        "run": {
            "id": run.id,
            "job": run.job_name,
            "status": run.status,
            "triggered_by": run.triggered_by,
            "params": run.params,
            "dry_run": run.dry_run,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "error": run.error,
        },
        "steps": [
            {
                "name": step.step_name,
                "position": step.position,
                "status": step.status,
                "attempts": step.attempts,
                "started_at": _iso(step.started_at),
                "finished_at": _iso(step.finished_at),
                "error": step.error,
            }
            for step in steps
        ],
        "log_tail": [_line_of_row(row) for row in tail],
        "last_seq": last_seq,
    }


async def _tail(engine: Engine, run_id: str) -> tuple[list[LogRow], int]:
    """The run's last log lines (state transitions left out) and its highest seq."""
    rows = await engine.store.last_logs(run_id, limit=LOG_TAIL * 2)
    last_seq = rows[-1].seq if rows else 0
    lines = [row for row in rows if not is_transition(row.fields)]
    return lines[-LOG_TAIL:], last_seq


async def run_state(engine: Engine, run_id: str) -> dict[str, Any] | None:
    view = engine.tracker.runs.get(run_id)
    if view is not None:
        return state_of_view(view)
    run = await engine.store.get_run(run_id)
    if run is None:
        return None
    steps = await engine.store.get_steps(run_id)
    tail, last_seq = await _tail(engine, run_id)
    return state_of_rows(run, steps, tail, last_seq)


def local_in_flight(engine: Engine) -> list[dict[str, Any]]:
    return [state_of_view(view) for view in list(engine.tracker.runs.values())]


async def remote_in_flight(engine: Engine, known: set[str]) -> list[dict[str, Any]]:
    """Runs in flight in other processes sharing the store (without their log tails)."""
    page = await engine.store.list_runs(status=RunState.RUNNING, limit=IN_FLIGHT_LIMIT)
    states = []
    for run in page.runs:
        if run.id in known:
            continue
        steps = await engine.store.get_steps(run.id)
        states.append(state_of_rows(run, steps, [], 0))
    return states
