"""In-memory fakes of the actors' ports, shared by the actor tests (the one place they live)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from nomaflow.actors.errors import UnknownJob
from nomaflow.actors.events import AnyEvent, LogLine
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.ports import (
    Change,
    RunMoved,
    RunRecord,
    RunScope,
    StaleState,
    StepContext,
    StepMoved,
    StepRecord,
)
from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine.store.rows import LogRow, RunPage, RunRow, StepRow
from nomaflow.engine.store.writer import WriterStats
from nomaflow.states import RunState, StepState
from tests.memory_tables import MemoryTables

FINAL_STEP = {"succeeded", "failed", "aborted", "skipped"}
# What ending a run (crash recovery) does to its steps still in flight, as the store's end_run does.
ENDED_BY_END_RUN = {
    StepState.RUNNING: StepState.FAILED,
    StepState.RETRYING: StepState.ABORTED,
    StepState.PENDING: StepState.SKIPPED,
}


@dataclass
class Refusal:
    """A write the fake store refuses: `method` called with a write that `matches` raises `error`."""

    method: str
    error: BaseException
    matches: Callable[[Any], bool]
    times: int


class MemoryStore:
    """The RunStore port over dicts, with the job store's rules and rows (`tables`, on which the store
    contract tests run too), and its reads. It can be told to refuse writes (`refuse`), as a database
    does that cannot store a value or is gone. Besides the rows it keeps what the actor tests look at:
    the records as handed in, every change in order, the log lines, how many commits."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRecord] = {}
        self.steps: dict[tuple[str, int], StepRecord] = {}
        self.step_attempts: dict[tuple[str, int], int] = {}
        self.step_io: dict[tuple[str, int], dict[str, Any]] = {}
        self.transitions: list[Change] = []
        self.logs: list[LogLine] = []
        self.commits = 0
        self.refusals: list[Refusal] = []
        self.ended: list[tuple[str, int, str]] = []  # end_run calls that ended a run: (id, first seq, error)
        self.tables = MemoryTables()
        self.stats = WriterStats()

    def refuse(
        self,
        method: str,
        error: BaseException,
        *,
        matches: Callable[[Any], bool] = lambda write: True,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` ("admit", "insert_skipped", "apply", "append_logs",
        "end_run") whose write `matches` raise `error` and write nothing. The write is what the call
        was given: the run record, the changes, the lines, or the run id."""
        self.refusals.append(Refusal(method, error, matches, times))

    def _count(self) -> None:
        """Each call is one write, committed in a transaction of its own (the fake groups nothing)."""
        self.stats.writes += 1
        self.stats.groups += 1
        self.stats.transactions += 1

    def _refused(self, method: str, write: Any) -> None:
        for refusal in self.refusals:
            if refusal.method == method and refusal.times > 0 and refusal.matches(write):
                refusal.times -= 1
                raise refusal.error

    async def admit(
        self, run: RunRecord, steps: Sequence[StepRecord], seq: int, moves: Sequence[StepMoved] = ()
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        self._refused("admit", run)
        self._count()
        admitted = self.tables.admit(run, steps, seq, moves)
        self.commits += 1
        if not admitted:
            row = self.tables.runs[run.id]
            run.status, run.finished_at, run.error = RunState.SKIPPED, row["finished_at"], row["error"]
            self.runs[run.id] = run
            return False
        self.runs[run.id] = run
        for step in steps:
            self.steps[(run.id, step.position)] = step
        self._move(moves)
        return True

    async def insert_skipped(self, run: RunRecord, seq: int) -> None:
        await anyio.lowlevel.checkpoint()
        self._refused("insert_skipped", run)
        self._count()
        self.tables.insert_skipped(run, seq)
        self.commits += 1
        self.runs[run.id] = run

    async def apply(self, changes: Sequence[Change]) -> None:
        await anyio.lowlevel.checkpoint()
        if not changes:
            return
        self._refused("apply", changes)
        self._count()
        self.tables.apply(changes)  # StaleState before anything is written
        self.commits += 1
        self._move(changes)

    def _move(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, RunMoved):
                run = self.runs[change.run_id]
                if run.status != change.source:
                    raise StaleState(f"run {change.run_id} is {run.status}, not {change.source}")
                run.status, run.error = change.dest, change.error
                run.finished_at = change.at
            elif isinstance(change, StepMoved):
                step = self.steps[(change.run_id, change.position)]
                if step.status != change.source:
                    raise StaleState(f"step {change.step_name} is {step.status}, not {change.source}")
                step.status = change.dest
                self.step_attempts[(change.run_id, change.position)] = change.attempts
                io = self.step_io.setdefault((change.run_id, change.position), {})
                for key in ("input", "output", "error"):
                    if getattr(change, key) is not None:
                        io[key] = getattr(change, key)
                if change.dest == "succeeded":
                    io.pop("error", None)
            self.transitions.append(change)

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        await anyio.lowlevel.checkpoint()
        if not lines:
            return
        self._refused("append_logs", lines)
        self._count()
        self.tables.append_logs(lines)
        self.logs.extend(lines)

    async def end_run(self, run_id: str, *, first_seq: int, at: datetime, error: str) -> bool:
        await anyio.lowlevel.checkpoint()
        self._refused("end_run", run_id)
        self._count()
        self.tables.end_run(run_id, first_seq=first_seq, at=at, error=error)
        run = self.runs.get(run_id)
        if run is None or run.status != RunState.RUNNING:
            return False
        for (owner, _), step in sorted(self.steps.items()):
            if owner == run_id:
                step.status = ENDED_BY_END_RUN.get(step.status, step.status)
        run.status, run.error, run.finished_at = RunState.FAILED, error, at
        self.ended.append((run_id, first_seq, error))
        return True

    async def list_runs(self, *, job: str | None = None, status: str | None = None) -> RunPage:
        """Runs newest first, filtered (the one page the contract tests need)."""
        await anyio.lowlevel.checkpoint()
        return RunPage(runs=self.tables.list_runs(job=job, status=status), next_cursor=None)

    async def get_run(self, run_id: str) -> RunRow | None:
        await anyio.lowlevel.checkpoint()
        return self.tables.get_run(run_id)

    async def get_steps(self, run_id: str) -> list[StepRow]:
        await anyio.lowlevel.checkpoint()
        return self.tables.get_steps(run_id)

    async def get_logs(self, run_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[LogRow]:
        await anyio.lowlevel.checkpoint()
        return self.tables.get_logs(run_id, after_seq, limit)

    async def last_logs(self, run_id: str, *, limit: int) -> list[LogRow]:
        await anyio.lowlevel.checkpoint()
        return self.tables.get_logs(run_id, 0, 10**9)[-limit:]

    def step_statuses(self, run_id: str) -> list[str]:
        return [step.status for (rid, _), step in sorted(self.steps.items()) if rid == run_id]


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[AnyEvent] = []

    def publish(self, event: AnyEvent) -> None:
        self.events.append(event)

    def of_run(self, run_id: str) -> list[str]:
        return [type(e).__name__ for e in self.events if e.run_id == run_id]


class ImmediateLogs:
    """LogSink that 'commits' at once into a MemoryStore and publishes."""

    def __init__(self, store: MemoryStore, sink: RecordingSink) -> None:
        self.store = store
        self.sink = sink

    def emit(self, line: LogLine) -> None:
        self.store.logs.append(line)
        self.sink.publish(line)

    async def flush(self) -> None:
        await anyio.lowlevel.checkpoint()


Handler = Callable[[StepContext, dict[str, Any]], Awaitable[Any]]


@dataclass
class Prepared:
    handler: Handler
    options: dict[str, Any]

    @property
    def input_snapshot(self) -> dict[str, Any]:
        return dict(self.options)

    def __call__(self, ctx: StepContext) -> Awaitable[Any]:
        return self.handler(ctx, self.options)


class FunctionExecutor:
    """StepExecutor whose step types are plain async functions registered by name."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.scopes: list[RunScope] = []

    def prepare(self, job: JobPlan, step: StepPlan, scope: RunScope) -> Prepared:
        self.scopes.append(scope)
        return Prepared(self.handlers[step.type], dict(step.options or {}))


class Catalog:
    def __init__(self, *jobs: JobPlan) -> None:
        self.jobs = {job.name: job for job in jobs}

    def plan(self, job: str) -> JobPlan:
        if job not in self.jobs:
            raise UnknownJob(job)
        return self.jobs[job]


def job(
    name: str, *steps: tuple[str, str], retry: RetryPolicy | None = None, timeout: float | None = None
) -> JobPlan:
    """A JobPlan of (step name, handler name) pairs."""
    return JobPlan(
        name=name,
        app="tests",
        timezone="UTC",
        steps=tuple(
            StepPlan(
                name=step_name,
                type=handler,
                position=position,
                retry=retry or RetryPolicy(),
                timeout_seconds=timeout,
            )
            for position, (step_name, handler) in enumerate(steps)
        ),
    )
