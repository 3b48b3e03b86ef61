"""Turn one `[[jobs]]` table into a validated `JobDefinition`, reporting every problem under its path.

Used for jobs.toml files and for jobs defined in Python, so both get the same checks: unknown keys and
step types with "did you mean", cron, timezone, retry policy, step names, template references, and each
step type's own checks (a python callable that cannot be imported, say).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec

from nomaflow.actors.jsonable import escaped, unstorable
from nomaflow.actors.plan import JobPlan, StepPlan
from nomaflow.actors.retry import RetryPolicy
from nomaflow.engine.config.checks import StepChecks
from nomaflow.engine.config.decode import Counter, Report, decode_struct, join
from nomaflow.engine.config.durations import DurationError, parse_duration
from nomaflow.engine.config.model import STEP_COMMON_KEYS, JobSettings, StepSettings
from nomaflow.engine.config.problems import did_you_mean
from nomaflow.engine.config.templating import StaticContext, is_name, template_problems
from nomaflow.engine.scheduling.cron import CronError, CronSchedule
from nomaflow.engine.steps.base import StepType


@dataclass(frozen=True)
class StepDefinition:
    name: str
    type: str
    position: int
    description: str
    retry: RetryPolicy
    timeout_seconds: float | None
    options: Mapping[str, Any]  # the type's own settings as written (templates not yet rendered)
    dry_run: bool = False

    def plan(self) -> StepPlan:
        return StepPlan(
            name=self.name,
            type=self.type,
            position=self.position,
            retry=self.retry,
            timeout_seconds=self.timeout_seconds,
            options=dict(self.options),
            dry_run=self.dry_run,
        )


@dataclass(frozen=True)
class JobDefinition:
    name: str
    app: str
    description: str
    schedule: CronSchedule | None
    timezone: str
    enabled: bool
    params: Mapping[str, Any]
    retry: RetryPolicy
    steps: tuple[StepDefinition, ...]
    source: str  # where it was declared, for messages
    settings: JobSettings = field(repr=False, compare=False, default_factory=lambda: JobSettings(name=""))
    timeout_seconds: float | None = None
    catch_up: str = "latest"
    catch_up_window_seconds: float = 3600.0
    on_interrupt: str = "fail"
    alert_after_seconds: float | None = None  # alert_if_no_success_within
    hooks: tuple[JobDefinition, ...] = ()  # the <name>.on-failure / .on-success jobs, if declared
    hook_of: str | None = None  # for a hook job: the job it belongs to

    def plan(self) -> JobPlan:
        return JobPlan(
            name=self.name,
            app=self.app,
            timezone=self.timezone,
            steps=tuple(step.plan() for step in self.steps),
            params=dict(self.params),
            timeout_seconds=self.timeout_seconds,
        )

    def hook(self, kind: str) -> JobDefinition | None:
        """The job run after this one ends: kind is "on-failure" or "on-success"."""
        return next((hook for hook in self.hooks if hook.name == f"{self.name}.{kind}"), None)


# What a hook's steps can read, as `${params.<name>}`: the run that ended (or why the alert fired).
HOOK_PARAMS: dict[str, Any] = {
    "run_id": "",
    "job": "",
    "status": "",
    "error": "",
    "failed_step": "",
    "started_at": "",
    "finished_at": "",
    "reason": "",
    "run_params": {},
}


_TIMEZONES: list[str] = []


def check_timezone(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if not _TIMEZONES:
            _TIMEZONES.extend(sorted(available_timezones()))
        return f"unknown timezone '{name}'{did_you_mean(name, _TIMEZONES)}"
    return None


def _retry_problems(policy: RetryPolicy, path: str, report: Report) -> bool:
    for key, message in policy.problems():
        report(join(path, key), message)
    return not policy.problems()


def decode_job(
    raw: Any,
    path: str,
    report: Report,
    *,
    default_app: str,
    default_timezone: str,
    step_types: Mapping[str, StepType[Any]],
    source: str,
    environ: Mapping[str, str] | None = None,
    checks: StepChecks | None = None,
) -> JobDefinition | None:
    """`raw` as a job, or None after reporting its problems (all of them) under `path`.

    `checks` is shared by the jobs of one load, so steps written alike are checked by their type once."""
    checks = StepChecks() if checks is None else checks
    counter = Counter(report)
    report = counter
    # Lenient: a bad field is reported and dropped, so the rest of the job is still checked.
    settings = decode_struct(raw, JobSettings, path, report, lenient=True)
    if settings is None:
        return None
    if not is_name(settings.name):
        report(
            join(path, "name"), f"'{settings.name}' is not a valid job name (letters, digits, '_' and '-')"
        )
    timezone = settings.timezone or default_timezone
    timezone_problem = check_timezone(timezone)
    if timezone_problem is not None:
        report(join(path, "timezone"), timezone_problem)
    schedule = None
    if settings.schedule is not None:
        try:
            # An unknown timezone is reported above; the expression itself is still checked.
            schedule = CronSchedule(settings.schedule, "UTC" if timezone_problem else timezone)
        except CronError as exc:
            # Named: in a file of many jobs, `jobs[7]` alone sends the reader counting tables.
            report(join(path, "schedule"), escaped(f"job '{settings.name}': {exc}"))
    _retry_problems(settings.retry, join(path, "retry"), report)
    _param_problems(settings.params, path, report)
    if not settings.steps:
        report(join(path, "steps"), "a job needs at least one [[jobs.steps]]")
    timeout = settings.timeout_seconds  # its bounds are the model's (Timeout)
    window = _duration(settings.catch_up_window, join(path, "catch_up_window"), report) or 0.0
    alert_after = None
    if settings.alert_if_no_success_within is not None:
        alert_after = _duration(
            settings.alert_if_no_success_within, join(path, "alert_if_no_success_within"), report
        )
        if not settings.on_failure:
            report(
                join(path, "alert_if_no_success_within"),
                "the alert runs the job's [[jobs.on_failure]] steps, and it has none",
            )
    steps = _decode_steps(
        settings.steps,
        path,
        report,
        step_types,
        settings.retry,
        settings.params,
        environ,
        checks,
        job=settings.name,
    )
    hooks = _decode_hooks(
        settings,
        path,
        report,
        step_types,
        environ,
        checks,
        app=settings.app or default_app,
        timezone=timezone if timezone_problem is None else "UTC",
        source=source,
    )
    if steps is None or counter.count:
        return None
    return JobDefinition(
        name=settings.name,
        app=settings.app or default_app,
        description=settings.description,
        schedule=schedule,
        timezone=timezone,
        enabled=settings.enabled,
        params=dict(settings.params),
        retry=settings.retry,
        steps=tuple(steps),
        source=source,
        settings=settings,
        timeout_seconds=timeout,
        catch_up=settings.catch_up,
        catch_up_window_seconds=window,
        on_interrupt=settings.on_interrupt,
        alert_after_seconds=alert_after,
        hooks=tuple(hooks),
    )


_ENDINGS = {"on-failure": "fails", "on-success": "succeeds"}


def _param_problems(params: Mapping[str, Any], path: str, report: Report) -> None:
    """Report each declared param whose name or default a run could not use."""
    for key, default in params.items():
        if not is_name(key):
            report(join(path, f"params.{key}"), f"'{escaped(key)}' is not a valid param name")
        elif (fault := unstorable(default, join(path, f"params.{key}"))) is not None:
            what, where = fault
            report(where, f"{what}: a run could not store this default")


def _decode_hooks(
    settings: JobSettings,
    path: str,
    report: Report,
    step_types: Mapping[str, StepType[Any]],
    environ: Mapping[str, str] | None,
    checks: StepChecks,
    *,
    app: str,
    timezone: str,
    source: str,
) -> list[JobDefinition]:
    """The job's on-failure and on-success hook jobs, for those it declares steps for."""
    hooks: list[JobDefinition] = []
    for kind, raw_steps in (("on-failure", settings.on_failure), ("on-success", settings.on_success)):
        if not raw_steps:
            continue
        hook_steps = _decode_steps(
            raw_steps,
            join(path, kind.replace("-", "_")),
            report,
            step_types,
            settings.retry,
            HOOK_PARAMS,
            environ,
            checks,
            steps_key="",
            job=settings.name,
        )
        if hook_steps is not None:
            hooks.append(
                JobDefinition(
                    name=f"{settings.name}.{kind}",
                    app=app,
                    description=f"Runs after a run of {settings.name} {_ENDINGS[kind]}.",
                    schedule=None,
                    timezone=timezone,
                    enabled=True,
                    params=dict(HOOK_PARAMS),
                    retry=settings.retry,
                    steps=tuple(hook_steps),
                    source=source,
                    hook_of=settings.name,
                )
            )
    return hooks


