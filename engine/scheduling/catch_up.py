"""Catch-up: the cron fires that were due while no engine was scheduling, and running them.

When the scheduler starts (at engine start, when this engine becomes the leader, when the store returns
after an outage) it knows each job's last recorded fire (the store's `last_fires`) and asks
`plan_catch_up` which fires to run now, by the job's `catch_up` policy (`skip`, `latest`, `all`) and
`catch_up_window`. Restarting twice never adds runs: the second start finds the first one's fires
recorded (and the store's unique (job, scheduled_for) absorbs a fire dispatched twice). `CatchUp` then
runs each job's missed fires one after another, oldest first, since a job never overlaps itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.running.ports import Spawn, Trigger

# The engine's logger: catch-up runs are logged where they always were.
log = logging.getLogger("nomaflow.engine")

# A catch-up of "all" dispatches at most this many missed fires per job, oldest dropped first.
CATCH_UP_LIMIT = 1000


def missed_fires(job: JobDefinition, last_fire: datetime | None, now: datetime) -> list[datetime]:
    """The fires of `job` to dispatch now for those due after `last_fire` and up to `now`, by its policy."""
    if last_fire is None or job.schedule is None or job.catch_up == "skip":
        return []
    oldest = now - timedelta(seconds=job.catch_up_window_seconds)
    missed: list[datetime] = []
    cursor = max(last_fire, oldest - timedelta(microseconds=1))
    while (fire := job.schedule.next_after(cursor)) is not None and fire <= now:
        missed.append(fire)
        if len(missed) > CATCH_UP_LIMIT:
            missed.pop(0)
        cursor = fire
    if job.catch_up == "latest":
        return missed[-1:]
    return missed


def plan_catch_up(
    jobs: Iterable[JobDefinition], last_fires: Mapping[str, datetime], now: datetime
) -> list[tuple[JobDefinition, list[datetime]]]:
    """Each job with fires to catch up, and those fires, oldest first."""
    plan: list[tuple[JobDefinition, list[datetime]]] = []
    for job in jobs:
        missed = missed_fires(job, last_fires.get(job.name), now)
        if missed:
            plan.append((job, missed))
    return plan


class CatchUp:
    """Runs one job's missed fires one after another in the engine's background, each one waited for:
    the scheduler hands it the fires and goes on firing cron meanwhile."""

    def __init__(self, trigger: Trigger, spawn: Spawn) -> None:
        self._trigger = trigger
        self._spawn = spawn
        self.in_progress = 0  # how many jobs are still running their missed fires

    def __call__(self, job: JobDefinition, fires: list[datetime]) -> None:
        self.in_progress += 1
        self._spawn(self._run_missed(job, fires), name=f"catch-up of job {job.name}")

    async def _run_missed(self, job: JobDefinition, fires: list[datetime]) -> None:
        try:
            for fire in fires:
                try:
                    run = await self._trigger(job.name, job.params, triggered_by="cron", scheduled_for=fire)
                    await run.wait()
                except StoreUnavailable as exc:
                    # The rest waits for the store: the scheduler's restart catches up from what it holds.
                    log.warning(
                        "catching up job %s stops at the %s fire: %s", job.name, fire.isoformat(), exc
                    )
                    return
                except Exception:
                    log.exception("catching up the %s fire of job %s failed", fire.isoformat(), job.name)
        finally:
            self.in_progress -= 1
