"""A store that cannot take writes for a while, for real: a PostgreSQL database turned read-only (as a
failover leaves one), a SQLite file on a disk that is full. Writes wait it out, retried after delays
that double up to a bound (on the injected clock: the tests move it); admissions are refused at once
meanwhile; the store's health says degraded, with the reason, and returns to ok by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.actors.events import LogLine
from nomaflow.engine.clock import ManualClock
from nomaflow.engine.store import SqlStore, StoreClosed, create_engine, upgrade
from nomaflow.engine.store.writer import RetryDelays
from tests.conftest import PgServer, SmallDisk
from tests.engine.conftest import until
from tests.engine.store.records import at, run_record, step_moved, step_records

pytestmark = pytest.mark.anyio

DELAYS = RetryDelays(first=1.0, longest=4.0)


async def _delays_while_failing(
    clock: ManualClock, attempts: int, before_each: Callable[[], None] = lambda: None
) -> list[float]:
    """Let the writer fail `attempts` more times, noting each wait it chose before trying again; return
    once it has failed the last time and waits again."""
    waits = []
    for _ in range(attempts):
        before_each()
        await clock.wait_for_sleepers(1)
        deadline = clock.next_deadline()
        assert deadline is not None
        waits.append((deadline - clock.now()).total_seconds())
        clock.set(deadline)  # its sleep ends at once (ManualClock.set wakes it): it tries again
    before_each()
    await clock.wait_for_sleepers(1)
    return waits


def _doubling_to_the_bound(waits: list[float]) -> None:
    # Each wait is its nominal delay shortened by up to a tenth (jitter): 1, 2, 4, 4, ...
    nominal = [min(DELAYS.first * 2**n, DELAYS.longest) for n in range(len(waits))]
    for wait, expected in zip(waits, nominal, strict=True):
        assert expected * 0.9 <= wait <= expected, (waits, nominal)


@pytest.fixture
async def pg_database(pg_server: PgServer) -> AsyncIterator[str]:
    url = await pg_server.create_database()
    try:
        await upgrade(url)
        yield url
    finally:
        await pg_server.drop_database(url)


async def _set_read_only(server: PgServer, url: str, read_only: bool) -> None:
    """Turn the database read-only (or back) for new sessions, and end its sessions so they reconnect.
    (From the admin database: a session on this one would be read-only too.)"""
    name = make_url(url).database
    connection = await asyncpg.connect(server.admin_url)
    try:
        setting = (
            "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
        )
        await connection.execute(f'ALTER DATABASE "{name}" {setting}')
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_writes_wait_out_a_read_only_postgresql_and_admissions_are_refused(
    pg_server: PgServer, pg_database: str
) -> None:
    clock = ManualClock()
    database = create_engine(pg_database)
    try:
        async with SqlStore(database, clock=clock, delays=DELAYS) as store:
            run = run_record("nightly")
            assert await store.admit(run, step_records(run, "extract"), seq=1)
            await _set_read_only(pg_server, pg_database, True)
            started = step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1))
            async with anyio.create_task_group() as group:
                group.start_soon(store.apply, [started])
                await until(lambda: not store.health.ok)
                assert "read-only" in (store.health.reason or "")
                assert store.health.reason and store.health.reason.startswith("writes:")
                assert store.health.since == clock.now()
                # A run that has not begun is refused now, rather than kept waiting in memory.
                other = run_record("hourly")
                with pytest.raises(StoreUnavailable, match="unavailable") as refused:
                    await store.admit(other, step_records(other, "x"), seq=1)
                assert refused.value.retry_after == DELAYS.longest
                _doubling_to_the_bound(await _delays_while_failing(clock, 4))
                await _set_read_only(pg_server, pg_database, False)
                clock.advance(DELAYS.longest)
            # The apply returned: written once, after the store came back.
            assert store.health.ok and store.unavailable is None
            [step] = await store.get_steps(run.id)
            assert step.status == "running"
            assert [log.seq for log in await store.get_logs(run.id)] == [1, 2]
            assert store.stats.retries == 5 and store.stats.refused_admissions == 1
            assert await store.get_run(other.id) is None
            # Back to normal: an admission goes through, on the common path.
            assert await store.admit(other, step_records(other, "x"), seq=1)
    finally:
        await database.dispose()


async def test_a_full_disk_is_waited_out_and_the_store_knows_when_it_has_room_again(
    small_disk: SmallDisk,
) -> None:
    clock = ManualClock()
    url = f"sqlite+aiosqlite:///{small_disk.path / 'nomaflow.db'}"
    await upgrade(url)
    database = create_engine(url)
    try:
        async with SqlStore(database, clock=clock, delays=DELAYS) as store:
            run = run_record("nightly")
            assert await store.admit(run, step_records(run, "extract"), seq=1)
            small_disk.fill()
            # Only an admission is in the failing group: it is refused, and the store is probed (a
            # write that changes nothing) until it has room again.
            other = run_record("hourly")
            with pytest.raises(StoreUnavailable, match="full"):
                await store.admit(other, step_records(other, "x"), seq=1)
            assert not store.health.ok and "database or disk is full" in (store.health.reason or "")
            # SQLite gives back some room as it fails (its write-ahead log shrinks): the disk is kept full.
            _doubling_to_the_bound(await _delays_while_failing(clock, 3, small_disk.fill))
            assert not store.health.ok
            with pytest.raises(StoreUnavailable):
                await store.admit(other, step_records(other, "x"), seq=1)
            lines = [
                LogLine(
                    run_id=run.id, job="nightly", seq=2, at=at(1), step="extract", level="info", message="hi"
                )
            ]
            async with anyio.create_task_group() as group:
                group.start_soon(store.append_logs, lines)  # waits for the disk, behind the probe
                small_disk.free()
                clock.advance(DELAYS.longest)
                await until(lambda: store.health.ok)
            assert [log.message for log in await store.get_logs(run.id)][-1] == "hi"
            assert await store.admit(other, step_records(other, "x"), seq=1)
    finally:
        await database.dispose()


async def test_abandon_fails_waiting_writes_at_once(small_disk: SmallDisk) -> None:
    """What a stop that ran out of time does: nothing waits for the store any more."""
    clock = ManualClock()
    url = f"sqlite+aiosqlite:///{small_disk.path / 'nomaflow.db'}"
    await upgrade(url)
    database = create_engine(url)
    errors: list[BaseException] = []
    try:
        async with SqlStore(database, clock=clock, delays=DELAYS) as store:
            run = run_record("nightly")
            assert await store.admit(run, step_records(run, "extract"), seq=1)
            small_disk.fill()

            async def start_step() -> None:
                try:
                    await store.apply(
                        [step_moved(run, 0, "extract", "start", "pending", "running", seq=2, when=at(1))]
                    )
                except StoreClosed as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as group:
                group.start_soon(start_step)
                await until(lambda: not store.health.ok)
                await clock.wait_for_sleepers(1)
                store.abandon()
            with pytest.raises(StoreClosed):  # and nothing more is taken
                await store.end_run(run.id, first_seq=3, at=at(2), error="x")
        assert len(errors) == 1 and "given up on" in str(errors[0])
    finally:
        small_disk.free()
        await database.dispose()
