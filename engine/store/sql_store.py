"""SqlStore: the engine's job store on SQLite or PostgreSQL, implementing the actors' `RunStore` port
plus the read queries of the CLI, REST API and UI.

All writes go through one group-commit writer task, which lives as long as the store is entered. It
waits out a store that cannot take writes for a while (see `writer`), and `health` says when it does.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Collection, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskStatus
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.actors.events import LogLine
from nomaflow.actors.ports import Change, Clock, RunRecord, StepMoved, StepRecord
from nomaflow.engine.store import cleanup, interrupted
from nomaflow.engine.store.batch_sqlite import SqliteBatch
from nomaflow.engine.store.cleanup import Removed
from nomaflow.engine.store.health import StoreHealth
from nomaflow.engine.store.idempotency_keys import KeyClaim, claim_key, release_key
from nomaflow.engine.store.interrupted import InterruptedRun
from nomaflow.engine.store.job_state import save_job_state
from nomaflow.engine.store.one_by_one import OneByOne
from nomaflow.engine.store.opening import PROBE
from nomaflow.engine.store.reads import RunReader
from nomaflow.engine.store.rows import JobState
from nomaflow.engine.store.writer import BatchExecutor, GroupWriter, RetryDelays, WriterStats
from nomaflow.engine.store.writes import Admit, AppendLogs, Apply, EndRun, InsertSkipped, Write


class SqlStore(RunReader):
    """The job store on `engine`. Use as `async with SqlStore(engine) as store:`, or host the writer in
    your own task group with `await group.start(store.run)` and end it with `store.close()`.

    The caller owns `engine` (and disposes of it); the schema must be migrated
    (`nomaflow.engine.store.upgrade`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_group: int = 1000,
        committers: int | None = None,
        clock: Clock | None = None,
        health: StoreHealth | None = None,
        delays: RetryDelays | None = None,
    ) -> None:
        super().__init__(engine)
        self._database = engine
        if committers is None:
            # PostgreSQL commits two groups side by side; SQLite serialises writers on its file lock.
            committers = 2 if engine.dialect.name == "postgresql" else 1
        batch: BatchExecutor[Write]
        if engine.dialect.name == "postgresql":
            from nomaflow.engine.store.batch_postgres import PostgresBatch  # asyncpg is an extra

            batch = PostgresBatch(engine)
        elif engine.dialect.name == "sqlite" and engine.url.database:
            batch = SqliteBatch(engine.url.database)
        else:
            raise ValueError(f"the job store does not support {engine.url.render_as_string()!r}")
        one_by_one = OneByOne(engine.dialect.name)
        self._writer: GroupWriter[Write] = GroupWriter(
            engine,
            batch,
            one_by_one,
            escape=one_by_one.escape,
            probe=functools.partial(_probe, _folder_of(engine)),
            max_group=max_group,
            committers=committers,
            clock=clock,
            health=health,
            delays=delays,
            interruptible=engine.dialect.name != "sqlite",
        )
        self.health = self._writer.health
        self._hosting: AsyncExitStack | None = None

    @property
    def stats(self) -> WriterStats:
        """How many writes took how many transactions (group commit at work)."""
        return self._writer.stats

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the writer until `close()`; what was queued before then is committed first."""
        await self._writer.run(task_status=task_status)

    def close(self) -> None:
        """Take no more writes; the writer ends once the queued ones are committed."""
        self._writer.close()

    async def wait_closed(self) -> None:
        """Return once the writer has ended (after `close`, once what was queued is committed)."""
        await self._writer.finished.wait()

    def abandon(self) -> None:
        """Stop waiting for a store that cannot take writes: what is queued or in flight fails now."""
        self._writer.abandon()

    @property
    def next_retry(self) -> datetime | None:
        """While the writer waits to try again a write the store could not take: when it will."""
        return self._writer.next_retry

    @property
    def unavailable(self) -> str | None:
        """Why the store cannot take writes, while the writer waits for it to; else None."""
        return self._writer.unavailable

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            group = await stack.enter_async_context(anyio.create_task_group())
            await group.start(self.run)
            self._hosting = stack.pop_all()  # the writer's task group, held until __aexit__
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        hosting, self._hosting = self._hosting, None
        assert hosting is not None, "SqlStore exited without being entered"
        if exc is not None:
            self.abandon()  # leaving on an error: do not wait for a store that may not come back
        else:
            self.close()
        return await hosting.__aexit__(exc_type, exc, tb)

    # --- the RunStore port (actors/ports.py) ---

    async def admit(
        self, run: RunRecord, steps: Sequence[StepRecord], seq: int, moves: Sequence[StepMoved] = ()
    ) -> bool:
        """Insert `run` as running with its steps pending, then moved by `moves` (the first step's
        start), in one transaction, logging `admit` as `seq` and each move. If another run of the job
        is running (in any process), or the run's cron fire was already taken, insert it as skipped
        instead, logging `skip`, and return False."""
        admitted: bool = await self._writer.submit(Admit(run, steps, seq, moves), admission=True)
        return admitted

    async def insert_skipped(self, run: RunRecord, seq: int) -> None:
        await self._writer.submit(InsertSkipped(run, seq), admission=True)

    async def apply(self, changes: Sequence[Change]) -> None:
        """Compare-and-set every change in one transaction, logging each as a transition; raises
        StaleState (and applies none of them) if a row is no longer in the change's source state."""
        if changes:
            await self._writer.submit(Apply(changes))

    async def append_logs(self, lines: Sequence[LogLine]) -> None:
        if lines:
            await self._writer.submit(AppendLogs.of(lines))

    async def end_run(self, run_id: str, *, first_seq: int, at: datetime, error: str) -> bool:
        """Mark a running run failed, ending its unfinished steps (see RunStore.end_run)."""
        ended: bool = await self._writer.submit(EndRun(run_id, first_seq, at, error))
        return ended

    # --- what the engine asks of the store besides runs (rare, small: straight to the database) ---

    async def save_job_state(self, state: JobState) -> None:
        """Insert or replace the job's pause state."""
        await save_job_state(self._database, state)

    async def claim_idempotency_key(
        self,
        *,
        scope: str,
        key: str,
        job: str,
        fingerprint: str,
        run_id: str,
        now: datetime,
        expired_before: datetime,
    ) -> KeyClaim:
        """Claim a run request's idempotency key for `run_id`, or return the claim holding it."""
        return await claim_key(
            self._database,
            scope=scope,
            key=key,
            job=job,
            fingerprint=fingerprint,
            run_id=run_id,
            now=now,
            expired_before=expired_before,
        )

    async def release_idempotency_key(self, *, scope: str, key: str, run_id: str) -> None:
        """Give the key back, if still claimed for `run_id` (its run could not be dispatched)."""
        await release_key(self._database, scope=scope, key=key, run_id=run_id)

    async def heartbeat(self, owner: str, at: datetime, run_ids: Sequence[str]) -> int:
        """Stamp the runs this engine carries (see store.interrupted.heartbeat)."""
        return await interrupted.heartbeat(self._database, owner, at, run_ids)

    async def fail_interrupted(
        self, *, cutoff: datetime, at: datetime, me: str, carried: Collection[str] = ()
    ) -> list[InterruptedRun]:
        """Fail the running runs whose engine stopped heartbeating (see store.interrupted)."""
        return await interrupted.fail_interrupted(
            self._database, cutoff=cutoff, at=at, me=me, carried=carried
        )

    async def delete_old_runs(self, statuses: Collection[str], before: datetime, limit: int) -> Removed:
        """One batch of retention: up to `limit` runs in `statuses` started before `before`, with their
        steps and logs, in one transaction (see store.cleanup)."""
        return await cleanup.delete_old_runs(self._database, statuses, before, limit)

    async def count_old_runs(self, statuses: Collection[str], before: datetime) -> Removed:
        """What `delete_old_runs` would delete, all batches together (a dry run)."""
        return await cleanup.count_old_runs(self._database, statuses, before)


# A SQLite file is taken as writable again only with this much room beside it: a write that changes
# nothing may fit in the space the write-ahead log already holds, while a run's admission does not.
SQLITE_FREE_BYTES = 1024 * 1024


def _folder_of(engine: AsyncEngine) -> str | None:
    """The folder of a SQLite store's file (where its -wal and -shm files go too); None on PostgreSQL."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    return os.path.dirname(os.path.abspath(engine.url.database))


async def _probe(sqlite_folder: str | None, connection: AsyncConnection) -> None:
    """A write that changes nothing (the schema version, set to itself) but is written like any other;
    on SQLite, also room on the file's disk."""
    await connection.execute(PROBE)
    if sqlite_folder is not None:
        disk = os.statvfs(sqlite_folder)
        if disk.f_bavail * disk.f_frsize < SQLITE_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"less than {SQLITE_FREE_BYTES // 1024} KiB free in {sqlite_folder}")
