"""`${...}` templates in step settings: dates, params, run and job identity, earlier outputs, env.

A string that is exactly one `${expr}` renders to the value itself (a list stays a list); otherwise the
values are interpolated as text. `$${` writes a literal `${`. Rendering is not recursive: a param whose
value contains `${env.SECRET}` stays that literal text, so run-time input can never read the environment.
Dates use the job's timezone and the run's logical time (the cron fire it stands for, else its start).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from nomaflow.engine.config.problems import did_you_mean

_EXPR = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
REDACTED = "***"

ROOTS = ("month", "today", "yesterday", "now", "params", "run", "job", "steps", "previous", "env")


class TemplateError(Exception):
    """A template names something that does not exist (at load time or at run time)."""


@dataclass(frozen=True)
class Reference:
    text: str  # as written, without ${ }
    parts: tuple[str, ...]

    @property
    def root(self) -> str:
        return self.parts[0]


def _parse(text: str) -> Reference:
    parts = tuple(p.strip() for p in text.strip().split("."))
    if not parts or any(not p for p in parts):
        raise TemplateError(f"'${{{text}}}' is not a valid reference")
    return Reference(text.strip(), parts)


def references(value: Any, path: str = "") -> Iterator[tuple[str, Reference]]:
    """Every well-formed `${...}` reference inside `value` (walking lists and tables), with its field
    path. Malformed ones (`${steps..output}`) are skipped here: `malformed` reports them."""
    for where, text in _written(value, path):
        try:
            yield where, _parse(text)
        except TemplateError:
            continue


def malformed(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, problem) for every `${...}` inside `value` that is not a reference at all."""
    for where, text in _written(value, path):
        try:
            _parse(text)
        except TemplateError as exc:
            yield where, str(exc)


