"""The command tree: check, jobs list, job run/logs/abort/retry/pause/resume, runs list/show, db upgrade,
serve, token create, user add.

`nomaflow` and `liberty-admin` are the same program. The install is found through `--config`, else
NOMAFLOW_CONFIG, else ./app.toml. With `--server` (or NOMAFLOW_SERVER) and a token, the job and runs
commands go through that server's API instead (engine/cli/remote.py); docs/cli.md lists them all.
"""

from __future__ import annotations

import enum
import getpass
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.table import Table

from nomaflow.actors.events import RunFinished, RunSkipped
from nomaflow.engine.cli import remote as remote_cli
from nomaflow.engine.cli.context import (
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
from nomaflow.engine.cli.show import duration, event_line, runs_table, status, when
from nomaflow.engine.config import Install
from nomaflow.engine.config.params import ParamError, parse_param_text, split_assignment
from nomaflow.engine.engine import Engine
from nomaflow.engine.events.diagrams import run_diagram, step_diagram, transition_paths
from nomaflow.engine.store import RunReader, create_engine, upgrade
from nomaflow.engine.store.job_state import JobState
from nomaflow.states import is_transition

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
token_app = typer.Typer(help="API tokens (JWT) for scripts and orchestrators.", no_args_is_help=True)
user_app = typer.Typer(help="UI users, kept in app.toml with hashed passwords.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(job_app, name="job")
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="The install's app.toml (default: $NOMAFLOW_CONFIG, else ./app.toml)."
    ),
]


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="NOMAFLOW_SERVER",
        help="A running Nomaflow server (e.g. http://127.0.0.1:8000): job and runs commands go through it.",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="NOMAFLOW_TOKEN", help="The bearer token for --server.", show_default=False
    ),
]
_REMOTE = "nomaflow.remote"


def _print_version(asked: bool) -> None:
    if asked:
        from nomaflow import __version__

        out.print(f"nomaflow {__version__}")
        raise typer.Exit()


VersionOption = Annotated[
    bool,
    typer.Option(
        "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
]


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigOption = None,
    server: ServerOption = None,
    token: TokenOption = None,
    version: VersionOption = False,
) -> None:
    ctx.obj = Settings(config)
    ctx.meta[_REMOTE] = remote_cli.from_options(server, token)


def _remote(ctx: typer.Context) -> remote_cli.Remote | None:
    remote = ctx.meta.get(_REMOTE)
    return remote if isinstance(remote, remote_cli.Remote) else None


def _needs_server(ctx: typer.Context, what: str) -> remote_cli.Remote:
    remote = _remote(ctx)
    if remote is None:
        fail(f"{what} talks to a running server: pass --server URL or set NOMAFLOW_SERVER", EXIT_USAGE)
    return remote


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
    """Each job with its schedule, timezone, next fire, whether it is enabled or paused."""
    if (remote := _remote(ctx)) is not None:
        remote_cli.jobs_list(remote)
        return
    install = _settings(ctx).install()
    states = run_async(lambda: _job_states(install))
    engine = Engine(install, scheduler=False)
    fires = engine.next_fires()
    table = Table(box=None, header_style="bold")
    for column in ("job", "app", "schedule", "timezone", "next fire", "enabled", "paused", "steps"):
        table.add_column(column)
    paused = {name: state for name, state in states.items() if state.paused}
    for name in sorted(install.jobs):
        job = install.jobs[name]
        table.add_row(
            name,
            job.app,
            job.schedule.expression if job.schedule else "on demand",
            job.timezone,
            "-" if name in paused else when(fires.get(name)),
            "yes" if job.enabled else "[dim]no[/]",
            f"[yellow]yes[/] ({paused[name].changed_by})" if name in paused else "no",
            ", ".join(step.name for step in job.steps),
        )
    out.print(table)


