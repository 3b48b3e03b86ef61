"""The scheduling actor: waits through the clock for the next cron fire and dispatches it.

Fires are kept in a heap, so 10,000 declared jobs cost one wait, not 10,000 timers. Each fire is
dispatched with `triggered_by = "cron"` and the exact `scheduled_for` (UTC) without waiting for the run,
so one slow admission never delays the next fire.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import anyio
from anyio.abc import TaskStatus

from actors.ports import Clock
from engine.config.jobs import JobDefinition

log = logging.getLogger("nomaflow.scheduler")

Fire = Callable[[JobDefinition, datetime], None]


class CronScheduler:
    def __init__(self, jobs: Callable[[], Iterable[JobDefinition]], fire: Fire, clock: Clock) -> None:
        self._jobs = jobs
        self._fire = fire
        self._clock = clock
        self._heap: list[tuple[datetime, str]] = []
        self._by_name: dict[str, JobDefinition] = {}
        self._wait_scope: anyio.CancelScope | None = None
        self.fired = 0

    def reload(self) -> None:
        """Recompute every job's next fire from now (jobs were added, paused or changed)."""
        now = self._clock.now()
        self._by_name = {job.name: job for job in self._jobs() if job.enabled and job.schedule is not None}
        self._heap = []
        for job in self._by_name.values():
            assert job.schedule is not None
            fire = job.schedule.next_after(now)
            if fire is not None:
                self._heap.append((fire, job.name))
        heapq.heapify(self._heap)
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def next_fires(self) -> dict[str, datetime]:
        return {name: fire for fire, name in self._heap}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.reload()
        task_status.started()
        while True:
            with anyio.CancelScope() as self._wait_scope:
                if self._heap:
                    await self._clock.sleep_until(self._heap[0][0])
                else:
                    await anyio.sleep_forever()
            self._wait_scope = None
            self._fire_due()

    def _fire_due(self) -> None:
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            fire, name = heapq.heappop(self._heap)
            job = self._by_name.get(name)
            if job is None or job.schedule is None:
                continue
            try:
                self._fire(job, fire)
                self.fired += 1
            except Exception:
                log.exception("could not dispatch the %s fire of job %s", fire.isoformat(), name)
            following = job.schedule.next_after(fire)
            if following is not None:
                heapq.heappush(self._heap, (following, name))
