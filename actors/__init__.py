"""The actor runtime: Supervisor -> RunActor -> StepActor, and the ports they need from the engine."""

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
