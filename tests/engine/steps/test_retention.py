"""Retention: the built-in nomaflow-cleanup job deletes exactly the runs it should (old, finished, failed
ones kept longer, never a running one) with their steps and logs, in batches, while a per-second cron
job keeps being admitted on time; on SQLite and PostgreSQL.

The store is seeded with fast set-based INSERTs (generate_series on PostgreSQL, a recursive CTE on
SQLite). Time is a ManualClock moved second by second; what is measured in real time is how long each
cron fire waits to be admitted while the cleanup deletes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from nomaflow.actors.events import AnyEvent, RunFinished, RunStarted
from nomaflow.engine import Engine, ManualClock
from nomaflow.engine.config import load_install
from nomaflow.engine.steps.retention import CLEANUP_JOB
from nomaflow.engine.store import create_engine
from nomaflow.engine.store.tables import job_logs, job_runs, step_runs
from tests.engine.conftest import make_install, quiet_install, until

pytestmark = pytest.mark.anyio

# 200,000 runs as the issue asks on PostgreSQL; SQLite gets the same mix at a tenth of the size, with
# the default batch of 500, to keep the suite quick (200,000 there take ~35 s on the test machine; the
# figures are in docs/operations.md#retention).
SEEDED = {"postgresql": 200_000, "sqlite": 20_000}
BATCH = {"postgresql": 2000, "sqlite": 500}
HISTORY_DAYS, KEEP_FAILED_DAYS = 90, 180
NOW = datetime(2026, 6, 1, 2, 59, 58, tzinfo=UTC)  # two seconds before the 03:00 cleanup
# A cron fire must be admitted within this much real time while the cleanup runs (on this busy
# two-core test machine: in practice it is a few tens of milliseconds, see the test's report).
ADMISSION_BOUND_SECONDS = 1.0
# The whole cleanup, in real time (it takes a few seconds on the test machine).
CLEANUP_BOUND_SECONDS = 120.0

# The seeded mix, by index i: 60% succeeded, 10% aborted, 10% skipped, 20% failed, and one in a thousand
# still running (each of its own job: one running run per job), owned by another engine that is alive
# (its heartbeat is in the future). Ages are 0..99 days, 0..199 for failed runs (see `age_days`): about
# a tenth of the runs go, so the test spends its time deleting in batches, not seeding.
AGE_SQL = "(CASE WHEN i % 10 >= 8 THEN i % 200 ELSE i % 100 END)"
STATUS_SQL = """CASE WHEN i % 1000 = 999 THEN 'running' WHEN i % 10 < 6 THEN 'succeeded'
    WHEN i % 10 = 6 THEN 'aborted' WHEN i % 10 = 7 THEN 'skipped' ELSE 'failed' END"""


def retention_settings(kind: str) -> str:
    return (
        f"history_days = {HISTORY_DAYS}\nkeep_failed_days = {KEEP_FAILED_DAYS}\n"
        f"cleanup_batch_size = {BATCH[kind]}\n"
    )


def seeded_status(i: int) -> str:
    if i % 1000 == 999:
        return "running"
    return {6: "aborted", 7: "skipped", 8: "failed", 9: "failed"}.get(i % 10, "succeeded")


def age_days(i: int) -> int:
    """Seeded run i started this many days (plus 1..3600 s) before NOW: 0..99 days, failed runs 0..199."""
    return i % 200 if i % 10 >= 8 else i % 100


def survives(i: int) -> bool:
    """Whether seeded run i outlives the cleanup at 03:00."""
    status, days = seeded_status(i), age_days(i)
    if status == "running":
        return True
    return days < (KEEP_FAILED_DAYS if status == "failed" else HISTORY_DAYS)


POSTGRES_SEED = [
    f"""INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run, started_at,
        finished_at, owner, heartbeat_at)
    SELECT 'seed-' || lpad(i::text, 7, '0'),
        CASE WHEN i % 1000 = 999 THEN 'seed-running-' || i ELSE 'seed-job-' || (i % 50) END,
        'seed', {STATUS_SQL}, 'cron', '{{}}'::jsonb, false,
        CAST(:now AS timestamptz) - make_interval(days => {AGE_SQL}, secs => i % 3600 + 1),
        CASE WHEN i % 1000 = 999 THEN NULL
             ELSE CAST(:now AS timestamptz) - make_interval(days => {AGE_SQL}, secs => i % 3600) END,
        CASE WHEN i % 1000 = 999 THEN 'another-engine' END,
        CASE WHEN i % 1000 = 999 THEN CAST(:now AS timestamptz) + interval '365 days' END
    FROM generate_series(0, :total - 1) AS i""",
    """INSERT INTO ly2_step_runs (run_id, position, step_name, type, status, attempts)
    SELECT id, 0, 'work', 'python', CASE WHEN status = 'running' THEN 'running' ELSE 'succeeded' END, 1
    FROM ly2_job_runs WHERE id LIKE 'seed-%'""",
    """INSERT INTO ly2_job_logs (run_id, seq, step_name, ts, level, message)
    SELECT id, 1, 'work', started_at, 'info', 'a seeded line' FROM ly2_job_runs WHERE id LIKE 'seed-%'""",
]


STARTED_SQLITE = f"datetime(:now, '-' || {AGE_SQL} || ' days', '-' || (i % 3600 + 1) || ' seconds')"
FINISHED_SQLITE = f"datetime(:now, '-' || {AGE_SQL} || ' days', '-' || (i % 3600) || ' seconds')"


def _sqlite_time(expression: str) -> str:
    # SQLAlchemy's SQLite DATETIME text, to the microsecond, so comparisons as text stay right.
    return f"strftime('%Y-%m-%d %H:%M:%S', {expression}) || '.000000'"


SQLITE_SEED = [
    f"""WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :total - 1)
    INSERT INTO ly2_job_runs (id, job_name, app, status, triggered_by, params, dry_run, started_at,
        finished_at, owner, heartbeat_at)
    SELECT 'seed-' || substr('0000000' || i, -7),
        CASE WHEN i % 1000 = 999 THEN 'seed-running-' || i ELSE 'seed-job-' || (i % 50) END,
        'seed', {STATUS_SQL}, 'cron', '{{}}', 0,
        {_sqlite_time(STARTED_SQLITE)},
        CASE WHEN i % 1000 = 999 THEN NULL ELSE {_sqlite_time(FINISHED_SQLITE)} END,
        CASE WHEN i % 1000 = 999 THEN 'another-engine' END,
        CASE WHEN i % 1000 = 999 THEN {_sqlite_time("datetime(:now, '+365 days')")} END
    FROM seq""",
    POSTGRES_SEED[1],
    POSTGRES_SEED[2],
]


@asynccontextmanager
async def looking_at(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own to the store's tables, to check what retention left."""
    database = create_engine(url)
    try:
        async with database.connect() as connection:
            yield connection
    finally:
        await database.dispose()


