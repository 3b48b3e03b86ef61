"""The command tree: check, jobs list, job run/logs, runs list/show, db upgrade, serve.

`nomaflow` and `liberty-admin` are the same program. The install is found through `--config`, else
NOMAFLOW_CONFIG, else ./app.toml.
"""

from __future__ import annotations

import getpass
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.table import Table

from actors.events import RunFinished, RunSkipped
from engine.cli.context import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_SKIPPED,
    EXIT_USAGE,
    Settings,
    err,
    fail,
    out,
    run_async,
)
from engine.cli.show import duration, event_line, runs_table, status, when
from engine.config import Install
from engine.diagrams import run_diagram, step_diagram, transition_paths
from engine.engine import Engine
from engine.params import ParamError, parse_param_text, split_assignment
from engine.store import RunReader, create_engine, upgrade

app = typer.Typer(
    name="nomaflow",
    help="Nomaflow: cron and on-demand jobs run as typed steps inside your FastAPI process.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="The declared jobs.", no_args_is_help=True)
job_app = typer.Typer(help="Run a job, read a run's log.", no_args_is_help=True)
runs_app = typer.Typer(help="Run history.", no_args_is_help=True)
db_app = typer.Typer(help="The job store's schema.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(job_app, name="job")
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="The install's app.toml (default: $NOMAFLOW_CONFIG, else ./app.toml)."
    ),
]


@app.callback()
def root(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = Settings(config)


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@asynccontextmanager
async def _reader(install: Install) -> AsyncIterator[RunReader]:
    database = create_engine(install.database_url)
    try:
        await upgrade(database)
        yield RunReader(database)
    finally:
        await database.dispose()


# --- check ---


@app.command()
def check(ctx: typer.Context) -> None:
    """Validate app.toml and every plugins/*/jobs.toml; list every problem and exit non-zero if any."""
    install = _settings(ctx).install()
    steps = sum(len(job.steps) for job in install.jobs.values())
    out.print(f"[green]OK[/]: {install.app_file} — {len(install.jobs)} jobs, {steps} steps")


# --- jobs ---


@jobs_app.command("list")
def jobs_list(ctx: typer.Context) -> None:
    """Each job with its schedule, timezone, next fire and whether it is enabled."""
    install = _settings(ctx).install()
    engine = Engine(install, scheduler=False)
    fires = engine.next_fires()
    table = Table(box=None, header_style="bold")
    for column in ("job", "app", "schedule", "timezone", "next fire", "enabled", "steps"):
        table.add_column(column)
    for name in sorted(install.jobs):
        job = install.jobs[name]
        table.add_row(
            name,
            job.app,
            job.schedule.expression if job.schedule else "on demand",
            job.timezone,
            when(fires.get(name)),
            "yes" if job.enabled else "[dim]no[/]",
            ", ".join(step.name for step in job.steps),
        )
    out.print(table)


# --- job run / logs ---


ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Override a declared param: NAME=VALUE (repeatable)."),
]


@job_app.command("run")
def job_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The job to run.")],
    param: ParamOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Ask every step to only count what it would do.")
    ] = False,
) -> None:
    """Run a job now, in this process, showing its steps live. Exits 0 only if the run succeeded."""
    install = _settings(ctx).install()
    job = install.jobs.get(name)
    if job is None:
        from engine.config.problems import did_you_mean

        fail(f"no job named '{name}'{did_you_mean(name, install.jobs)}", EXIT_USAGE)
    overrides: dict[str, Any] = {}
    try:
        for assignment in param or []:
            key, text = split_assignment(assignment)
            overrides[key] = parse_param_text(name, job.params, key, text)
    except ParamError as exc:
        fail(str(exc), EXIT_USAGE)

    async def main() -> str:
        async with Engine(install, scheduler=False) as engine:
            run = await engine.trigger(
                name, overrides, dry_run=dry_run, triggered_by=f"cli:{getpass.getuser()}"
            )
            async with anyio.create_task_group() as group:
                group.start_soon(_abort_on_interrupt, engine, run.run_id)
                async for event in run.events():
                    line = event_line(event)
                    if line is not None:
                        out.print(line)
                    if isinstance(event, RunFinished | RunSkipped):
                        break
                group.cancel_scope.cancel()
            outcome = await run.wait()
            return outcome.status

    final = run_async(main)
    raise typer.Exit(
        {"succeeded": 0, "skipped": EXIT_SKIPPED, "aborted": EXIT_ABORTED}.get(final, EXIT_FAILED)
    )


async def _abort_on_interrupt(engine: Engine, run_id: str) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            err.print(f"[yellow]{signal.Signals(received).name}: aborting run {run_id}[/]")
            await engine.abort(run_id, f"interrupted from the CLI ({signal.Signals(received).name})")
            return


