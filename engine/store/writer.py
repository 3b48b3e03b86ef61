"""Group commit: one writer task per store turns many concurrent writes into few transactions.

Callers hand over a write and wait. The writer takes everything queued and executes it as one group,
in one transaction with one commit, so N concurrent callers cost one commit (one fsync) and a handful
of set-wise statements instead of N of each. An idle caller still waits only for its own transaction.
If anything in the group fails (a compare-and-set miss, a constraint), the group is re-run carefully
with a SAVEPOINT around each write, so the failure reaches its own caller only and the others still
commit. That is rare, so the common path pays for no savepoints.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.engine.store.together import NotTogether

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)


class StoreClosed(RuntimeError):
    """The store is not running (never started, or closed): it cannot take writes."""


class Refused(NamedTuple):
    """A group executor's verdict on one write that it left out of the group (its caller gets `error`)."""

    error: Exception


class Together(Protocol[W_contra]):
    """Executes and commits a whole group in one transaction, returning one result per write. Raises
    NotTogether when the group must be re-run carefully (having committed nothing, or not knowing
    whether it did: see NotTogether.maybe_committed); any other error means the commit failed, and
    nobody in the group can know more than that."""

    async def __call__(self, writes: Sequence[W_contra]) -> list[Any]: ...

    async def aclose(self) -> None: ...


# Executes one write on a connection inside the writer's SAVEPOINT; returns its result, or Refused for
# a failure that is its caller's alone. The flag says the write may already be committed (the group's
# outcome was lost with its connection): then it is looked for before being written again.
Careful = Callable[[AsyncConnection, W, bool], Awaitable[Any]]
# Given a write the database refused and the error, the write changed so that it can be stored (text
# the database cannot hold escaped), to be tried once more; None if the error is not about that.
Escape = Callable[[W, BaseException], W | None]


class _Ticket(Generic[W]):
    """One caller's write and, once the writer is done with it, its result or error."""

    __slots__ = ("_error", "_result", "done", "write")

    def __init__(self, write: W) -> None:
        self.write = write
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

    __slots__ = ("groups", "isolated_groups", "transactions", "writes")

    def __init__(self) -> None:
        self.writes = 0  # writes handed in by callers
        self.groups = 0  # groups the writer executed
        self.transactions = 0  # transactions begun for them, including re-runs
        self.isolated_groups = 0  # groups re-run with a savepoint per write after a failed statement

    def __repr__(self) -> str:
        return (
            f"WriterStats(writes={self.writes}, groups={self.groups}, transactions={self.transactions}, "
            f"isolated_groups={self.isolated_groups})"
        )


class GroupWriter(Generic[W]):
    def __init__(
        self,
        engine: AsyncEngine,
        together: Together[W],
        careful: Careful[W],
        *,
        escape: Escape[W] | None = None,
        max_group: int = 1000,
        committers: int = 1,
    ) -> None:
        self._engine = engine
        self._together = together
        self._careful = careful
        self._escape = escape
        self._max_group = max_group
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

    async def submit(self, write: W) -> Any:
        """Execute `write` in the next group and return its result once that group has committed.

        Once queued, a write is carried out even if the caller is cancelled meanwhile; the caller waits
        for the outcome (at most one transaction) so it never has to guess whether its write happened.
        """
        if not self._running:
            raise StoreClosed("the job store is not running: enter it (`async with store`) before writing")
        ticket = _Ticket(write)
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
            with anyio.CancelScope(shield=True):
                await self._together.aclose()
            # Only cancellation leaves writes queued (close() lets the loop drain them first).
            while True:
                try:
                    ticket = self._receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                ticket.fail(StoreClosed("the job store stopped before this write was committed"))
            self._receive.close()

    async def _commit(self, group: list[_Ticket[W]]) -> None:
        # A group in flight is finished even if the writer is being cancelled: a half-seen outcome
        # would leave its callers unsure what was committed.
        with anyio.CancelScope(shield=True):
            try:
                await self._commit_group(group)
            finally:
                self._free_committers.release()

    async def _commit_group(self, group: list[_Ticket[W]]) -> None:
        self.stats.writes += len(group)
        self.stats.groups += 1
        self.stats.transactions += 1
        try:
            results = await self._together([ticket.write for ticket in group])
        except NotTogether as refused:
            # Re-run carefully even a group of one: a compare-and-set miss becomes the caller's
            # StaleState there, and a genuine error simply fails again, for its own caller.
            self.stats.isolated_groups += 1
            await self._commit_isolated(group, refused.maybe_committed)
            return
        except Exception as exc:
            # Could not even connect, or a COMMIT failed: nobody in the group knows more than this.
            for ticket in group:
                ticket.fail(exc)
            return
        for ticket, result in zip(group, results, strict=True):
            ticket.settle(result)

    async def _commit_isolated(self, group: list[_Ticket[W]], maybe_committed: bool) -> None:
        self.stats.transactions += 1
        settled: list[tuple[_Ticket[W], Any]] = []
        try:
            async with self._engine.connect() as connection, connection.begin():
                for ticket in group:
                    write: W | None = ticket.write
                    while write is not None:
                        try:
                            async with connection.begin_nested():
                                result = await self._careful(connection, write, maybe_committed)
                                if isinstance(result, Refused):
                                    raise result.error
                        except Exception as exc:
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
            for ticket in group:
                ticket.fail(exc)
            return
        for ticket, result in settled:
            ticket.settle(result)
