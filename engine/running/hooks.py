"""After a run: the job's on_failure / on_success steps, and the dead-man's switch.

A job's `[[jobs.on_failure]]` steps form a job of their own, `<job>.on-failure` (likewise
`.on-success`), run with params describing the run that ended: run_id, job, status, error, failed_step,
started_at, finished_at, run_params, and `reason`. So a hook is recorded, listed and streamed like any
run, and its steps read those details as `${params.error}` and so on.

The dead-man's switch runs a job's on_failure steps when it has not succeeded for
`alert_if_no_success_within`, and again after each further such period of silence; only the engine
that schedules cron watches, so replicas do not alert together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.actors.events import AnyEvent, RunFinished
from nomaflow.actors.ports import Clock
from nomaflow.engine.config.jobs import HOOK_PARAMS, JobDefinition
from nomaflow.engine.running.ports import RunRecords, Spawn, Trigger
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.health import StoreHealth
from nomaflow.states import RunState, StepState

log = logging.getLogger("nomaflow.hooks")

SILENCE_CHECK_SECONDS = 60.0
# How soon a hook tries again to read the run it is for, when the store failed it (and is ok again).
HOOK_RETRY_SECONDS = 1.0


def hook_params(*, job: str, status: str, reason: str, **details: Any) -> dict[str, Any]:
    """The params a hook run gets: HOOK_PARAMS' keys, those not given left at their defaults."""
    return {**HOOK_PARAMS, "job": job, "status": status, "reason": reason, **details}


class HookStore(RunRecords, Protocol):
    """The store's reads hooks make: the run that ended, and each job's last success."""

    async def last_successes(self) -> dict[str, datetime]: ...


class Hooks:
    def __init__(
        self,
        *,
        jobs: Mapping[str, JobDefinition],
        store: HookStore,
        health: StoreHealth,
        clock: Clock,
        trigger: Trigger,
        spawn: Spawn,
    ) -> None:
        self._jobs = jobs  # the engine's declared jobs, hooks included, as they are now
        self._store = store
        self._health = health
        self._clock = clock
        self._start = trigger
        self._spawn = spawn
        self._alerted: dict[str, datetime] = {}

    def __call__(self, event: AnyEvent) -> None:
        """Bus listener: a run ended; start its job's hook if it has one for that ending."""
        if not isinstance(event, RunFinished):
            return
        kind = {RunState.FAILED: "on-failure", RunState.SUCCEEDED: "on-success"}.get(event.status)
        job = self._jobs.get(event.job)
        if kind is None or job is None or job.hook(kind) is None:
            return
        self._spawn(self._run_hook(kind, event), name=f"the {kind} hook of run {event.run_id}")

    async def _run_hook(self, kind: str, event: RunFinished) -> None:
        while True:
            # A run that failed because the store went away still gets its hook, once it is back.
            await self._health.wait_ok()
            try:
                run = await self._store.get_run(event.run_id)
                steps = await self._store.get_steps(event.run_id)
                break
            except Exception as exc:
                if transient_reason(exc) is None:
                    raise
                await self._clock.sleep(HOOK_RETRY_SECONDS)
        failed = next(
            (step.step_name for step in steps if step.status in (StepState.FAILED, StepState.ABORTED)), ""
        )
        params = hook_params(
            job=event.job,
            status=event.status,
            reason=f"run {event.run_id} {event.status}",
            run_id=event.run_id,
            error=event.error or "",
            failed_step=failed,
            started_at=run.started_at.isoformat() if run else "",
            finished_at=event.at.isoformat(),
            run_params=run.params if run else {},
        )
        await self._trigger(f"{event.job}.{kind}", params)

    async def _trigger(self, hook: str, params: dict[str, Any]) -> None:
        while True:
            try:
                await self._start(hook, params, triggered_by="hook", check_params=False)
                return
            except StoreUnavailable as exc:
                log.warning("hook %s waits for the job store: %s", hook, exc)
                await self._health.wait_ok()
                await self._clock.sleep(HOOK_RETRY_SECONDS)
            except Exception:
                log.exception("could not start hook %s", hook)
                return

    async def watch_silence(self) -> None:
        """Every minute: alert for each job with alert_if_no_success_within that has been silent too long."""
        watched = {name: job for name, job in self._jobs.items() if job.alert_after_seconds is not None}
        if not watched:
            return
        since = self._clock.now()  # a job that never succeeded counts from when we started watching
        while True:
            try:
                await self.check_silence(since)
            except Exception:  # the store unreadable for a moment: the next check catches up
                log.exception("checking for silent jobs failed; trying again in %g s", SILENCE_CHECK_SECONDS)
            await self._clock.sleep(SILENCE_CHECK_SECONDS)

    async def check_silence(self, since: datetime) -> list[str]:
        now = self._clock.now()
        successes = await self._store.last_successes()
        alerted: list[str] = []
        # A copy: a job may be declared while a hook is being started.
        for name, job in list(self._jobs.items()):
            if job.alert_after_seconds is None:
                continue
            quiet_since = max(successes.get(name, since), self._alerted.get(name, since))
            if now - quiet_since < timedelta(seconds=job.alert_after_seconds):
                continue
            last = successes.get(name)
            reason = (
                f"no successful run since {last.isoformat()}" if last else "no successful run yet"
            ) + f" (alert_if_no_success_within = {job.settings.alert_if_no_success_within})"
            log.warning("job %s: %s", name, reason)
            self._alerted[name] = now
            alerted.append(name)
            await self._trigger(
                f"{name}.on-failure", hook_params(job=name, status="silent", reason=reason, error=reason)
            )
        return alerted
