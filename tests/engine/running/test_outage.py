"""The engine and a job store that stops taking writes, for real: a SQLite file on a small disk that
fills up (a tmpfs of the test's own), then has room again; a store on a read-only disk at start-up;
stops with the store hanging. Clock-driven: cron, the store's retry delays and the stop's deadlines
all wait on the ManualClock, which the tests move."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from nomaflow.actors.errors import StoreUnavailable
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config import Install
from nomaflow.engine.engine import TRIGGER_WAIT_SECONDS
from nomaflow.engine.running.shutdown import STOP_MARGIN_SECONDS
from nomaflow.engine.store import StoreUnusable, create_engine, upgrade
from nomaflow.engine.store.interrupted import fail_interrupted
from tests.conftest import SmallDisk
from tests.engine.conftest import gate_of, make_install, quiet_install, reached, until

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)


def python_step(step: str, target: str, /, **kwargs: Any) -> dict[str, Any]:
    return {"name": step, "type": "python", "callable": f"enginejobs.steps:{target}", "kwargs": kwargs}


def store_on(disk: SmallDisk, tmp_path: Path, extra: str = "") -> Install:
    return quiet_install(make_install(tmp_path, f"sqlite+aiosqlite:///{disk.path / 'nomaflow.db'}", extra))


async def retry_until(
    engine: Engine, clock: ManualClock, condition: Callable[[], bool], before: Callable[[], None]
) -> None:
    """Move the clock to each moment the store's writer tries again (calling `before` first: keep the
    disk full) until `condition` holds. Everything else waiting on the clock sees that time pass too."""
    with anyio.fail_after(30):
        while not condition():
            before()
            await until(lambda: condition() or engine.store.next_retry is not None)
            retry_at = engine.store.next_retry
            if retry_at is None:
                continue
            clock.set(retry_at)

            # Until it has tried (and waits again, with a later moment), or `condition` holds.
            def tried(at: datetime = retry_at) -> bool:
                return condition() or (engine.store.next_retry or at) > at

            await until(tried)


async def test_a_full_disk_degrades_the_engine_which_recovers_by_itself(
    small_disk: SmallDisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    gate = f"outage-{uuid.uuid4().hex[:8]}"
    async with Engine(store_on(small_disk, tmp_path), clock=clock, scheduler=True) as engine:
        engine.define_job(
            name="tick", schedule="* * * * * *", catch_up="latest", steps=[python_step("t", "add", a=1, b=1)]
        )
        engine.define_job(name="gated", steps=[python_step("wait", "block_until", name=gate)])
        engine.define_job(name="other", steps=[python_step("x", "add", a=2, b=2)])

        async def tick_runs() -> list[Any]:
            return (await engine.store.list_runs(job="tick")).runs

        await until(lambda: engine.scheduler is not None and engine.scheduler.waiting)
        clock.set(datetime(2026, 6, 1, 12, 0, 1, tzinfo=UTC))
        with anyio.fail_after(10):
            while [run.status for run in await tick_runs()] != ["succeeded"]:
                await anyio.lowlevel.checkpoint()
        gated = await engine.trigger("gated")
        await reached(f"{gate}:entered")

        # The disk fills up; the next fire cannot be recorded.
        small_disk.fill()
        with caplog.at_level(logging.WARNING):
            clock.set(datetime(2026, 6, 1, 12, 0, 2, tzinfo=UTC))
            await until(lambda: not engine.store_health.ok)
            await until(lambda: engine.scheduler is None)  # cron pauses
        assert "database or disk is full" in (engine.store_health.reason or "")
        assert engine.store_health.since is not None
        refused = [r for r in caplog.records if r.name == "nomaflow.supervisor"]
        assert refused and refused[0].job == "tick" and refused[0].levelno == logging.WARNING  # type: ignore[attr-defined]

        # A trigger waits a little for the store, then is refused, saying when to ask again.
        async with anyio.create_task_group() as group:
            outcome: list[StoreUnavailable] = []

            async def trigger_other() -> None:
                try:
                    await engine.trigger("other")
                except StoreUnavailable as exc:
                    outcome.append(exc)

            group.start_soon(trigger_other)
            await retry_until(engine, clock, lambda: bool(outcome), small_disk.fill)
        assert outcome[0].retry_after == 5
        assert clock.now() >= datetime(2026, 6, 1, 12, 0, 2, tzinfo=UTC) + timedelta(
            seconds=TRIGGER_WAIT_SECONDS
        )

        # The gated run's step ends while the disk is full: its end waits, in memory, for the store.
        gate_of(gate).set()
        retried = engine.store_stats.retries if engine.store_stats else 0
        await retry_until(
            engine,
            clock,
            lambda: engine.store_stats is not None and engine.store_stats.retries >= retried + 3,
            small_disk.fill,
        )
        assert gated.run_id in engine.in_flight()
        assert not engine.store_health.ok

        # Room again: the engine finds out by itself, the run ends, cron catches up and goes on.
        small_disk.free()
        await retry_until(engine, clock, lambda: engine.store_health.ok, lambda: None)
        with anyio.fail_after(10):
            assert (await gated.wait()).status == "succeeded"
        await until(lambda: engine.scheduler is not None and engine.scheduler.waiting)
        recovered_at = clock.now()
        with anyio.fail_after(10):
            while len(await tick_runs()) < 2:
                await anyio.lowlevel.checkpoint()
        next_fire = engine.next_fires()["tick"]
        clock.set(next_fire)
        with anyio.fail_after(10):
            while not any(
                run.scheduled_for == next_fire and run.status == "succeeded" for run in await tick_runs()
            ):
                await anyio.lowlevel.checkpoint()
        runs = await tick_runs()
        fires = sorted(run.scheduled_for for run in runs if run.scheduled_for is not None)
        # 12:00:01 before the outage; the latest fire missed during it (catch_up = "latest"); the next.
        assert fires[0] == datetime(2026, 6, 1, 12, 0, 1, tzinfo=UTC)
        assert fires[1] <= recovered_at and fires[1] > datetime(2026, 6, 1, 12, 0, 2, tzinfo=UTC)
        assert fires[2] == next_fire and len(fires) == 3
        assert [f for f, n in Counter(fires).items() if n > 1] == []
        assert {run.status for run in runs} == {"succeeded"}
        everything = (await engine.store.list_runs()).runs
        assert "running" not in {run.status for run in everything}
        assert engine.store_stats is not None and engine.store_stats.refused_admissions >= 1


async def _read_run(disk: SmallDisk, run_id: str) -> str | None:
    from nomaflow.engine.store import RunReader

    database = create_engine(f"sqlite+aiosqlite:///{disk.path / 'nomaflow.db'}")
    try:
        run = await RunReader(database).get_run(run_id)
        return None if run is None else run.status
    finally:
        await database.dispose()


async def test_a_read_only_sqlite_store_fails_start_up_with_one_clear_paragraph(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk.path / 'nomaflow.db'}"
    await upgrade(url)
    install = store_on(small_disk, tmp_path)
    small_disk.read_only()
    try:
        with pytest.raises(StoreUnusable) as refused:
            async with Engine(install, scheduler=False):
                pass
        message = str(refused.value)
        assert message.startswith(
            f"the job store {small_disk.path / 'nomaflow.db'} cannot be written (SQLite:"
        )
        assert "read-only" in message and "NOMAFLOW_DATABASE_URL" in message and "\n" not in message
    finally:
        small_disk.read_only(False)


async def test_a_read_only_folder_with_no_store_yet_fails_start_up_the_same_way(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    install = store_on(small_disk, tmp_path)
    small_disk.read_only()
    try:
        with pytest.raises(
            StoreUnusable, match=r"cannot be written \(SQLite: unable to open database file\)"
        ):
            async with Engine(install, scheduler=False):
                pass
    finally:
        small_disk.read_only(False)


async def test_a_stop_with_the_store_full_ends_within_grace_and_margins_and_recovery_ends_the_run(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    """The store takes no write, a run's end is waiting for it: the stop gives up on it after the grace
    period and a margin, and the run left `running` is ended as interrupted once the store is back."""
    clock = ManualClock(T0)
    gate = f"stuck-{uuid.uuid4().hex[:8]}"
    install = store_on(small_disk, tmp_path, "interrupted_after_seconds = 30\n")
    grace = 2.0
    engine = Engine(install, clock=clock, scheduler=False)
    async with anyio.create_task_group() as helpers:
        await engine.__aenter__()
        try:
            engine.define_job(name="gated", steps=[python_step("wait", "block_until", name=gate)])
            run = await engine.trigger("gated")
            await reached(f"{gate}:entered")
            small_disk.fill()
            gate_of(gate).set()
            await retry_until(engine, clock, lambda: not engine.store_health.ok, small_disk.fill)

            async def time_passes() -> None:
                # Only the store's retries wait on the clock now (and the stop's own deadlines).
                await retry_until(engine, clock, lambda: engine.stopped, small_disk.fill)

            helpers.start_soon(time_passes)
            begun = clock.now()
            # Stopped from the task that started it, as `async with engine` does.
            await engine.stop(grace_seconds=grace)
            stopped_at = clock.now()
        finally:
            await engine.stop()
    # The grace period and a margin, then the drain after giving up: nothing more on the clock.
    assert (
        grace + STOP_MARGIN_SECONDS <= (stopped_at - begun).total_seconds() <= grace + 2 * STOP_MARGIN_SECONDS
    )
    stored = await _read_run(small_disk, run.run_id)
    assert stored == "running"  # its end could not be recorded: left to crash recovery
    small_disk.free()
    database = create_engine(f"sqlite+aiosqlite:///{small_disk.path / 'nomaflow.db'}")
    try:
        later = clock.now() + timedelta(seconds=31)
        cutoff = later - timedelta(seconds=30)
        ended = await fail_interrupted(database, cutoff=cutoff, at=later, me="another-engine")
        assert [interrupted.run_id for interrupted in ended] == [run.run_id]
    finally:
        await database.dispose()
