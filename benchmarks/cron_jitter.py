"""Benchmark of cron timing: how late the engine dispatches and starts cron fires, beside APScheduler 3's
own AsyncIOScheduler, and what 10,000 declared jobs cost at start-up and when idle.

    .venv/bin/python benchmarks/cron_jitter.py [--quick] [--seconds 30] [--jobs 500] [--profile]

From one run it prints:

1. dispatch jitter: 500 jobs firing every second for 30 s. For the engine, the moment each fire is
   dispatched (its CronScheduler calls `Engine._fire`, wrapped here) minus its scheduled time; for
   APScheduler, the moment its AsyncIOExecutor submits the job (`_do_submit_job`, wrapped) minus the
   run time it was due. The engine runs each fire for real (admission, a no-op step, the store
   writes) on PostgreSQL and on SQLite; APScheduler runs an async no-op. For diagnosis, one more row
   has the engine note its fires without running them (the scheduler's own cost). The contenders take
   turns in blocks of 10 s, all in this one process, so a machine that gets busier or quieter shifts
   them alike.
2. the thundering herd on PostgreSQL: 500 jobs all due in the same second, every 5 s: first-step start
   minus scheduled time, read from the store (both are the engine's clock).
3. 10,000 declared jobs (daily, none due during the measurement): start-up time (load and validate the
   install; then Engine enter until the scheduler is running with every job's next fire) and idle CPU
   (process CPU time over a 15 s window, as a share of one core).

Then it checks its targets (benchmarks/targets.toml, from issue 3), prints PASS or MISS for each, and
exits with 1 if one is missed. `--profile` adds cProfile's top functions for one engine jitter block
(where the time of a fire goes).

PostgreSQL comes from NOMAFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres); the
benchmark creates its own databases (nomaflow_bench_cron_<random>) and drops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import math
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import psutil
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script
# The install's steps (benchjobs.steps:noop), imported by the engine from this folder.
sys.path.insert(0, str(Path(__file__).resolve().parent / "plugins"))

from benchmarks.harness.databases import ThrowawayDatabases
from benchmarks.harness.report import Report, say
from benchmarks.harness.stats import percentile, ratio
from nomaflow.engine import Engine
from nomaflow.engine.config import Install, load_install
from nomaflow.engine.config.jobs import JobDefinition
from nomaflow.engine.store import create_engine
from nomaflow.engine.store.tables import job_runs, step_runs

BLOCK_SECONDS = 10
HERD_EVERY = 5  # seconds between herds
IDLE_WINDOW = 15


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def distribution(samples: list[float], what: str = "fires") -> str:
    top = max(samples) if samples else math.nan
    return (
        f"p50 {ms(percentile(samples, 50))}  p99 {ms(percentile(samples, 99))}  max {ms(top)}  "
        f"({len(samples)} {what})"
    )


# --- installs ------------------------------------------------------------------------------------


def write_install(folder: Path, database_url: str, jobs: list[tuple[str, str]]) -> Path:
    """An install with one app whose jobs are (name, schedule) pairs, each one async no-op step."""
    app = folder / "plugins" / "cronbench"
    app.mkdir(parents=True, exist_ok=True)
    (folder / "app.toml").write_text(
        f'[connectors.default]\nurl = "{database_url}"\n\n'
        # No history pruning during a benchmark: the built-in cleanup job stays listed, disabled.
        "[jobs]\nhistory_days = 0\nshutdown_grace_seconds = 5\n"
    )
    lines = []
    for name, schedule in jobs:
        lines.append(
            # catch_up = "skip": an engine starting a block must not replay the last block's fires.
            f'[[jobs]]\nname = "{name}"\nschedule = "{schedule}"\ncatch_up = "skip"\n'
            f'[[jobs.steps]]\nname = "s"\ntype = "python"\ncallable = "benchjobs.steps:noop"\n'
        )
    (app / "jobs.toml").write_text("\n".join(lines))
    return folder / "app.toml"


async def new_database(databases: ThrowawayDatabases, kind: str, name: str) -> str:
    """A new database of `kind` (postgresql or sqlite); `name` names the SQLite file."""
    return databases.sqlite(name) if kind == "sqlite" else await databases.postgresql()


def settle_heap() -> None:
    """What a contender's start-up made, moved out of the garbage collector's sight, as `nomaflow serve`
    does once started: a full collection then walks only what the running scheduler makes, not the
    modules, the install and the earlier blocks, which in this one process paused the loop (and both
    contenders' timers) for 150-300 ms every few seconds."""
    gc.collect()
    gc.freeze()


class MeasuredEngine(Engine):
    """An engine that notes how late each cron fire reaches it (the moment its scheduler dispatches the
    fire, minus the fire's scheduled time), and runs the fire only if `run`."""

    def __init__(self, install: Install, *, run: bool = True) -> None:
        super().__init__(install)
        self.lateness: list[float] = []
        self._run_fires = run

    def _fire(self, job: JobDefinition, scheduled_for: datetime) -> None:
        self.lateness.append(time.time() - scheduled_for.timestamp())
        if self._run_fires:
            super()._fire(job, scheduled_for)


async def until_ready(engine: Engine, jobs: int, within: float = 60) -> None:
    """Wait until this engine leads and its scheduler knows every job's next fire."""
    with anyio.fail_after(within):
        while not (engine.scheduler_running and len(engine.next_fires()) >= jobs):  # noqa: ASYNC110 - polls the engine's state, 5 ms apart
            await anyio.sleep(0.005)


# --- 1. dispatch jitter --------------------------------------------------------------------------


async def engine_block(
    install: Install, jobs: int, seconds: float, profile: cProfile.Profile | None, *, run: bool = True
) -> list[float]:
    """Dispatch lateness (s) of every cron fire of the engine during `seconds`. With `run=False` the
    fires are only noted, not dispatched: what the scheduler costs on its own, for diagnosis."""
    engine = MeasuredEngine(install, run=run)
    async with engine:
        await until_ready(engine, jobs)
        settle_heap()
        engine.lateness.clear()  # from the first whole second on
        if profile is not None:
            profile.enable()
        await anyio.sleep(seconds)
        if profile is not None:
            profile.disable()
        kept = list(engine.lateness)
        await engine.stop(grace_seconds=5)
    return kept


async def apscheduler_block(jobs: int, seconds: float) -> list[float]:
    """The same for APScheduler 3's AsyncIOScheduler running `jobs` async no-ops every second."""
    samples: list[float] = []

    async def noop() -> None:
        return None

    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
    for index in range(jobs):
        scheduler.add_job(noop, CronTrigger(second="*", timezone=UTC), id=f"job-{index}", max_instances=1)
    scheduler.start()
    executor = scheduler._lookup_executor("default")
    submit = executor._do_submit_job

    def measured_submit(job: Any, run_times: list[datetime]) -> Any:
        now = time.time()
        samples.extend(now - run_time.timestamp() for run_time in run_times)
        return submit(job, run_times)

    executor._do_submit_job = measured_submit
    settle_heap()
    await anyio.sleep(1.2)  # past its first whole second
    samples.clear()
    await anyio.sleep(seconds)
    kept = list(samples)
    scheduler.shutdown(wait=False)
    await anyio.sleep(0.1)
    return kept


# --- 2. the thundering herd on PostgreSQL --------------------------------------------------------


async def herd(install: Install, jobs: int, herds: int) -> tuple[list[float], list[float], int, int]:
    """For `herds` herds: start lateness (s) of each run's first step, dispatch lateness, how many herds
    fired and how many runs were skipped (a job still running from the herd before)."""
    engine = MeasuredEngine(install)
    settle_heap()  # before starting: the first herd may be due as soon as the scheduler runs
    async with engine:
        await until_ready(engine, jobs)
        first = min(engine.next_fires().values())
        await anyio.sleep(max(0.0, first.timestamp() - time.time()) + HERD_EVERY * (herds - 1) + 3)
        await engine.stop(grace_seconds=10)
    query = (
        select(job_runs.c.scheduled_for, step_runs.c.started_at, job_runs.c.status)
        .outerjoin(step_runs, (step_runs.c.run_id == job_runs.c.id) & (step_runs.c.position == 0))
        .where(job_runs.c.job_name.like("herd-%"))
    )
    store = create_engine(install.database_url)
    try:
        async with store.connect() as connection:
            rows = (await connection.execute(query)).all()
    finally:
        await store.dispose()
    # A skipped run (its job still running from the herd before) has no step and stands for no fire.
    fired = {scheduled for scheduled, _, status in rows if status != "skipped"}
    starts = [
        (started - scheduled).total_seconds()
        for scheduled, started, status in rows
        if status != "skipped" and started is not None and scheduled is not None
    ]
    skipped = sum(1 for *_, status in rows if status == "skipped")
    return starts, engine.lateness, len(fired), skipped


# --- 3. 10,000 declared jobs ---------------------------------------------------------------------


def daily_jobs(count: int) -> list[tuple[str, str]]:
    """Daily jobs spread over the day, none due in the next two hours."""
    now = datetime.now(UTC)
    return [(f"daily-{i:05d}", f"{i % 60} {(now.hour + 2 + i % 20) % 24} * * *") for i in range(count)]


async def startup_and_idle(app_toml: Path, jobs: int, idle_window: float) -> dict[str, float]:
    began = time.perf_counter()
    install = load_install(app_toml)
    loaded = time.perf_counter()
    engine = Engine(install)
    process = psutil.Process()
    async with engine:
        await until_ready(engine, jobs, within=120)
        ready = time.perf_counter()
        await anyio.sleep(2)  # let start-up work (catch-up reads, first heartbeats) settle
        cpu_before, wall_before = process.cpu_times(), time.perf_counter()
        await anyio.sleep(idle_window)
        cpu_after, wall_after = process.cpu_times(), time.perf_counter()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "load": loaded - began,
        "enter": ready - loaded,
        "idle_cpu": cpu / (wall_after - wall_before),
    }


