"""The commands around the install rather than its runs: check, db upgrade, serve, token create and
user add. Each imports what it needs when it runs; `serve` is the only one that loads the server stack."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from nomaflow.engine.cli.context import EXIT_USAGE, fail, out, run_async, settings
from nomaflow.engine.cli.output import Output, OutputOption, print_json


class LogLevel(enum.StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(enum.StrEnum):
    text = "text"
    json = "json"


db_app = typer.Typer(help="The job store's schema.", no_args_is_help=True, rich_markup_mode=None)
token_app = typer.Typer(
    help="API tokens (JWT) for scripts and orchestrators.", no_args_is_help=True, rich_markup_mode=None
)
user_app = typer.Typer(
    help="UI users, kept in app.toml with hashed passwords.", no_args_is_help=True, rich_markup_mode=None
)


def check(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """Validate app.toml and every plugins/*/jobs.toml; list every problem and exit 2 if any.
    With -o json: {"ok", "app_file", "jobs", "steps", "problems": [{"file", "line", "path", "message"}]}."""
    from nomaflow.engine.config import ConfigError, load_install

    path = settings(ctx).config_path()
    try:
        install = load_install(path, to_serve=True)  # every problem `serve` would stop on
    except ConfigError as exc:
        if output is Output.json:
            problems = [
                {"file": p.file, "line": p.line, "path": p.path, "message": p.message} for p in exc.problems
            ]
            print_json(
                {
                    "ok": False,
                    "app_file": str(path.resolve()),
                    "jobs": None,
                    "steps": None,
                    "problems": problems,
                }
            )
            raise typer.Exit(EXIT_USAGE) from None
        from nomaflow.engine.cli.context import fail_config

        fail_config(exc)
    steps = sum(len(job.steps) for job in install.jobs.values())
    if output is Output.json:
        print_json(
            {
                "ok": True,
                "app_file": str(install.app_file),
                "jobs": len(install.jobs),
                "steps": steps,
                "problems": [],
            }
        )
        return
    out().print(f"[green]OK[/]: {install.app_file} — {len(install.jobs)} jobs, {steps} steps")


def db_upgrade(ctx: typer.Context) -> None:
    """Apply the job store's migrations (the engine also applies them when it starts)."""
    from nomaflow.engine.cli import local

    install = settings(ctx).install()
    run_async(lambda: local.upgrade_store(install))
    out().print("[green]the job store is up to date[/]")


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

    install = settings(ctx).install(to_serve=True)
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

    install = settings(ctx).install()
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
    path = settings(ctx).config_path()
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
    out().print(f"added user [bold]{name}[/] ({role}) to {path}")


def register(app: typer.Typer) -> None:
    """Add these commands to the program's root `app`."""
    app.add_typer(token_app, name="token")
    app.add_typer(user_app, name="user")
    app.add_typer(db_app, name="db")
    app.command()(check)
    db_app.command("upgrade")(db_upgrade)
    app.command()(serve)
    token_app.command("create")(token_create)
    user_app.command("add")(user_add)