def _duration(text: str, path: str, report: Report) -> float | None:
    try:
        return parse_duration(text)
    except DurationError as exc:
        report(path, str(exc))
        return None


def _decode_steps(
    raw_steps: list[Any],
    job_path: str,
    report: Report,
    step_types: Mapping[str, StepType[Any]],
    job_retry: RetryPolicy,
    params: Mapping[str, Any],
    environ: Mapping[str, str] | None,
    checks: StepChecks,
    *,
    steps_key: str = "steps",
    job: str = "",
) -> list[StepDefinition] | None:
    steps: list[StepDefinition] = []
    ok = True
    seen: list[str] = []
    for position, raw in enumerate(raw_steps):
        where = f"{steps_key}[{position}]" if steps_key else f"[{position}]"
        path = (
            f"{job_path}.{where}" if job_path and steps_key else f"{job_path}{where}" if job_path else where
        )
        step = _decode_step(
            raw, path, position, report, step_types, job_retry, params, seen, environ, checks, job
        )
        if step is None:
            ok = False
            name = raw.get("name") if isinstance(raw, dict) else None
            if isinstance(name, str):
                seen.append(name)
            continue
        steps.append(step)
        seen.append(step.name)
    return steps if ok else None


def _decode_step(
    raw: Any,
    path: str,
    position: int,
    report: Report,
    step_types: Mapping[str, StepType[Any]],
    job_retry: RetryPolicy,
    params: Mapping[str, Any],
    earlier: list[str],
    environ: Mapping[str, str] | None,
    checks: StepChecks,
    job: str = "",
) -> StepDefinition | None:
    if not isinstance(raw, dict):
        report(path, f"expected a table, got {type(raw).__name__}")
        return None
    options_raw = {k: v for k, v in raw.items() if k not in STEP_COMMON_KEYS}
    type_name = raw.get("type")
    step_type = step_types.get(type_name) if isinstance(type_name, str) else None
    step_name = raw.get("name")
    named = f"step '{step_name}' of job '{job}': " if job and isinstance(step_name, str) else ""
    dry_run_ok = _dry_run_ok(raw, join(path, "dry_run"), named, report)
    if not dry_run_ok:
        raw = {key: value for key, value in raw.items() if key != "dry_run"}
    # Unknown keys are only judged once the type (which owns the other keys) is known.
    common = decode_struct(raw, StepSettings, path, report, ignore=tuple(options_raw))
    ok = common is not None and dry_run_ok
    if common is not None and step_type is None:
        report(
            join(path, "type"),
            f"unknown step type '{common.type}'{did_you_mean(common.type, step_types)}; "
            f"known types: {', '.join(sorted(step_types))}",
        )
        ok = False
    if common is not None:
        if not is_name(common.name):
            report(
                join(path, "name"), f"'{common.name}' is not a valid step name (letters, digits, '_' and '-')"
            )
            ok = False
        elif common.name in earlier:
            report(join(path, "name"), f"another step of this job is already named '{common.name}'")
            ok = False
        if common.retry is not None:
            ok &= _retry_problems(common.retry, join(path, "retry"), report)
    if step_type is not None:
        options = decode_struct(options_raw, step_type.options, path, report)
        ok &= options is not None
        static = StaticContext(
            params=frozenset(params),
            earlier_steps=tuple(earlier),
            environ=os.environ if environ is None else environ,
        )
        for where, problem in template_problems(options_raw, static):
            report(join(path, where), problem)
            ok = False
        if options is not None:
            # The type's own checks see the options only: the step and its job are named here.
            for where, message in checks.problems(step_type, options_raw, options):
                report(join(path, where), named + message)
                ok = False
    if not ok or common is None:
        return None
    return StepDefinition(
        name=common.name,
        type=common.type,
        position=position,
        description=common.description,
        retry=common.retry or job_retry,
        timeout_seconds=common.timeout_seconds,
        options=options_raw,
        dry_run=common.dry_run,
    )


def _dry_run_ok(raw: dict[str, Any], path: str, named: str, report: Report) -> bool:
    """A step's `dry_run` is true or false as written: it decides whether the step may change anything,
    so a template (known only at run time) or a string such as "yes" is reported, not guessed at."""
    value = raw.get("dry_run", False)
    if isinstance(value, bool):
        return True
    if isinstance(value, str) and "${" in value:
        why = "it cannot be a template (to rehearse a whole run, start it as a dry run)"
    else:
        shown = repr(value)
        why = f"got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    report(path, f"{named}dry_run must be true or false: {why}")
    return False


def to_plain(value: Any) -> Any:
    return msgspec.to_builtins(value)
