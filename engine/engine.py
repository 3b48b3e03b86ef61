"""The engine: the programmatic face of Nomaflow, and the host that wires actors to real resources.

    async with Engine.from_path("examples/app.toml") as engine:
        run = await engine.trigger("sales-report", params={"region": "north"})
        outcome = await run.wait()

Every trigger (cron, REST, UI, CLI, Python) ends in `Engine.trigger`, which checks the params and hands
one `RunRequest` to the supervisor.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from nomaflow.actors.base import Reply
from nomaflow.actors.errors import StoreUnavailable
from nomaflow.actors.events import AnyEvent, RunFinished
from nomaflow.actors.jsonable import escape_unstorable, unstorable_part
from nomaflow.actors.outcome import RunOutcome
from nomaflow.actors.plan import RunRequest
from nomaflow.actors.ports import Clock
from nomaflow.actors.run_actor import Admission, RunActor
from nomaflow.actors.supervisor import Dispatch, Supervisor
from nomaflow.engine.clock import SystemClock, within
from nomaflow.engine.config.catalog import Catalog
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.config.load import Install, load_install
from nomaflow.engine.config.params import resolve_params
from nomaflow.engine.events.bus import EventBus
from nomaflow.engine.events.run_logging import LOGGED, log_run_event
from nomaflow.engine.events.tracker import Tracker
from nomaflow.engine.running.executor import StepExecutor
from nomaflow.engine.running.handle import RunHandle, recorded_outcome
from nomaflow.engine.running.hooks import Hooks
from nomaflow.engine.running.log_writer import LogWriter
from nomaflow.engine.running.recovery import Recovery
from nomaflow.engine.running.resume import RetryRefused, plan_resumption
from nomaflow.engine.running.shutdown import close_store, close_within, end_runs
from nomaflow.engine.scheduling.catch_up import CatchUp
from nomaflow.engine.scheduling.cron_duty import CronDuty
from nomaflow.engine.scheduling.pauses import Pauses
from nomaflow.engine.scheduling.scheduler import CronScheduler, first_fires
from nomaflow.engine.steps import made_step_types
from nomaflow.engine.steps.base import StepType
from nomaflow.engine.store import SqlStore, WriterStats, create_engine, open_store
from nomaflow.engine.store.health import StoreHealth
from nomaflow.engine.store.rows import JobState
from nomaflow.engine.telemetry.observed import RunTelemetry

log = logging.getLogger("nomaflow.engine")

# While the store is degraded, how long a trigger waits for it before it is refused, and how soon the
# refusal suggests asking again (a REST trigger's 503 carries it as Retry-After).
TRIGGER_WAIT_SECONDS = 5.0
RETRY_AFTER_SECONDS = 5


class Engine:
    def __init__(
        self,
        install: Install,
        *,
        clock: Clock | None = None,
        database_url: str | None = None,
        scheduler: bool | None = None,
        instance_id: str | None = None,
        opentelemetry: bool | None = None,
        tracer_provider: object | None = None,
    ) -> None:
        self.install = install
        self.clock: Clock = clock or SystemClock()
        self.database_url = database_url or install.database_url
        self._scheduler_enabled = install.settings.jobs.scheduler_enabled if scheduler is None else scheduler
        # A fresh id per engine process (never the hostname): two replicas on one host stay distinct.
        self.instance_id = instance_id or uuid.uuid4().hex
        self._catalog = Catalog(install)
        self.bus = EventBus()
        self.tracker = Tracker()
        self.bus.add_listener(self.tracker)
        self.bus.add_listener(log_run_event, only=LOGGED)
        # Log records of steps into their runs' logs, and tracing (docs/logging.md).
        self.telemetry = RunTelemetry(install, opentelemetry=opentelemetry, tracer_provider=tracer_provider)
        self.telemetry.listen(self.bus)
        self._exit_stack: AsyncExitStack | None = None
        self._group: TaskGroup | None = None
        self._store: SqlStore | None = None
        self._supervisor: Supervisor | None = None
        self._logs: LogWriter | None = None
        self._pauses = Pauses(self.clock, self._reschedule)
        self._cron: CronDuty | None = None  # when this engine schedules
        self._catch_up = CatchUp(self.trigger, self.spawn)
        self._stopped = False
        self.recovery: Recovery | None = None
        # Whether the job store takes writes: degraded while it does not (see engine.store.health).
        self.store_health = StoreHealth(self.clock)
        self._hooks: Hooks | None = None
        self.bus.add_listener(self._run_ended, only=(RunFinished,))

    def _run_ended(self, event: AnyEvent) -> None:
        # A step type may keep something per run until it ends (the http step's cookie jar). Only the
        # types made so far are asked: the others ran no step (and are not made for this).
        for step_type in made_step_types(self.install.step_types):
            if type(step_type).run_ended is not StepType.run_ended:
                step_type.run_ended(event.run_id)

    @classmethod
    def from_path(cls, app_toml: str | Path, **options: Any) -> Engine:
        return cls(load_install(app_toml), **options)

    # --- jobs ---

    @property
    def jobs(self) -> Mapping[str, JobDefinition]:
        return dict(self._catalog.jobs)

    def job(self, name: str) -> JobDefinition:
        return self._catalog.job(name)

    def define_job(self, *, app: str = "python", **table: Any) -> JobDefinition:
        """Declare a job in Python, with exactly the checks a jobs.toml table gets."""
        job = self._catalog.define(table, app=app)
        self._reschedule()
        return job

    @property
    def scheduler_running(self) -> bool:
        """Whether this engine fires cron now: it is enabled to, and holds the leadership."""
        return self._cron is not None and self._cron.leading

    @property
    def scheduler(self) -> CronScheduler | None:
        """The cron scheduler while this engine leads, else None."""
        return self._cron.scheduler if self._cron is not None else None

    @property
    def catching_up(self) -> int:
        """How many jobs are still running their missed fires."""
        return self._catch_up.in_progress

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` in the engine's task group (it ends when the engine stops). If it raises, the
        error is logged under `name` and goes no further: background work never stops the engine."""
        if self._group is None:
            work.close()
            return
        self._group.start_soon(_contained, work, name, name=name)

    def next_fires(self) -> dict[str, datetime]:
        if (scheduler := self.scheduler) is not None:
            return scheduler.next_fires()
        # Not leading (or not yet): the same answer, jobs sharing a schedule sharing its walk.
        return first_fires(self._schedulable(), self.clock.now())

    def _schedulable(self) -> list[JobDefinition]:
        """The jobs cron may fire: enabled, scheduled, and not paused by an operator."""
        return [
            job
            for job in self._catalog.jobs.values()
            if job.enabled and job.schedule is not None and not self.paused(job.name)
        ]

    # --- pause / resume ---

    def paused(self, job: str) -> bool:
        """Whether an operator paused the job: cron does not fire it; manual triggers still run it."""
        return self._pauses.paused(job)

    def job_state(self, job: str) -> JobState | None:
        """Who last paused or resumed the job, when and why; None if nobody ever did."""
        return self._pauses.state(job)

    async def pause(self, job: str, by: str, reason: str | None = None) -> JobState:
        """Stop cron firing `job` (persisted, so it survives a restart) until `resume`."""
        self.job(job)  # raises UnknownJob
        return await self._pauses.set(self.store, job, paused=True, by=by, reason=reason)

    async def resume(self, job: str, by: str, reason: str | None = None) -> JobState:
        self.job(job)  # raises UnknownJob
        return await self._pauses.set(self.store, job, paused=False, by=by, reason=reason)

    async def refresh_job_states(self) -> bool:
        """Re-read ly2_job_state (another process may have paused a job); True if anything changed."""
        return await self._pauses.refresh(self.store)

    def _reschedule(self) -> None:
        """Jobs were declared, paused or resumed: the scheduler recomputes its fires."""
        if self._cron is not None:
            self._cron.reload()

    # --- lifecycle ---

    @property
    def stopped(self) -> bool:
        """True once `stop()` has finished: runs drained, leadership released, store closed."""
        return self._stopped

    @property
    def store_stats(self) -> WriterStats | None:
        """The store writer's counters (writes, groups, retries, refused admissions); None when stopped."""
        return self._store.stats if self._store is not None else None

    @property
    def log_lines_dropped(self) -> int:
        """Step log lines dropped because the backlog waiting for the store was full."""
        return self._logs.dropped if self._logs is not None else 0

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            raise RuntimeError("the engine is not started: use `async with engine:`")
        return self._store

    async def __aenter__(self) -> Engine:
        # What start-up enters is undone in reverse order if a later part fails; once everything
        # stands, pop_all hands it to stop().
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._close_step_types)
            database = create_engine(self.database_url)
            stack.push_async_callback(
                close_within, self.clock, "closing the job store's connections", database.dispose
            )
            await open_store(database)  # StoreUnusable, saying why and what to do, if it takes no write
            self._store = await stack.enter_async_context(
                SqlStore(database, clock=self.clock, health=self.store_health)
            )
            self.install.environment.resources["job_store"] = self._store
            self._hooks = Hooks(
                jobs=self._catalog.jobs,
                store=self._store,
                health=self.store_health,
                clock=self.clock,
                trigger=self.trigger,
                spawn=self.spawn,
            )
            stack.callback(self.bus.add_listener(self._hooks, only=(RunFinished,)))
            await self._pauses.load(self._store)
            stack.callback(self.telemetry.start())  # taken off once the last task has ended
            self._group = await stack.enter_async_context(anyio.create_task_group())
            self._logs = LogWriter(self._store, self.bus)
            await self._group.start(self._logs.run)
            self._supervisor = Supervisor(
                catalog=self._catalog,
                store=self._store,
                executor=self.telemetry.wrap(StepExecutor(self.install.step_types)),
                events=self.bus,
                logs=self._logs,
                clock=self.clock,
                owner=self.instance_id,
            )
            await self._group.start(self._supervisor.run)
            self.recovery = Recovery(
                settings=self.install.settings.jobs,
                store=self._store,
                events=self.bus,
                health=self.store_health,
                clock=self.clock,
                owner=self.instance_id,
                in_flight=self.in_flight,
                jobs=self._catalog.jobs,
                retry=self.retry,
            )
            self._group.start_soon(self.recovery.run)
            if self._scheduler_enabled:
                self._cron = CronDuty(
                    jobs=self._schedulable,
                    fire=self._fire,
                    catch_up=self._catch_up,
                    watch_silence=self._hooks.watch_silence,
                    store=self._store,
                    database=database,
                    health=self.store_health,
                    clock=self.clock,
                    owner=self.instance_id,
                    settings=self.install.settings.jobs,
                )
                await self._group.start(self._cron.run)
                self._group.start_soon(self._pauses.refresh_forever, self._store)
            self._exit_stack = stack.pop_all()
        log.info(
            "engine started (instance %s, %d jobs, scheduler %s)",
            self.instance_id,
            len(self._catalog.jobs),
            "on" if self._scheduler_enabled else "off",
        )
        return self

    async def _close_step_types(self) -> None:
        """Close the step types that were made (the others hold nothing), the last made first."""
        for step_type in reversed(made_step_types(self.install.step_types)):
            await close_within(self.clock, f"closing the {step_type.name} steps", step_type.aclose)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.stop()
        return None

    async def stop(self, grace_seconds: float | None = None) -> list[str]:
        """Stop the scheduler, let in-flight runs finish within the grace period, abort the rest.
        Returns the ids of the runs that were aborted.

        Always over within the grace period plus a bounded margin at each of at most three stages
        (engine/running/shutdown.py), even with the store down or hanging: what cannot be recorded by
        then is given up on (the runs left `running` are ended by crash recovery, here or in another
        engine)."""
        stack, self._exit_stack = self._exit_stack, None
        if stack is None:
            return []
        grace = self.install.settings.jobs.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        try:
            with anyio.CancelScope(shield=True):
                assert self._supervisor is not None and self._logs is not None and self._group is not None
                assert self._store is not None
                if self._cron is not None:
                    self._cron.stop_firing()  # fire nothing more while runs drain
                aborted = await end_runs(self._supervisor, self._logs, self._store, self.clock, grace)
                self._group.cancel_scope.cancel()
                await close_store(self._store, self.clock)
        finally:
            await stack.aclose()
            self._supervisor = None
            self._stopped = True
            log.info("engine stopped (instance %s)", self.instance_id)
        return aborted

    # --- runs ---

    async def trigger(
        self,
        job: str,
        params: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
        triggered_by: str = "api",
        scheduled_for: datetime | None = None,
        resumed_from: str | None = None,
        start_at: int = 0,
        reused_outputs: Mapping[str, Any] | None = None,
        check_params: bool = True,
        run_id: str | None = None,
        audit: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """Dispatch a run; returns once it is admitted (`running`) or recorded as `skipped`.

        `run_id` lets a caller that must record the id first (an idempotency key) choose it; `audit`
        (who asked, through what) is written into the run's own log as an operator line."""
        definition = self.job(job)
        if check_params:
            # Refuses, naming it, a param the store cannot hold (engine/config/params.py).
            resolved = resolve_params(job, definition.params, params)
        else:
            resolved = dict(params or {})
            if unstorable_part(resolved, "params") is not None:
                # The engine's own triggers (hooks, retries) pass on recorded text: kept, visibly escaped.
                resolved = escape_unstorable(resolved)
        request = RunRequest(
            run_id=run_id or str(uuid.uuid4()),
            job=job,
            params=resolved,
            dry_run=dry_run,
            triggered_by=triggered_by,
            scheduled_for=scheduled_for,
            resumed_from=resumed_from,
            start_at=start_at,
            reused_outputs=dict(reused_outputs or {}),
            audit=None if audit is None else dict(audit),
        )
        if not self.store_health.ok:
            await self._wait_for_store()
        # Subscribe before dispatching, so even a run that ends at once is seen whole.
        subscription = self.bus.subscribe(request.run_id)
        try:
            admission = await self._running_supervisor().dispatch(request)
        except BaseException:
            subscription.close()
            raise
        return RunHandle(self, admission, subscription)

    async def _wait_for_store(self) -> None:
        """The store is degraded: wait a little for it to return (a restart takes seconds), else raise
        StoreUnavailable, which tells the caller when to ask again. Nothing waits in memory for a run
        that has not begun."""
        health = self.store_health
        await within(self.clock, TRIGGER_WAIT_SECONDS, health.wait_ok())
        if not health.ok:
            raise StoreUnavailable(
                f"the job store is unavailable ({health.reason}); nothing was started",
                retry_after=RETRY_AFTER_SECONDS,
            )

    async def retry(
        self, run_id: str, *, triggered_by: str = "api", audit: Mapping[str, Any] | None = None
    ) -> RunHandle:
        """Run a failed or aborted run again from its first step that did not succeed, reusing the
        recorded outputs of the steps before it. Raises RetryRefused when that cannot be done."""
        resumption = await plan_resumption(run_id, self.store, self.job)
        run = resumption.run
        return await self.trigger(
            run.job_name,
            run.params,
            dry_run=run.dry_run,
            triggered_by=triggered_by,
            resumed_from=run_id,
            start_at=resumption.start_at,
            reused_outputs=resumption.reused_outputs,
            check_params=False,
            audit=None if audit is None else {**audit, "retry_of": run_id},
        )

    def _fire(self, job: JobDefinition, scheduled_for: datetime) -> None:
        request = RunRequest(
            run_id=str(uuid.uuid4()),
            job=job.name,
            params=dict(job.params),
            dry_run=False,
            triggered_by="cron",
            scheduled_for=scheduled_for,
        )
        reply: Reply[Admission] = Reply()
        self._running_supervisor().tell(Dispatch(request, reply))

    def _running_supervisor(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("the engine is not started: use `async with engine:`")
        return self._supervisor

    async def abort(
        self, run_id: str, reason: str = "aborted by an operator", *, audit: Mapping[str, Any] | None = None
    ) -> bool:
        """Abort a run in flight in this engine; False if it is not (finished, or another process's).
        With `audit`, the request is written into the run's log before the run ends."""
        supervisor = self._running_supervisor()
        if audit is not None and (actor := supervisor.in_flight().get(run_id)) is not None:
            _audit_line(actor, f"abort requested: {reason}", "abort", audit)
        return await supervisor.abort(run_id, reason)

    def in_flight(self) -> list[str]:
        return list(self._running_supervisor().in_flight())

    async def outcome(self, run_id: str) -> RunOutcome:
        """How a finished run ended, read from the store."""
        return await recorded_outcome(self.store, run_id)


async def _contained(work: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed; the engine goes on", name)


def _audit_line(actor: RunActor, message: str, action: str, audit: Mapping[str, Any]) -> None:
    """An operator action as a line of the run's log (ly2_job_logs), numbered in the run's sequence."""
    actor.log("info", message, {"event": "audit", "action": action, **audit})


__all__ = ["Engine", "RetryRefused", "RunHandle"]
