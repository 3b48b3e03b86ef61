"""Group commit: one writer task per store turns many concurrent writes into few transactions.

Callers hand over a write and wait. The writer takes everything queued and executes it as one group,
in one transaction with one commit, so N concurrent callers cost one commit (one fsync) and a handful
of set-wise statements instead of N of each. An idle caller still waits only for its own transaction.
If anything in the group fails (a compare-and-set miss, a constraint), the group is re-run one write at a time
with a SAVEPOINT around each write, so the failure reaches its own caller only and the others still
commit. That is rare, so the common path pays for no savepoints.

A store that cannot take writes now (unreachable, restarting, disk full, read-only, locked: see
`faults`) is waited out: the group is tried again after a delay that doubles up to a bound, and the
store's health says why it is degraded meanwhile. The callers of those writes (runs between two steps,
log lines) simply wait. Admissions are the exception: they are refused at once while the store is
degraded, so a trigger learns it now and nothing waits in memory for a run that has not begun. The
common path pays nothing for this: the retry loop is entered only once an attempt has failed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.actors.ports import Clock
from nomaflow.engine.clock import SystemClock
from nomaflow.engine.store.batch import BatchFailed
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.health import StoreHealth

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)


class StoreClosed(StoreUnavailable, RuntimeError):
    """The store is not running (never started, closed, or given up on at shutdown): it cannot take
    writes."""


class RetryDelays(NamedTuple):
    """How long the writer waits before trying a group again while the store cannot take it: `first`,
    then twice the last, up to `longest` (seconds), each shortened by up to a tenth at random so that
    engines sharing a store do not knock in step."""

    first: float = 0.1
    longest: float = 5.0

    def after(self, delay: float) -> float:
        return min(delay * 2, self.longest)


class Refused(NamedTuple):
    """A group executor's verdict on one write that it left out of the group (its caller gets `error`)."""

    error: Exception


class BatchExecutor(Protocol[W_contra]):
    """Executes and commits a whole group in one transaction, returning one result per write. Raises
    BatchFailed when the group must be re-run one write at a time (having committed nothing, or not knowing
    whether it did: see BatchFailed.maybe_committed); any other error means the commit failed, and
    nobody in the group can know more than that."""

    async def __call__(self, writes: Sequence[W_contra]) -> list[Any]: ...

    async def aclose(self) -> None: ...


# Executes one write on a connection inside the writer's SAVEPOINT; returns its result, or Refused for
# a failure that is its caller's alone. The flag says the write may already be committed (the group's
# outcome was lost with its connection): then it is looked for before being written again.
OneWrite = Callable[[AsyncConnection, W, bool], Awaitable[Any]]
# Given a write the database refused and the error, the write changed so that it can be stored (text
# the database cannot hold escaped), to be tried once more; None if the error is not about that.
Escape = Callable[[W, BaseException], W | None]
# A write that changes nothing but goes to disk like any other (so a full disk refuses it): how the
# writer learns that the store is back when no write of a caller is left to try.
Probe = Callable[[AsyncConnection], Awaitable[Any]]


