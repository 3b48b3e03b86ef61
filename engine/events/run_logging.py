"""Runs starting and ending, in the process log, where operators look first: a listener on the bus."""

from __future__ import annotations

import logging

from nomaflow.actors.events import AnyEvent, RunFinished, RunSkipped, RunStarted
from nomaflow.engine.telemetry.fields import run_fields
from nomaflow.states import RunState

# The engine's logger: these lines are where they always were.
log = logging.getLogger("nomaflow.engine")

# The events it writes a line for (give these as the listener's `only`).
LOGGED = (RunStarted, RunFinished, RunSkipped)


def log_run_event(event: AnyEvent) -> None:
    """Runs starting and ending, in the process log, where operators look first."""
    extra = run_fields(event.run_id, event.job)
    if isinstance(event, RunStarted):
        when = f", scheduled for {event.scheduled_for.isoformat()}" if event.scheduled_for else ""
        log.info(
            "run of %s started (%s, id %s%s)", event.job, event.triggered_by, event.run_id, when, extra=extra
        )
    elif isinstance(event, RunFinished):
        level = logging.INFO if event.status == RunState.SUCCEEDED else logging.WARNING
        tail = f": {event.error}" if event.error else ""
        log.log(level, "run of %s %s (id %s)%s", event.job, event.status, event.run_id, tail, extra=extra)
    elif isinstance(event, RunSkipped):
        log.warning(
            "run of %s skipped (%s, id %s): %s",
            event.job,
            event.triggered_by,
            event.run_id,
            event.reason,
            extra=extra,
        )
