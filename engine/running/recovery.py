"""Crash recovery: heartbeats on this engine's running runs, and the runs of engines that died.

Every `[jobs] heartbeat_seconds` the engine stamps the runs it carries, then looks for running runs not
stamped for `interrupted_after_seconds` that it does not carry: their engine was killed or lost its
host, or (rarely) this engine let go of one without recording its end. Each is marked `failed` as
interrupted (with its in-flight step) by exactly one engine, which publishes the run's end and, for
jobs with `on_interrupt = "resume"`, starts a recovery run at the interrupted step that reuses the
outputs of the steps that had succeeded.

While the store cannot take writes, the beat fails and the store's health says so; it beats every
second then, so the engine sees the store return soon after it does.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from nomaflow.actors.errors import UnknownJob
from nomaflow.actors.events import RunFinished
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.interrupted import InterruptedRun
from nomaflow.engine.telemetry.fields import run_fields
from nomaflow.states import RunState

if TYPE_CHECKING:
    from nomaflow.engine.engine import Engine

log = logging.getLogger("nomaflow.recovery")

# How often the beat is tried while the store is degraded (if heartbeat_seconds is longer).
DEGRADED_BEAT_SECONDS = 1.0


class Recovery:
    def __init__(self, engine: Engine, database: AsyncEngine) -> None:
        self._engine = engine
        self._database = database
        settings = engine.install.settings.jobs
        self._every = settings.heartbeat_seconds
        self._after = timedelta(seconds=settings.interrupted_after_seconds)

    async def run(self) -> None:
        health = self._engine.store_health
        while True:
            await self._engine.clock.sleep(
                self._every if health.ok else min(self._every, DEGRADED_BEAT_SECONDS)
            )
            try:
                await self.beat()
            except Exception as exc:  # a database hiccup must not end recovery: try again next beat
                reason = transient_reason(exc)
                if reason is None:
                    log.exception("heartbeat or interrupted-run check failed")
                else:
                    health.failing("heartbeat", reason)
            else:
                health.recovered("heartbeat")

    async def beat(self) -> list[InterruptedRun]:
        now = self._engine.clock.now()
        carried = set(self._engine.in_flight())
        store = self._engine.store
        await store.heartbeat(self._engine.instance_id, now, sorted(carried))
        found = await store.fail_interrupted(
            cutoff=now - self._after, at=now, me=self._engine.instance_id, carried=carried
        )
        for run in found:
            try:
                await self._recover(run)
            except Exception:  # its end is recorded; announcing or resuming it failed: the others go on
                log.exception(
                    "recovering interrupted run %s of %s failed",
                    run.run_id,
                    run.job_name,
                    extra={"run_id": run.run_id, "job": run.job_name},
                )
        return found

    async def _recover(self, run: InterruptedRun) -> None:
        engine = self._engine
        stored = await engine.store.get_run(run.run_id)
        error = stored.error if stored else "interrupted"
        log.warning(
            "run %s of %s was interrupted: %s",
            run.run_id,
            run.job_name,
            error,
            extra=run_fields(run.run_id, run.job_name),
        )
        engine.bus.publish(
            RunFinished(
                run_id=run.run_id,
                job=run.job_name,
                seq=(await engine.store.get_logs(run.run_id))[-1].seq if stored else 0,
                at=engine.clock.now(),
                status=RunState.FAILED,
                error=error,
            )
        )
        try:
            job = engine.job(run.job_name)
        except UnknownJob:
            return  # the job is no longer declared: nothing to resume
        if job.on_interrupt != "resume":
            return
        handle = await engine.retry(run.run_id, triggered_by="recovery")
        log.warning(
            "run %s resumes interrupted run %s (%s)",
            handle.run_id,
            run.run_id,
            handle.status,
            extra=run_fields(handle.run_id, run.job_name),
        )
