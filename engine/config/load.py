"""Load an install: `app.toml` and every `plugins/<app>/jobs.toml` beside it, all problems at once.

The plugins folder is put on `sys.path` so python steps import `<app>.<module>`.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomaflow.engine.config.checks import StepChecks
from nomaflow.engine.config.decode import Collector, Report, decode_struct
from nomaflow.engine.config.jobs import JobDefinition, check_timezone, decode_job
from nomaflow.engine.config.lines import LineLocator
from nomaflow.engine.config.model import AppSettings, JobsFile
from nomaflow.engine.config.problems import ConfigError, Problem, display_path
from nomaflow.engine.config.relations import relation_problems
from nomaflow.engine.config.shape import MAX_DEPTH, deep_line, sound_shape
from nomaflow.engine.config.signing import SigningSecretError, signing_secret
from nomaflow.engine.config.store_url import DATABASE_URL_ENV, database_url
from nomaflow.engine.resources.connectors import ConnectorError
from nomaflow.engine.resources.drivers import installed, missing_driver
from nomaflow.engine.steps import StepEnvironment, StepType, step_types
from nomaflow.engine.steps.retention import CLEANUP_APP, CLEANUP_JOB, cleanup_job


@dataclass
class Install:
    root: Path
    app_file: Path
    settings: AppSettings
    raw: dict[str, Any]
    jobs: dict[str, JobDefinition]
    step_types: Mapping[str, StepType[Any]]
    environment: StepEnvironment
    problems: list[Problem] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return database_url(self.root, self.settings)


def _missing_drivers(settings: AppSettings, store_url: str) -> list[tuple[str, str]]:
    """(field, problem) for each optional driver that app.toml's engine-wide settings need and this
    Python lacks. Connectors used by steps are checked by the steps."""
    found: list[tuple[str, str]] = []
    if store_url.startswith("postgres"):
        missing = missing_driver("asyncpg", "the job store (connector 'default', postgresql+asyncpg)")
        if missing is not None:
            if os.environ.get(DATABASE_URL_ENV):
                found.append(("", f"{DATABASE_URL_ENV}: {missing}"))
            else:
                found.append(("connectors.default.url", missing))
    if settings.server.socketio_redis_url:
        missing = missing_driver("redis", "sharing Socket.IO events through Redis")
        if missing is not None:
            found.append(("server.socketio_redis_url", missing))
    if settings.telemetry.opentelemetry and not installed("opentelemetry.trace"):
        found.append(
            ("telemetry.opentelemetry", "tracing needs the OpenTelemetry API: pip install 'nomaflow[otel]'")
        )
    return found


def _read_toml(path: Path, collector: Collector) -> tuple[dict[str, Any], str] | None:
    """The file's TOML data and its text, read once: the text places problems on their lines."""
    try:
        # As tomllib.load does: bytes decoded as UTF-8, line endings left for the parser to judge.
        text = path.read_bytes().decode()
        data = tomllib.loads(text)
    except FileNotFoundError:
        collector.report("", "file not found")
    except UnicodeDecodeError as exc:
        collector.problems.append(
            Problem(
                collector.file,
                "",
                f"invalid TOML: not UTF-8 (byte {exc.object[exc.start]:#04x})",
                exc.object[: exc.start].count(b"\n") + 1,
            )
        )
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute; its message carries the position.
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        collector.problems.append(Problem(collector.file, "", f"invalid TOML: {exc}", line))
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: a few hundred levels exhaust
        # Python's stack. No configuration needs that much nesting, so it is refused, not raised.
        collector.problems.append(
            Problem(
                collector.file,
                "",
                f"arrays or inline tables are nested too deeply (at most {MAX_DEPTH} levels)",
                deep_line(text),
            )
        )
    except OSError as exc:
        collector.report("", f"cannot read: {exc}")
    else:
        return data, text
    return None


def _add_cleanup_job(
    jobs: dict[str, JobDefinition],
    settings: AppSettings,
    types: Mapping[str, StepType[Any]],
) -> list[Problem]:
    """The built-in retention job, decoded and checked like any other."""
    collector = Collector("<built-in job nomaflow-cleanup>", None)
    table = cleanup_job(
        history_days=settings.jobs.history_days,
        keep_failed_days=settings.jobs.keep_failed_days,
        batch_size=settings.jobs.cleanup_batch_size,
        # An unknown [jobs] timezone is reported once, for app.toml.
        timezone=settings.jobs.timezone if check_timezone(settings.jobs.timezone) is None else "UTC",
    )
    job = decode_job(
        table,
        "",
        collector.report,
        default_app=CLEANUP_APP,
        default_timezone="UTC",
        step_types=types,
        source="<built-in>",
    )
    if job is not None:
        jobs[job.name] = job
    return collector.problems


