"""The StepActor: one step of one run, driven through attempts, timeouts, retries and backoff.

It owns the step's lifecycle; the handler does the work, the retry policy decides, the clock waits. The
run actor commits what this actor records, grouping a step's end with the next step's start.
"""

from __future__ import annotations

import functools
import random
import threading
import traceback
from typing import Any

import anyio

from nomaflow.actors.errors import PermanentStepFailure, StepFailure, StepTimedOut
from nomaflow.actors.events import LogLine, StepFinished, StepRetrying, StepStarted
from nomaflow.actors.jsonable import NotJsonable, Unstorable, capped, output_snapshot, to_jsonable
from nomaflow.actors.outbox import Outbox
from nomaflow.actors.outcome import StepOutcome
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import (
    CancelFlag,
    Clock,
    LogSink,
    PreparedStep,
    RunScope,
    StepContext,
    StepExecutor,
    StepLog,
    StepMoved,
)
from nomaflow.states import STEP_TABLE, Lifecycle, StepState, StepTrigger


class RunFacts:
    """What every step of one run shares: identity, request, the outbox and the run's event numbering."""

    def __init__(
        self,
        *,
        run_id: str,
        job: JobPlan,
        params: dict[str, Any],
        dry_run: bool,
        outbox: Outbox,
        logs: LogSink,
        clock: Clock,
        executor: StepExecutor,
        rng: random.Random,
    ) -> None:
        self.run_id = run_id
        self.job = job
        self.params = params
        self.dry_run = dry_run
        self.outbox = outbox
        self.logs = logs
        self.clock = clock
        self.executor = executor
        self.rng = rng
        self._seq = 0
        self._seq_lock = threading.Lock()  # log lines may come from worker threads

    def next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def emit_log(self, step: str | None, level: str, message: str, fields: dict[str, Any] | None) -> None:
        self.logs.emit(
            LogLine(
                run_id=self.run_id,
                job=self.job.name,
                seq=self.next_seq(),
                at=self.clock.now(),
                step=step,
                level=level,
                message=message,
                fields=fields,
            )
        )


