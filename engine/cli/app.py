"""The command tree: jobs list, job run/logs/abort/retry/pause/resume, runs list/show here; check, db
upgrade, serve, token create and user add in engine/cli/admin.py.

`nomaflow` and `liberty-admin` are the same program. The install is found through `--config`, else
NOMAFLOW_CONFIG, else ./app.toml. With `--server` (or NOMAFLOW_SERVER) and a token, the job and runs
commands go through that server's API instead (engine/cli/remote.py); docs/cli.md lists them all.

Start-up is part of the interface (issue 15): this module imports nothing but Typer, and each command
imports what it uses when it runs, so `--help` never loads the engine and `runs list` never loads a
step type or the server stack. `python -X importtime -m nomaflow --help` shows what a change costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nomaflow.engine.cli import remote as remote_cli
from nomaflow.engine.cli.admin import register as register_admin
from nomaflow.engine.cli.completion import complete_job, complete_run
from nomaflow.engine.cli.context import EXIT_USAGE, Settings, fail, out, run_async, settings
from nomaflow.engine.cli.globals import GlobalOptionsGroup
from nomaflow.engine.cli.output import Output, OutputOption, print_json, print_segments
from nomaflow.engine.cli.show import jobs_table, run_view, runs_table
from nomaflow.states import RunState

# "\b" keeps click from rewrapping the paragraph: one code a line.
EXIT_CODES_HELP = """\b
Exit codes:
  0  done; for a command that waits for a run (job run, job logs --follow): it succeeded
  1  the run failed, or the command could not do its work (server unreachable, 401/403, ...)
  2  bad usage: arguments, params, configuration, unknown job or run
  3  the run was skipped (its job was already running)
  4  the run was aborted"""

app = typer.Typer(
    name="nomaflow",
    help="Nomaflow: cron and on-demand jobs run as typed steps inside your FastAPI process.",
    epilog=EXIT_CODES_HELP,
    cls=GlobalOptionsGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts quote app.toml's tables ([server] host): shown as written, never read as markup.
    rich_markup_mode=None,
)
jobs_app = typer.Typer(help="The declared jobs.", no_args_is_help=True, rich_markup_mode=None)
job_app = typer.Typer(help="Run a job, read a run's log.", no_args_is_help=True, rich_markup_mode=None)
runs_app = typer.Typer(help="Run history.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(jobs_app, name="jobs")
app.add_typer(job_app, name="job")
app.add_typer(runs_app, name="runs")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The install's app.toml (default: $NOMAFLOW_CONFIG, else ./app.toml); accepted anywhere "
        "on the command line.",
    ),
]
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

        print(f"nomaflow {__version__}")
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


register_admin(app)

JobArgument = Annotated[str, typer.Argument(help="The job.", autocompletion=complete_job)]
RunArgument = Annotated[str, typer.Argument(help="The run's id.", autocompletion=complete_run)]


# --- jobs ---


@jobs_app.command("list")
def jobs_list(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """Each job with its schedule, timezone, next fire, whether it is enabled or paused, its last run."""
    if (remote := _remote(ctx)) is not None:
        jobs = remote_cli.jobs(remote)
    else:
        from nomaflow.engine.cli import local

        install = settings(ctx).install()
        jobs = run_async(lambda: local.jobs(install))
    if output is Output.json:
        print_json(jobs)
    else:
        jobs_table(jobs)


# --- job run / logs ---


ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Override a declared param: NAME=VALUE (repeatable)."),
]


@job_app.command("run")
def job_run(
    ctx: typer.Context,
    name: JobArgument,
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
    output: OutputOption = Output.table,
) -> None:
    """Run a job now, showing its steps live; exits 0 only if the run succeeded (3 skipped, 4 aborted).
    In this process, or through --server. With -o json: the finished run (as `runs show -o json`), or
    with --server and no --wait the started one."""
    from nomaflow.engine.cli.running import run_here, run_there

    if (remote := _remote(ctx)) is not None:
        raise typer.Exit(run_there(remote, name, param or [], dry_run, wait, output))
    raise typer.Exit(run_here(settings(ctx).install(), name, param or [], dry_run, output))


@job_app.command("logs")
def job_logs(
    ctx: typer.Context,
    run_id: RunArgument,
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
    output: OutputOption = Output.table,
) -> None:
    """Print a run's log lines (and its state transitions), from the job store or through --server.
    With -o json: one document (as GET /admin/runs/ID/logs), or with --follow one line object per line."""
    from nomaflow.engine.cli.running import follow_logs, print_logs

    if follow:
        raise typer.Exit(follow_logs(_needs_server(ctx, "job logs --follow"), run_id, transitions, output))
    if (remote := _remote(ctx)) is not None:
        document = remote_cli.logs(remote, run_id)
    else:
        from nomaflow.engine.cli import local, shapes

        url = settings(ctx).store_url()
        found, lines = run_async(lambda: local.run(url, run_id))
        document = shapes.logs_out(lines, found["status"])
    print_logs(document, transitions, output)


ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the audit trail.")]


@job_app.command("abort")
def job_abort(
    ctx: typer.Context, run_id: RunArgument, reason: ReasonOption = None, output: OutputOption = Output.table
) -> None:
    """Abort a run in flight on the server (operator role)."""
    answer = remote_cli.abort(_needs_server(ctx, "job abort"), run_id, reason)
    if output is Output.json:
        print_json(answer)
        return
    word = "abort requested" if answer["abort_requested"] else "already aborted"
    print_segments([("run ", ""), (run_id, "bold"), (f": {word}", "")])


@job_app.command("retry")
def job_retry(
    ctx: typer.Context,
    run_id: Annotated[
        str, typer.Argument(help="The failed or aborted run's id.", autocompletion=complete_run)
    ],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the new run live.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Run a failed or aborted run again from its failed step, on the server (operator role)."""
    from nomaflow.engine.cli.running import retry_there

    raise typer.Exit(retry_there(_needs_server(ctx, "job retry"), run_id, wait, output))


