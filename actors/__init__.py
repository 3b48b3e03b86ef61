"""The actor runtime: Supervisor -> RunActor -> StepActor, and the ports they need from the engine."""

from actors.base import Mailbox, Reply
from actors.errors import EngineStopping, PermanentStepFailure, StepFailure, StepTimedOut, UnknownJob
from actors.outcome import RunOutcome, StepOutcome
from actors.plan import JobPlan, RunRequest, StepPlan
from actors.ports import StepContext
from actors.retry import Backoff, RetryDecision, RetryPolicy
from actors.run_actor import Admission, RunActor
from actors.step_actor import StepActor
from actors.supervisor import Supervisor

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
    "Supervisor",
    "UnknownJob",
]
