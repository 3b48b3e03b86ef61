"""The Supervisor: the one actor every dispatch goes through.

It keeps the job -> in-flight run map that makes runs of a job one-at-a-time (an overlapping dispatch
becomes a `skipped` run; the database's partial unique index does the same across processes), starts
each RunActor as a child in its task group, routes aborts, and drains runs on shutdown.

It supervises: a run that breaks (the store refused one of its writes for good, a bug) is reported and
ends alone, recorded as failed where the store allows; every other run and the supervisor go on. Only
cancellation crosses it.
"""

from __future__ import annotations

import logging
import random

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus

from nomaflow.actors.base import Mailbox, Reply
from nomaflow.actors.errors import EngineStopping, StoreUnavailable, UnknownJob
from nomaflow.actors.plan import RunRequest
from nomaflow.actors.ports import Clock, EventSink, JobCatalog, LogSink, RunStore, StepExecutor
from nomaflow.actors.run_actor import Admission, RunActor

log = logging.getLogger("nomaflow.supervisor")


class Dispatch(msgspec.Struct, frozen=True):
    request: RunRequest
    reply: Reply[Admission]


class Abort(msgspec.Struct, frozen=True):
    run_id: str
    reason: str
    reply: Reply[bool]


class RunEnded(msgspec.Struct, frozen=True):
    run_id: str
    job: str


class Shutdown(msgspec.Struct, frozen=True):
    grace_seconds: float
    reply: Reply[list[str]]


class _Stop(msgspec.Struct, frozen=True):
    pass


SupervisorMessage = Dispatch | Abort | RunEnded | Shutdown | _Stop

# Messages handled in one turn of the event loop, at most.
BATCH = 64