def _pause(ctx: typer.Context, name: str, reason: str | None, paused: bool) -> None:
    if (remote := _remote(ctx)) is not None:
        job = remote_cli.pause(remote, name, reason, paused)
        by = (job.get("state") or {}).get("changed_by")
    else:
        from nomaflow.engine.cli import local

        install = settings(ctx).install()
        by = run_async(lambda: local.pause(install, name, reason, paused))
    print_segments([("job ", ""), (name, "bold"), (f" {'paused' if paused else 'resumed'} by {by}", "")])


@job_app.command("pause")
def job_pause(ctx: typer.Context, name: JobArgument, reason: ReasonOption = None) -> None:
    """Stop cron firing a job until it is resumed (manual runs still work). Servers sharing the job
    store notice within seconds."""
    _pause(ctx, name, reason, True)


@job_app.command("resume")
def job_resume(ctx: typer.Context, name: JobArgument, reason: ReasonOption = None) -> None:
    """Let cron fire a paused job again, from its next fire after now."""
    _pause(ctx, name, reason, False)


# --- runs ---

# What --status takes: every state a stored run can be in (pending is never stored).
STATUSES = tuple(state.value for state in RunState if state is not RunState.PENDING)


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option("--job", help="Only this job's runs.", autocompletion=complete_job)
    ] = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", help="running, succeeded, failed, aborted or skipped.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    output: OutputOption = Output.table,
) -> None:
    """The latest runs, newest first. With -o json: one page, as GET /admin/runs answers it."""
    if status_filter is not None and status_filter not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}, not '{status_filter}'", EXIT_USAGE)
    if (remote := _remote(ctx)) is not None:
        page = remote_cli.runs(remote, job, status_filter, min(limit, 200))
    else:
        from nomaflow.engine.cli import local

        url = settings(ctx).store_url()
        page = run_async(lambda: local.runs(url, job, status_filter, limit))
    if output is Output.json:
        print_json(page)
    elif not page["runs"]:
        out().print("no runs yet" if job is None and status_filter is None else "no matching runs")
    else:
        runs_table(page["runs"])


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: RunArgument,
    diagram: Annotated[
        bool, typer.Option("--diagram", help="Print the run's and steps' state diagrams (mermaid).")
    ] = False,
    output: OutputOption = Output.table,
) -> None:
    """A run with its steps: status, attempts, timing, input, output and errors, then its warnings,
    errors and retries. With -o json: the run as GET /admin/runs/ID answers it."""
    from nomaflow.engine.cli.show import notable

    lines: list[dict[str, Any]]
    if (remote := _remote(ctx)) is not None:
        found, lines = remote_cli.run(remote, run_id, with_logs=output is Output.table)
        diagrams = remote_cli.diagram(remote, run_id) if diagram else None
    else:
        from nomaflow.engine.cli import local

        url = settings(ctx).store_url()
        found, lines = run_async(lambda: local.run(url, run_id))
        diagrams = _diagrams(found, lines) if diagram else None
    if output is Output.json:
        print_json(found if diagrams is None else {**found, "diagram": diagrams})
        return
    run_view(found, [line for line in lines if notable(line)])
    if diagrams is not None:
        print_segments([("\nrun", "bold")])
        out().print(diagrams["run"], markup=False)
        for step in diagrams["steps"]:
            print_segments([(f"step {step['step']}", "bold")])
            out().print(step["mermaid"], markup=False)


def _diagrams(run: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's diagrams as GET /admin/runs/ID/diagram answers them."""
    from nomaflow.engine.events.diagrams import run_diagram, step_diagram, transition_paths

    run_path, step_paths = transition_paths([line["fields"] for line in lines])
    return {
        "run": run_diagram(run_path, run["status"]),
        "steps": [
            {
                "step": step["name"],
                "status": step["status"],
                "mermaid": step_diagram(step_paths.get(step["name"], []), step["status"]),
            }
            for step in run["steps"]
        ],
    }


def main() -> None:
    app()
