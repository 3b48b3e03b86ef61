"""What the actors need to know of a job: its steps in order and how each is retried and timed.

The engine builds these from validated configuration; `options` is the step type's own decoded settings,
opaque here and handed back to the engine's step executor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from nomaflow.actors.retry import RetryPolicy


class StepPlan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: str
    position: int
    retry: RetryPolicy
    timeout_seconds: float | None = None
    options: Any = None
    dry_run: bool = False  # this step only counts what it would do, whatever the run's dry_run


class JobPlan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    app: str
    timezone: str
    steps: tuple[StepPlan, ...]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_seconds: float | None = None  # the whole run's; it then fails as timed out


class RunRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One dispatch: every trigger (cron, UI, REST, CLI, recovery, Python) becomes one of these."""

    run_id: str
    job: str
    params: dict[str, Any]
    dry_run: bool
    triggered_by: str
    scheduled_for: datetime | None = None
    resumed_from: str | None = None  # the run this one resumes
    # When resuming: the step to start at, and the outputs of the steps before it, by step name.
    start_at: int = 0
    reused_outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    # Who asked for the run and through what (the REST API's audit fields): written as the run's first
    # log line, before any step's, so the log reads in the order things happened.
    audit: dict[str, Any] | None = None