async def seed(url: str, kind: str, total: int) -> None:
    database = create_engine(url)
    try:
        now: datetime | str = NOW if kind == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S")
        async with database.begin() as connection:
            if kind == "postgresql":
                # The seed is consistent by construction: skip the foreign-key triggers (a third faster).
                await connection.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in POSTGRES_SEED if kind == "postgresql" else SQLITE_SEED:
                await connection.execute(text(statement), {"now": now, "total": total})
            await connection.execute(text("ANALYZE"))
    finally:
        await database.dispose()


class Watch:
    """Bus listener: when each run started and finished, in real time (the event loop's clock)."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, datetime | None], tuple[str, float]] = {}
        self.finished: dict[str, RunFinished] = {}
        self.changed = anyio.Event()

    def __call__(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self.started[(event.job, event.scheduled_for)] = (event.run_id, anyio.current_time())
        elif isinstance(event, RunFinished):
            self.finished[event.job if event.job == CLEANUP_JOB else event.run_id] = event
        else:
            return
        self.changed.set()
        self.changed = anyio.Event()

    async def until(self, condition: Any) -> None:
        with anyio.fail_after(60):
            while not condition():
                await self.changed.wait()


async def test_the_cleanup_job_is_built_in_listed_and_validated(tmp_path: Path, database_url: str) -> None:
    install = make_install(tmp_path, database_url, 'timezone = "Europe/Paris"\nkeep_failed_days = 400\n')
    job = install.jobs[CLEANUP_JOB]
    assert (job.app, job.enabled, job.timezone, job.source) == (
        "nomaflow",
        True,
        "Europe/Paris",
        "<built-in>",
    )
    assert job.schedule is not None
    assert job.schedule.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    assert job.steps[0].type == "retention"
    assert dict(job.steps[0].options) == {
        "history_days": 90,
        "keep_failed_days": 400,
        "batch_size": 500,
    }
    keep_all = make_install(tmp_path, database_url, "history_days = 0\n")
    assert keep_all.jobs[CLEANUP_JOB].enabled is False  # declared (and listed), with nothing to do

    (tmp_path / "app.toml").write_text("[jobs]\nhistory_days = -1\ncleanup_batch_size = 0\n")
    with pytest.raises(Exception, match="history_days") as problems:
        load_install(tmp_path / "app.toml")
    assert "cleanup_batch_size" in str(problems.value)


async def test_a_dry_run_counts_and_deletes_nothing(
    tmp_path: Path, database_url: str, database_kind: str
) -> None:
    await seed(database_url, database_kind, 2_000)
    install = quiet_install(make_install(tmp_path, database_url, retention_settings(database_kind)))
    expected = [i for i in range(2_000) if not survives(i)]
    async with Engine(install, clock=ManualClock(NOW), scheduler=False) as engine:
        outcome = await (await engine.trigger(CLEANUP_JOB, dry_run=True)).wait()
        output = outcome.steps[0].output
        assert (output["deleted_runs"], output["deleted_steps"], output["deleted_logs"]) == (
            len(expected),
            len(expected),
            len(expected),
        )
        assert output["dry_run"] is True and output["batches"] == 0
        async with looking_at(database_url) as connection:
            assert (
                await connection.execute(select(func.count()).select_from(job_runs))
            ).scalar_one() >= 2_000


async def test_retention_deletes_the_right_rows_in_batches_while_cron_fires_on_time(
    tmp_path: Path, database_url: str, database_kind: str
) -> None:
    total = SEEDED[database_kind]
    await seed(database_url, database_kind, total)
    install = quiet_install(make_install(tmp_path, database_url, retention_settings(database_kind)))
    clock = ManualClock(NOW)
    watch = Watch()
    waits: list[float] = []
    async with Engine(install, clock=clock, scheduler=True) as engine:
        engine.bus.add_listener(watch)
        tick = [
            {"name": "s", "type": "python", "callable": "enginejobs.steps:add", "kwargs": {"a": 1, "b": 1}}
        ]
        engine.define_job(name="tick", schedule="* * * * * *", steps=tick)
        # Once this engine schedules (it may have to become the leader first), it sleeps until the tick.
        await until(
            lambda: (
                engine.scheduler_running
                and "tick" in engine.next_fires()
                and clock.next_deadline() == engine.next_fires()["tick"]
            )
        )
        second = NOW
        cleanup_began = anyio.current_time()
        while CLEANUP_JOB not in watch.finished:
            second += timedelta(seconds=1)
            moved_at = anyio.current_time()
            clock.set(second)
            fire = ("tick", second)
            await watch.until(lambda fire=fire: fire in watch.started)
            run_id, started_at = watch.started[fire]
            waits.append(started_at - moved_at)
            await watch.until(lambda run_id=run_id: run_id in watch.finished)

            # The supervisor lets the run go just after it finished; the next fire must not overlap it.
            def let_go(run_id: str = run_id) -> bool:
                return run_id not in engine.in_flight()

            await until(let_go)
            # Bounded in real time, not in cron seconds: how many ticks fit in the cleanup depends
            # only on how fast a tick runs, and a faster engine must not fail this test.
            assert anyio.current_time() - cleanup_began < CLEANUP_BOUND_SECONDS, "the cleanup is too slow"

        cleanup = watch.finished[CLEANUP_JOB]
        assert cleanup.status == "succeeded", cleanup.error
        page = await engine.store.list_runs(job=CLEANUP_JOB)
        [recorded] = page.runs
        assert (recorded.app, recorded.triggered_by) == ("nomaflow", "cron")
        assert recorded.scheduled_for == datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
        [step] = await engine.store.get_steps(recorded.id)
        output = step.output

        deleted = [i for i in range(total) if not survives(i)]
        assert output["deleted_runs"] == len(deleted)
        assert output["deleted_steps"] == len(deleted)
        assert output["deleted_logs"] == len(deleted)
        assert output["batches"] >= len(deleted) // BATCH[database_kind] > 1
        assert (
            output["cutoff"]
            == (datetime(2026, 6, 1, 3, tzinfo=UTC) - timedelta(days=HISTORY_DAYS)).isoformat()
        )

        async with looking_at(database_url) as connection:
            left = set(
                (await connection.execute(select(job_runs.c.id).where(job_runs.c.app == "seed"))).scalars()
            )
            assert left == {f"seed-{i:07d}" for i in range(total) if survives(i)}
            for table in (step_runs, job_logs):  # nothing orphaned: every step and line has its run
                orphans = (
                    select(func.count())
                    .select_from(table)
                    .where(table.c.run_id.not_in(select(job_runs.c.id)))
                )
                assert (await connection.execute(orphans)).scalar_one() == 0
            seeded_steps = (
                select(func.count()).select_from(step_runs).where(step_runs.c.run_id.like("seed-%"))
            )
            assert (await connection.execute(seeded_steps)).scalar_one() == len(left)
            running = select(func.count()).select_from(job_runs).where(job_runs.c.status == "running")
            assert (await connection.execute(running)).scalar_one() == total // 1000

    # Every second had its fire, none skipped, each admitted promptly although the cleanup was deleting.
    ticks = (await _ticks(database_url))[: len(waits)]
    assert ticks == [NOW + timedelta(seconds=n) for n in range(1, len(waits) + 1)]
    print(
        f"\n{database_kind}: {output['deleted_runs']} runs deleted in {output['batches']} batches over "
        f"{len(waits)} cron seconds (longest batch {output['longest_batch_seconds'] * 1000:.0f} ms); "
        f"admission wait max {max(waits) * 1000:.0f} ms, "
        f"median {sorted(waits)[len(waits) // 2] * 1000:.0f} ms"
    )
    assert max(waits) < ADMISSION_BOUND_SECONDS


async def _ticks(url: str) -> list[datetime]:
    database = create_engine(url)
    try:
        async with database.connect() as connection:
            query = (
                select(job_runs.c.scheduled_for, job_runs.c.status)
                .where(job_runs.c.job_name == "tick")
                .order_by(job_runs.c.scheduled_for)
            )
            rows = (await connection.execute(query)).all()
    finally:
        await database.dispose()
    assert {status for _, status in rows} == {"succeeded"}
    return [scheduled for scheduled, _ in rows]
