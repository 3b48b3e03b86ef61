"""Who fires cron: one engine at a time among those sharing the database.

On PostgreSQL the leader holds a session advisory lock on a connection of its own; if its process dies,
the database drops the session and the lock with it, and a follower's next attempt takes over. SQLite
has no such locks, so there the `ly2_jobs_lock` row is a lease the leader renews. Either way that row
names the holder, when it took over and when it last renewed, so operators can see who schedules.

A leader that cannot renew (the connection broke, the lease was taken) stops firing at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from anyio.abc import TaskStatus
from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nomaflow.actors.ports import Clock
from nomaflow.engine.store.faults import transient_reason
from nomaflow.engine.store.health import StoreHealth
from nomaflow.engine.store.tables import jobs_lock

log = logging.getLogger("nomaflow.leadership")

LOCK_NAME = "scheduler"
# The advisory lock's key: "noma" in ASCII, so it is recognisable in pg_locks.
ADVISORY_KEY = 0x6E6F6D61
# A released lease: its heartbeat is so old that any follower takes it at its next attempt.
RELEASED = datetime(1970, 1, 1, tzinfo=UTC)
# How long a clean stop tries to hand the leadership back before leaving it to expire.
RELEASE_SECONDS = 2.0


class Leadership:
    def __init__(
        self,
        database: AsyncEngine,
        instance_id: str,
        clock: Clock,
        on_change: Callable[[bool], None],
        *,
        renew_seconds: float = 2.0,
        lease_seconds: float = 10.0,
        health: StoreHealth | None = None,
    ) -> None:
        self._database = database
        self._me = instance_id
        self._clock = clock
        self._on_change = on_change
        self._renew = renew_seconds
        self._lease = lease_seconds
        self._postgres = database.dialect.name == "postgresql"
        self._held: AsyncConnection | None = None  # PostgreSQL: the session holding the lock
        self._health = health
        self._checks_failing = 0  # leadership checks failed in a row (the store is unreachable)
        self.is_leader = False

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            # The first attempt happens before the engine reports itself started, so a lone engine
            # is the leader from its first moment.
            await self._attempt()
            task_status.started()
            while True:
                await self._clock.sleep(self._renew)
                await self._attempt()
        finally:
            # Bounded: a store that hangs must not hold up the engine's stop (the lease, or the
            # session's end on PostgreSQL, frees the leadership anyway).
            with anyio.move_on_after(RELEASE_SECONDS, shield=True):
                await self._release()

    async def _attempt(self) -> None:
        try:
            leader = await (self._hold_postgres() if self._postgres else self._hold_lease())
        except (OSError, DBAPIError, OperationalError) as exc:
            # Said once per outage: the store's health carries on saying it.
            level = logging.WARNING if self._checks_failing == 0 else logging.DEBUG
            log.log(level, "leadership check failed (%s): acting as a follower", exc)
            self._checks_failing += 1
            await self._drop_session()
            leader = False
            if self._health is not None and (reason := transient_reason(exc)) is not None:
                self._health.failing("leadership", reason)
        except Exception:  # not a database's error: say more, but never stop trying
            log.exception("leadership check failed: acting as a follower")
            await self._drop_session()
            leader = False
        else:
            self._checks_failing = 0
            if self._health is not None:
                self._health.recovered("leadership")
        self._set(leader)

    def _set(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            log.info("instance %s %s the scheduler", self._me, "now runs" if leader else "no longer runs")
            try:
                self._on_change(leader)
            except Exception:
                log.exception("reacting to the change of leadership failed")

    async def _hold_postgres(self) -> bool:
        now = self._clock.now()
        if self._held is not None:
            # Still ours while the session lives: a round trip proves it does.
            await self._held.execute(text("SELECT 1"))
            await self._held.execute(
                update(jobs_lock)
                .where(jobs_lock.c.name == LOCK_NAME)
                .values(holder=self._me, heartbeat_at=now)
            )
            await self._held.commit()
            return True
        connection = await self._database.connect()
        try:
            got = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY})
            ).scalar()
            await connection.commit()
            if not got:
                await connection.close()
                return False
            await self._take_row(connection, now)
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        self._held = connection
        return True

    async def _hold_lease(self) -> bool:
        now = self._clock.now()
        expired = now - timedelta(seconds=self._lease)
        async with self._database.begin() as connection:
            renewed = await connection.execute(
                update(jobs_lock)
                .where(jobs_lock.c.name == LOCK_NAME, jobs_lock.c.holder == self._me)
                .values(heartbeat_at=now)
            )
            if renewed.rowcount == 1:
                return True
            taken = await connection.execute(
                update(jobs_lock)
                .where(
                    jobs_lock.c.name == LOCK_NAME,
                    jobs_lock.c.heartbeat_at < expired,
                )
                .values(holder=self._me, acquired_at=now, heartbeat_at=now)
            )
            if taken.rowcount == 1:
                return True
            # No row yet: the first engine ever creates it (a race is settled by the primary key).
            first = await connection.execute(self._insert(now).on_conflict_do_nothing())
            return bool(first.rowcount == 1)

    def _insert(self, now: datetime) -> Any:
        dialect = postgresql if self._postgres else sqlite
        return dialect.insert(jobs_lock).values(
            name=LOCK_NAME, holder=self._me, acquired_at=now, heartbeat_at=now
        )

    async def _take_row(self, connection: AsyncConnection, now: datetime) -> None:
        """The advisory lock is ours: make the row say so."""
        statement = self._insert(now)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[jobs_lock.c.name],
                set_={"holder": self._me, "acquired_at": now, "heartbeat_at": now},
            )
        )

    async def _drop_session(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                await held.invalidate()
                await held.close()
            except Exception:  # the session is already gone; that is why we are here
                log.debug("closing the lost leadership session failed", exc_info=True)

    async def _release(self) -> None:
        """Give leadership back at once on a clean stop, so a follower need not wait for the lease."""
        was_leader = self.is_leader
        self.is_leader = False
        try:
            if self._held is not None:
                await self._held.execute(
                    update(jobs_lock)
                    .where(jobs_lock.c.name == LOCK_NAME, jobs_lock.c.holder == self._me)
                    .values(heartbeat_at=RELEASED)
                )
                await self._held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                await self._held.commit()
                await self._held.close()
                self._held = None
            elif was_leader:
                async with self._database.begin() as connection:
                    await connection.execute(
                        update(jobs_lock)
                        .where(jobs_lock.c.name == LOCK_NAME, jobs_lock.c.holder == self._me)
                        .values(heartbeat_at=RELEASED)
                    )
        except Exception:
            log.warning("could not release scheduler leadership cleanly", exc_info=True)
            await self._drop_session()
