"""The scheduling actor: waits through the clock for the next cron fire and dispatches it.

Fires are kept in a heap, so 10,000 declared jobs cost one wait, not 10,000 timers. Each fire is
dispatched with `triggered_by = "cron"` and the exact `scheduled_for` (UTC) without waiting for the run,
so one slow admission never delays the next fire.

When it starts (at engine start, or when this engine becomes the leader) it first catches up the fires
that were due while nobody was scheduling, as engine/scheduling/catch_up.py plans them from the last
fire of every job.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import anyio
from anyio.abc import TaskStatus

from nomaflow.actors.ports import Clock
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.scheduling.catch_up import plan_catch_up

log = logging.getLogger("nomaflow.scheduler")

Fire = Callable[[JobDefinition, datetime], None]
# Missed fires of one job, oldest first: run one after another (a job never overlaps itself).
RunMissed = Callable[[JobDefinition, list[datetime]], None]


def first_fires(jobs: Iterable[JobDefinition], after: datetime) -> dict[str, datetime]:
    """Each scheduled job's first fire strictly after `after`, by job name.

    Jobs sharing a schedule (the same expression in the same zone) share its calendar walk: 10,000
    jobs on a few dozen schedules cost a few dozen walks (~50 µs each), not 10,000."""
    walked: dict[tuple[str, str], datetime | None] = {}
    fires: dict[str, datetime] = {}
    for job in jobs:
        if job.schedule is None:
            continue
        key = (job.schedule.expression, job.schedule.timezone)
        if key not in walked:
            walked[key] = job.schedule.next_after(after)
        if (fire := walked[key]) is not None:
            fires[job.name] = fire
    return fires


class CronScheduler:
    def __init__(
        self,
        jobs: Callable[[], Iterable[JobDefinition]],
        fire: Fire,
        clock: Clock,
        *,
        last_fires: Mapping[str, datetime] | None = None,
        catch_up: RunMissed | None = None,
    ) -> None:
        self._jobs = jobs
        self._fire = fire
        self._catch_up_with = catch_up
        self._clock = clock
        self._last_fires = dict(last_fires or {})
        self.caught_up = 0
        self.waiting = False  # true while it sleeps until the next fire (tests wait for this)
        self._heap: list[tuple[datetime, str]] = []
        self._by_name: dict[str, JobDefinition] = {}
        self._wait_scope: anyio.CancelScope | None = None
        self.fired = 0

    def reload(self) -> None:
        """Recompute every job's next fire from now (jobs were added, paused or changed)."""
        now = self._clock.now()
        self._by_name = {job.name: job for job in self._jobs() if job.enabled and job.schedule is not None}
        self._heap = [(fire, name) for name, fire in first_fires(self._by_name.values(), now).items()]
        heapq.heapify(self._heap)
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def next_fires(self) -> dict[str, datetime]:
        return {name: fire for fire, name in self._heap}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.reload()
        self._catch_up()
        task_status.started()
        while True:
            with anyio.CancelScope() as self._wait_scope:
                self.waiting = True
                try:
                    if self._heap:
                        await self._clock.sleep_until(self._heap[0][0])
                    else:
                        await anyio.sleep_forever()
                finally:
                    self.waiting = False
            self._wait_scope = None
            self._fire_due()

    def _catch_up(self) -> None:
        for job, missed in plan_catch_up(self._by_name.values(), self._last_fires, self._clock.now()):
            log.info(
                "catching up job %s: %d missed fire(s) from %s (catch_up = %s)",
                job.name,
                len(missed),
                missed[0].isoformat(),
                job.catch_up,
            )
            self.caught_up += len(missed)
            if self._catch_up_with is not None:
                self._catch_up_with(job, missed)
            else:
                for fire in missed:
                    self._dispatch(job, fire)

    def _dispatch(self, job: JobDefinition, fire: datetime) -> None:
        try:
            self._fire(job, fire)
            self.fired += 1
        except Exception:
            log.exception("could not dispatch the %s fire of job %s", fire.isoformat(), job.name)

    def _fire_due(self) -> None:
        now = self._clock.now()
        due: list[tuple[datetime, JobDefinition]] = []
        while self._heap and self._heap[0][0] <= now:
            fire, name = heapq.heappop(self._heap)
            job = self._by_name.get(name)
            if job is not None and job.schedule is not None:
                due.append((fire, job))
        # Dispatch every due fire first: the calendar arithmetic for the next ones can wait a moment,
        # and jobs sharing a schedule share it.
        for fire, job in due:
            self._dispatch(job, fire)
        following: dict[tuple[str, str, datetime], datetime | None] = {}
        for fire, job in due:
            assert job.schedule is not None
            key = (job.schedule.expression, job.schedule.timezone, fire)
            if key not in following:
                following[key] = job.schedule.next_after(fire)
            if (upcoming := following[key]) is not None:
                heapq.heappush(self._heap, (upcoming, job.name))