def load_install(
    app_file: str | Path, *, environ: Mapping[str, str] | None = None, to_serve: bool = False
) -> Install:
    """Load and validate everything; raise ConfigError listing every problem found.

    `to_serve` also judges what only serving needs (`nomaflow check` and `serve` ask for it): the
    `[auth] secret` tokens are signed with. Commands that work on the install locally (`job run`,
    `runs list`) never sign a token, so a secret they cannot read does not stop them."""
    app_path = Path(app_file).resolve()
    if app_path.is_dir():
        app_path = app_path / "app.toml"
    root = app_path.parent
    app = _load_app(app_path)
    settings = app.settings or AppSettings()  # keep going with defaults to list the jobs' problems too
    plugins = (root / settings.jobs.plugins).resolve()
    if str(plugins) not in sys.path:
        # Python steps import "<app>.<module>" from the plugins folder.
        sys.path.insert(0, str(plugins))
    try:
        store_url = database_url(root, settings)
    except ConnectorError as exc:
        app.collector.report("connectors.default.url", str(exc))
        store_url = ""
    for where, missing in _missing_drivers(settings, store_url):
        app.collector.report(where, missing)
    environment = StepEnvironment(
        root=root,
        store_url=store_url,
        settings={key: value for key, value in app.raw.items() if isinstance(value, dict)},
    )
    environment.settings["worker_threads"] = settings.jobs.worker_threads
    types = step_types(environment)
    if to_serve:
        _check_signing_secret(settings, environ, app.collector.report)
    problems = list(app.collector.problems)
    jobs: dict[str, JobDefinition] = {}
    declared_in: dict[str, str] = {}
    checks = StepChecks()  # one load: one set of step types, one environment
    context = _JobsContext(settings, types, environ, checks, jobs, declared_in)
    for jobs_file in sorted(plugins.glob("*/jobs.toml")):
        problems.extend(_load_jobs_file(jobs_file, root, context))
    if CLEANUP_JOB not in jobs:  # a job of the user's with that name replaces the built-in one
        problems.extend(_add_cleanup_job(jobs, settings, types))
    if problems:
        raise ConfigError(problems)
    return Install(
        root=root,
        app_file=app_path,
        settings=settings,
        raw=app.raw,
        jobs=jobs,
        step_types=types,
        environment=environment,
    )


@dataclass
class _App:
    """app.toml as read: its settings (None if unusable), its data, and the problems found so far."""

    settings: AppSettings | None
    raw: dict[str, Any]
    collector: Collector


def _load_app(app_path: Path) -> _App:
    """Read and decode app.toml. A file that cannot be read or is unsoundly shaped ends the load at once;
    bad settings are reported and the load goes on to the jobs."""
    collector = Collector(display_path(app_path), None)
    read = _read_toml(app_path, collector)
    if read is None:
        raise ConfigError(collector.problems)
    raw, text = read
    collector = Collector(display_path(app_path), LineLocator(text))
    if not sound_shape(raw, collector.report):
        raise ConfigError(collector.problems)
    settings = decode_struct(raw, AppSettings, "", collector.report)
    if settings is not None:
        if (problem := check_timezone(settings.jobs.timezone)) is not None:
            collector.report("jobs.timezone", problem)
        for path, message in relation_problems(settings):
            collector.report(path, message)
    return _App(settings, raw, collector)


@dataclass(frozen=True)
class _JobsContext:
    """What every jobs.toml of one load is decoded against, and the jobs declared so far."""

    settings: AppSettings
    types: Mapping[str, StepType[Any]]
    environ: Mapping[str, str] | None
    checks: StepChecks
    jobs: dict[str, JobDefinition]
    declared_in: dict[str, str]  # job name -> the file that declared it


def _load_jobs_file(jobs_file: Path, root: Path, context: _JobsContext) -> list[Problem]:
    """Decode one plugins/<app>/jobs.toml into `context.jobs`; its problems."""
    shown = display_path(jobs_file, root)
    collector = Collector(shown, None)
    read = _read_toml(jobs_file, collector)
    if read is None:
        return collector.problems
    data, text = read
    collector = Collector(shown, LineLocator(text))
    if not sound_shape(data, collector.report):
        return collector.problems
    top = decode_struct(data, JobsFile, "", collector.report)
    for index, raw_job in enumerate(top.jobs if top else []):
        job = decode_job(
            raw_job,
            f"jobs[{index}]",
            collector.report,
            default_app=jobs_file.parent.name,
            default_timezone=context.settings.jobs.timezone,
            step_types=context.types,
            source=shown,
            environ=context.environ,
            checks=context.checks,
        )
        if job is None:
            continue
        if job.name in context.jobs:
            collector.report(
                f"jobs[{index}].name",
                f"job '{job.name}' is already declared in {context.declared_in[job.name]}",
            )
            continue
        context.jobs[job.name] = job
        context.declared_in[job.name] = shown
    return collector.problems


def _check_signing_secret(settings: AppSettings, environ: Mapping[str, str] | None, report: Report) -> None:
    """Report an `[auth] secret` the server could not sign tokens with, judged as the server does."""
    try:
        signing_secret(settings.auth.secret, environ)
    except SigningSecretError as exc:
        report("auth.secret", exc.reason)
