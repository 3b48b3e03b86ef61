"""The RunActor: one run of one job, from admission to its final state.

It walks the steps in order, hands each step the outputs so far, and commits the run's transitions.
Its mailbox takes `AbortRun`; abort cancels the walk's cancel scope, and the final state is then
written under a shield so a cancelled run is always recorded as ended.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from nomaflow.actors.base import Mailbox, Reply
from nomaflow.actors.events import RunFinished, RunSkipped, RunStarted
from nomaflow.actors.outbox import Outbox
from nomaflow.actors.outcome import RunOutcome
from nomaflow.actors.plan import JobPlan, RunRequest
from nomaflow.actors.ports import (
    Clock,
    EventSink,
    LogSink,
    RunMoved,
    RunRecord,
    RunScope,
    RunStore,
    StepExecutor,
    StepMoved,
    StepRecord,
)
from nomaflow.actors.step_actor import RunFacts, StepActor, describe
from nomaflow.states import RUN_TABLE, Lifecycle, RunState, RunTrigger, StepState


def step_failed(name: str, error: str | None) -> str:
    """The run's error when step `name` failed, naming the step once: a step's own error starts with
    `step '<name>':` (so that it reads alone in a log), which the run's error would otherwise repeat."""
    own = f"step '{name}': "
    detail = error[len(own) :] if error is not None and error.startswith(own) else error
    return f"step '{name}' failed: {detail}" if detail else f"step '{name}' failed"


def aborted(reason: str | None) -> str:
    """The run's error after an abort, saying "aborted" once: a reason may already be a whole sentence
    ("aborted by cli:bob"), or only the why ("wrong params (by api:sam)")."""
    if not reason:
        return "aborted"
    return reason if reason.startswith("aborted") else f"aborted: {reason}"


def only_error(error: BaseException) -> BaseException:
    """The one error inside task-group wrappings (an ExceptionGroup of one), else `error` itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class AbortRun(msgspec.Struct, frozen=True):
    reason: str


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a dispatch: the run's id and whether it was admitted (`running`) or `skipped`."""

    run_id: str
    status: str
    actor: Any = None  # the RunActor, for waiting on it; None once it is gone


