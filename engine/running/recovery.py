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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from nomaflow.actors.events import RunFinished
from nomaflow.actors.ports import Clock, EventSink
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.config.model import JobsSettings
from nomaflow.engine.running.ports import Retry, RunRecords
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.health import StoreHealth
from nomaflow.engine.store.interrupted import InterruptedRun
from nomaflow.engine.store.rows import LogRow
from nomaflow.engine.telemetry.fields import run_fields
from nomaflow.states import RunState

log = logging.getLogger("nomaflow.recovery")

# How often the beat is tried while the store is degraded (if heartbeat_seconds is longer).
DEGRADED_BEAT_SECONDS = 1.0


class RecoveryStore(RunRecords, Protocol):
    """The store as crash recovery uses it: heartbeats, failing the runs of engines that died, and
    reading such a run back."""

    async def heartbeat(self, owner: str, at: datetime, run_ids: Sequence[str]) -> int: ...

    async def last_logs(self, run_id: str, *, limit: int) -> Sequence[LogRow]: ...

    async def fail_interrupted(
        self, *, cutoff: datetime, at: datetime, me: str, carried: Collection[str] = ()
    ) -> list[InterruptedRun]: ...


class Recovery:
    def __init__(
        self,
        *,
        settings: JobsSettings,
        store: RecoveryStore,
        events: EventSink,
        health: StoreHealth,
        clock: Clock,
        owner: str,
        in_flight: Callable[[], Iterable[str]],
        jobs: Mapping[str, JobDefinition],
        retry: Retry,
    ) -> None:
        self._every = settings.heartbeat_seconds
        self._after = timedelta(seconds=settings.interrupted_after_seconds)
        self._store = store
        self._events = events
        self._health = health
        self._clock = clock
        self._me = owner  # this engine's instance id, which its runs' rows carry as their owner
        self._in_flight = in_flight  # the ids of the runs this engine carries now
        self._jobs = jobs  # the engine's declared jobs, as they are now
        self._retry = retry

    async def run(self) -> None:
        health = self._health
        while True:
            await self._clock.sleep(self._every if health.ok else min(self._every, DEGRADED_BEAT_SECONDS))
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
        now = self._clock.now()
        carried = set(self._in_flight())
        await self._store.heartbeat(self._me, now, sorted(carried))
        found = await self._store.fail_interrupted(
            cutoff=now - self._after, at=now, me=self._me, carried=carried
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
        stored = await self._store.get_run(run.run_id)
        error = stored.error if stored else "interrupted"
        log.warning(
            "run %s of %s was interrupted: %s",
            run.run_id,
            run.job_name,
            error,
            extra=run_fields(run.run_id, run.job_name),
        )
        # The run's last row, whatever its length: get_logs reads from the start, a page at a time.
        last = await self._store.last_logs(run.run_id, limit=1) if stored else []
        self._events.publish(
            RunFinished(
                run_id=run.run_id,
                job=run.job_name,
                seq=last[-1].seq if last else 0,
                at=self._clock.now(),
                status=RunState.FAILED,
                error=error,
            )
        )
        job = self._jobs.get(run.job_name)
        if job is None or job.on_interrupt != "resume":
            return  # not to be resumed, or no longer declared: nothing to resume
        handle = await self._retry(run.run_id, triggered_by="recovery")
        log.warning(
            "run %s resumes interrupted run %s (%s)",
            handle.run_id,
            run.run_id,
            handle.status,
            extra=run_fields(handle.run_id, run.job_name),
        )
