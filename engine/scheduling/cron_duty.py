"""Cron duty: what an engine that schedules does while it holds the leadership among its replicas.

It takes part in the election (engine/scheduling/leadership.py); while it leads and the job store takes
writes, a `CronScheduler` catches up the fires missed meanwhile and then fires cron, and the dead-man's
switch watches for silent jobs beside it. When the store becomes degraded, cron pauses (a fire could not
be recorded anyway); when it is ok again the scheduler starts afresh from the fires the store holds, so
each job's catch-up policy decides what the outage missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus
from sqlalchemy.ext.asyncio import AsyncEngine

from nomaflow.actors.ports import Clock
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.config.model import JobsSettings
from nomaflow.engine.scheduling.leadership import Leadership
from nomaflow.engine.scheduling.scheduler import CronScheduler, Fire, RunMissed
from nomaflow.engine.store.health import StoreHealth

# The engine's logger: cron pausing and restarting is logged where it always was.
log = logging.getLogger("nomaflow.engine")

# How long a scheduler that stopped on an error waits before it starts again (on the injected clock).
LEAD_RETRY_SECONDS = 1.0


class Fires(Protocol):
    """The store's record of cron: each job's latest fire, whatever became of it."""

    async def last_fires(self) -> dict[str, datetime]: ...


class CronDuty:
    def __init__(
        self,
        *,
        jobs: Callable[[], Iterable[JobDefinition]],
        fire: Fire,
        catch_up: RunMissed,
        watch_silence: Callable[[], Coroutine[Any, Any, None]],
        store: Fires,
        database: AsyncEngine,
        health: StoreHealth,
        clock: Clock,
        owner: str,
        settings: JobsSettings,
    ) -> None:
        self._jobs = jobs  # the jobs cron may fire now
        self._fire = fire
        self._catch_up = catch_up
        self._watch_silence = watch_silence
        self._store = store
        self._health = health
        self._clock = clock
        self._leadership = Leadership(
            database,
            owner,
            clock,
            self._on_leadership,
            renew_seconds=settings.leader_renew_seconds,
            lease_seconds=settings.leader_lease_seconds,
            health=health,
        )
        self.scheduler: CronScheduler | None = None  # while this engine leads and the store is ok
        self._group: TaskGroup | None = None
        self._lead_scope: anyio.CancelScope | None = None

    @property
    def leading(self) -> bool:
        """Whether this engine holds the leadership, so fires cron."""
        return self._leadership.is_leader

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Take part in the election until cancelled; started once the first attempt is made."""
        async with anyio.create_task_group() as group:
            self._group = group
            await group.start(self._leadership.run)
            task_status.started()

    def stop_firing(self) -> None:
        """Fire nothing more (the engine is stopping and its runs drain)."""
        if self._lead_scope is not None:
            self._lead_scope.cancel()

    def reload(self) -> None:
        """Jobs were declared, paused or resumed: recompute the next fires."""
        if self.scheduler is not None:
            self.scheduler.reload()

    def _on_leadership(self, leader: bool) -> None:
        if leader and self._group is not None:
            self._group.start_soon(self._lead)
        elif not leader and self._lead_scope is not None:
            self._lead_scope.cancel()

    async def _lead(self) -> None:
        """While this engine is the leader: catch up missed fires, fire cron, watch for silent jobs.

        Only while the store takes writes. If scheduling stops on an error it says so and starts again
        the same way: losing the leadership is the only way to end it."""
        with anyio.CancelScope() as scope:
            self._lead_scope = scope
            try:
                while True:
                    await self._health.wait_ok()
                    try:
                        async with anyio.create_task_group() as group:
                            group.start_soon(self._schedule)
                            await self._health.wait_degraded()
                            log.warning(
                                "cron pauses while the job store is unavailable; missed fires are caught "
                                "up when it returns"
                            )
                            group.cancel_scope.cancel()
                    except Exception:
                        log.exception(
                            "the scheduler stopped on an error; it starts again in %g s", LEAD_RETRY_SECONDS
                        )
                        await self._clock.sleep(LEAD_RETRY_SECONDS)
            finally:
                self.scheduler = None
                if self._lead_scope is scope:
                    self._lead_scope = None

    async def _schedule(self) -> None:
        """Catch up, then fire cron until cancelled."""
        scheduler = CronScheduler(
            self._jobs,
            self._fire,
            self._clock,
            last_fires=await self._store.last_fires(),
            catch_up=self._catch_up,
        )
        self.scheduler = scheduler
        try:
            async with anyio.create_task_group() as group:
                await group.start(scheduler.run)
                group.start_soon(self._watch_silence)
        finally:
            self.scheduler = None
