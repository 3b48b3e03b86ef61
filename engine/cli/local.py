"""The in-process side of the commands: reading the job store directly, and running a job here.

Reading commands (`jobs list`, `runs list`, `runs show`, `job logs`) open the store as it is: no
migration (that is `db upgrade`'s and the engine's business), and a SQLite file that does not exist yet
is an empty history, not a file to create. Everything comes back in the REST API's shapes.
"""

from __future__ import annotations

import getpass
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomaflow.engine.cli import shapes
from nomaflow.engine.cli.context import EXIT_USAGE, err, fail
from nomaflow.states import RunState

if TYPE_CHECKING:
    from nomaflow.actors.events import AnyEvent
    from nomaflow.engine.config import Install
    from nomaflow.engine.engine import Engine
    from nomaflow.engine.store.reads import RunReader
    from nomaflow.engine.store.rows import JobState, RunRow
    from nomaflow.engine.store.sqlite_file import SqliteFileReader


@dataclass(frozen=True)
class Store:
    reader: RunReader | SqliteFileReader


@asynccontextmanager
async def reading(url: str) -> AsyncIterator[Store | None]:
    """The job store at `url`, to read, or None when there is none yet (no runs ever). A SQLite file is
    read with the stdlib alone (engine/store/sqlite_file.py), any other store through its own reader."""
    from nomaflow.engine.store.sqlite_file import SqliteFileReader, sqlite_file

    if (path := sqlite_file(url)) is not None:
        if not path.exists():
            yield None
            return
        reader = SqliteFileReader(path)
        try:
            yield Store(reader)
        finally:
            reader.close()
        return
    from nomaflow.engine.store.database import create_engine
    from nomaflow.engine.store.reads import RunReader

    database = create_engine(url)
    try:
        yield Store(RunReader(database))
    finally:
        await database.dispose()


async def jobs(install: Install) -> list[shapes.Shape]:
    """Every job, as `GET /admin/jobs` answers it."""
    from nomaflow.engine.clock import SystemClock
    from nomaflow.engine.scheduling.scheduler import first_fires

    names = sorted(install.jobs)
    states: dict[str, JobState] = {}
    last: dict[str, RunRow] = {}
    started: dict[str, RunRow] = {}
    async with reading(install.database_url) as store:
        if store is not None:
            states = await store.reader.job_states()
            last = await store.reader.last_runs_by_job(jobs=names)
            # A job's last run that started is its last run, unless that one was skipped (because
            # another was running): only those jobs are looked up again, each lookup costing a
            # subquery to build and compile.
            behind = [name for name, run in last.items() if run.status == RunState.SKIPPED]
            started = {name: run for name, run in last.items() if run.status != RunState.SKIPPED}
            if behind:
                started |= await store.reader.last_runs_by_job(include_skipped=False, jobs=behind)
    schedulable = [
        job
        for job in install.jobs.values()
        if job.enabled and job.schedule is not None and not (job.name in states and states[job.name].paused)
    ]
    fires = first_fires(schedulable, SystemClock().now())
    found = []
    for name in names:
        latest = started.get(name)
        found.append(
            shapes.job_out(
                install.jobs[name],
                state=states.get(name),
                next_fire=fires.get(name),
                last_run=last.get(name),
                running=latest.id if latest is not None and latest.status == RunState.RUNNING else None,
            )
        )
    return found


async def runs(url: str, job: str | None, status: str | None, limit: int) -> shapes.Shape:
    """A page of runs, newest first, as `GET /admin/runs` answers it."""
    async with reading(url) as store:
        if store is None:
            return shapes.run_page([], None)
        page = await store.reader.list_runs(job=job, status=status, limit=limit)
        return shapes.run_page(page.runs, page.next_cursor)


async def run(url: str, run_id: str) -> tuple[shapes.Shape, list[shapes.Shape]]:
    """The run with its steps (`GET /admin/runs/{id}`) and its log lines; bad usage if there is none."""
    async with reading(url) as store:
        found = None if store is None else await store.reader.get_run(run_id)
        if store is None or found is None:
            fail(f"no run with id '{run_id}'", EXIT_USAGE)
        steps = await store.reader.get_steps(run_id)
        lines: list[shapes.Shape] = []
        after = 0
        while rows := await store.reader.get_logs(run_id, after_seq=after):
            lines.extend(shapes.log_line(row) for row in rows)
            after = rows[-1].seq
        return shapes.run_detail(found, steps), lines


async def pause(install: Install, name: str, reason: str | None, paused: bool) -> str:
    from nomaflow.engine.engine import Engine

    by = f"cli:{getpass.getuser()}"
    async with Engine(install, scheduler=False) as engine:
        await (engine.pause if paused else engine.resume)(name, by, reason)
    return by


async def run_job(
    install: Install,
    name: str,
    overrides: dict[str, Any],
    dry_run: bool,
    started: Callable[[str, str], None],
    each: Callable[[AnyEvent], None],
) -> tuple[str, str]:
    """Run the job in this process; `started(run_id, triggered_by)` once it is admitted, then `each`
    event until it ends. Ctrl-C (or SIGTERM) aborts the run. Returns its id and final status."""
    import anyio

    from nomaflow.actors.events import RunFinished, RunSkipped
    from nomaflow.engine.engine import Engine

    by = f"cli:{getpass.getuser()}"
    async with Engine(install, scheduler=False) as engine:
        run = await engine.trigger(name, overrides, dry_run=dry_run, triggered_by=by)
        started(run.run_id, by)
        async with anyio.create_task_group() as group:
            group.start_soon(_abort_on_interrupt, engine, run.run_id)
            async for event in run.events():
                each(event)
                if isinstance(event, RunFinished | RunSkipped):
                    break
            group.cancel_scope.cancel()
        outcome = await run.wait()
        return run.run_id, outcome.status


async def _abort_on_interrupt(engine: Engine, run_id: str) -> None:
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            name = signal.Signals(received).name
            err().print(f"[yellow]{name}: aborting run {run_id}[/]")
            await engine.abort(run_id, f"interrupted from the CLI ({name})")
            return


async def upgrade_store(install: Install) -> None:
    from nomaflow.engine.store.database import create_engine
    from nomaflow.engine.store.migrate import upgrade

    database = create_engine(install.database_url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