async def _job_states(install: Install) -> dict[str, JobState]:
    database = create_engine(install.database_url)
    try:
        await upgrade(database)
        return await RunReader(database).job_states()
    finally:
        await database.dispose()


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
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="With --server: follow the run live and exit with its status (in-process runs always do).",
        ),
    ] = False,
) -> None:
    """Run a job now, showing its steps live; exits 0 only if the run succeeded (3 skipped, 4 aborted).
    In this process, or through --server."""
    if (remote := _remote(ctx)) is not None:
        raise typer.Exit(remote_cli.job_run(remote, name, param or [], dry_run, wait))
    install = _settings(ctx).install()
    job = install.jobs.get(name)
    if job is None:
        from nomaflow.engine.config.problems import did_you_mean

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
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="With --server: keep printing as the run goes on; exit with its status when it ends.",
        ),
    ] = False,
) -> None:
    """Print a run's log lines (and its state transitions), from the job store or through --server."""
    if follow:
        raise typer.Exit(
            remote_cli.job_logs(_needs_server(ctx, "job logs --follow"), run_id, transitions, True)
        )
    if (remote := _remote(ctx)) is not None:
        raise typer.Exit(remote_cli.job_logs(remote, run_id, transitions, False))
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
                    transition = is_transition(row.fields)
                    if transition and not transitions:
                        continue
                    where = f"[{row.step_name}] " if row.step_name else ""
                    style = "dim" if transition else {"warning": "yellow", "error": "red"}.get(row.level, "")
                    out.print(
                        f"{row.ts.astimezone():%Y-%m-%d %H:%M:%S} {row.level:<7} {where}{row.message}",
                        style=style,
                        markup=False,
                    )
                    shown += 1

    run_async(main)


ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail.")]


@job_app.command("abort")
def job_abort(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    reason: ReasonOption = None,
) -> None:
    """Abort a run in flight on the server (operator role)."""
    remote_cli.job_abort(_needs_server(ctx, "job abort"), run_id, reason)


@job_app.command("retry")
def job_retry(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The failed or aborted run's id.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the new run live.")] = False,
) -> None:
    """Run a failed or aborted run again from its failed step, on the server (operator role)."""
    raise typer.Exit(remote_cli.job_retry(_needs_server(ctx, "job retry"), run_id, wait))


def _pause(ctx: typer.Context, name: str, reason: str | None, paused: bool) -> None:
    if (remote := _remote(ctx)) is not None:
        remote_cli.job_pause(remote, name, reason, paused)
        return
    install = _settings(ctx).install()
    by = f"cli:{getpass.getuser()}"

    async def main() -> None:
        async with Engine(install, scheduler=False) as engine:
            await (engine.pause if paused else engine.resume)(name, by, reason)

    run_async(main)
    out.print(f"job [bold]{name}[/] {'paused' if paused else 'resumed'} by {by}")


@job_app.command("pause")
def job_pause(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The job.")], reason: ReasonOption = None
) -> None:
    """Stop cron firing a job until it is resumed (manual runs still work). Servers sharing the job
    store notice within seconds."""
    _pause(ctx, name, reason, True)


@job_app.command("resume")
def job_resume(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The job.")], reason: ReasonOption = None
) -> None:
    """Let cron fire a paused job again, from its next fire after now."""
    _pause(ctx, name, reason, False)


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
    valid = ("running", "succeeded", "failed", "aborted", "skipped")
    if status_filter is not None and status_filter not in valid:
        fail(f"--status must be one of {', '.join(valid)}, not '{status_filter}'", EXIT_USAGE)
    if (remote := _remote(ctx)) is not None:
        remote_cli.runs_list(remote, job, status_filter, min(limit, 200))
        return
    install = _settings(ctx).install()

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
    if (remote := _remote(ctx)) is not None:
        remote_cli.runs_show(remote, run_id, diagram)
        return
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
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level",
            envvar="NOMAFLOW_LOG_LEVEL",
            case_sensitive=False,
            help="The process log's level; below debug, client libraries (httpx...) log warnings only.",
        ),
    ] = LogLevel.info,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="NOMAFLOW_LOG_FORMAT",
            case_sensitive=False,
            help="text, or json: one JSON object per line (docs/logging.md).",
        ),
    ] = LogFormat.text,
    log_config: Annotated[
        Path | None,
        typer.Option(
            "--log-config",
            envvar="NOMAFLOW_LOG_CONFIG",
            help="A logging.config.dictConfig file (JSON; YAML with PyYAML) set up instead of the "
            "default handler; its levels win over --log-level (docs/logging.md).",
        ),
    ] = None,
) -> None:
    """Serve the API (and the scheduler, unless [jobs] scheduler_enabled = false) with uvicorn."""
    import gc
    import logging

    import uvicorn

    from nomaflow.engine.cli.heap import return_large_blocks
    from nomaflow.engine.cli.preflight import store_problem
    from nomaflow.engine.server import Nomaflow, create_app
    from nomaflow.engine.server.auth.tokens import AuthConfigError
    from nomaflow.engine.telemetry.process_log import LogConfigError, configure_process_logging
    from nomaflow.engine.telemetry.secret_filter import SecretFilter, known_secrets

    install = _settings(ctx).install()
    # Scrubbed from the first line on: no record reaches the handler without passing the filter.
    try:
        configure_process_logging(
            log_level.value.upper(),
            SecretFilter(known_secrets(install)),
            log_format=log_format.value,
            config_file=log_config,
        )
    except LogConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    server = install.settings.server
    try:
        application = create_app(Nomaflow(install))
    except AuthConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    if (problem := run_async(lambda: store_problem(install.database_url))) is not None:
        fail(problem)
    if install.settings.auth.secret is None:
        logging.getLogger("nomaflow.server").warning(
            "no [auth] secret in %s: every /admin route answers 401 (see docs/auth.md)", install.app_file
        )
    # What start-up made (modules, the install, the app) lives as long as the process: moved out of
    # the collector's sight, a full collection no longer walks it, which once paused the event loop
    # (and every live log line) for ~200 ms. Done here, in the process Nomaflow owns, not in the
    # engine, whose host application may manage its own heap.
    gc.freeze()
    return_large_blocks()  # each password check's buffer goes back to the OS when the check ends
    try:
        # After a graceful stop on SIGTERM, uvicorn raises the signal again: the process ends with it
        # (threads of steps that ignore cancellation go with it). On SIGINT it raises KeyboardInterrupt.
        uvicorn.run(
            application,
            host=host or server.host,
            port=port or server.port,
            log_config=None,  # uvicorn's loggers go to the handler above, through its filter
            log_level=log_level.value,
            lifespan="on",
            timeout_graceful_shutdown=int(install.settings.jobs.shutdown_grace_seconds) + 5,
        )
    except KeyboardInterrupt:
        _exit_past_stuck_threads(130)
    _exit_past_stuck_threads(0)


