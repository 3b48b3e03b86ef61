"""The run lifecycle. Everything that sets a run's state is in this table.

A run is `pending` only inside the engine, before admission; the statuses persisted in `ly2_job_runs` are
running, succeeded, failed, aborted and skipped.
"""

from __future__ import annotations

from enum import StrEnum

from nomaflow.states.machine import MachineTable, Transition


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"


class RunTrigger(StrEnum):
    ADMIT = "admit"  # no other run of the job is in flight
    SKIP = "skip"  # another run of the job is in flight: record this fire and do nothing
    SUCCEED = "succeed"  # every step succeeded
    FAIL = "fail"  # a step failed after its retries, or the run itself timed out or was interrupted
    ABORT = "abort"  # an operator or a shutdown cancelled it


R = RunState
RUN_TABLE: MachineTable[RunState, RunTrigger] = MachineTable(
    name="run",
    states=RunState,
    triggers=RunTrigger,
    initial=R.PENDING,
    transitions=(
        Transition(RunTrigger.ADMIT, (R.PENDING,), R.RUNNING),
        Transition(RunTrigger.SKIP, (R.PENDING,), R.SKIPPED),
        Transition(RunTrigger.SUCCEED, (R.RUNNING,), R.SUCCEEDED),
        Transition(RunTrigger.FAIL, (R.RUNNING,), R.FAILED),
        Transition(RunTrigger.ABORT, (R.RUNNING,), R.ABORTED),
    ),
    final=frozenset({R.SUCCEEDED, R.FAILED, R.ABORTED, R.SKIPPED}),
)

# The statuses a run ends in: the table's final states (plain strings compare equal to them).
FINISHED: frozenset[RunState] = RUN_TABLE.final
