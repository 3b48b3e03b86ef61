"""Facts the engine publishes after they are committed: frozen, past-tense, one struct per kind.

Each event carries its run's id and a per-run sequence number, so a subscriber that missed some can
catch up from the store and put what it has in order. The same structs go out over Socket.IO as JSON
(`type` names the struct).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from nomaflow.states import RunState, StepState


class Event(msgspec.Struct, frozen=True, tag_field="type", kw_only=True):
    run_id: str
    job: str
    seq: int
    at: datetime


class RunStarted(Event, frozen=True, tag=True):
    triggered_by: str
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    steps: tuple[str, ...]


class RunSkipped(Event, frozen=True, tag=True):
    triggered_by: str
    scheduled_for: datetime | None
    reason: str


class StepStarted(Event, frozen=True, tag=True):
    step: str
    position: int
    attempt: int
    input: dict[str, Any]


class StepRetrying(Event, frozen=True, tag=True):
    step: str
    position: int
    attempt: int
    error: str
    delay_seconds: float


class StepFinished(Event, frozen=True, tag=True):
    step: str
    position: int
    status: StepState
    attempts: int
    output: Any
    error: str | None


class LogLine(Event, frozen=True, tag=True):
    step: str | None
    level: str
    message: str
    fields: dict[str, Any] | None = None


class RunFinished(Event, frozen=True, tag=True):
    status: RunState
    error: str | None


AnyEvent = RunStarted | RunSkipped | StepStarted | StepRetrying | StepFinished | LogLine | RunFinished
TERMINAL_EVENTS = (RunFinished, RunSkipped)