@job_app.command("logs")
def job_logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    transitions: Annotated[
        bool, typer.Option("--transitions/--no-transitions", help="Show state changes too.")
    ] = True,
) -> None:
    """Print a run's log lines (and its state transitions) from the job store."""
    install = _settings(ctx).install()

    async def main() -> int:
        async with _reader(install) as reader:
            if await reader.get_run(run_id) is None:
                fail(f"no run with id '{run_id}'", EXIT_USAGE)
            after, shown = 0, 0
            while True:
                rows = await reader.get_logs(run_id, after_seq=after)
                if not rows:
                    return shown
                for row in rows:
                    after = row.seq
                    is_transition = bool(row.fields and row.fields.get("event") == "transition")
                    if is_transition and not transitions:
                        continue
                    where = f"[{row.step_name}] " if row.step_name else ""
                    style = (
                        "dim" if is_transition else {"warning": "yellow", "error": "red"}.get(row.level, "")
                    )
                    out.print(
                        f"{row.ts.astimezone():%Y-%m-%d %H:%M:%S} {row.level:<7} {where}{row.message}",
                        style=style,
                        markup=False,
                    )
                    shown += 1

    run_async(main)


# --- runs ---


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Option("--job", help="Only this job's runs.")] = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", help="running, succeeded, failed, aborted or skipped.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
) -> None:
    """The latest runs, newest first."""
    install = _settings(ctx).install()
    valid = ("running", "succeeded", "failed", "aborted", "skipped")
    if status_filter is not None and status_filter not in valid:
        fail(f"--status must be one of {', '.join(valid)}, not '{status_filter}'", EXIT_USAGE)

    async def main() -> None:
        async with _reader(install) as reader:
            page = await reader.list_runs(job=job, status=status_filter, limit=limit)
            if not page.runs:
                out.print("no runs yet" if job is None and status_filter is None else "no matching runs")
                return
            out.print(runs_table(page.runs))

    run_async(main)


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    diagram: Annotated[
        bool, typer.Option("--diagram", help="Print the run's and steps' state diagrams (mermaid).")
    ] = False,
) -> None:
    """A run with its steps: status, attempts, timing, input, output and errors."""
    install = _settings(ctx).install()

    async def main() -> None:
        async with _reader(install) as reader:
            run = await reader.get_run(run_id)
            if run is None:
                fail(f"no run with id '{run_id}'", EXIT_USAGE)
            steps = await reader.get_steps(run_id)
            out.print(f"[bold]run {run.id}[/] of [bold]{run.job_name}[/] ({run.app})")
            out.print("  status        ", status(run.status))
            out.print(
                f"  triggered by   {run.triggered_by}"
                + (f" (scheduled for {when(run.scheduled_for)})" if run.scheduled_for else "")
            )
            out.print(
                f"  started        {when(run.started_at)}   finished {when(run.finished_at)}   "
                f"took {duration(run.started_at, run.finished_at)}"
            )
            out.print(
                f"  params         {run.params}" + ("   [yellow]dry run[/]" if run.dry_run else ""),
                markup=True,
            )
            if run.error:
                out.print(f"  error          {run.error}", style="red", markup=False)
            table = Table(box=None, header_style="bold")
            for column in ("#", "step", "type", "status", "attempts", "took", "output / error"):
                table.add_column(column)
            for step in steps:
                # A step that succeeded after retries keeps its last attempt's error; show its output.
                failed = step.status in ("failed", "aborted")
                detail = (step.error or "") if failed else ("" if step.output is None else str(step.output))
                table.add_row(
                    str(step.position + 1),
                    step.step_name,
                    step.type,
                    status(step.status),
                    str(step.attempts),
                    duration(step.started_at, step.finished_at),
                    detail[:120],
                )
            out.print(table)
            if diagram:
                logs: list[dict[str, Any] | None] = []
                after = 0
                while rows := await reader.get_logs(run_id, after_seq=after):
                    logs.extend(row.fields for row in rows)
                    after = rows[-1].seq
                run_path, step_paths = transition_paths(logs)
                out.print("\n[bold]run[/]")
                out.print(run_diagram(run_path, run.status), markup=False)
                for step in steps:
                    out.print(f"[bold]step {step.step_name}[/]")
                    out.print(step_diagram(step_paths.get(step.step_name, []), step.status), markup=False)

    run_async(main)


# --- db ---


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the job store's migrations (the engine also applies them when it starts)."""
    install = _settings(ctx).install()

    async def main() -> None:
        database = create_engine(install.database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    run_async(main)
    out.print("[green]the job store is up to date[/]")


# --- serve ---


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option("--host", envvar="NOMAFLOW_HOST", help="Default: [server] host, else 127.0.0.1."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", envvar="NOMAFLOW_PORT", help="Default: [server] port, else 8000.")
    ] = None,
) -> None:
    """Serve the API (and the scheduler, unless [jobs] scheduler_enabled = false) with uvicorn."""
    import logging

    import uvicorn

    from engine.server import create_app

    install = _settings(ctx).install()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    server = install.settings.server
    uvicorn.run(
        create_app(install),
        host=host or server.host,
        port=port or server.port,
        log_level="info",
        lifespan="on",
        timeout_graceful_shutdown=int(install.settings.jobs.shutdown_grace_seconds) + 5,
    )


def main() -> None:
    app()
