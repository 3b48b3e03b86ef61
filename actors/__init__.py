"""The actor runtime: Supervisor -> RunActor -> StepActor, and the ports they need from the engine.

Names are loaded on first use: a module that needs one of them (the config loader needs the retry
policy) does not load the whole runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomaflow._exports import lazy_exports

# name -> the module that defines it
_PUBLIC = {
    "Admission": "nomaflow.actors.run_actor",
    "Backoff": "nomaflow.actors.retry",
    "EngineStopping": "nomaflow.actors.errors",
    "JobPlan": "nomaflow.actors.plan",
    "Mailbox": "nomaflow.actors.base",
    "PermanentStepFailure": "nomaflow.actors.errors",
    "Reply": "nomaflow.actors.base",
    "RetryDecision": "nomaflow.actors.retry",
    "RetryPolicy": "nomaflow.actors.retry",
    "RunActor": "nomaflow.actors.run_actor",
    "RunOutcome": "nomaflow.actors.outcome",
    "RunRequest": "nomaflow.actors.plan",
    "StepActor": "nomaflow.actors.step_actor",
    "StepContext": "nomaflow.actors.ports",
    "StepFailure": "nomaflow.actors.errors",
    "StepOutcome": "nomaflow.actors.outcome",
    "StepPlan": "nomaflow.actors.plan",
    "StepTimedOut": "nomaflow.actors.errors",
    "StoreUnavailable": "nomaflow.actors.errors",
    "Supervisor": "nomaflow.actors.supervisor",
    "UnknownJob": "nomaflow.actors.errors",
}

if TYPE_CHECKING:
    from nomaflow.actors.base import Mailbox, Reply
    from nomaflow.actors.errors import (
        EngineStopping,
        PermanentStepFailure,
        StepFailure,
        StepTimedOut,
        StoreUnavailable,
        UnknownJob,
    )
    from nomaflow.actors.outcome import RunOutcome, StepOutcome
    from nomaflow.actors.plan import JobPlan, RunRequest, StepPlan
    from nomaflow.actors.ports import StepContext
    from nomaflow.actors.retry import Backoff, RetryDecision, RetryPolicy
    from nomaflow.actors.run_actor import Admission, RunActor
    from nomaflow.actors.step_actor import StepActor
    from nomaflow.actors.supervisor import Supervisor


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = [
    "Admission",
    "Backoff",
    "EngineStopping",
    "JobPlan",
    "Mailbox",
    "PermanentStepFailure",
    "Reply",
    "RetryDecision",
    "RetryPolicy",
    "RunActor",
    "RunOutcome",
    "RunRequest",
    "StepActor",
    "StepContext",
    "StepFailure",
    "StepOutcome",
    "StepPlan",
    "StepTimedOut",
    "StoreUnavailable",
    "Supervisor",
    "UnknownJob",
]