# --- the run -------------------------------------------------------------------------------------

APSCHEDULER = "APScheduler AsyncIOScheduler"


async def jitter(
    args: argparse.Namespace, databases: ThrowawayDatabases, folder: Path, profile: cProfile.Profile | None
) -> dict[str, list[float]]:
    """Phase 1: the contenders take turns, block by block; each one's lateness samples."""
    every_second = [(f"tick-{i:03d}", "* * * * * *") for i in range(args.jobs)]
    installs = {}
    for kind in args.databases:
        url = await new_database(databases, kind, f"jitter-{kind}")
        installs[kind] = load_install(write_install(folder / f"jitter-{kind}", url, every_second))
    blocks = max(1, round(args.seconds / BLOCK_SECONDS))
    block = args.seconds / blocks
    samples: dict[str, list[float]] = {f"engine ({kind})": [] for kind in args.databases}
    samples[APSCHEDULER] = []
    alone = f"engine ({args.databases[0]}), fires noted, not run"
    samples[alone] = []  # (a diagnosis row, no target)
    for round_ in range(blocks):
        for kind in args.databases:
            say(f"jitter: engine on {kind}, block {round_ + 1}/{blocks}")
            profiled = profile if round_ == 0 and kind == args.databases[0] else None
            samples[f"engine ({kind})"] += await engine_block(installs[kind], args.jobs, block, profiled)
        say(f"jitter: APScheduler, block {round_ + 1}/{blocks}")
        samples[APSCHEDULER] += await apscheduler_block(args.jobs, block)
        say(f"jitter: the engine's scheduler alone, block {round_ + 1}/{blocks}")
        samples[alone] += await engine_block(installs[args.databases[0]], args.jobs, block, None, run=False)
    return samples


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    report = Report(
        "cron_jitter",
        "cron_jitter" + (" (--quick)" if args.quick else ""),
        f"apscheduler {version('apscheduler')}",
    )
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="cron-jitter-") as tmp:
        folder = Path(tmp)
        async with ThrowawayDatabases("cron", folder) as databases:
            samples = await jitter(args, databases, folder, profile)

            say(f"herd: {args.jobs} jobs due in the same second on PostgreSQL")
            herd_jobs = [(f"herd-{i:03d}", f"*/{HERD_EVERY} * * * * *") for i in range(args.jobs)]
            herd_url = await databases.postgresql()
            herd_install = load_install(write_install(folder / "herd", herd_url, herd_jobs))
            starts, herd_dispatch, herds_seen, skipped = await herd(herd_install, args.jobs, args.herds)

            many: dict[str, dict[str, float]] = {}
            for kind in args.databases:
                say(f"{args.many:,} jobs on {kind}: start-up and idle CPU")
                url = await new_database(databases, kind, f"many-{kind}")
                app_toml = write_install(folder / f"many-{kind}", url, daily_jobs(args.many))
                many[kind] = await startup_and_idle(app_toml, args.many, args.idle_window)

    report.section(
        f"1. dispatch lateness, {args.jobs} jobs every second, {args.seconds:g} s each "
        "(fire dispatched - scheduled)"
    )
    for label, values in samples.items():
        report.figure(label, distribution(values))
    report.section(
        f"2. thundering herd on PostgreSQL: {args.jobs} jobs due in the same second, {herds_seen} herds "
        f"({skipped} runs skipped)"
    )
    report.figure("dispatch - scheduled", distribution(herd_dispatch))
    report.figure("first step started - scheduled", distribution(starts, "runs"))
    report.section(f"3. {args.many:,} declared jobs")
    for kind, figures in many.items():
        report.figure(
            kind,
            f"load+validate {figures['load']:.2f} s, Engine enter until ready {figures['enter']:.2f} s, "
            f"idle CPU {figures['idle_cpu'] * 100:.2f}% of a core over {args.idle_window:g} s",
        )

    report.section("targets")
    aps_p99 = percentile(samples[APSCHEDULER], 99)
    for kind in args.databases:
        p99 = percentile(samples[f"engine ({kind})"], 99)
        detail = f"{ms(p99).strip()} against {ms(aps_p99).strip()}"
        report.check("dispatch_p99_share", ratio(p99, aps_p99), where=kind, detail=detail)
    # Runs that never started, or were skipped, have no start to count: then no maximum holds.
    herd_max = max(starts) if starts and len(starts) >= args.jobs and not skipped else math.inf
    report.check("herd_max", herd_max, detail=f"{len(starts)} first steps, {skipped} runs skipped")
    report.check("herd_p50", percentile(starts, 50))
    for kind, figures in many.items():
        report.check("startup", figures["enter"], where=kind)
        report.check("startup_with_loading", figures["load"] + figures["enter"], where=kind)
        report.check("idle_cpu", figures["idle_cpu"], where=kind)

    if profile is not None:
        listing = io.StringIO()
        pstats.Stats(profile, stream=listing).sort_stats("cumulative").print_stats(25)
        print("\nprofile of one engine jitter block (cumulative):\n" + listing.getvalue())
    return report.finish()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 s of jitter, 2 herds, 5 s idle window")
    parser.add_argument("--seconds", type=float, default=30, help="jitter measured per contender")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--herds", type=int, default=4)
    parser.add_argument("--many", type=int, default=10_000, help="declared jobs for start-up and idle CPU")
    parser.add_argument("--idle-window", type=float, default=IDLE_WINDOW)
    parser.add_argument("--databases", type=lambda text: text.split(","), default=["postgresql", "sqlite"])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.herds, args.idle_window = 10, 2, 5
    return args


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse()))
