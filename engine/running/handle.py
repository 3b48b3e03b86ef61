"""A run as seen by whoever triggered it (`RunHandle`), and how a finished run ended, read back from the
store (`recorded_outcome`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from nomaflow.actors.events import AnyEvent
from nomaflow.actors.outcome import RunOutcome, StepOutcome
from nomaflow.actors.run_actor import Admission, RunActor
from nomaflow.engine.events.bus import Subscription
from nomaflow.engine.running.ports import RunRecords
from nomaflow.states import RunState, StepState


class RunControl(Protocol):
    """What a handle asks of the engine that dispatched its run."""

    async def outcome(self, run_id: str) -> RunOutcome: ...

    async def abort(self, run_id: str, reason: str = "aborted by an operator") -> bool: ...


class RunHandle:
    """One run, as seen by whoever triggered it."""

    def __init__(self, engine: RunControl, admission: Admission, subscription: Subscription | None) -> None:
        self._engine = engine
        self.run_id = admission.run_id
        self.status = admission.status  # "running" or "skipped" at dispatch time
        self._actor: RunActor | None = admission.actor
        self._subscription = subscription

    @property
    def skipped(self) -> bool:
        return self.status == RunState.SKIPPED

    async def wait(self) -> RunOutcome:
        """Wait for the run to end and return how it ended, step by step."""
        if self._actor is not None:
            await self._actor.finished.wait()
            assert self._actor.outcome is not None
            return self._actor.outcome
        return await self._engine.outcome(self.run_id)

    async def abort(self, reason: str = "aborted by an operator") -> bool:
        return await self._engine.abort(self.run_id, reason)

    def detach(self) -> None:
        """Stop keeping this run's events for `events()`: for callers that will never read them."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.discard()

    async def events(self) -> AsyncIterator[AnyEvent]:
        """Every event of this run from its start, then live, ending with RunFinished or RunSkipped."""
        if self._subscription is None:
            return
        subscription, self._subscription = self._subscription, None
        async for event in subscription:
            yield event


async def recorded_outcome(store: RunRecords, run_id: str) -> RunOutcome:
    """How a finished run ended, read from the store; LookupError if there is no such run."""
    run = await store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run with id {run_id}")
    steps = await store.get_steps(run_id)
    return RunOutcome(
        run_id=run.id,
        job=run.job_name,
        status=RunState(run.status),
        error=run.error,
        steps=tuple(
            StepOutcome(
                name=step.step_name,
                type=step.type,
                status=StepState(step.status),
                attempts=step.attempts,
                output=step.output,
                error=step.error,
            )
            for step in steps
        ),
    )
