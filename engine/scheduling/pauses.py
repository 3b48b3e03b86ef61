"""Jobs an operator paused: cron does not fire them (manual triggers still run them) until resumed.

Who paused or resumed a job, when and why is kept in ly2_job_state, so a pause survives a restart. An
engine that schedules re-reads it every few seconds, so a job paused through another process sharing
the store stops firing here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import anyio

from nomaflow.actors.ports import Clock
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.rows import JobState

# The engine's logger: pauses and resumes are logged where they always were.
log = logging.getLogger("nomaflow.engine")

# How often a scheduling engine re-reads ly2_job_state. A polling interval, not a point in time: it is
# kept off the injected clock, whose deadlines are the scheduler's alone.
JOB_STATE_REFRESH_SECONDS = 5.0


class JobStates(Protocol):
    """Where the job states are kept: the job store."""

    async def job_states(self) -> dict[str, JobState]: ...

    async def save_job_state(self, state: JobState) -> None: ...


class Pauses:
    def __init__(self, clock: Clock, on_change: Callable[[], None]) -> None:
        self._clock = clock
        self._on_change = on_change  # called when a job's state changed (the scheduler reloads)
        self._states: dict[str, JobState] = {}

    def paused(self, job: str) -> bool:
        """Whether an operator paused the job: cron does not fire it; manual triggers still run it."""
        state = self._states.get(job)
        return state is not None and state.paused

    def state(self, job: str) -> JobState | None:
        """Who last paused or resumed the job, when and why; None if nobody ever did."""
        return self._states.get(job)

    async def load(self, store: JobStates) -> None:
        """Read every job's state, as the engine starts."""
        self._states = await store.job_states()

    async def set(self, store: JobStates, job: str, *, paused: bool, by: str, reason: str | None) -> JobState:
        """Pause or resume `job` (persisted first), on behalf of `by`."""
        state = JobState(
            job_name=job, paused=paused, changed_by=by, changed_at=self._clock.now(), reason=reason
        )
        await store.save_job_state(state)
        self._states[job] = state
        self._on_change()
        log.info(
            "job %s %s by %s%s", job, "paused" if paused else "resumed", by, f": {reason}" if reason else ""
        )
        return state

    async def refresh(self, store: JobStates) -> bool:
        """Re-read ly2_job_state (another process may have paused a job); True if anything changed."""
        states = await store.job_states()
        if states == self._states:
            return False
        self._states = states
        self._on_change()
        return True

    async def refresh_forever(self, store: JobStates) -> None:
        while True:
            await anyio.sleep(JOB_STATE_REFRESH_SECONDS)
            try:
                await self.refresh(store)
            except Exception as exc:
                if transient_reason(exc) is None:
                    log.exception("could not re-read the paused jobs")
                else:  # the store is down: its health says so already, through the parts that write
                    log.debug("could not re-read the paused jobs: %s", exc)