def _written(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """The text inside every `${...}` of `value`, with its field path; walked without recursion, as a
    value may be nested as deep as the configuration allows."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        current, where = pending.pop()
        if isinstance(current, str):
            for match in _EXPR.finditer(current):
                if match.group(0) != "$${":
                    yield where, match.group(1)
        elif isinstance(current, dict):
            items = [(item, f"{where}.{key}" if where else str(key)) for key, item in current.items()]
            pending.extend(reversed(items))
        elif isinstance(current, list):
            pending.extend(reversed([(item, f"{where}[{index}]") for index, item in enumerate(current)]))


@dataclass(frozen=True)
class StaticContext:
    """What load-time checks know: declared params, earlier steps, and the process environment."""

    params: frozenset[str]
    earlier_steps: tuple[str, ...]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def template_problems(value: Any, ctx: StaticContext) -> Iterator[tuple[str, str]]:
    """(field path, problem) for every `${...}` inside `value` that can never render."""
    yield from malformed(value)
    for where, ref in references(value):
        problem = check(ref, ctx)
        if problem is not None:
            yield where, problem


def check(ref: Reference, ctx: StaticContext) -> str | None:
    """Why `ref` can never render, or None if it may."""
    root = ref.root
    if root not in ROOTS:
        return f"'${{{ref.text}}}': unknown name '{root}'{did_you_mean(root, ROOTS)}"
    problem = _CHECKS[root](ref.parts[1:], ctx)
    return None if problem is None else f"'${{{ref.text}}}': {problem}"


def _check_date(root: str) -> _Check:
    def check_date(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
        return f"'{root}' has no fields" if rest else None

    return check_date


def _check_fixed(expected: tuple[tuple[str, ...], ...], shown: str) -> _Check:
    def check_fixed(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
        return None if rest in expected else f"expected {shown}"

    return check_fixed


def _check_params(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
    if not rest:
        return "expected params.<name>"
    if rest[0] not in ctx.params:
        declared = ", ".join(sorted(ctx.params)) or "none"
        return (
            f"param '{rest[0]}' is not declared in the job's params "
            f"(declared: {declared}){did_you_mean(rest[0], ctx.params)}"
        )
    return None


def _check_env(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
    if len(rest) != 1:
        return "expected env.<NAME>"
    if rest[0] not in ctx.environ:
        return f"environment variable {rest[0]} is not set"
    return None


def _check_previous(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
    if not ctx.earlier_steps:
        return "the first step has no previous step"
    if rest[:1] != ("output",):
        return "expected previous.output[.<path>]"
    return None


def _check_steps(rest: tuple[str, ...], ctx: StaticContext) -> str | None:
    if len(rest) < 2 or rest[1] != "output":
        return "expected steps.<name>.output[.<path>]"
    if rest[0] not in ctx.earlier_steps:
        return f"no earlier step named '{rest[0]}'{did_you_mean(rest[0], ctx.earlier_steps)}"
    return None


_Check = Callable[[tuple[str, ...], StaticContext], str | None]
# What follows each root name, judged at load time: the message says what was expected.
_CHECKS: dict[str, _Check] = {
    "today": _check_date("today"),
    "yesterday": _check_date("yesterday"),
    "now": _check_date("now"),
    "month": _check_fixed((("previous",), ("current",)), "month.previous or month.current"),
    "run": _check_fixed((("id",),), "run.id"),
    "job": _check_fixed((("name",),), "job.name"),
    "params": _check_params,
    "env": _check_env,
    "previous": _check_previous,
    "steps": _check_steps,
}


@dataclass(frozen=True)
class Scope:
    """Everything a template may read while a run is in flight."""

    run_id: str
    job: str
    timezone: str
    logical_time: datetime
    params: Mapping[str, Any]
    outputs: Mapping[str, Any]
    previous_output: Any
    environ: Mapping[str, str]


def _month(day: date, back: int) -> str:
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


def _walk(value: Any, path: tuple[str, ...], ref: Reference) -> Any:
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"'${{{ref.text}}}': no '{part}' in {_shape(value)}")
    return value


def _shape(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(list(map(str, value))[:10])
        return f"an object with keys [{keys}]"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__} value"


def resolve(ref: Reference, scope: Scope, *, redact_env: bool = False) -> Any:
    local = scope.logical_time.astimezone(ZoneInfo(scope.timezone))
    root, rest = ref.root, ref.parts[1:]
    if root == "today":
        return local.date().isoformat()
    if root == "yesterday":
        return (local.date() - timedelta(days=1)).isoformat()
    if root == "now":
        return local.replace(microsecond=0).isoformat()
    if root == "month":
        return _month(local.date(), 1 if rest == ("previous",) else 0)
    if root == "run":
        return scope.run_id
    if root == "job":
        return scope.job
    if root == "params":
        return _walk(scope.params, rest, ref)
    if root == "env":
        if rest[0] not in scope.environ:
            raise TemplateError(f"'${{{ref.text}}}': environment variable {rest[0]} is not set")
        return REDACTED if redact_env else scope.environ[rest[0]]
    if root == "previous":
        return _walk(scope.previous_output, rest[1:], ref)
    if root == "steps":
        if rest[0] not in scope.outputs:
            raise TemplateError(f"'${{{ref.text}}}': step '{rest[0]}' has no output yet")
        return _walk(scope.outputs[rest[0]], rest[2:], ref)
    raise TemplateError(f"'${{{ref.text}}}': unknown name '{root}'")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return "" if value is None else msgspec.json.encode(value).decode()
    return msgspec.json.encode(value).decode()


def render(value: Any, scope: Scope, *, redact_env: bool = False) -> Any:
    """`value` with every template replaced; tables and lists are rendered item by item."""
    if isinstance(value, str):
        matches = list(_EXPR.finditer(value))
        if not matches:
            return value
        if len(matches) == 1 and matches[0].group(0) != "$${" and matches[0].span() == (0, len(value)):
            return resolve(_parse(matches[0].group(1)), scope, redact_env=redact_env)

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            return _as_text(resolve(_parse(match.group(1)), scope, redact_env=redact_env))

        return _EXPR.sub(substitute, value)
    if isinstance(value, dict):
        return {key: render(item, scope, redact_env=redact_env) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope, redact_env=redact_env) for item in value]
    return value


def is_name(text: str) -> bool:
    return bool(_NAME.match(text))