def _exit_past_stuck_threads(code: int) -> None:
    """The engine has stopped. A sync step that ignores `ctx.cancelled` still holds its worker thread,
    which Python would wait for at exit, for ever: say so and leave (with `code`) without waiting."""
    import logging
    import os
    import sys
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(0.2)  # idle workers are being told to end: give them a moment
    stuck = [
        thread.name
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    if stuck:
        logging.getLogger("nomaflow.server").warning(
            "%d thread(s) still running after the engine stopped (sync steps that do not check "
            "ctx.cancelled): exiting without waiting for them",
            len(stuck),
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise typer.Exit(code)


# --- token / user ---


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    sub: Annotated[str, typer.Option("--sub", help="Who the token is for (kept in the audit log).")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")] = "viewer",
    ttl: Annotated[str, typer.Option("--ttl", help="How long it is valid: 30m, 8h, 7d, 2w.")] = "8h",
) -> None:
    """Print a service token signed with [auth] secret. Runs it triggers are recorded as `api`
    (`cli:<sub>` from the CLI); the subject goes into the audit log."""
    from nomaflow.engine.clock import SystemClock
    from nomaflow.engine.server.auth.tokens import AuthConfigError, Role, Tokens, parse_ttl

    install = _settings(ctx).install()
    try:
        lifetime = parse_ttl(ttl)
        chosen = Role.named(role)
        tokens = Tokens(install.settings.auth)
    except (ValueError, AuthConfigError) as exc:
        fail(str(exc), EXIT_USAGE)
    if not tokens.configured:
        message = f"{install.app_file} has no [auth] secret to sign tokens with (see docs/auth.md)"
        fail(message, EXIT_USAGE)
    try:
        token = tokens.issue(sub, chosen, "service", lifetime, SystemClock().now())
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    print(token)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of asking.")
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Append the entry to app.toml (else print it).")
    ] = False,
) -> None:
    """Make a UI user entry ([auth.users.<name>] with an argon2id password hash, never the password)."""
    import re
    import sys
    import tomllib

    from nomaflow.engine.server.auth.tokens import Role, hash_password

    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        fail("a user name is 1 to 64 letters, digits, '_', '.', '@' or '-'", EXIT_USAGE)
    try:
        Role.named(role)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        fail("the password must be at least 8 characters", EXIT_USAGE)
    entry = f'\n[auth.users."{name}"]\npassword_hash = "{hash_password(password)}"\nrole = "{role}"\n'
    if not write:
        print(entry.lstrip("\n"), end="")
        return
    path = _settings(ctx).config_path()
    try:
        text = path.read_text(encoding="utf-8")
        users = tomllib.loads(text).get("auth", {}).get("users", {})
        if name in users:
            fail(f"{path} already has a user '{name}': edit or remove it first", EXIT_USAGE)
        tomllib.loads(text + entry)  # the file must stay valid TOML
    except (OSError, tomllib.TOMLDecodeError) as exc:
        fail(f"cannot add the user to {path}: {exc}", EXIT_USAGE)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(entry)
    out.print(f"added user [bold]{name}[/] ({role}) to {path}")


def main() -> None:
    app()
