"""The step lifecycle. Everything that sets a step's state is in this table.

Steps are created `pending` when their run starts, so the whole plan is visible; a step the run never
reached ends `skipped`. Between attempts a step waits in `retrying` for its backoff to pass. A run that
resumes an earlier one (retry from the failed step, crash recovery) marks the steps that had succeeded
there as `succeeded` by `reuse`, carrying their recorded output, without running them again.
"""

from __future__ import annotations

from enum import StrEnum

from nomaflow.states.machine import MachineTable, Transition


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"


class StepTrigger(StrEnum):
    START = "start"  # the run reached this step: first attempt begins
    SUCCEED = "succeed"  # an attempt returned
    RETRY = "retry"  # an attempt failed and the retry policy allows another
    RESUME = "resume"  # the backoff wait is over: next attempt begins
    FAIL = "fail"  # an attempt failed and the policy gives up
    ABORT = "abort"  # the run was cancelled while this step was in flight
    SKIP = "skip"  # the run ended before reaching this step
    REUSE = "reuse"  # this run resumes another that this step succeeded in: its output is reused


S = StepState
STEP_TABLE: MachineTable[StepState, StepTrigger] = MachineTable(
    name="step",
    states=StepState,
    triggers=StepTrigger,
    initial=S.PENDING,
    transitions=(
        Transition(StepTrigger.START, (S.PENDING,), S.RUNNING),
        Transition(StepTrigger.SUCCEED, (S.RUNNING,), S.SUCCEEDED),
        Transition(StepTrigger.RETRY, (S.RUNNING,), S.RETRYING),
        Transition(StepTrigger.RESUME, (S.RETRYING,), S.RUNNING),
        Transition(StepTrigger.FAIL, (S.RUNNING,), S.FAILED),
        Transition(StepTrigger.ABORT, (S.RUNNING, S.RETRYING), S.ABORTED),
        Transition(StepTrigger.SKIP, (S.PENDING,), S.SKIPPED),
        Transition(StepTrigger.REUSE, (S.PENDING,), S.SUCCEEDED),
    ),
    final=frozenset({S.SUCCEEDED, S.FAILED, S.ABORTED, S.SKIPPED}),
)