class Supervisor:
    def __init__(
        self,
        *,
        catalog: JobCatalog,
        store: RunStore,
        executor: StepExecutor,
        events: EventSink,
        logs: LogSink,
        clock: Clock,
        owner: str,
        rng: random.Random | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._executor = executor
        self._events = events
        self._logs = logs
        self._clock = clock
        self._owner = owner
        self._rng = rng or random.Random()
        self._mailbox: Mailbox[SupervisorMessage] = Mailbox()
        self._by_job: dict[str, RunActor] = {}
        self._by_run: dict[str, RunActor] = {}
        self._stopping = False
        self._idle = anyio.Event()
        self._group: TaskGroup | None = None

    # --- the asking side, used by the engine ---

    def tell(self, message: SupervisorMessage) -> None:
        """Send without waiting: the scheduler fires this way so a slow admission never delays it."""
        if not self._mailbox.tell(message):
            _turn_away(message)

    async def dispatch(self, request: RunRequest) -> Admission:
        reply: Reply[Admission] = Reply()
        self.tell(Dispatch(request, reply))
        return await reply.get()

    async def abort(self, run_id: str, reason: str) -> bool:
        """Ask the run to stop; False if no run of that id is in flight in this engine."""
        reply: Reply[bool] = Reply()
        self.tell(Abort(run_id, reason, reply))
        return await reply.get()

    async def shutdown(self, grace_seconds: float) -> list[str]:
        """Admit nothing more, give in-flight runs `grace_seconds` to end, abort the rest.
        Returns the ids of the runs that had to be aborted. Calling it again is harmless."""
        reply: Reply[list[str]] = Reply()
        self.tell(Shutdown(grace_seconds, reply))
        return await reply.get()

    def in_flight(self) -> dict[str, RunActor]:
        return dict(self._by_run)

    # --- the actor ---

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            late: list[SupervisorMessage] | None = None
            while late is None:
                # The backlog a batch at a time: a herd of cron fires becomes its run actors a batch per
                # turn of the event loop, not one per turn behind the work of the runs admitted before
                # them. Bounded, because each new actor runs its admission's first part in the next
                # turn, and a turn of 500 would hold up every timer (the next cron fire) meanwhile.
                first = await self._mailbox.receive()
                late = self._handle_all([first, *self._mailbox.waiting(BATCH - 1)])
            # What came after the stop, in its batch or since, is answered as a closed mailbox answers
            # (and from now on, `tell` answers it so).
            for message in [*late, *self._mailbox.close()]:
                _turn_away(message)

    def _handle_all(self, messages: list[SupervisorMessage]) -> list[SupervisorMessage] | None:
        """Handle `messages` in order, up to a stop. None if there was none; else what followed it."""
        for index, message in enumerate(messages):
            if isinstance(message, _Stop):
                return messages[index + 1 :]
            self._handle(message)
        return None

    def _handle(self, message: SupervisorMessage) -> None:
        if isinstance(message, Dispatch):
            self._on_dispatch(message)
        elif isinstance(message, Abort):
            actor = self._by_run.get(message.run_id)
            if actor is not None:
                actor.abort(message.reason)
            message.reply.set(actor is not None)
        elif isinstance(message, RunEnded):
            self._by_run.pop(message.run_id, None)
            if (current := self._by_job.get(message.job)) is not None and current.run_id == message.run_id:
                del self._by_job[message.job]
            if self._stopping and not self._by_run:
                self._idle.set()
        elif isinstance(message, Shutdown):
            if self._stopping:
                # A second shutdown waits for the first to finish its drain.
                assert self._group is not None
                self._group.start_soon(self._answer_when_idle, message)
                return
            self._stopping = True
            if not self._by_run:
                self._idle.set()
            assert self._group is not None
            self._group.start_soon(self._drain, message)

    def _on_dispatch(self, message: Dispatch) -> None:
        request = message.request
        if self._stopping:
            message.reply.fail(EngineStopping("the engine is shutting down and admits no new runs"))
            return
        try:
            job = self._catalog.plan(request.job)
        except UnknownJob as exc:
            message.reply.fail(exc)
            return
        current = self._by_job.get(request.job)
        if current is not None and current.ended_in_store:
            current = None  # it is winding down; its run has ended for everyone else already
        actor = RunActor(
            job=job,
            request=request,
            store=self._store,
            executor=self._executor,
            events=self._events,
            logs=self._logs,
            clock=self._clock,
            owner=self._owner,
            admission=message.reply,
            skip_reason=None if current is None else f"job is already running (run {current.run_id})",
            rng=self._rng,
        )
        if current is None:
            self._by_job[request.job] = actor
        self._by_run[request.run_id] = actor
        assert self._group is not None
        self._group.start_soon(self._host, actor, name=f"run {request.job} {request.run_id}")

    async def _host(self, actor: RunActor) -> None:
        try:
            await actor.run()
        except Exception as exc:
            # The run has ended (recorded as failed where it could be); nothing else is touched.
            _report_broken(actor, exc)
        finally:
            self._mailbox.tell(RunEnded(actor.run_id, actor.job.name))

    async def _answer_when_idle(self, message: Shutdown) -> None:
        await self._idle.wait()
        message.reply.set([])

    async def _drain(self, message: Shutdown) -> None:
        aborted: list[str] = []
        if not self._idle.is_set():
            async with anyio.create_task_group() as race:

                async def grace_period() -> None:
                    await self._clock.sleep(message.grace_seconds)
                    race.cancel_scope.cancel()

                race.start_soon(grace_period)
                await self._idle.wait()
                race.cancel_scope.cancel()
            for actor in list(self._by_run.values()):
                if not actor.finished.is_set():
                    aborted.append(actor.run_id)
                    actor.abort(f"engine shutdown: the grace period of {message.grace_seconds:g} s ran out")
            await self._idle.wait()
        message.reply.set(aborted)
        self._mailbox.tell(_Stop())


def _report_broken(actor: RunActor, error: Exception) -> None:
    """Say in the process log why a run ended outside its steps, with its run id and job as the record's
    `extra` (so log pipelines can index them)."""
    extra = {"run_id": actor.run_id, "job": actor.job.name}
    if isinstance(error, StoreUnavailable):
        # Expected while the store is down: the trigger's caller was told; no traceback to read.
        log.warning("run %s of job %s: %s", actor.run_id, actor.job.name, error, extra=extra)
        return
    if not actor.in_store:
        ended = "it was not admitted"
    elif actor.ended_in_store:
        ended = f"recorded as failed: {actor.error}"
    else:
        ended = "its end could not be recorded; crash recovery will end it"
    log.error(
        "run %s of job %s broke inside the engine (%s); the engine goes on",
        actor.run_id,
        actor.job.name,
        ended,
        exc_info=error,
        extra=extra,
    )


def _turn_away(message: SupervisorMessage) -> None:
    """Answer a message that reached the supervisor after it stopped (a run's end needs no answer)."""
    if isinstance(message, Dispatch):
        message.reply.fail(EngineStopping("the engine has stopped"))
    elif isinstance(message, Abort):
        message.reply.set(False)
    elif isinstance(message, Shutdown):
        message.reply.set([])
