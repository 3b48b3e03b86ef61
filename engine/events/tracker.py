"""The in-memory view of in-flight runs, kept from the bus: what a page reopened mid-run picks up.

It holds, per run still in flight, its steps' current states, every transition event, and the last
log lines (bounded). A run leaves the tracker when it ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nomaflow.actors.events import (
    AnyEvent,
    LogLine,
    RunFinished,
    RunSkipped,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from nomaflow.states import RunState, StepState

LOG_TAIL = 200


@dataclass
class StepView:
    name: str
    position: int
    status: str = StepState.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


@dataclass
class RunView:
    run_id: str
    job: str
    triggered_by: str
    started_at: datetime
    params: dict[str, Any]
    dry_run: bool
    status: str = RunState.RUNNING
    steps: list[StepView] = field(default_factory=list)
    transitions: list[AnyEvent] = field(default_factory=list)
    log_tail: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    last_seq: int = 0

    def history(self) -> list[AnyEvent]:
        """Transitions and the log tail, in sequence order."""
        return sorted([*self.transitions, *self.log_tail], key=lambda event: event.seq)


class Tracker:
    """A bus listener. It is called with every event the engine makes, so it goes straight to the
    handler for the event's type (no event class is subclassed) rather than down a chain of tests."""

    def __init__(self) -> None:
        self.runs: dict[str, RunView] = {}
        self._handlers: dict[type[Any], Callable[[Any, RunView], None]] = {
            LogLine: self._logged,
            StepStarted: self._step_started,
            StepRetrying: self._step_retrying,
            StepFinished: self._step_finished,
            RunFinished: self._ended,
            RunSkipped: self._ended,
        }

    def __call__(self, event: AnyEvent) -> None:
        if type(event) is RunStarted:
            self._started(event)
            return
        view = self.runs.get(event.run_id)
        if view is None:
            return
        if event.seq > view.last_seq:
            view.last_seq = event.seq
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, view)

    def _started(self, event: RunStarted) -> None:
        self.runs[event.run_id] = RunView(
            run_id=event.run_id,
            job=event.job,
            triggered_by=event.triggered_by,
            started_at=event.at,
            params=event.params,
            dry_run=event.dry_run,
            steps=[StepView(name, position) for position, name in enumerate(event.steps)],
            transitions=[event],
            last_seq=event.seq,
        )

    @staticmethod
    def _logged(event: LogLine, view: RunView) -> None:
        view.log_tail.append(event)

    @staticmethod
    def _step_started(event: StepStarted, view: RunView) -> None:
        view.transitions.append(event)
        step = view.steps[event.position]
        step.status, step.attempts = StepState.RUNNING, event.attempt
        step.started_at = step.started_at or event.at

    @staticmethod
    def _step_retrying(event: StepRetrying, view: RunView) -> None:
        view.transitions.append(event)
        step = view.steps[event.position]
        step.status, step.error = StepState.RETRYING, event.error

    @staticmethod
    def _step_finished(event: StepFinished, view: RunView) -> None:
        view.transitions.append(event)
        step = view.steps[event.position]
        step.status, step.attempts, step.error, step.finished_at = (
            event.status,
            event.attempts,
            event.error,
            event.at,
        )

    def _ended(self, event: RunFinished | RunSkipped, view: RunView) -> None:
        view.transitions.append(event)
        del self.runs[event.run_id]