class _Ticket(Generic[W]):
    """One caller's write and, once the writer is done with it, its result or error."""

    __slots__ = ("_error", "_result", "admission", "done", "write")

    def __init__(self, write: W, admission: bool) -> None:
        self.write = write
        self.admission = admission
        self.done = anyio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def settle(self, result: Any) -> None:
        if isinstance(result, Refused):
            self.fail(result.error)
        elif not self.done.is_set():
            self._result = result
            self.done.set()

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self._error = error
            self.done.set()

    def outcome(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result


class WriterStats:
    """Counters for tests and benchmarks: how many writes took how many transactions."""

    __slots__ = ("groups", "isolated_groups", "refused_admissions", "retries", "transactions", "writes")

    def __init__(self) -> None:
        self.writes = 0  # writes handed in by callers
        self.groups = 0  # groups the writer executed
        self.transactions = 0  # transactions begun for them, including re-runs
        self.isolated_groups = 0  # groups re-run with a savepoint per write after a failed statement
        self.retries = 0  # groups tried again after the store could not take them
        self.refused_admissions = 0  # admissions refused because the store could not take them

    def __repr__(self) -> str:
        return (
            f"WriterStats(writes={self.writes}, groups={self.groups}, transactions={self.transactions}, "
            f"isolated_groups={self.isolated_groups}, retries={self.retries}, "
            f"refused_admissions={self.refused_admissions})"
        )


class GroupWriter(Generic[W]):
    def __init__(
        self,
        engine: AsyncEngine,
        batch: BatchExecutor[W],
        one_by_one: OneWrite[W],
        *,
        escape: Escape[W] | None = None,
        probe: Probe | None = None,
        max_group: int = 1000,
        committers: int = 1,
        clock: Clock | None = None,
        health: StoreHealth | None = None,
        delays: RetryDelays | None = None,
        interruptible: bool = True,
    ) -> None:
        """`interruptible`: whether a statement in flight may be cut short when the store is given up
        on (`abandon`). Not with aiosqlite, whose connections SQLAlchemy cannot close once a statement
        of theirs was cancelled; a SQLite statement ends within its lock timeout anyway."""
        self._engine = engine
        self._batch = batch
        self._one_by_one = one_by_one
        self._escape = escape
        self._probe = probe
        self._max_group = max_group
        self._clock: Clock = clock or SystemClock()
        self.health = health or StoreHealth(self._clock)
        self._delays = delays or RetryDelays()
        self._unavailable: str | None = None  # why the last attempt failed, while the store is down
        self._abandoned = False
        self._interruptible = interruptible
        self._in_flight: set[anyio.CancelScope] = set()  # the groups being committed
        self._waiting: set[anyio.CancelScope] = set()  # the waits before trying a group again
        self.finished = anyio.Event()  # set once `run` has returned
        self.next_retry: datetime | None = None  # while waiting to try a write again: when it will
        send: MemoryObjectSendStream[_Ticket[W]]
        receive: MemoryObjectReceiveStream[_Ticket[W]]
        send, receive = anyio.create_memory_object_stream[_Ticket[W]](max_buffer_size=math.inf)
        self._send = send
        self._receive = receive
        self._running = False
        # How many groups may be in flight at once, each on its own connection. More than one lets the
        # database work on one group while Python prepares the next; SQLite has one writer anyway.
        self._free_committers = anyio.Semaphore(committers)
        self._committers = committers
        self.stats = WriterStats()

    async def submit(self, write: W, *, admission: bool = False) -> Any:
        """Execute `write` in the next group and return its result once that group has committed.

        Once queued, a write is carried out even if the caller is cancelled meanwhile; the caller waits
        for the outcome so it never has to guess whether its write happened. While the store cannot
        take writes that wait lasts until it can again, except for an `admission` (a run's first
        write), which is refused with StoreUnavailable instead, then or as soon as its group fails.
        """
        if not self._running:
            raise StoreClosed("the job store is not running: enter it (`async with store`) before writing")
        if admission and self._unavailable is not None:
            self.stats.refused_admissions += 1
            raise self._refusal()
        ticket = _Ticket(write, admission)
        try:
            self._send.send_nowait(ticket)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise StoreClosed("the job store is closed") from None
        with anyio.CancelScope(shield=True):
            await ticket.done.wait()
        return ticket.outcome()

    def close(self) -> None:
        """Take no more writes; `run` returns once the queued ones are committed."""
        self._send.close()

    def abandon(self) -> None:
        """Stop waiting for the store (a shutdown that ran out of time): every write queued or waiting
        for the store fails at once with StoreClosed, and nothing more is taken. A statement in flight
        is cut short too if it may be (see `interruptible`), else its writes fail when it ends. A write
        in flight may still land after all; crash recovery resolves runs whose end was not recorded."""
        self._abandoned = True
        self._send.close()
        for scope in [*self._waiting, *(self._in_flight if self._interruptible else ())]:
            scope.cancel()
        self._fail_queued("the job store was given up on at shutdown before this write was committed")

    @property
    def unavailable(self) -> str | None:
        """Why the store cannot take writes, while the writer is waiting for it; else None."""
        return self._unavailable

    def _refusal(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the job store is unavailable ({self._unavailable}); nothing was started",
            retry_after=self._delays.longest,
        )

    def _fail_queued(self, why: str) -> None:
        while True:
            try:
                ticket = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            ticket.fail(StoreClosed(why))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._running = True
        try:
            async with anyio.create_task_group() as committers:
                task_status.started()
                while True:
                    # A group is formed only once a committer is free, so that it takes in everything
                    # that queued up while the committers were busy.
                    await self._free_committers.acquire()
                    try:
                        first = await self._receive.receive()
                    except anyio.EndOfStream:
                        self._free_committers.release()
                        break
                    group = [first]
                    while len(group) < self._max_group:
                        try:
                            group.append(self._receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    if self._committers == 1:
                        await self._commit(group)  # no task to start when groups take turns anyway
                    else:
                        committers.start_soon(self._commit, group)
        finally:
            self._running = False
            self._send.close()
            if not (self._abandoned and self._interruptible):  # cut short, a connection may hang
                with anyio.CancelScope(shield=True):
                    await self._batch.aclose()
            # Only cancellation leaves writes queued (close() lets the loop drain them first).
            self._fail_queued("the job store stopped before this write was committed")
            self._receive.close()
            self.finished.set()

    async def _commit(self, group: list[_Ticket[W]]) -> None:
        # A group in flight is finished even if the writer is being cancelled: a half-seen outcome
        # would leave its callers unsure what was committed. Only `abandon` cuts it short.
        with anyio.CancelScope(shield=True) as scope:
            self._in_flight.add(scope)
            try:
                await self._commit_group(group)
            finally:
                self._in_flight.discard(scope)
                self._free_committers.release()
        if scope.cancelled_caught:
            for ticket in group:
                ticket.fail(
                    StoreClosed("the job store was given up on at shutdown before this write was committed")
                )

    async def _commit_group(self, group: list[_Ticket[W]]) -> None:
        self.stats.writes += len(group)
        self.stats.groups += 1
        self.stats.transactions += 1
        try:
            results = await self._batch([ticket.write for ticket in group])
        except BatchFailed as refused:
            # Re-run one by one even a group of one: a compare-and-set miss becomes the caller's
            # StaleState there, and a genuine error simply fails again, for its own caller.
            self.stats.isolated_groups += 1
            lost = await self._commit_isolated(group, refused.maybe_committed)
        except Exception as exc:
            # Could not even connect, or a COMMIT failed: nobody in the group knows more than this.
            lost = self._lost(group, exc)
        else:
            for ticket, result in zip(group, results, strict=True):
                ticket.settle(result)
            return
        if lost is not None:
            await self._wait_out(group, lost)

    def _lost(self, group: list[_Ticket[W]], error: Exception) -> str | None:
        """Why the store could not take `group` now, if it could not; else fail the group with `error`."""
        reason = transient_reason(error)
        if reason is None:
            for ticket in group:
                ticket.fail(error)
        return reason

    async def _wait_out(self, group: list[_Ticket[W]], reason: str) -> None:
        """The store could not take `group` (for `reason`): try it again, later and later, until it
        does. Whether an attempt committed before its connection was lost is unknown, so every attempt
        after the first goes one by one, which looks for each write before making it."""
        delay = self._delays.first
        while True:
            self._unavailable = reason
            self.health.failing("writes", reason)
            waiting = []
            for ticket in group:
                if ticket.done.is_set():
                    continue  # refused for a reason of its own
                if ticket.admission:
                    self.stats.refused_admissions += 1
                    ticket.fail(self._refusal())
                else:
                    waiting.append(ticket)
            group = waiting
            if self._abandoned:
                break
            wait = delay * (1 - 0.1 * random.random())
            self.next_retry = self._clock.now() + timedelta(seconds=wait)
            with anyio.CancelScope() as waiting_scope:  # `abandon` ends the wait
                self._waiting.add(waiting_scope)
                try:
                    await self._clock.sleep(wait)
                finally:
                    self._waiting.discard(waiting_scope)
                    self.next_retry = None
            if self._abandoned:
                break
            delay = self._delays.after(delay)
            self.stats.retries += 1
            # With no write left to try (only admissions were, and they were refused), a probe says
            # when the store is back: until then, admissions keep being refused at once.
            lost = await self._commit_isolated(group, True) if group else await self._probe_store()
            if lost is None:
                self._unavailable = None
                self.health.recovered("writes")
                return
            reason = lost
        for ticket in group:
            ticket.fail(
                StoreClosed("the job store was given up on at shutdown before this write was committed")
            )

    async def _probe_store(self) -> str | None:
        """Why the store still cannot take a write, or None if it can."""
        try:
            async with self._engine.connect() as connection, connection.begin():
                if self._probe is not None:
                    await self._probe(connection)
        except Exception as exc:
            return transient_reason(exc)  # an error of another kind is no outage: stop waiting
        return None

    async def _commit_isolated(self, group: list[_Ticket[W]], maybe_committed: bool) -> str | None:
        """Each write of `group` in a savepoint of one transaction, so each learns its own outcome.
        Returns why the store could not take the group now, if it could not: then nothing of it was
        committed (or it is unknown what was), and only the writes refused for their own sake are done."""
        self.stats.transactions += 1
        settled: list[tuple[_Ticket[W], Any]] = []
        try:
            async with self._engine.connect() as connection, connection.begin():
                for ticket in group:
                    write: W | None = ticket.write
                    while write is not None:
                        try:
                            async with connection.begin_nested():
                                result = await self._one_by_one(connection, write, maybe_committed)
                                if isinstance(result, Refused):
                                    raise result.error
                        except Exception as exc:
                            if transient_reason(exc) is not None:
                                raise  # the transaction is lost with it: the whole group waits
                            # Refused for holding text the database cannot store: escaped, once more.
                            retry = (
                                self._escape(write, exc) if self._escape and write is ticket.write else None
                            )
                            if retry is None:
                                ticket.fail(exc)
                            write = retry
                        else:
                            settled.append((ticket, result))
                            write = None
        except Exception as exc:
            return self._lost([ticket for ticket in group if not ticket.done.is_set()], exc)
        for ticket, result in settled:
            ticket.settle(result)
        return None