def describe(error: BaseException) -> str:
    if isinstance(error, StepFailure):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class StepActor:
    def __init__(self, facts: RunFacts, plan: StepPlan) -> None:
        self._facts = facts
        self.plan = plan
        self.life: Lifecycle[StepState, StepTrigger] = Lifecycle(STEP_TABLE)
        self.attempts = 0
        self.output: Any = None
        self.error: str | None = None
        self._prepared: PreparedStep | None = None
        self._scope: RunScope | None = None
        self._prepare_error: BaseException | None = None
        self._cancel_flag = CancelFlag()
        # Bound to the run's facts, not to this actor: no reference cycle keeps a finished run alive.
        self._log = StepLog(functools.partial(facts.emit_log, plan.name))

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def state(self) -> StepState:
        return self.life.state

    @property
    def dry_run(self) -> bool:
        """Whether this step only counts what it would do: its own `dry_run`, or the whole run's."""
        return self._facts.dry_run or self.plan.dry_run

    def outcome(self) -> StepOutcome:
        return StepOutcome(
            name=self.plan.name,
            type=self.plan.type,
            status=self.state,
            attempts=self.attempts,
            output=self.output,
            error=self.error,
            dry_run=self.dry_run,
        )

    # --- transitions: each one is recorded in the outbox with the event it becomes ---

    def _move(
        self,
        trigger: StepTrigger,
        *,
        input: dict[str, Any] | None = None,
        output: Any = None,
        error: str | None = None,
        delay: float = 0.0,
    ) -> None:
        source = self.life.state
        dest = self.life.fire(trigger)
        facts = self._facts
        at = facts.clock.now()
        seq = facts.next_seq()
        change = StepMoved(
            run_id=facts.run_id,
            seq=seq,
            position=self.plan.position,
            step_name=self.plan.name,
            trigger=trigger,
            source=source,
            dest=dest,
            at=at,
            attempts=self.attempts,
            input=input,
            output=output,
            error=error,
            delay_seconds=delay if trigger is StepTrigger.RETRY else None,
        )
        run_id, job = facts.run_id, facts.job.name
        event: StepStarted | StepFinished | StepRetrying
        if dest is StepState.RUNNING:
            event = StepStarted(
                run_id=run_id,
                job=job,
                seq=seq,
                at=at,
                step=self.name,
                position=self.plan.position,
                attempt=self.attempts,
                input=input or {},
            )
        elif dest in STEP_TABLE.final:
            event = StepFinished(
                run_id=run_id,
                job=job,
                seq=seq,
                at=at,
                step=self.name,
                position=self.plan.position,
                status=dest,
                attempts=self.attempts,
                output=output,
                error=error,
            )
        else:
            event = StepRetrying(
                run_id=run_id,
                job=job,
                seq=seq,
                at=at,
                step=self.name,
                position=self.plan.position,
                attempt=self.attempts,
                error=error or "",
                delay_seconds=delay,
            )
        facts.outbox.record(change, event)

    def begin(self, scope: RunScope) -> None:
        """Render the step's input and record its start; the run actor commits it."""
        snapshot: dict[str, Any] = {}
        self._scope = scope
        try:
            self._prepared = self._facts.executor.prepare(self._facts.job, self.plan, scope)
            snapshot = self._prepared.input_snapshot
        except Exception as exc:
            self._prepare_error = exc
        self.attempts = 1
        self._move(StepTrigger.START, input=snapshot)

    def skip(self) -> None:
        self._move(StepTrigger.SKIP)

    def reuse(self, output: Any) -> None:
        """Take the output this step recorded in the run being resumed, without running it."""
        self.output = output
        self._move(StepTrigger.REUSE, output=capped(output), error=None)

    def end_unfinished(self, reason: str) -> None:
        """The run ended with this step still in flight (abort, shutdown, run timeout)."""
        self._cancel_flag.set()
        self.error = reason
        self._move(StepTrigger.ABORT, error=reason)

    def end_broken(self, reason: str) -> None:
        """The run broke (see RunActor._end_broken): end this step in memory as the store's `end_run`
        ends its row. Not put in the outbox: `end_run` writes it."""
        self._cancel_flag.set()
        state = self.life.state
        if state is StepState.PENDING:
            self.life.fire(StepTrigger.SKIP)
        elif state is StepState.RUNNING:
            self.error = reason
            self.life.fire(StepTrigger.FAIL)
        elif state is StepState.RETRYING:  # the table has no retrying -> failed move
            self.error = reason
            self.life.fire(StepTrigger.ABORT)

    async def execute(self) -> StepState:
        """Attempt the step until it succeeds or the policy gives up. Cancellation propagates; the run
        actor then records the abort."""
        try:
            if self._prepare_error is not None:
                self._fail(self._prepare_error)
                return self.state
            prepared = self._prepared
            assert prepared is not None
            timeout = self.plan.timeout_seconds
            while True:
                try:
                    # Without a timeout the step's code is awaited right here: no watchdog, and no
                    # coroutine in between, on the path every step takes.
                    if timeout is None:
                        result = await prepared(self._context())
                    else:
                        result = await self._attempt_within(prepared, seconds=timeout)
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:
                    if not await self._retry_or_fail(exc):
                        return self.state
                    continue
                try:
                    output = to_jsonable(result)
                    stored = output_snapshot(output)
                except NotJsonable as exc:
                    self._fail(
                        PermanentStepFailure(f"the step returned a value that is not JSON-able: {exc}")
                    )
                    return self.state
                except Unstorable as exc:
                    # Not retried: the same code would most likely return the same value.
                    self._fail(
                        PermanentStepFailure(
                            f"the step's output cannot be stored: {exc}, which the job store cannot "
                            "hold (encode such data, e.g. as base64, before returning it)"
                        )
                    )
                    return self.state
                self.output = output
                self.error = None  # earlier attempts' errors stay in their retry transitions
                self._move(StepTrigger.SUCCEED, output=stored)
                return self.state
        except anyio.get_cancelled_exc_class():
            self._cancel_flag.set()  # a sync step in a worker thread sees ctx.cancelled
            raise

    def _context(self) -> StepContext:
        facts = self._facts
        return StepContext(
            run_id=facts.run_id,
            job=facts.job.name,
            step=self.plan.name,
            attempt=self.attempts,
            params=facts.params,
            dry_run=self.dry_run,
            outputs=self._scope.outputs if self._scope else {},
            previous_output=self._scope.previous_output if self._scope else None,
            log=self._log,
            cancel_flag=self._cancel_flag,
            now=facts.clock.now,
        )

    async def _attempt_within(self, prepared: PreparedStep, *, seconds: float) -> Any:
        """One attempt with a watchdog: past `seconds` the attempt is cancelled and raises StepTimedOut.
        The watchdog sleeps on the injected clock (not `anyio.fail_after`), so tests move time."""
        facts = self._facts
        ctx = self._context()
        timed_out = False
        result: Any = None
        async with anyio.create_task_group() as group:

            async def watchdog() -> None:
                nonlocal timed_out
                await facts.clock.sleep(seconds)
                timed_out = True
                self._cancel_flag.set()
                group.cancel_scope.cancel()

            group.start_soon(watchdog)
            result = await prepared(ctx)
            group.cancel_scope.cancel()
        if timed_out:
            raise StepTimedOut(f"timed out after {seconds:g} s")
        return result

    def _fail(self, error: BaseException) -> None:
        self.error = describe(error)
        self._move(StepTrigger.FAIL, error=self.error)

    async def _retry_or_fail(self, error: Exception) -> bool:
        facts = self._facts
        message = describe(error)
        if not isinstance(error, StepFailure):
            # Unexpected exceptions from user code keep their traceback in the run's log.
            facts.emit_log(self.name, "error", message, {"traceback": traceback.format_exc(limit=20)})
        decision = self.plan.retry.decide(
            self.attempts,
            retryable=getattr(error, "retryable", True),
            retry_after=getattr(error, "retry_after", None),
            random_fraction=facts.rng.random(),
        )
        if not decision.retry:
            self._fail(error)
            return False
        self.error = message
        self._move(StepTrigger.RETRY, error=message, delay=decision.delay_seconds)
        with anyio.CancelScope(shield=True):
            await facts.outbox.flush()
        await facts.clock.sleep(decision.delay_seconds)
        self.attempts += 1
        self._cancel_flag = CancelFlag()
        self._move(StepTrigger.RESUME)
        with anyio.CancelScope(shield=True):
            await facts.outbox.flush()
        return True
