"""The ports the actors need, as Protocols the engine implements: store, events, logs, steps, clock.

Actors never import the engine; tests plug in-memory fakes (tests/fakes.py) into the same ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from nomaflow.actors.events import AnyEvent, LogLine
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.states import RunState, RunTrigger, StepState, StepTrigger


class Clock(Protocol):
    """The only source of time for actors and the scheduler; tests move a manual one."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, when: datetime) -> None: ...


# --- what the store persists -------------------------------------------------------------------


class RunRecord(msgspec.Struct, kw_only=True):
    id: str
    job_name: str
    app: str
    status: RunState
    triggered_by: str
    params: dict[str, Any]
    dry_run: bool
    started_at: datetime
    scheduled_for: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    owner: str | None = None
    resumed_from: str | None = None


class StepRecord(msgspec.Struct, kw_only=True):
    run_id: str
    position: int
    step_name: str
    type: str
    status: StepState = StepState.PENDING
    dry_run: bool = False  # the step runs dry: its own dry_run, or the whole run's


class RunMoved(msgspec.Struct, frozen=True, kw_only=True):
    """A compare-and-set of a run's status: applies only if the row is still in `source`."""

    run_id: str
    seq: int
    trigger: RunTrigger
    source: RunState
    dest: RunState
    at: datetime
    error: str | None = None


class StepMoved(msgspec.Struct, frozen=True, kw_only=True):
    """A compare-and-set of a step's status. `input`, `output` and `error` are set when not None."""

    run_id: str
    seq: int
    position: int
    step_name: str
    trigger: StepTrigger
    source: StepState
    dest: StepState
    at: datetime
    attempts: int
    input: dict[str, Any] | None = None
    output: Any = None
    error: str | None = None
    # A `retry` move: how long the step waits before its next attempt (its transition row keeps it).
    delay_seconds: float | None = None


Change = RunMoved | StepMoved


class StaleState(Exception):
    """A compare-and-set found the row in another state than expected (another engine moved it)."""


class RunStore(Protocol):
    async def admit(
        self, run: RunRecord, steps: Sequence[StepRecord], seq: int, moves: Sequence[StepMoved] = ()
    ) -> bool:
        """Insert a running run and its pending steps, logging the `admit` transition as event `seq`,
        and apply `moves` to the new step rows in the same transaction (the first step's start, so a
        run costs no extra commit before its first step runs). If the job already has a running run
        (the database's partial unique index says so), insert `run` as skipped instead, logging
        `skip`, and return False: the moves are then dropped."""
        ...

    async def insert_skipped(self, run: RunRecord, seq: int) -> None:
        """Insert a run that was skipped before admission, logging the `skip` transition as `seq`."""
        ...

    async def apply(self, changes: Sequence[Change]) -> None:
        """Apply the changes in one transaction, logging each transition; raise StaleState on a CAS miss.

        Cancellation may stop the call only before anything is written: once begun, the write is
        carried through and the call returns its outcome. (The outbox hands the changes back for the
        next flush when the call was cancelled.)"""
        ...

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        """Insert log lines (one batch, one transaction)."""
        ...

    async def end_run(self, run_id: str, *, first_seq: int, at: datetime, error: str) -> bool:
        """Mark a `running` run `failed` with `error`, whatever its steps' rows say: an unfinished step
        is ended (a running one failed, a pending one skipped), each move logged from `first_seq` on
        (the caller reserves one number per step and one for the run). For a run its actor could not
        carry through. False if the run was not running (it ended, or another engine ended it)."""
        ...


class EventSink(Protocol):
    def publish(self, event: AnyEvent) -> None:
        """Hand a committed fact to subscribers; never blocks."""
        ...


class LogSink(Protocol):
    def emit(self, line: LogLine) -> None:
        """Queue a log line; callable from any thread, never blocks."""
        ...

    async def flush(self) -> None:
        """Return once every line emitted so far is committed and published."""
        ...


# --- what a step handler sees --------------------------------------------------------------------


class StepLog:
    """`ctx.log.info(...)` and friends: lines go to ly2_job_logs and live subscribers, in order."""

    def __init__(self, emit: Callable[[str, str, dict[str, Any] | None], None]) -> None:
        self._emit = emit

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("debug", message, fields or None)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("info", message, fields or None)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("warning", message, fields or None)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", message, fields or None)


class CancelSignal(Protocol):
    """Whether a step's attempt was told to stop (a `CancelFlag`, or any `threading.Event`)."""

    def is_set(self) -> bool: ...


class CancelFlag:
    """Raised once when an attempt should stop, read from any thread. A plain attribute is enough: one
    writer, readers that poll, and the GIL makes the store atomic. (A threading.Event, with its
    Condition and lock, costs more to make than the rest of a step's bookkeeping, and every step makes
    one whether or not anything ever reads it.)"""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class StepContext:
    """What a running step may know and do. Passed to handlers, and to python callables that ask for it."""

    def __init__(
        self,
        *,
        run_id: str,
        job: str,
        step: str,
        attempt: int,
        params: Mapping[str, Any],
        dry_run: bool,
        outputs: Mapping[str, Any],
        previous_output: Any,
        log: StepLog,
        cancel_flag: CancelSignal,
        now: Callable[[], datetime],
    ) -> None:
        self.run_id = run_id
        self.job = job
        self.step = step
        self.attempt = attempt
        self.params = params
        self.dry_run = dry_run
        self.outputs = outputs
        self.previous_output = previous_output
        self.log = log
        self._cancel_flag = cancel_flag
        self.now = now

    @property
    def cancelled(self) -> bool:
        """True once the run was aborted or the attempt timed out: a sync step should stop soon."""
        return self._cancel_flag.is_set()


class RunScope(msgspec.Struct, kw_only=True):
    """What step templating may refer to: the run, its params and the outputs of the steps so far."""

    run_id: str
    job: str
    params: dict[str, Any]
    dry_run: bool
    logical_time: datetime
    outputs: dict[str, Any]
    previous_output: Any = None


class PreparedStep(Protocol):
    @property
    def input_snapshot(self) -> dict[str, Any]:
        """The rendered settings as recorded in ly2_step_runs, secrets redacted."""
        ...

    def __call__(self, ctx: StepContext) -> Awaitable[Any]: ...


class StepExecutor(Protocol):
    def prepare(self, job: JobPlan, step: StepPlan, scope: RunScope) -> PreparedStep:
        """Render the step's templates against `scope`; raise PermanentStepFailure if they cannot be."""
        ...


class JobCatalog(Protocol):
    def plan(self, job: str) -> JobPlan:
        """The job's plan; raise UnknownJob if there is none."""
        ...
