"""Resuming a recorded run: a new run of its job from its first step that did not succeed, reusing the
recorded outputs of the steps before it. An operator's retry asks for one; so does crash recovery for an
interrupted run of a job with `on_interrupt = "resume"` (engine/running/recovery.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.running.ports import RunRecords
from nomaflow.engine.store.rows import RunRow
from nomaflow.states import RunState, StepState


class RetryRefused(Exception):
    """A run cannot be retried from its failed step; the message says why."""


class Resumption(msgspec.Struct, frozen=True, kw_only=True):
    """Where the new run picks the recorded one up."""

    run: RunRow  # the run resumed: its job, params and dry_run carry over
    start_at: int  # the position of the first step to run
    reused_outputs: dict[str, Any]  # the recorded outputs of the steps before it, by step name


async def plan_resumption(run_id: str, store: RunRecords, job: Callable[[str], JobDefinition]) -> Resumption:
    """Where a retry of `run_id` starts, from the store's record of it and its job's definition
    (`job` raises UnknownJob for a job no longer declared). Raises RetryRefused when it cannot be done."""
    run = await store.get_run(run_id)
    if run is None:
        raise RetryRefused(f"no run with id {run_id}")
    if run.status not in (RunState.FAILED, RunState.ABORTED):
        raise RetryRefused(f"run {run_id} is {run.status}: only failed or aborted runs can be retried")
    definition = job(run.job_name)
    steps = await store.get_steps(run_id)
    planned = [step.name for step in definition.steps]
    if [step.step_name for step in steps] != planned:
        raise RetryRefused(
            f"job '{run.job_name}' has changed since run {run_id} "
            f"(its steps are now {', '.join(planned)}): trigger a new run instead"
        )
    start = next((step.position for step in steps if step.status != StepState.SUCCEEDED), len(steps))
    reused: dict[str, Any] = {}
    for step in steps[:start]:
        if isinstance(step.output, dict) and step.output.get("truncated") is True:
            raise RetryRefused(
                f"the output of step '{step.step_name}' was too large to be stored, "
                "so it cannot be reused: trigger a new run instead"
            )
        reused[step.step_name] = step.output
    return Resumption(run=run, start_at=start, reused_outputs=reused)