class RunActor:
    def __init__(
        self,
        *,
        job: JobPlan,
        request: RunRequest,
        store: RunStore,
        executor: StepExecutor,
        events: EventSink,
        logs: LogSink,
        clock: Clock,
        owner: str,
        admission: Reply[Admission],
        skip_reason: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.job = job
        self.request = request
        self.run_id = request.run_id
        self._store = store
        self._events = events
        self._clock = clock
        self._owner = owner
        self._admission: Reply[Admission] | None = admission  # let go once answered (see `_answer`)
        self._skip_reason = skip_reason
        self._mailbox: Mailbox[AbortRun] = Mailbox()
        self._has_mail = False
        self._reading = False
        self._walking: TaskGroup | None = None  # while the steps are walked: where the reader runs
        self._walk_scope = anyio.CancelScope()
        self._abort_reason: str | None = None
        self._timed_out = False
        self.life: Lifecycle[RunState, RunTrigger] = Lifecycle(RUN_TABLE)
        self._outbox = Outbox(store, events, logs)
        self._facts = RunFacts(
            run_id=request.run_id,
            job=job,
            params=request.params,
            dry_run=request.dry_run,
            outbox=self._outbox,
            logs=logs,
            clock=clock,
            executor=executor,
            rng=rng or random.Random(),
        )
        self._steps: list[StepActor] = []
        self._outputs: dict[str, Any] = {}  # each step's output, by name, as the walk goes
        self._started_at = clock.now()
        self.error: str | None = None
        self.finished = anyio.Event()
        self.outcome: RunOutcome | None = None
        # True once the final state is committed: the job is free in the store from that moment, a
        # little before this actor has wound down and the supervisor has heard so.
        self.ended_in_store = False
        self._in_store = False  # the run's row is in the store (admitted), so it must be ended there
        self._broken = False  # the run broke (see `_end_broken`): it ended as failed, whatever `life` says

    @property
    def in_store(self) -> bool:
        """Whether the run's row was written as running (admitted), so its end must be written too."""
        return self._in_store

    def abort(self, reason: str) -> None:
        if self._mailbox.tell(AbortRun(reason)):
            self._has_mail = True
            self._read_mail()

    def _read_mail(self) -> None:
        # The mailbox gets a reader task only once mail arrives: most runs never get any, and a task
        # per run would be a good part of what a short run costs.
        if self._has_mail and self._walking is not None and not self._reading:
            self._reading = True
            self._walking.start_soon(self._read_mailbox)

    def log(self, level: str, message: str, fields: dict[str, Any] | None = None) -> None:
        """A run-level line in the run's log (not a step's), numbered in the run's sequence."""
        self._facts.emit_log(None, level, message, fields)

    async def run(self) -> None:
        """Carry the run from admission to its end. Raises only what broke the run itself (the store
        refusing a write, a bug): the run is then recorded as failed where the store allows, and the
        supervisor reports it. A step failing is not that: it fails the run in the ordinary way."""
        try:
            try:
                if self._skip_reason is not None:
                    await self._skip(self._skip_reason)
                elif await self._admit():
                    async with anyio.create_task_group() as group:
                        self._walking = group
                        try:
                            self._read_mail()  # what came during admission
                            if self.job.timeout_seconds is not None:
                                group.start_soon(self._time_out, self.job.timeout_seconds)
                            await self._walk()
                        finally:
                            self._walking = None
                        if self._reading or self.job.timeout_seconds is not None:
                            group.cancel_scope.cancel()  # the mailbox reader and the run's timer
            except Exception as exc:
                failure = only_error(exc)
                if self._in_store and not self.ended_in_store:
                    with anyio.CancelScope(shield=True):
                        await self._end_broken(failure)
                if failure is exc:
                    raise
                raise failure from None
        except BaseException as exc:
            if self._admission is not None:
                self._admission.fail(only_error(exc))
            raise
        finally:
            self._mailbox.close()
            self.outcome = RunOutcome(
                run_id=self.run_id,
                job=self.job.name,
                status=RunState.FAILED if self._broken else self.life.state,
                error=self.error,
                steps=tuple(step.outcome() for step in self._steps),
            )
            self.finished.set()

    async def _end_broken(self, failure: BaseException) -> None:
        """The run cannot go on (a write of its was refused for good, or the engine has a bug): end it
        as failed in the store, whatever its rows say by now, so it is never left `running`. If even
        that cannot be written, crash recovery ends it later (the run stops being heartbeated)."""
        self._broken = True
        error = f"the engine could not carry this run through: {describe(failure)}"
        for step in self._steps:
            step.end_broken(error)
        self._outbox.take()  # what it held was not written, and end_run supersedes it
        if self.life.state is RunState.RUNNING:
            self.life.fire(RunTrigger.FAIL)
        first_seq = self._facts.next_seq()
        last_seq = first_seq
        for _ in self._steps:
            last_seq = self._facts.next_seq()  # one number per step end_run may move
        at = self._clock.now()
        try:
            ended = await self._store.end_run(self.run_id, first_seq=first_seq, at=at, error=error)
        except Exception as exc:
            failure.add_note(f"recording run {self.run_id} as failed did not work either: {describe(exc)}")
            ended = False
        else:
            if not ended:
                error = "the run was ended by another engine process while this one could not record it"
            self.ended_in_store = True
        self.error = error
        self._events.publish(
            RunFinished(
                run_id=self.run_id,
                job=self.job.name,
                seq=last_seq,
                at=at,
                status=RunState.FAILED,
                error=error,
            )
        )

    async def _time_out(self, seconds: float) -> None:
        await self._clock.sleep(seconds)
        if self._abort_reason is None:
            self._timed_out = True
            self._walk_scope.cancel()

    async def _read_mailbox(self) -> None:
        while True:
            message = await self._mailbox.receive()
            if self._abort_reason is None and not self._timed_out:
                self._abort_reason = message.reason
                self._walk_scope.cancel()

    def _record(self, status: RunState, at: Any) -> RunRecord:
        request = self.request
        return RunRecord(
            id=self.run_id,
            job_name=self.job.name,
            app=self.job.app,
            status=status,
            triggered_by=request.triggered_by,
            params=request.params,
            dry_run=request.dry_run,
            started_at=at,
            scheduled_for=request.scheduled_for,
            owner=self._owner,
            resumed_from=request.resumed_from,
        )

    async def _skip(self, reason: str) -> None:
        now = self._clock.now()
        record = self._record(RunState.SKIPPED, now)
        record.finished_at = now
        record.error = reason
        seq = self._facts.next_seq()
        with anyio.CancelScope(shield=True):
            await self._store.insert_skipped(record, seq)
        self._skipped(reason, seq)

    def _skipped(self, reason: str, seq: int) -> None:
        self.life.fire(RunTrigger.SKIP)
        self.error = reason
        self._events.publish(
            RunSkipped(
                run_id=self.run_id,
                job=self.job.name,
                seq=seq,
                at=self._clock.now(),
                triggered_by=self.request.triggered_by,
                scheduled_for=self.request.scheduled_for,
                reason=reason,
            )
        )
        self._answer(RunState.SKIPPED)

    async def _admit(self) -> bool:
        now = self._clock.now()
        self._started_at = now
        self._steps = [StepActor(self._facts, plan) for plan in self.job.steps]
        steps = [
            StepRecord(
                run_id=self.run_id,
                position=step.plan.position,
                step_name=step.name,
                type=step.plan.type,
                dry_run=step.dry_run,
            )
            for step in self._steps
        ]
        seq = self._facts.next_seq()
        self._open_walk()
        # The first step's start (and any reused steps) are committed with the admission itself: one
        # transaction between the trigger and the step's code.
        moves, step_events = self._outbox.take()
        with anyio.CancelScope(shield=True):
            admitted = await self._store.admit(
                self._record(RunState.RUNNING, now),
                steps,
                seq,
                [m for m in moves if isinstance(m, StepMoved)],
            )
        self._in_store = admitted
        if not admitted:
            self._steps = []
            self._skipped("job is already running in another engine process", seq)
            return False
        self.life.fire(RunTrigger.ADMIT)
        self._events.publish(
            RunStarted(
                run_id=self.run_id,
                job=self.job.name,
                seq=seq,
                at=now,
                triggered_by=self.request.triggered_by,
                params=self.request.params,
                dry_run=self.request.dry_run,
                scheduled_for=self.request.scheduled_for,
                steps=tuple(plan.name for plan in self.job.steps),
            )
        )
        if self.request.audit is not None:
            fields = {"event": "audit", "action": "run", **self.request.audit}
            self.log("info", f"triggered by {self.request.triggered_by}", fields)
        for event in step_events:
            self._events.publish(event)
        for step in self._steps[: self.request.start_at]:
            self._facts.emit_log(
                step.name, "info", f"output reused from run {self.request.resumed_from}", None
            )
        self._answer(RunState.RUNNING)
        return True

    def _answer(self, status: RunState) -> None:
        """Answer the dispatch. The answer holds this actor, so the actor lets go of it: a finished run
        is then freed at once, not left in a reference cycle for the garbage collector, whose full
        passes over thousands of such runs stall the event loop (and every cron timer on it)."""
        if self._admission is not None:
            self._admission.set(Admission(run_id=self.run_id, status=status.value, actor=self))
            self._admission = None

    def _open_walk(self) -> None:
        """Resuming: take the outputs of the steps that succeeded in the earlier run without running
        them again. Then begin the first step to run."""
        start = self.request.start_at
        previous: Any = None
        for step in self._steps[:start]:
            step.reuse(self.request.reused_outputs.get(step.name))
            self._outputs[step.name] = previous = step.output
        if start < len(self._steps):
            self._steps[start].begin(self._scope(self._outputs, previous))

    def _scope(self, outputs: dict[str, Any], previous: Any) -> RunScope:
        request = self.request
        # Templates see the run's logical time: the fire it stands for, else the moment it started.
        started = request.scheduled_for or self._started_at
        return RunScope(
            run_id=self.run_id,
            job=self.job.name,
            params=request.params,
            dry_run=request.dry_run,
            logical_time=started,
            outputs=outputs,
            previous_output=previous,
        )

    async def _walk(self) -> None:
        outputs = self._outputs
        trigger, error = RunTrigger.SUCCEED, None
        start = self.request.start_at
        try:
            with self._walk_scope:
                # The first step began with the admission; each later one begins as the one before
                # it ends, and both moves are committed together.
                for index, step in enumerate(self._steps[start:], start=start):
                    if await step.execute() is not StepState.SUCCEEDED:
                        trigger, error = RunTrigger.FAIL, step_failed(step.name, step.error)
                        break
                    outputs[step.name] = step.output
                    if index + 1 < len(self._steps):
                        self._steps[index + 1].begin(self._scope(outputs, step.output))
                        # Not shielded: an abort landing here leaves the moves in the outbox, and
                        # `_finish` commits them with the run's end.
                        await self._outbox.flush()
            if self._walk_scope.cancelled_caught and self._timed_out:
                trigger, error = RunTrigger.FAIL, f"the run timed out after {self.job.timeout_seconds:g} s"
            elif self._walk_scope.cancelled_caught:
                trigger, error = RunTrigger.ABORT, aborted(self._abort_reason)
        except anyio.get_cancelled_exc_class():
            # Cancelled from outside (the engine's task group): still record the run as ended.
            with anyio.CancelScope(shield=True):
                await self._finish(RunTrigger.ABORT, aborted("the engine stopped"))
            raise
        with anyio.CancelScope(shield=True):
            await self._finish(trigger, error)

    async def _finish(self, trigger: RunTrigger, error: str | None) -> None:
        for step in self._steps:
            if step.state is StepState.PENDING:
                step.skip()
            elif not step.life.is_final:
                step.end_unfinished(error or "the run ended")
        source = self.life.state
        self.life.fire(trigger)
        self.error = error
        at = self._clock.now()
        seq = self._facts.next_seq()
        self._outbox.record(
            RunMoved(
                run_id=self.run_id,
                seq=seq,
                trigger=trigger,
                source=source,
                dest=self.life.state,
                at=at,
                error=error,
            ),
            RunFinished(
                run_id=self.run_id,
                job=self.job.name,
                seq=seq,
                at=at,
                status=self.life.state,
                error=error,
            ),
        )
        await self._outbox.flush()
        self.ended_in_store = True
